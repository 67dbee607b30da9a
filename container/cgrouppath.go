package container

import (
	"strings"
)

// Runtime names a container runtime as it appears in event.Container.Runtime.
const (
	Podman     = "podman"
	Containerd = "containerd"
	CRIO       = "cri-o"
	Docker     = "docker"
)

// CgroupRef is what a cgroup path says about the container it belongs to.
type CgroupRef struct {
	// Runtime is the runtime the path names; empty when the path shape is
	// shared by several (a bare id under kubepods with the cgroupfs driver).
	Runtime string
	// ID is the runtime's container id.
	ID string
	// Namespace is the containerd namespace, when the path carries it.
	Namespace string
	// PodUID is the Kubernetes pod UID from a kubepods path.
	PodUID string
	// Own is the container's own cgroup: the path up to the component
	// that names the container (cgroups below it belong to it too).
	Own string
	// Weak says that the path shape alone does not prove a container
	// (containerd's /<namespace>/<id> looks like many host cgroups): confirm
	// it with the runtime's own state before believing it.
	Weak bool
}

// ParseCgroupPath finds the container in a cgroup v2 path such as
// /libpod_parent/libpod-<id>. It reports false for host cgroups, including
// the cgroups of runtime helpers like conmon that live beside containers.
//
// Shapes it knows, innermost match wins, and any cgroup below a container's
// belongs to that container:
//
//	/libpod_parent/libpod-<id>                               podman, cgroupfs
//	/machine.slice/libpod-<id>.scope[/container]             podman, systemd
//	/system.slice/crio-<id>.scope, .../crio-<id>             cri-o
//	/system.slice/docker-<id>.scope, /docker/<id>            docker
//	.../cri-containerd-<id>.scope                            containerd (CRI, systemd)
//	/kubepods[.slice]/<qos>/pod<uid>/<id>                     CRI, cgroupfs (runtime unknown)
//	/<namespace>/<id>                                        containerd, cgroupfs (weak)
func ParseCgroupPath(path string) (CgroupRef, bool) {
	// Cgroup paths come from /proc, from the kernel or from a directory
	// walk; none is ever this long, so a huge input is not a cgroup.
	if len(path) > 4096 || !strings.HasPrefix(path, "/") {
		return CgroupRef{}, false
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) == 1 && parts[0] == "" {
		return CgroupRef{}, false
	}
	for i := len(parts) - 1; i >= 0; i-- {
		if ref, ok := parseComponent(parts[:i], parts[i]); ok {
			ref.PodUID = podUID(parts[:i])
			ref.Own = "/" + strings.Join(parts[:i+1], "/")
			return ref, true
		}
	}
	if ref, ok := parseContainerdPath(parts); ok {
		ref.Own = "/" + strings.Join(parts, "/")
		return ref, true
	}
	return CgroupRef{}, false
}

// prefixes maps a scope or directory prefix to its runtime. Helpers that
// share a prefix (libpod-conmon-, crio-conmon-) are excluded by the id check:
// what follows their prefix is not a bare id.
var prefixes = []struct{ prefix, runtime string }{
	{"libpod-", Podman},
	{"cri-containerd-", Containerd},
	{"crio-", CRIO},
	{"docker-", Docker},
}

func parseComponent(parents []string, name string) (CgroupRef, bool) {
	base := strings.TrimSuffix(name, ".scope")
	for _, p := range prefixes {
		if id, ok := strings.CutPrefix(base, p.prefix); ok && isContainerID(id) {
			return CgroupRef{Runtime: p.runtime, ID: id}, true
		}
	}
	if !isContainerID(name) {
		return CgroupRef{}, false
	}
	runtime := ""
	if len(parents) > 0 && parents[len(parents)-1] == "docker" {
		runtime = Docker
	}
	return CgroupRef{Runtime: runtime, ID: name}, true
}

// podUID finds the pod UID in kubepods parents: "pod<uid>" with the cgroupfs
// driver, "kubepods-<qos>-pod<uid_with_underscores>.slice" with systemd.
func podUID(parents []string) string {
	for i := len(parents) - 1; i >= 0; i-- {
		name := parents[i]
		if uid, ok := strings.CutPrefix(name, "pod"); ok && isUID(uid) {
			return uid
		}
		if !strings.HasPrefix(name, "kubepods") {
			continue
		}
		name = strings.TrimSuffix(name, ".slice")
		if j := strings.LastIndex(name, "-pod"); j >= 0 {
			uid := strings.ReplaceAll(name[j+len("-pod"):], "_", "-")
			if isUID(uid) {
				return uid
			}
		}
	}
	return ""
}

// parseContainerdPath accepts containerd's own cgroupfs layout,
// /<namespace>/<id>, as a weak match: nothing in it says "container".
func parseContainerdPath(parts []string) (CgroupRef, bool) {
	if len(parts) != 2 || !isContainerdName(parts[0], 64) || !isContainerdName(parts[1], 76) {
		return CgroupRef{}, false
	}
	for _, p := range parts {
		for _, suffix := range []string{".slice", ".scope", ".service", ".mount", ".socket"} {
			if strings.HasSuffix(p, suffix) {
				return CgroupRef{}, false
			}
		}
	}
	return CgroupRef{Runtime: Containerd, Namespace: parts[0], ID: parts[1], Weak: true}, true
}

// isContainerID reports whether s is a 64-digit lower-case hex id, the form
// podman, cri-o, docker and the CRI give their containers.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// isUID accepts the 36-character form of a Kubernetes UID.
func isUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

// isContainerdName follows containerd's identifiers.Validate: alphanumerics
// separated by single '.', '_' or '-', at most max long.
func isContainerdName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	sep := true // no leading separator
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			sep = false
		case c == '.' || c == '_' || c == '-':
			if sep {
				return false
			}
			sep = true
		default:
			return false
		}
	}
	return !sep
}
