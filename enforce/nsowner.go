package enforce

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// A container's second identity. The kernel programs find a task's
// container by its cgroup; a privileged container can leave its cgroup
// (mount cgroup2, write its pid into the root's cgroup.procs). It cannot
// leave its PID namespace: a running task's PID namespace never changes,
// and one the task makes (unshare -p) is a child of the container's,
// which the programs walk up to. So Protect also records the container's
// PID namespace in the ns_owners map, and a task whose cgroup has no
// policy is judged by the container that owns one of its PID namespaces.
//
// A container that shares the host's PID namespace (--pid host) has none
// of its own; its mount namespace is recorded instead. That is weaker: a
// task can leave its mount namespace (unshare -m, setns), and then it is
// no longer recognised.

// Values of struct ns_owner.kind and struct verdict.flags in drift.bpf.c.
const (
	nsPID = 1
	nsMnt = 2

	verdictOutsideCgroup = 1 << 0
	verdictByPIDNS       = 1 << 1
	verdictByMntNS       = 1 << 2
)

// nsOwner is a namespace that identifies a container: the ns_owners entry
// Protect writes.
type nsOwner struct {
	inum        uint32 // nsfs inode number; 0 for none
	kind        uint32 // nsPID or nsMnt
	cgroupLevel uint32 // depth of the container's cgroup below the root
}

// containerNS finds the namespace that identifies the container of pid:
// its PID namespace when it is not the host's (the agent's or init's),
// else its mount namespace.
func containerNS(pid int) (nsOwner, error) {
	level, err := cgroupLevel(pid)
	if err != nil {
		return nsOwner{}, err
	}
	own, err := nsInode(fmt.Sprintf("/proc/%d/ns/pid", pid))
	if err != nil {
		return nsOwner{}, err
	}
	host := map[uint64]bool{}
	for _, p := range []string{"/proc/self/ns/pid", "/proc/1/ns/pid"} {
		if ino, err := nsInode(p); err == nil {
			host[ino] = true
		}
	}
	if !host[own] {
		return nsOwner{inum: uint32(own), kind: nsPID, cgroupLevel: level}, nil
	}
	mnt, err := nsInode(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return nsOwner{}, err
	}
	// resolve has checked already that this is not the agent's mount
	// namespace.
	return nsOwner{inum: uint32(mnt), kind: nsMnt, cgroupLevel: level}, nil
}

func nsInode(p string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", p, err)
	}
	return st.Ino, nil
}

// cgroupLevel is the depth of pid's cgroup v2 below the root: 0 for the
// root, 2 for /libpod_parent/libpod-ID.
func cgroupLevel(pid int) (uint32, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			var n uint32
			for _, c := range strings.Split(rel, "/") {
				if c != "" {
					n++
				}
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("process %d has no cgroup v2 line in /proc/%d/cgroup", pid, pid)
}

// nsOwners counts, per namespace, the policies that name it, so that a
// namespace shared by several protected containers (a pod sharing its
// PID namespace) and a policy replaced by a new one before the old one is
// removed keep their entry until the last of them goes. The kernel entry
// names the container of the most recent put still present.
type nsOwners map[uint32][]ownerRef

type ownerRef struct {
	cgroupID uint64
	owner    nsOwner
}

func (k *kernel) putOwner(p kernelPolicy) error {
	if p.owner.inum == 0 {
		return nil
	}
	if k.owners == nil {
		k.owners = nsOwners{}
	}
	v := driftNsOwner{CgroupId: p.cgroupID, CgroupLevel: p.owner.cgroupLevel, Kind: p.owner.kind}
	if err := k.objs.NsOwners.Put(p.owner.inum, v); err != nil {
		return fmt.Errorf("namespace owner map: %w", err)
	}
	k.owners[p.owner.inum] = append(k.owners[p.owner.inum], ownerRef{p.cgroupID, p.owner})
	return nil
}

func (k *kernel) removeOwner(p kernelPolicy) error {
	refs := k.owners[p.owner.inum]
	i := len(refs) - 1
	for ; i >= 0; i-- {
		if refs[i].cgroupID == p.cgroupID && refs[i].owner == p.owner {
			break
		}
	}
	if p.owner.inum == 0 || i < 0 {
		return nil
	}
	refs = append(refs[:i:i], refs[i+1:]...)
	if len(refs) == 0 {
		delete(k.owners, p.owner.inum)
		if err := k.objs.NsOwners.Delete(p.owner.inum); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("namespace owner map: %w", err)
		}
		return nil
	}
	k.owners[p.owner.inum] = refs
	last := refs[len(refs)-1]
	v := driftNsOwner{CgroupId: last.cgroupID, CgroupLevel: last.owner.cgroupLevel, Kind: last.owner.kind}
	if err := k.objs.NsOwners.Put(p.owner.inum, v); err != nil {
		return fmt.Errorf("namespace owner map: %w", err)
	}
	return nil
}

// maps names every map the programs share, for the LSM programs, which
// are loaded on their own and must use the same maps, not copies.
func (k *kernel) maps() map[string]*ebpf.Map {
	return map[string]*ebpf.Map{
		driftMapEnforced:    k.objs.Enforced,
		driftMapAllow:       k.objs.Allow,
		driftMapExecMounts:  k.objs.ExecMounts,
		driftMapNsOwners:    k.objs.NsOwners,
		driftMapVerdicts:    k.objs.Verdicts,
		driftMapLost:        k.objs.Lost,
		driftMapNameScratch: k.objs.NameScratch,
		driftMapPathScratch: k.objs.PathScratch,
	}
}
