package syscalls

import (
	"sort"

	"github.com/mamori-dev/mamori/event"
)

// Source is the Falco event source this catalogue serves.
const Source = "syscall"

// falcoTypes maps each Falco evt.type name the sensor can deliver to the
// mamori event type it arrives as.
var falcoTypes = map[string]event.Type{
	"execve": event.Exec, "execveat": event.Exec,
	"clone": event.Fork, "clone3": event.Fork, "fork": event.Fork, "vfork": event.Fork,
	"procexit": event.Exit,
	"open":     event.Open, "openat": event.Open, "openat2": event.Open, "creat": event.Open,
	"unlink": event.Unlink, "unlinkat": event.Unlink,
	"rename": event.Rename, "renameat": event.Rename, "renameat2": event.Rename,
	"chmod": event.Chmod, "fchmod": event.Chmod, "fchmodat": event.Chmod, "fchmodat2": event.Chmod,
	"link": event.Link, "linkat": event.Link,
	"symlink": event.Symlink, "symlinkat": event.Symlink,
	"truncate": event.Truncate, "ftruncate": event.Truncate,
	"memfd_create": event.Memfd,
	"connect":      event.Connect,
	"accept":       event.Accept, "accept4": event.Accept,
	"bind":   event.Bind,
	"listen": event.Listen,
	"socket": event.Socket,
	"setuid": event.Setuid, "setreuid": event.Setuid, "setresuid": event.Setuid,
	"setgid": event.Setgid, "setregid": event.Setgid, "setresgid": event.Setgid,
	"capset": event.Capset,
	"ptrace": event.Ptrace,
	"mount":  event.Mount,
	"umount": event.Umount, "umount2": event.Umount,
	"init_module": event.ModuleLoad, "finit_module": event.ModuleLoad,
	"bpf":     event.BPF,
	"unshare": event.Unshare,
	"setns":   event.Setns,
	"dup":     event.Dup, "dup2": event.Dup, "dup3": event.Dup,
	"mkdir": event.Mkdir, "mkdirat": event.Mkdir,
	"rmdir":       event.Rmdir,
	"userfaultfd": event.Userfaultfd,
	"sendto":      event.Send, "sendmsg": event.Send,
	"recvfrom": event.Recv, "recvmsg": event.Recv,
}

// FalcoTypes returns the evt.type names the sensor can deliver, sorted.
func FalcoTypes() []string {
	out := make([]string, 0, len(falcoTypes))
	for n := range falcoTypes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// SensorType returns the mamori event type a Falco evt.type name arrives
// as, and whether the sensor captures it at all.
func SensorType(falcoName string) (event.Type, bool) {
	t, ok := falcoTypes[falcoName]
	return t, ok
}

// SensorTypes returns the mamori event types needed to deliver the given
// Falco evt.type names; names the sensor cannot capture are skipped.
func SensorTypes(falcoNames []string) []event.Type {
	seen := map[event.Type]bool{}
	var out []event.Type
	for _, n := range falcoNames {
		if t, ok := falcoTypes[n]; ok && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// EventType returns the Falco evt.type name of e: the system call, except
// for the events the sensor takes from scheduler tracepoints.
func EventType(e *event.Event) string {
	switch e.Type {
	case event.Exec:
		return "execve"
	case event.Fork:
		return "clone"
	case event.Exit:
		return "procexit"
	}
	return e.Syscall
}
