package runtimehook

import (
	"fmt"
	"path/filepath"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsID identifies a namespace: the device and inode of its nsfs file.
type nsID struct{ dev, ino uint64 }

// HostNamespaces are the host's namespaces, as its init process (pid 1)
// has them. A namespace that a container configuration joins by path is
// the host's only when it is one of these: podman joins its bridge
// network's namespace by path (/run/netns/...), and a container in a pod
// joins the pod's namespaces by path (/proc/PID/ns/...), and neither is
// the host's.
type HostNamespaces map[specs.LinuxNamespaceType]nsID

// nsFiles names the file under /proc/PID/ns of each namespace type.
var nsFiles = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace:     "pid",
	specs.NetworkNamespace: "net",
	specs.MountNamespace:   "mnt",
	specs.IPCNamespace:     "ipc",
	specs.UTSNamespace:     "uts",
	specs.UserNamespace:    "user",
	specs.CgroupNamespace:  "cgroup",
	specs.TimeNamespace:    "time",
}

// ReadHostNamespaces reads the namespaces of pid 1 under proc (/proc).
// Where pid 1's cannot be read (the agent may lack ptrace access to init,
// e.g. in a user namespace), the agent's own stand in: it runs in the
// host's namespaces as a node agent does. A type neither gives is left
// out, and a path-joined namespace of that type is then taken for the
// host's (the cautious answer). fallback lists the types read from the
// agent's own.
func ReadHostNamespaces(proc string) (h HostNamespaces, fallback []string, err error) {
	h = HostNamespaces{}
	for t, f := range nsFiles {
		id, err1 := statNS(filepath.Join(proc, "1", "ns", f))
		if err1 != nil {
			if id, err1 = statNS(filepath.Join(proc, "self", "ns", f)); err1 != nil {
				if err == nil {
					err = err1
				}
				continue
			}
			fallback = append(fallback, f)
		}
		h[t] = id
	}
	if len(h) == 0 {
		return nil, nil, fmt.Errorf("read the host's namespaces: %w", err)
	}
	slices.Sort(fallback)
	return h, fallback, nil
}

func statNS(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{dev: uint64(st.Dev), ino: st.Ino}, nil
}

// shared reports whether a container configured with namespaces ns shares
// the host's namespace of type t: it lists no namespace of that type (the
// runtime leaves it in the runtime's own, the host's), or joins by path
// one that is the host's. A path that cannot be read, or a host namespace
// h does not know, counts as the host's: it cannot be shown to differ.
func (h HostNamespaces) shared(ns []specs.LinuxNamespace, t specs.LinuxNamespaceType) bool {
	for _, n := range ns {
		if n.Type != t {
			continue
		}
		if n.Path == "" {
			return false // a new namespace of its own
		}
		host, known := h[t]
		if !known {
			return true
		}
		id, err := statNS(n.Path)
		return err != nil || id == host
	}
	return true
}
