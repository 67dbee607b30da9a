package enforce

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	// reaperStart is when the PID namespace's init started, in clock
	// ticks since boot; 0 when unknown. The kernel reuses a dead
	// namespace's inode number for the next namespace made (of any
	// kind), at once: without this, the next container's processes were
	// judged, and killed, by the policy of the dead container whose number
	// their namespace drew, until the dead one was unprotected.
	reaperStart uint64
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
		start, err := pidnsInitStart(pid, own)
		if err != nil {
			return nsOwner{}, err
		}
		return nsOwner{inum: uint32(own), kind: nsPID, cgroupLevel: level, reaperStart: start}, nil
	}
	mnt, err := nsInode(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return nsOwner{}, err
	}
	// resolve has checked already that this is not the agent's mount
	// namespace.
	return nsOwner{inum: uint32(mnt), kind: nsMnt, cgroupLevel: level}, nil
}

// pidnsInitStart finds the init (pid 1) of pid's PID namespace, whose
// inode is ns, and returns its start time in clock ticks since boot, as
// the kernel programs compare it: among pid's own cgroup's processes
// first, where a container's init is, then among all.
func pidnsInitStart(pid int, ns uint64) (uint64, error) {
	var cands []int
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid)); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if rel, ok := strings.CutPrefix(line, "0::"); ok {
				procs, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup", rel, "cgroup.procs"))
				for _, f := range strings.Fields(string(procs)) {
					if p, err := strconv.Atoi(f); err == nil {
						cands = append(cands, p)
					}
				}
			}
		}
	}
	if ents, err := os.ReadDir("/proc"); err == nil {
		for _, e := range ents {
			if p, err := strconv.Atoi(e.Name()); err == nil {
				cands = append(cands, p)
			}
		}
	}
	for _, p := range cands {
		if !isPidnsInit(p, ns) {
			continue
		}
		if start, err := procStartTicks(p); err == nil {
			return start, nil
		}
	}
	return 0, fmt.Errorf("the init of process %d's PID namespace is gone", pid)
}

// isPidnsInit reports whether process p is pid 1 of the PID namespace ns.
func isPidnsInit(p int, ns uint64) bool {
	if ino, err := nsInode(fmt.Sprintf("/proc/%d/ns/pid", p)); err != nil || ino != ns {
		return false
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			return len(f) > 0 && f[len(f)-1] == "1"
		}
	}
	return false
}

// procStartTicks is field 22 of /proc/p/stat: the process's start time in
// clock ticks since boot.
func procStartTicks(p int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after its last ')'.
	i := strings.LastIndexByte(string(data), ')')
	f := strings.Fields(string(data[i+1:]))
	if i < 0 || len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: too short", p)
	}
	return strconv.ParseUint(f[19], 10, 64)
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
	v := driftNsOwner{CgroupId: p.cgroupID, CgroupLevel: p.owner.cgroupLevel, Kind: p.owner.kind, ReaperStart: p.owner.reaperStart}
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
	v := driftNsOwner{CgroupId: last.cgroupID, CgroupLevel: last.owner.cgroupLevel, Kind: last.owner.kind, ReaperStart: last.owner.reaperStart}
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
