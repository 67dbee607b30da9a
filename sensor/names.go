package sensor

import (
	"strconv"
	"strings"
)

// Symbolic names for the numbers system calls take, as users read them in
// strace and Falco output.

const (
	afUnix   = 1
	afInet   = 2
	afInet6  = 10
	afNetlnk = 16
	afPacket = 17
)

func familyName(f uint16) string {
	switch f {
	case afUnix:
		return "unix"
	case afInet:
		return "inet"
	case afInet6:
		return "inet6"
	case afNetlnk:
		return "netlink"
	case afPacket:
		return "packet"
	case 0:
		return ""
	}
	return "af_" + strconv.Itoa(int(f))
}

func sockTypeName(t uint64) string {
	switch t {
	case 1:
		return "stream"
	case 2:
		return "dgram"
	case 3:
		return "raw"
	case 5:
		return "seqpacket"
	case 0:
		return ""
	}
	return "type_" + strconv.FormatUint(t, 10)
}

func protoName(family, typ, proto uint16) string {
	if family == afPacket {
		return "packet"
	}
	if family != afInet && family != afInet6 {
		return ""
	}
	switch proto {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 58:
		return "icmpv6"
	case 255:
		return "raw"
	case 0:
		switch typ {
		case 1:
			return "tcp"
		case 2:
			return "udp"
		case 3:
			return "raw"
		}
		return ""
	}
	return "proto_" + strconv.Itoa(int(proto))
}

type flagName struct {
	bit  uint64
	name string
}

// bitNames renders v as NAME|NAME|0x.. from a table of single bits.
func bitNames(v uint64, table []flagName) string {
	var b strings.Builder
	for _, f := range table {
		if v&f.bit == f.bit && f.bit != 0 {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(f.name)
			v &^= f.bit
		}
	}
	if v != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString("0x" + strconv.FormatUint(v, 16))
	}
	return b.String()
}

var openFlagTable = []flagName{
	{0o100, "O_CREAT"}, {0o200, "O_EXCL"}, {0o400, "O_NOCTTY"}, {0o1000, "O_TRUNC"},
	{0o2000, "O_APPEND"}, {0o4000, "O_NONBLOCK"}, {0o10000, "O_DSYNC"}, {0o20000, "O_ASYNC"},
	{0o40000, "O_DIRECT"}, {0o100000, "O_LARGEFILE"}, {0o200000, "O_DIRECTORY"},
	{0o400000, "O_NOFOLLOW"}, {0o1000000, "O_NOATIME"}, {0o2000000, "O_CLOEXEC"},
	{0o4000000, "O_SYNC"}, {0o10000000, "O_PATH"}, {0o20000000, "O_TMPFILE"},
}

// openFlags renders open(2) flags; O_TMPFILE includes O_DIRECTORY and
// O_SYNC includes O_DSYNC in the kernel's encoding, so test those whole.
func openFlags(v uint64) string {
	acc := "O_RDONLY"
	switch v & 3 {
	case 1:
		acc = "O_WRONLY"
	case 2:
		acc = "O_RDWR"
	case 3:
		acc = "O_ACCMODE"
	}
	v &^= 3
	if v&0o20200000 == 0o20200000 {
		v &^= 0o200000
	}
	if v&0o4010000 == 0o4010000 {
		v &^= 0o10000
	}
	if v == 0 {
		return acc
	}
	return acc + "|" + bitNames(v, openFlagTable)
}

// flagCache remembers the rendering of the open flags seen, so that the hot
// path does not build the same string for every open.
type flagCache struct {
	m map[uint64]string
}

func (c *flagCache) open(v uint64) string {
	if s, ok := c.m[v]; ok {
		return s
	}
	s := openFlags(v)
	if c.m == nil {
		c.m = make(map[uint64]string)
	}
	if len(c.m) < 4096 {
		c.m[v] = s
	}
	return s
}

var memfdFlagTable = []flagName{
	{1, "MFD_CLOEXEC"}, {2, "MFD_ALLOW_SEALING"}, {4, "MFD_HUGETLB"}, {8, "MFD_NOEXEC_SEAL"}, {0x10, "MFD_EXEC"},
}

func memfdFlags(v uint64) string { return bitNames(v, memfdFlagTable) }

var mountFlagTable = []flagName{
	{1, "MS_RDONLY"}, {2, "MS_NOSUID"}, {4, "MS_NODEV"}, {8, "MS_NOEXEC"}, {16, "MS_SYNCHRONOUS"},
	{32, "MS_REMOUNT"}, {64, "MS_MANDLOCK"}, {128, "MS_DIRSYNC"}, {1024, "MS_NOATIME"},
	{2048, "MS_NODIRATIME"}, {4096, "MS_BIND"}, {8192, "MS_MOVE"}, {16384, "MS_REC"},
	{32768, "MS_SILENT"}, {1 << 17, "MS_UNBINDABLE"}, {1 << 18, "MS_PRIVATE"},
	{1 << 19, "MS_SLAVE"}, {1 << 20, "MS_SHARED"}, {1 << 21, "MS_RELATIME"},
	{1 << 24, "MS_STRICTATIME"}, {1 << 25, "MS_LAZYTIME"},
}

func mountFlags(v uint64) string {
	if v>>16 == 0xC0ED { // MS_MGC_VAL: a magic number old callers still pass
		v &= 0xffff
	}
	return bitNames(v, mountFlagTable)
}

var umountFlagTable = []flagName{{1, "MNT_FORCE"}, {2, "MNT_DETACH"}, {4, "MNT_EXPIRE"}, {8, "UMOUNT_NOFOLLOW"}}

func umountFlags(v uint64) string { return bitNames(v, umountFlagTable) }

var nsFlagTable = []flagName{
	{0x200, "CLONE_FS"}, {0x400, "CLONE_FILES"}, {0x80, "CLONE_NEWTIME"}, {0x20000, "CLONE_NEWNS"},
	{0x40000, "CLONE_SYSVSEM"}, {0x02000000, "CLONE_NEWCGROUP"}, {0x04000000, "CLONE_NEWUTS"},
	{0x08000000, "CLONE_NEWIPC"}, {0x10000000, "CLONE_NEWUSER"}, {0x20000000, "CLONE_NEWPID"},
	{0x40000000, "CLONE_NEWNET"},
}

func nsFlags(v uint64) string { return bitNames(v&0xffffffff, nsFlagTable) }

var ptraceRequests = map[uint64]string{
	0: "PTRACE_TRACEME", 1: "PTRACE_PEEKTEXT", 2: "PTRACE_PEEKDATA", 3: "PTRACE_PEEKUSR",
	4: "PTRACE_POKETEXT", 5: "PTRACE_POKEDATA", 6: "PTRACE_POKEUSR", 7: "PTRACE_CONT",
	8: "PTRACE_KILL", 9: "PTRACE_SINGLESTEP", 12: "PTRACE_GETREGS", 13: "PTRACE_SETREGS",
	14: "PTRACE_GETFPREGS", 15: "PTRACE_SETFPREGS", 16: "PTRACE_ATTACH", 17: "PTRACE_DETACH",
	24: "PTRACE_SYSCALL", 0x4200: "PTRACE_SETOPTIONS", 0x4201: "PTRACE_GETEVENTMSG",
	0x4202: "PTRACE_GETSIGINFO", 0x4203: "PTRACE_SETSIGINFO", 0x4204: "PTRACE_GETREGSET",
	0x4205: "PTRACE_SETREGSET", 0x4206: "PTRACE_SEIZE", 0x4207: "PTRACE_INTERRUPT",
	0x4208: "PTRACE_LISTEN",
}

func ptraceRequest(v uint64) string {
	if s, ok := ptraceRequests[v]; ok {
		return s
	}
	return strconv.FormatUint(v, 10)
}

var bpfCommands = []string{
	"BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM",
	"BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_OBJ_GET", "BPF_PROG_ATTACH",
	"BPF_PROG_DETACH", "BPF_PROG_TEST_RUN", "BPF_PROG_GET_NEXT_ID", "BPF_MAP_GET_NEXT_ID",
	"BPF_PROG_GET_FD_BY_ID", "BPF_MAP_GET_FD_BY_ID", "BPF_OBJ_GET_INFO_BY_FD", "BPF_PROG_QUERY",
	"BPF_RAW_TRACEPOINT_OPEN", "BPF_BTF_LOAD", "BPF_BTF_GET_FD_BY_ID", "BPF_TASK_FD_QUERY",
	"BPF_MAP_LOOKUP_AND_DELETE_ELEM", "BPF_MAP_FREEZE", "BPF_BTF_GET_NEXT_ID",
	"BPF_MAP_LOOKUP_BATCH", "BPF_MAP_LOOKUP_AND_DELETE_BATCH", "BPF_MAP_UPDATE_BATCH",
	"BPF_MAP_DELETE_BATCH", "BPF_LINK_CREATE", "BPF_LINK_UPDATE", "BPF_LINK_GET_FD_BY_ID",
	"BPF_LINK_GET_NEXT_ID", "BPF_ENABLE_STATS", "BPF_ITER_CREATE", "BPF_LINK_DETACH",
	"BPF_PROG_BIND_MAP", "BPF_TOKEN_CREATE",
}

func bpfCommand(v uint64) string {
	if v < uint64(len(bpfCommands)) {
		return bpfCommands[v]
	}
	return strconv.FormatUint(v, 10)
}

var userfaultfdFlagTable = []flagName{{0o2000000, "O_CLOEXEC"}, {0o4000, "O_NONBLOCK"}, {1, "UFFD_USER_MODE_ONLY"}}

func userfaultfdFlags(v uint64) string { return bitNames(v, userfaultfdFlagTable) }
