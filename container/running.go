package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/mamori-dev/mamori/event"
)

// Running is a container that has processes on the node now, found by
// walking the cgroup hierarchy rather than from an event.
type Running struct {
	Container *event.Container
	// CgroupID is the v2 id of the container's own cgroup: the outermost
	// one that belongs to it (its processes may sit in cgroups below).
	CgroupID uint64
	// Path is that cgroup's path relative to the cgroup2 root.
	Path string
	// PIDs are processes in that cgroup or below it, at the time of the
	// walk, at most maxPIDs of them.
	PIDs []uint32
}

// maxPIDs bounds how many processes Running and Procs list per container:
// enough to find one inside the container's own root.
const maxPIDs = 64

// Running walks the cgroup v2 hierarchy and returns every container with
// at least one process, described from its runtime's metadata as Lookup
// describes it. Containers started before the agent are found here; so
// are containers whose first event was lost. It takes a few milliseconds
// per hundred cgroups.
func (r *Resolver) Running() ([]Running, error) {
	byID := map[string]*Running{}
	var order []string
	root := r.cgroups.root
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a cgroup removed during the walk
		}
		if !d.IsDir() || p == root {
			return nil
		}
		rel, ok := r.cgroups.relative(p)
		if !ok {
			return nil
		}
		if _, ok := ParseCgroupPath(rel); !ok {
			return nil
		}
		pids := readProcs(filepath.Join(p, "cgroup.procs"), maxPIDs)
		if len(pids) == 0 {
			return nil // no process here; a child cgroup may have some
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		c := r.Lookup(st.Ino, pids[0])
		if c.IsHost() || c.ID == UnknownID {
			return nil
		}
		if run := byID[c.ID]; run != nil {
			// A cgroup below the container's own (a runtime's or the
			// workload's sub-cgroup): its processes are the container's.
			if len(run.PIDs) < maxPIDs {
				run.PIDs = append(run.PIDs, pids[:min(len(pids), maxPIDs-len(run.PIDs))]...)
			}
			return nil
		}
		byID[c.ID] = &Running{Container: c, CgroupID: st.Ino, Path: rel, PIDs: pids}
		order = append(order, c.ID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Running, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	return out, nil
}

// Procs returns up to maxPIDs processes in the cgroup with the given v2
// id and in the cgroups below it: the processes through which a
// container's enforcement can be placed. An empty list with a nil error
// means the cgroup exists but holds no process.
func (r *Resolver) Procs(cgroupID uint64) ([]uint32, error) {
	rel, err := r.cgroups.path(cgroupID, 0)
	if err != nil {
		return nil, err
	}
	var pids []uint32
	base := filepath.Join(r.cgroups.root, rel)
	err = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == base {
				return err
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		pids = append(pids, readProcs(filepath.Join(p, "cgroup.procs"), maxPIDs-len(pids))...)
		if len(pids) >= maxPIDs {
			return fs.SkipAll
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoCgroup
	}
	return pids, err
}

// OwnCgroup returns the v2 id and path of the container's own cgroup for a
// task in cgroup cgroupID: that cgroup, or the one above it that names the
// container when the task sits in a sub-cgroup.
func (r *Resolver) OwnCgroup(cgroupID uint64) (uint64, string, error) {
	rel, err := r.cgroups.path(cgroupID, 0)
	if err != nil {
		return 0, "", err
	}
	ref, ok := ParseCgroupPath(rel)
	if !ok {
		return 0, "", fmt.Errorf("cgroup %s is not a container's", rel)
	}
	if ref.Own == rel {
		return cgroupID, rel, nil
	}
	id := r.cgroups.inode(ref.Own)
	if id == 0 {
		return 0, "", errNoCgroup
	}
	return id, ref.Own, nil
}

// CgroupPathOf returns the cgroup v2 path (below the cgroup2 root) of
// process pid now.
func (r *Resolver) CgroupPathOf(pid uint32) (string, error) {
	data, err := os.ReadFile(filepath.Join(r.cfg.ProcDir, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return "", err
	}
	rel, ok := unifiedLine(data)
	if !ok {
		return "", fmt.Errorf("process %d: no live cgroup v2 line in its cgroup file", pid)
	}
	return rel, nil
}

// CgroupOf returns the cgroup v2 id of process pid now.
func (r *Resolver) CgroupOf(pid uint32) (uint64, error) {
	rel, err := r.CgroupPathOf(pid)
	if err != nil {
		return 0, err
	}
	id := r.cgroups.inode(rel)
	if id == 0 {
		return 0, errNoCgroup
	}
	return id, nil
}

// ErrNoCgroup says that a cgroup does not exist (any more).
var ErrNoCgroup = errNoCgroup

// readProcs reads at most max pids from a cgroup.procs file, in the order
// the kernel lists them (roughly oldest first).
func readProcs(path string, max int) []uint32 {
	if max <= 0 {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var pids []uint32
	for _, f := range strings.Fields(string(data)) {
		n, err := strconv.ParseUint(f, 10, 32)
		if err != nil || n == 0 {
			continue
		}
		pids = append(pids, uint32(n))
		if len(pids) == max {
			break
		}
	}
	slices.Sort(pids) // lowest first: a container's init usually has the lowest pid
	return pids
}
