package syscalls

import (
	"strconv"
	"strings"
)

// Falco prints a flags argument as the names of a table, joined by "|", in
// the table's order (not the bits' order), each name taking its bits out of
// the value before the next is tried; a value no name covers prints as its
// number. The tables below give, for each kind of flags, Falco's names in
// Falco's order with the bits of libsinsp's own encoding, and how the names
// mamori's sensor writes (the kernel's) map onto that encoding.

// flagName is one entry of a Falco flag table.
type flagName struct {
	name string
	bits uint32
}

// flagTable renders values of one kind of flags.
type flagTable struct {
	names []flagName
	// from maps a name the sensor writes to the bits of the Falco
	// encoding it stands for.
	from map[string]uint32
	// exact: the value is one enumerated item, not a set of bits.
	exact bool
}

// value is the Falco encoding of a "|"-separated list of the sensor's names.
func (t *flagTable) value(names string) uint32 {
	var v uint32
	for names != "" {
		n := names
		if i := strings.IndexByte(names, '|'); i >= 0 {
			n, names = names[:i], names[i+1:]
		} else {
			names = ""
		}
		v |= t.from[n]
	}
	return v
}

// render appends the names of Falco's table that v holds, in the table's
// order; nothing when no name applies, and libsinsp then prints the number.
func (t *flagTable) render(b []byte, v uint32) []byte {
	start := len(b)
	rest := v
	for _, f := range t.names {
		var match bool
		switch {
		case t.exact:
			match = f.bits == v
		case f.bits == 0:
			match = v == 0
		default:
			match = rest&f.bits == f.bits
		}
		if !match {
			continue
		}
		if len(b) > start {
			b = append(b, '|')
		}
		b = append(b, f.name...)
		if !t.exact {
			rest &^= f.bits
			if f.bits == v {
				break
			}
		}
	}
	return b
}

func table(names []flagName, from map[string]uint32) *flagTable {
	return &flagTable{names: names, from: from}
}

// Bits of libsinsp's encoding of open flags.
const (
	ppmORdonly    = 1 << 0
	ppmOWronly    = 1 << 1
	ppmORdwr      = ppmORdonly | ppmOWronly
	ppmOCreat     = 1 << 2
	ppmOAppend    = 1 << 3
	ppmODsync     = 1 << 4
	ppmOExcl      = 1 << 5
	ppmONonblock  = 1 << 6
	ppmOSync      = 1 << 7
	ppmOTrunc     = 1 << 8
	ppmODirect    = 1 << 9
	ppmODirectory = 1 << 10
	ppmOLargefile = 1 << 11
	ppmOCloexec   = 1 << 12
	ppmOTmpfile   = 1 << 13
	ppmOFCreated  = 1 << 14
	ppmFDUpper    = 1 << 15
	ppmFDLower    = 1 << 16
)

// openFlags is the table of open, openat, openat2 and creat flags. The
// kernel's O_TMPFILE includes O_DIRECTORY and its O_SYNC includes O_DSYNC:
// Falco's driver tests the kernel's masks, so an O_DIRECTORY open is also
// O_TMPFILE to Falco and an O_DSYNC one also O_SYNC. The sensor's names
// say the same bits, so they map to both here.
var openFlags = &flagTable{
	names: []flagName{
		{"O_LARGEFILE", ppmOLargefile}, {"O_DIRECTORY", ppmODirectory}, {"O_DIRECT", ppmODirect},
		{"O_TRUNC", ppmOTrunc}, {"O_SYNC", ppmOSync}, {"O_NONBLOCK", ppmONonblock}, {"O_EXCL", ppmOExcl},
		{"O_DSYNC", ppmODsync}, {"O_APPEND", ppmOAppend}, {"O_CREAT", ppmOCreat}, {"O_RDWR", ppmORdwr},
		{"O_WRONLY", ppmOWronly}, {"O_RDONLY", ppmORdonly}, {"O_CLOEXEC", ppmOCloexec}, {"O_NONE", 0},
		{"O_TMPFILE", ppmOTmpfile}, {"O_F_CREATED", ppmOFCreated}, {"FD_UPPER_LAYER", ppmFDUpper},
		{"FD_LOWER_LAYER", ppmFDLower},
	},
	from: map[string]uint32{
		"O_RDONLY": ppmORdonly, "O_WRONLY": ppmOWronly, "O_RDWR": ppmORdwr, "O_CREAT": ppmOCreat,
		"O_APPEND": ppmOAppend, "O_DSYNC": ppmODsync | ppmOSync, "O_EXCL": ppmOExcl, "O_NONBLOCK": ppmONonblock,
		"O_SYNC": ppmOSync | ppmODsync, "O_TRUNC": ppmOTrunc, "O_DIRECT": ppmODirect,
		"O_DIRECTORY": ppmODirectory | ppmOTmpfile, "O_LARGEFILE": ppmOLargefile, "O_CLOEXEC": ppmOCloexec,
		"O_TMPFILE": ppmOTmpfile | ppmODirectory,
	},
}

// chmodModes is Falco's table of mode bits (its encoding is the kernel's).
var chmodModes = &flagTable{names: []flagName{
	{"S_IXOTH", 0o1}, {"S_IWOTH", 0o2}, {"S_IROTH", 0o4}, {"S_IXGRP", 0o10}, {"S_IWGRP", 0o20},
	{"S_IRGRP", 0o40}, {"S_IXUSR", 0o100}, {"S_IWUSR", 0o200}, {"S_IRUSR", 0o400}, {"S_ISVTX", 0o1000},
	{"S_ISGID", 0o2000}, {"S_ISUID", 0o4000},
}}

// renderMode appends Falco's text for a chmod mode. Its mode renderer
// differs from the flags one: it stops before the entry whose bits equal
// the whole value and then prints that entry, so a single-bit mode prints
// one name and a value no entry covers prints only the names found.
func renderMode(b []byte, mode uint32) []byte {
	start := len(b)
	rest := mode
	i := 0
	for ; i < len(chmodModes.names) && chmodModes.names[i].bits != mode; i++ {
		f := chmodModes.names[i]
		if rest&f.bits == f.bits && rest != 0 {
			if len(b) > start {
				b = append(b, '|')
			}
			b = append(b, f.name...)
			rest &^= f.bits
		}
	}
	if i < len(chmodModes.names) {
		if len(b) > start {
			b = append(b, '|')
		}
		b = append(b, chmodModes.names[i].name...)
	}
	return b
}

// cloneFlags covers unshare's and setns's flags (Falco's clone flags).
var cloneFlags = table([]flagName{
	{"CLONE_FILES", 1 << 0}, {"CLONE_FS", 1 << 1}, {"CLONE_IO", 1 << 2}, {"CLONE_NEWIPC", 1 << 3},
	{"CLONE_NEWNET", 1 << 4}, {"CLONE_NEWNS", 1 << 5}, {"CLONE_NEWPID", 1 << 6}, {"CLONE_NEWUTS", 1 << 7},
	{"CLONE_PARENT", 1 << 8}, {"CLONE_PARENT_SETTID", 1 << 9}, {"CLONE_PTRACE", 1 << 10},
	{"CLONE_SIGHAND", 1 << 11}, {"CLONE_SYSVSEM", 1 << 12}, {"CLONE_THREAD", 1 << 13},
	{"CLONE_UNTRACED", 1 << 14}, {"CLONE_VM", 1 << 15}, {"CLONE_NEWUSER", 1 << 20},
	{"CLONE_CHILD_CLEARTID", 1 << 23}, {"CLONE_CHILD_SETTID", 1 << 24}, {"CLONE_SETTLS", 1 << 25},
	{"CLONE_VFORK", 1 << 27}, {"CLONE_NEWCGROUP", 1 << 28},
}, map[string]uint32{
	"CLONE_FILES": 1 << 0, "CLONE_FS": 1 << 1, "CLONE_NEWIPC": 1 << 3, "CLONE_NEWNET": 1 << 4,
	"CLONE_NEWNS": 1 << 5, "CLONE_NEWPID": 1 << 6, "CLONE_NEWUTS": 1 << 7, "CLONE_SYSVSEM": 1 << 12,
	"CLONE_NEWUSER": 1 << 20, "CLONE_NEWCGROUP": 1 << 28,
})

var mountFlags = table([]flagName{
	{"RDONLY", 1 << 0}, {"NOSUID", 1 << 1}, {"NODEV", 1 << 2}, {"NOEXEC", 1 << 3}, {"SYNCHRONOUS", 1 << 4},
	{"REMOUNT", 1 << 5}, {"MANDLOCK", 1 << 6}, {"DIRSYNC", 1 << 7}, {"NOATIME", 1 << 10},
	{"NODIRATIME", 1 << 11}, {"BIND", 1 << 12}, {"MOVE", 1 << 13}, {"REC", 1 << 14}, {"SILENT", 1 << 15},
	{"POSIXACL", 1 << 16}, {"UNBINDABLE", 1 << 17}, {"PRIVATE", 1 << 18}, {"SLAVE", 1 << 19},
	{"SHARED", 1 << 20}, {"RELATIME", 1 << 21}, {"KERNMOUNT", 1 << 22}, {"I_VERSION", 1 << 23},
	{"STRICTATIME", 1 << 24}, {"LAZYTIME", 1 << 25},
}, map[string]uint32{
	"MS_RDONLY": 1 << 0, "MS_NOSUID": 1 << 1, "MS_NODEV": 1 << 2, "MS_NOEXEC": 1 << 3,
	"MS_SYNCHRONOUS": 1 << 4, "MS_REMOUNT": 1 << 5, "MS_MANDLOCK": 1 << 6, "MS_DIRSYNC": 1 << 7,
	"MS_NOATIME": 1 << 10, "MS_NODIRATIME": 1 << 11, "MS_BIND": 1 << 12, "MS_MOVE": 1 << 13,
	"MS_REC": 1 << 14, "MS_SILENT": 1 << 15, "MS_UNBINDABLE": 1 << 17, "MS_PRIVATE": 1 << 18,
	"MS_SLAVE": 1 << 19, "MS_SHARED": 1 << 20, "MS_RELATIME": 1 << 21, "MS_STRICTATIME": 1 << 24,
	"MS_LAZYTIME": 1 << 25,
})

var umountFlags = table([]flagName{{"FORCE", 1}, {"DETACH", 2}, {"EXPIRE", 4}, {"NOFOLLOW", 8}},
	map[string]uint32{"MNT_FORCE": 1, "MNT_DETACH": 2, "MNT_EXPIRE": 4, "UMOUNT_NOFOLLOW": 8})

var unlinkatFlags = table([]flagName{{"AT_REMOVEDIR", 0x200}}, map[string]uint32{"AT_REMOVEDIR": 0x200})

var memfdFlags = table([]flagName{{"MFD_CLOEXEC", 1}, {"MFD_ALLOW_SEALING", 2}, {"MFD_HUGETLB", 4}},
	map[string]uint32{"MFD_CLOEXEC": 1, "MFD_ALLOW_SEALING": 2, "MFD_HUGETLB": 4})

// userfaultfdFlags: Falco prints userfaultfd's flags with the open flags table.
var userfaultfdFlags = &flagTable{names: openFlags.names,
	from: map[string]uint32{"O_CLOEXEC": ppmOCloexec, "O_NONBLOCK": ppmONonblock}}

// execveFlags are what Falco's execve exit says about the executable.
const (
	exeWritable   = 1 << 0
	exeUpperLayer = 1 << 1
	exeFromMemfd  = 1 << 2
	exeLowerLayer = 1 << 3
)

var execveFlags = table([]flagName{
	{"EXE_WRITABLE", exeWritable}, {"EXE_UPPER_LAYER", exeUpperLayer}, {"EXE_FROM_MEMFD", exeFromMemfd},
	{"EXE_LOWER_LAYER", exeLowerLayer},
}, nil)

// socketFamilies is an enumeration: AF_LOCAL and AF_UNIX name the same
// value and Falco prints both.
var socketFamilies = &flagTable{exact: true, names: []flagName{
	{"AF_NFC", 39}, {"AF_ALG", 38}, {"AF_CAIF", 37}, {"AF_IEEE802154", 36}, {"AF_PHONET", 35},
	{"AF_ISDN", 34}, {"AF_RXRPC", 33}, {"AF_IUCV", 32}, {"AF_BLUETOOTH", 31}, {"AF_TIPC", 30},
	{"AF_CAN", 29}, {"AF_LLC", 26}, {"AF_WANPIPE", 25}, {"AF_PPPOX", 24}, {"AF_IRDA", 23}, {"AF_SNA", 22},
	{"AF_RDS", 21}, {"AF_ATMSVC", 20}, {"AF_ECONET", 19}, {"AF_ASH", 18}, {"AF_PACKET", 17},
	{"AF_ROUTE", 16}, {"AF_NETLINK", 16}, {"AF_KEY", 15}, {"AF_SECURITY", 14}, {"AF_NETBEUI", 13},
	{"AF_DECnet", 12}, {"AF_ROSE", 11}, {"AF_INET6", 10}, {"AF_X25", 9}, {"AF_ATMPVC", 8},
	{"AF_BRIDGE", 7}, {"AF_NETROM", 6}, {"AF_APPLETALK", 5}, {"AF_IPX", 4}, {"AF_AX25", 3},
	{"AF_INET", 2}, {"AF_LOCAL", 1}, {"AF_UNIX", 1}, {"AF_UNSPEC", 0},
}}

// familyNumbers maps the sensor's family names to their numbers.
var familyNumbers = map[string]uint32{"unix": 1, "inet": 2, "inet6": 10, "netlink": 16, "packet": 17}

func familyNumber(name string) uint32 {
	if n, ok := familyNumbers[name]; ok {
		return n
	}
	if v, ok := strings.CutPrefix(name, "af_"); ok {
		n, _ := strconv.ParseUint(v, 10, 32)
		return uint32(n)
	}
	return 0
}
