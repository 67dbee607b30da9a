package sensor

import (
	"github.com/mamori-dev/mamori/event"
	"golang.org/x/sys/unix"
)

// Values the kernel side understands in a syscall spec; see sensor.bpf.c.
const (
	filterNone    = 0
	filterOpen    = 1 // successful opens; read-only ones only under a sensitive prefix
	filterSocket  = 2 // packet and raw sockets only
	filterDup     = 3 // only when the new fd is 0, 1 or 2
	filterSuccess = 4
	filterPaths   = 5 // as the keys of each path argument's class say (ChangeFilter)
	filterConnect = 6 // as Config.Connects says

	ioSend = 1
	ioRecv = 2
	ioMsg  = 4

	argNone = 0xff
	argRet  = 6
	dirCwd  = 0xfe
)

// syscallDef says how the kernel side captures one system call and which
// event it becomes. Its index in syscallTable plus one is the code that the
// kernel echoes back in each record.
type syscallDef struct {
	name string
	nr   int
	typ  event.Type
	spec sensorSyscallSpec
}

// arg describes the arguments of a call for the kernel-side interpreter.
type arg struct {
	strs    []uint8 // arguments that are user strings
	dirs    []uint8 // for each string: its dirfd argument, dirCwd, or argNone
	fds     []uint8 // arguments that are fds whose path is wanted
	sock    uint8   // 1 + the argument holding a socket fd, or sockRet; 0 for none
	retPath bool
	addr    uint8 // sockaddr pointer argument, length in the next one
	blob    uint8
	blobLen uint8
	flags   uint8 // open flags argument
	filter  uint8
	creat   bool
	io      uint8 // ioSend or ioRecv, with ioMsg for the msghdr form
	// classes are, for a call on paths (filterPaths), the class of keys
	// of its first and second string argument.
	classes []uint8
}

func (a arg) spec() sensorSyscallSpec {
	s := sensorSyscallSpec{
		Filter:      a.filter,
		SockFd:      argNone,
		SockaddrArg: argNone,
		BlobArg:     argNone,
		FlagsArg:    argNone,
		DirfdOf:     [6]uint8{argNone, argNone, argNone, argNone, argNone, argNone},
	}
	for i, n := range a.strs {
		s.StrArgs |= 1 << n
		if i < len(a.dirs) {
			s.DirfdOf[n] = a.dirs[i]
		}
	}
	for _, n := range a.fds {
		s.FdArgs |= 1 << n
	}
	if a.sock != 0 {
		s.SockFd = a.sock - 1
	}
	if a.retPath {
		s.RetPath = 1
	}
	if a.addr != 0 {
		s.SockaddrArg = a.addr
	}
	if a.blobLen != 0 {
		s.BlobArg, s.BlobLen = a.blob, a.blobLen
	}
	if a.flags != 0 {
		s.FlagsArg = a.flags
	}
	if a.creat {
		s.ImplicitWrite = 1
	}
	s.Io = a.io
	copy(s.PathClass[:], a.classes)
	return s
}

// Values of arg.classes.
var (
	removes = []uint8{classRemove}
	renames = []uint8{classRenameFrom, classRenameTo}
	mkdirs  = []uint8{classMkdir}
)

// Values of arg.sock.
const (
	sockArg0 = 1
	sockRet  = argRet + 1
)

func def(name string, nr int, typ event.Type, a arg) syscallDef {
	return syscallDef{name: name, nr: nr, typ: typ, spec: a.spec()}
}

// syscallTable is every system call the sensor can capture.
var syscallTable = []syscallDef{
	// Opens report the resolved path of the returned fd, the path argument
	// as given (Falco's fd.nameraw: "../" tricks show there) and, when it
	// is relative, the directory it is relative to: Falco's fd.name is the
	// argument made absolute, not the file the kernel resolved.
	def("open", unix.SYS_OPEN, event.Open, arg{retPath: true, strs: []uint8{0}, dirs: []uint8{dirCwd}, flags: 1, filter: filterOpen}),
	def("creat", unix.SYS_CREAT, event.Open, arg{retPath: true, strs: []uint8{0}, dirs: []uint8{dirCwd}, creat: true, filter: filterOpen}),
	def("openat", unix.SYS_OPENAT, event.Open, arg{retPath: true, strs: []uint8{1}, dirs: []uint8{0}, flags: 2, filter: filterOpen}),
	def("openat2", unix.SYS_OPENAT2, event.Open, arg{retPath: true, strs: []uint8{1}, dirs: []uint8{0}, blob: 2, blobLen: 24, filter: filterOpen}),

	// Calls that change the file tree by path are reported as the keys of
	// their kind say (Config.Opens.Changes).
	def("unlink", unix.SYS_UNLINK, event.Unlink, arg{strs: []uint8{0}, dirs: []uint8{dirCwd}, filter: filterPaths, classes: removes}),
	def("unlinkat", unix.SYS_UNLINKAT, event.Unlink, arg{strs: []uint8{1}, dirs: []uint8{0}, filter: filterPaths, classes: removes}),
	def("rename", unix.SYS_RENAME, event.Rename, arg{strs: []uint8{0, 1}, dirs: []uint8{dirCwd, dirCwd}, filter: filterPaths, classes: renames}),
	def("renameat", unix.SYS_RENAMEAT, event.Rename, arg{strs: []uint8{1, 3}, dirs: []uint8{0, 2}, filter: filterPaths, classes: renames}),
	def("renameat2", unix.SYS_RENAMEAT2, event.Rename, arg{strs: []uint8{1, 3}, dirs: []uint8{0, 2}, filter: filterPaths, classes: renames}),
	def("chmod", unix.SYS_CHMOD, event.Chmod, arg{strs: []uint8{0}, dirs: []uint8{dirCwd}}),
	def("fchmod", unix.SYS_FCHMOD, event.Chmod, arg{fds: []uint8{0}}),
	def("fchmodat", unix.SYS_FCHMODAT, event.Chmod, arg{strs: []uint8{1}, dirs: []uint8{0}}),
	def("fchmodat2", unix.SYS_FCHMODAT2, event.Chmod, arg{strs: []uint8{1}, dirs: []uint8{0}}),
	def("link", unix.SYS_LINK, event.Link, arg{strs: []uint8{0, 1}, dirs: []uint8{dirCwd, dirCwd}}),
	def("linkat", unix.SYS_LINKAT, event.Link, arg{strs: []uint8{1, 3}, dirs: []uint8{0, 2}}),
	def("symlink", unix.SYS_SYMLINK, event.Symlink, arg{strs: []uint8{0, 1}, dirs: []uint8{argNone, dirCwd}}),
	def("symlinkat", unix.SYS_SYMLINKAT, event.Symlink, arg{strs: []uint8{0, 2}, dirs: []uint8{argNone, 1}}),
	def("truncate", unix.SYS_TRUNCATE, event.Truncate, arg{strs: []uint8{0}, dirs: []uint8{dirCwd}}),
	def("ftruncate", unix.SYS_FTRUNCATE, event.Truncate, arg{fds: []uint8{0}}),
	def("mkdir", unix.SYS_MKDIR, event.Mkdir, arg{strs: []uint8{0}, dirs: []uint8{dirCwd}, filter: filterPaths, classes: mkdirs}),
	def("mkdirat", unix.SYS_MKDIRAT, event.Mkdir, arg{strs: []uint8{1}, dirs: []uint8{0}, filter: filterPaths, classes: mkdirs}),
	def("rmdir", unix.SYS_RMDIR, event.Rmdir, arg{strs: []uint8{0}, dirs: []uint8{dirCwd}, filter: filterPaths, classes: removes}),
	def("memfd_create", unix.SYS_MEMFD_CREATE, event.Memfd, arg{strs: []uint8{0}, dirs: []uint8{argNone}}),

	def("connect", unix.SYS_CONNECT, event.Connect, arg{sock: sockArg0, addr: 1, filter: filterConnect}),
	def("accept", unix.SYS_ACCEPT, event.Accept, arg{sock: sockRet, filter: filterSuccess}),
	def("accept4", unix.SYS_ACCEPT4, event.Accept, arg{sock: sockRet, filter: filterSuccess}),
	def("bind", unix.SYS_BIND, event.Bind, arg{sock: sockArg0, addr: 1}),
	def("listen", unix.SYS_LISTEN, event.Listen, arg{sock: sockArg0}),
	def("socket", unix.SYS_SOCKET, event.Socket, arg{filter: filterSocket}),
	// Sends and receives on IPv4 and IPv6 sockets, as the rules ask for
	// them (Config.IO).
	def("sendto", unix.SYS_SENDTO, event.Send, arg{io: ioSend}),
	def("sendmsg", unix.SYS_SENDMSG, event.Send, arg{io: ioSend | ioMsg}),
	def("recvfrom", unix.SYS_RECVFROM, event.Recv, arg{io: ioRecv}),
	def("recvmsg", unix.SYS_RECVMSG, event.Recv, arg{io: ioRecv | ioMsg}),
	def("dup", unix.SYS_DUP, event.Dup, arg{sock: sockArg0, filter: filterDup}),
	def("dup2", unix.SYS_DUP2, event.Dup, arg{sock: sockArg0, filter: filterDup}),
	def("dup3", unix.SYS_DUP3, event.Dup, arg{sock: sockArg0, filter: filterDup}),

	def("setuid", unix.SYS_SETUID, event.Setuid, arg{}),
	def("setreuid", unix.SYS_SETREUID, event.Setuid, arg{}),
	def("setresuid", unix.SYS_SETRESUID, event.Setuid, arg{}),
	def("setgid", unix.SYS_SETGID, event.Setgid, arg{}),
	def("setregid", unix.SYS_SETREGID, event.Setgid, arg{}),
	def("setresgid", unix.SYS_SETRESGID, event.Setgid, arg{}),
	def("capset", unix.SYS_CAPSET, event.Capset, arg{blob: 1, blobLen: 24}),
	def("ptrace", unix.SYS_PTRACE, event.Ptrace, arg{}),
	def("mount", unix.SYS_MOUNT, event.Mount, arg{strs: []uint8{0, 1, 2}, dirs: []uint8{argNone, argNone, argNone}}),
	def("umount2", unix.SYS_UMOUNT2, event.Umount, arg{strs: []uint8{0}, dirs: []uint8{argNone}}),
	def("init_module", unix.SYS_INIT_MODULE, event.ModuleLoad, arg{strs: []uint8{2}, dirs: []uint8{argNone}}),
	def("finit_module", unix.SYS_FINIT_MODULE, event.ModuleLoad, arg{fds: []uint8{0}, strs: []uint8{1}, dirs: []uint8{argNone}}),
	def("bpf", unix.SYS_BPF, event.BPF, arg{}),
	def("unshare", unix.SYS_UNSHARE, event.Unshare, arg{}),
	def("setns", unix.SYS_SETNS, event.Setns, arg{fds: []uint8{0}}),
	def("userfaultfd", unix.SYS_USERFAULTFD, event.Userfaultfd, arg{}),
}

// SyscallNames are the system calls the sensor captures for events of
// type t (none for the process lifecycle, which comes from scheduler
// tracepoints).
func SyscallNames(t event.Type) []string {
	var names []string
	for _, d := range syscallTable {
		if d.typ == t {
			names = append(names, d.name)
		}
	}
	return names
}
