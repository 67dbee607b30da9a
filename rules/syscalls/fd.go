package syscalls

import (
	"strings"

	"github.com/mamori-dev/mamori/event"
)

// Falco's fd.* fields describe the file descriptor an event creates or
// uses, and only on such events: an open, a socket call, dup, fchmod,
// setns, finit_module, memfd_create... Events that take paths (unlink,
// rename, mkdir, chmod, execve) have no fd, so fd.name is not there on
// them: their paths are evt.arg fields. The *at calls that take a
// directory fd (unlinkat, mkdirat, symlinkat, fchmodat) use it as their
// fd; relative to the working directory (AT_FDCWD) it is no fd at all, and
// libsinsp then gives fd.name as "" and nothing else.

// fdUse is how an event relates to an fd.
type fdUse int

const (
	noFD     fdUse = iota
	fdOpened       // opens: the fd returned for the file named
	fdSocket       // socket calls and dup: the socket
	fdFile         // fchmod, ftruncate, finit_module, setns: the fd passed
	fdMemfd        // memfd_create
	fdAnon         // userfaultfd, bpf: an fd with no name
	fdDir          // unlinkat, mkdirat, symlinkat, fchmodat: the directory fd
)

var fdUses = map[string]fdUse{
	"open": fdOpened, "openat": fdOpened, "openat2": fdOpened, "creat": fdOpened,
	"connect": fdSocket, "accept": fdSocket, "accept4": fdSocket, "bind": fdSocket, "listen": fdSocket,
	"socket": fdSocket, "dup": fdSocket, "dup2": fdSocket, "dup3": fdSocket,
	"sendto": fdSocket, "sendmsg": fdSocket, "recvfrom": fdSocket, "recvmsg": fdSocket,
	"fchmod": fdFile, "ftruncate": fdFile, "finit_module": fdFile, "setns": fdFile,
	"memfd_create": fdMemfd, "userfaultfd": fdAnon, "bpf": fdAnon,
	"unlinkat": fdDir, "mkdirat": fdDir, "symlinkat": fdDir, "fchmodat": fdDir, "fchmodat2": fdDir,
}

func fdUseOf(e *event.Event) fdUse {
	if e.Type == event.Exec || e.Type == event.Fork || e.Type == event.Exit {
		return noFD
	}
	return fdUses[e.Syscall]
}

func isSocket(e *event.Event) bool { return e.Network != nil && e.Network.Family != "" }

// fdName is fd.name: an open's path as the program named it (made
// absolute, symlinks not followed), a socket's connection tuple or unix
// path, the path of the fd a call acted on.
func fdName(ev *Event) (string, bool) {
	e := ev.E
	switch fdUseOf(e) {
	case fdOpened:
		if e.File == nil {
			return "", false
		}
		if e.File.PathArg != "" {
			return e.File.PathArg, true
		}
		return e.File.Path, e.File.Path != ""
	case fdSocket:
		if isSocket(e) {
			return ev.tuple(), true
		}
	case fdFile:
		if e.File != nil {
			return e.File.Path, e.File.Path != ""
		}
		if e.Args != nil && e.Args.Target != "" {
			return e.Args.Target, true
		}
		if e.Args != nil && e.Type == event.ModuleLoad && e.Args.Module != "<memory>" {
			return e.Args.Module, true
		}
	case fdMemfd:
		if e.File != nil {
			return e.File.Name, true
		}
	case fdAnon:
		return "", e.Result >= 0
	case fdDir:
		return "", true
	}
	return "", false
}

// fdNum is fd.num: the fd an open returned (-1 when it failed), or the fd
// the call acted on.
func fdNum(ev *Event) (int64, bool) {
	e := ev.E
	switch fdUseOf(e) {
	case fdOpened, fdMemfd, fdAnon:
		if e.Result < 0 {
			return -1, true
		}
		return e.Result, true
	case fdSocket:
		if e.Network == nil {
			return 0, false
		}
		if e.Type == event.Dup {
			return e.Result, true
		}
		return int64(e.Network.FD), true
	case fdFile:
		if e.File != nil {
			return int64(e.File.FD), true
		}
		if e.Args != nil {
			return int64(e.Args.FD), true
		}
	}
	return 0, false
}

// fdType returns fd.typechar and fd.type.
func fdType(e *event.Event) (char, name string, ok bool) {
	switch fdUseOf(e) {
	case fdOpened:
		if e.File == nil || e.Result < 0 {
			return "", "", false
		}
		if strings.Contains(e.File.Flags, "O_DIRECTORY") {
			return "d", "directory", true
		}
		return "f", "file", true
	case fdSocket:
		if !isSocket(e) {
			return "", "", false
		}
		if t, ok := typeChars[e.Network.Family]; ok {
			return t[0], t[1], true
		}
		return "o", "<NA>", true
	case fdFile:
		if e.Type == event.Setns {
			return "o", "<NA>", true
		}
		if e.File != nil || e.Args != nil {
			return "f", "file", true
		}
	case fdMemfd:
		return "m", "memfd", e.Result >= 0
	case fdAnon:
		if e.Result < 0 {
			return "", "", false
		}
		if e.Type == event.BPF {
			return "b", "bpf", true
		}
		return "u", "userfaultfd", true
	}
	return "", "", false
}

var typeChars = map[string][2]string{
	"inet": {"4", "ipv4"}, "inet6": {"6", "ipv6"}, "unix": {"u", "unix"}, "netlink": {"n", "netlink"},
}

// fdTypeChar is fd.typechar. A call that made no fd (a failed open or
// socket) still has one in libsinsp, guessed from the call: f for openat,
// openat2 and creat, 4 for socket and accept, o for anything else (open
// included).
func fdTypeChar(e *event.Event) (string, bool) {
	if c, _, ok := fdType(e); ok {
		return c, true
	}
	switch fdUseOf(e) {
	case fdOpened:
		if e.Syscall == "open" {
			return "o", true
		}
		return "f", true
	case fdSocket:
		if e.Type == event.Socket || e.Type == event.Accept {
			return "4", true
		}
	case noFD, fdDir:
		return "", false
	}
	return "o", true
}

// isFileFD reports whether the event's fd is a file or directory, which
// fd.directory and fd.filename need.
func isFileFD(e *event.Event) bool {
	c, _, ok := fdType(e)
	return ok && (c == "f" || c == "d")
}

// fdDirectory is fd.directory: a file's directory ("/" for one directly
// under the root); a directory's own path.
func fdDirectory(ev *Event) (string, bool) {
	e := ev.E
	use := fdUseOf(e)
	if use != fdOpened && !isFileFD(e) {
		return "", false
	}
	name, ok := fdName(ev)
	if !ok {
		return "", false
	}
	if c, _, _ := fdType(e); c == "d" {
		return name, true
	}
	i := strings.LastIndexByte(name, '/')
	switch {
	case i <= 0:
		return "/", true
	case i == len(name)-1:
		return name, true
	}
	return name[:i], true
}

// fdFilename is fd.filename: a file's name without its directory; only for
// an fd that is open (not a failed open) and a file.
func fdFilename(ev *Event) (string, bool) {
	e := ev.E
	if c, _, ok := fdType(e); !ok || c != "f" {
		return "", false
	}
	name, ok := fdName(ev)
	if !ok {
		return "", false
	}
	return name[strings.LastIndexByte(name, '/')+1:], true
}
