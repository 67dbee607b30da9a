// Package container attributes processes to containers: given the cgroup v2
// id and pid of a task, as the sensor sends them, it says which container
// (id, name, image, labels, Kubernetes pod) the task runs in, or that it runs
// on the host.
//
// It owns reading container runtimes' metadata from disk (podman's
// c/storage files and libpod DB, containerd's bundles and metadata DB),
// including what policy scopes match beyond the container's identity (its
// environment variable names, its image config; see Facts), and the cache
// of what it read. It must not run runtime commands on the event
// path, write to runtime state, or hold runtime locks for longer than a
// short, bounded read.
package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// UnknownID is the container id given to a task whose cgroup vanished before
// it could be looked up: it ran somewhere, but no longer knowably where.
// The event model has no such constant (nil means host there), so it is
// defined here.
const UnknownID = "unknown"

// Config says where the runtimes and the kernel keep what the Resolver reads.
// Zero values take the defaults of a rootful install.
type Config struct {
	// CgroupRoot is the cgroup2 mount point; by default the one in
	// /proc/self/mountinfo (/sys/fs/cgroup/unified on a hybrid host).
	CgroupRoot string
	// ProcDir is the proc file system, /proc.
	ProcDir string
	// PodmanRoot is podman's graph root, /var/lib/containers/storage.
	PodmanRoot string
	// ContainerdState is containerd's state directory, /run/containerd.
	ContainerdState string
	// ContainerdRoot is containerd's root directory, /var/lib/containerd.
	ContainerdRoot string
	// PodOwner, when set, finds the workload that owns the pod with the
	// UID (see k8s.PodOwners): the owner, or nil for a pod no workload
	// owns; an error when the pod is not known yet, so that the container
	// is read again shortly. Runtimes do not record owners.
	PodOwner func(uid string) (*event.Owner, error)
	// MaxEntries bounds the cache of cgroups (containers and host cgroups);
	// 16384 by default.
	MaxEntries int
	// RetryAfter is how long an incomplete answer (metadata unreadable) is
	// served from the cache before the Resolver reads again; 1s.
	RetryAfter time.Duration
	// BoltTimeout bounds the wait for podman's DB lock; 25ms.
	BoltTimeout time.Duration
	// SweepInterval is how often Run forgets cgroups that no longer exist;
	// 30s.
	SweepInterval time.Duration
}

func (c *Config) setDefaults() error {
	if c.ProcDir == "" {
		c.ProcDir = "/proc"
	}
	if c.CgroupRoot == "" {
		root, err := FindCgroup2Mount(filepath.Join(c.ProcDir, "self", "mountinfo"))
		if err != nil {
			return err
		}
		c.CgroupRoot = root
	}
	if c.PodmanRoot == "" {
		c.PodmanRoot = "/var/lib/containers/storage"
	}
	if c.ContainerdState == "" {
		c.ContainerdState = "/run/containerd"
	}
	if c.ContainerdRoot == "" {
		c.ContainerdRoot = "/var/lib/containerd"
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = 16384
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = time.Second
	}
	if c.BoltTimeout <= 0 {
		c.BoltTimeout = 25 * time.Millisecond
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = 30 * time.Second
	}
	return nil
}

// Resolver answers "which container is this task in?" for the enrich stage.
// It is safe for concurrent use. (Not "Registry": in container land that
// word means an image registry.)
type Resolver struct {
	cfg        Config
	log        *slog.Logger
	cgroups    *cgroupFS
	rootID     uint64
	podman     *podmanStore
	containerd *containerdStore
	host       *event.Container // shared by every host answer
	factCache  factCache        // what Facts read

	mu       sync.RWMutex
	entries  map[uint64]*entry
	inflight map[uint64]*lookup
}

// entry is one cached answer.
type entry struct {
	c        *event.Container
	path     string    // cgroup path relative to the cgroup2 root
	retryAt  time.Time // zero when complete
	resolved time.Time
}

// lookup lets concurrent first events of one new container wait for a
// single read of its metadata.
type lookup struct {
	done chan struct{}
	c    *event.Container
}

// New opens the cgroup2 mount and prepares the runtime readers. It does not
// read any runtime state yet: that happens on the first Lookup of each
// container.
func New(cfg Config, log *slog.Logger) (*Resolver, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("container resolver: %w", err)
	}
	cg, err := openCgroupFS(cfg.CgroupRoot, cfg.ProcDir)
	if err != nil {
		return nil, fmt.Errorf("container resolver: %w", err)
	}
	r := &Resolver{
		cfg:        cfg,
		log:        log,
		cgroups:    cg,
		rootID:     cg.inode("/"),
		podman:     newPodmanStore(cfg.PodmanRoot, cfg.BoltTimeout),
		containerd: newContainerdStore(cfg.ContainerdState, cfg.ContainerdRoot, log),
		host:       &event.Container{ID: event.HostID},
		entries:    make(map[uint64]*entry),
		inflight:   make(map[uint64]*lookup),
	}
	if _, err := cg.pathByHandle(r.rootID); err != nil {
		log.Warn("cgroup ids cannot be resolved by file handle; falling back to /proc and directory walks",
			"cgroup_root", cfg.CgroupRoot, "err", err)
	}
	return r, nil
}

// Close releases the cgroup2 mount and the containerd DB snapshot.
func (r *Resolver) Close() error {
	return errors.Join(r.cgroups.close(), r.containerd.close())
}

// Lookup returns the container of the task with the given cgroup v2 id
// (bpf_get_current_cgroup_id()) and pid, which is only a hint: the process
// may be gone. Host tasks get ID "host"; a task whose cgroup vanished before
// its first lookup gets UnknownID. The first lookup of a container reads its
// runtime's metadata from disk (about a millisecond), later ones are a map
// read. The answer is shared: do not modify it.
func (r *Resolver) Lookup(cgroupID uint64, pid uint32) *event.Container {
	if cgroupID == r.rootID {
		return r.host
	}
	r.mu.RLock()
	e := r.entries[cgroupID]
	r.mu.RUnlock()
	if e != nil && (e.retryAt.IsZero() || time.Now().Before(e.retryAt)) {
		return e.c
	}
	return r.resolveOnce(cgroupID, pid)
}

// resolveOnce resolves the cgroup, or waits for a concurrent resolution of
// the same cgroup.
func (r *Resolver) resolveOnce(cgroupID uint64, pid uint32) *event.Container {
	r.mu.Lock()
	if l := r.inflight[cgroupID]; l != nil {
		r.mu.Unlock()
		<-l.done
		return l.c
	}
	l := &lookup{done: make(chan struct{})}
	r.inflight[cgroupID] = l
	r.mu.Unlock()

	defer func() {
		r.mu.Lock()
		delete(r.inflight, cgroupID)
		r.mu.Unlock()
		close(l.done)
	}()
	e := r.resolve(cgroupID, pid)
	if e == nil {
		// The cgroup is gone. An earlier, incomplete answer is still
		// better than none.
		r.mu.RLock()
		old := r.entries[cgroupID]
		r.mu.RUnlock()
		if old != nil {
			l.c = old.c
		} else {
			l.c = &event.Container{ID: UnknownID}
		}
		return l.c
	}
	r.store(cgroupID, e)
	l.c = e.c
	return l.c
}

// resolve reads everything there is to know about the cgroup. It returns
// nil when the cgroup no longer exists.
func (r *Resolver) resolve(cgroupID uint64, pid uint32) *entry {
	now := time.Now()
	path, err := r.cgroups.path(cgroupID, pid)
	if err != nil {
		if !errors.Is(err, errNoCgroup) {
			r.log.Warn("cannot find cgroup path", "cgroup_id", cgroupID, "pid", pid, "err", err)
		}
		return nil
	}
	ref, ok := ParseCgroupPath(path)
	if !ok {
		return &entry{c: r.host, path: path, resolved: now}
	}
	c, err := r.metadata(ref)
	// Podman locks its database in bursts while it creates and starts
	// containers: wait a little for the labels, once per container, rather
	// than match policies on a description without them.
	for i := 0; i < 4 && errors.Is(err, errLocked); i++ {
		time.Sleep(10 * time.Millisecond)
		c, err = r.metadata(ref)
	}
	if c == nil {
		// A weak path match that no runtime claims: a host cgroup.
		return &entry{c: r.host, path: path, resolved: now}
	}
	if c.Pod != nil && c.Pod.UID == "" {
		c.Pod.UID = ref.PodUID
	}
	e := &entry{c: c, path: path, resolved: now}
	if err != nil {
		e.retryAt = time.Now().Add(r.cfg.RetryAfter) // from when the waiting above ended
		r.log.Warn("incomplete container metadata", "cgroup_id", cgroupID, "cgroup", path,
			"container_id", ref.ID, "runtime", c.Runtime, "err", err)
	}
	return e
}

// Describe returns what runtime's own state says about container id, for
// a container that has no process to look up by cgroup yet (one being
// created). runtime is Podman or Containerd; the error says what could not
// be read, and the container returned always has its ID.
func (r *Resolver) Describe(runtime, id string) (*event.Container, error) {
	c, err := r.metadata(CgroupRef{Runtime: runtime, ID: id})
	// Podman holds its database's lock in bursts while it creates a
	// container: a creation hook can afford to wait a little for the
	// labels, which policy scopes may need.
	for i := 0; i < 20 && errors.Is(err, errLocked); i++ {
		time.Sleep(20 * time.Millisecond)
		c, err = r.metadata(CgroupRef{Runtime: runtime, ID: id})
	}
	if c == nil {
		return &event.Container{ID: id, Runtime: runtime}, fmt.Errorf("no %s container %s", runtime, id)
	}
	return c, err
}

// metadata asks the runtime the path names. It returns nil, nil when the path
// was a weak match that the runtime does not know.
func (r *Resolver) metadata(ref CgroupRef) (*event.Container, error) {
	var (
		c   *event.Container
		err error
	)
	switch ref.Runtime {
	case Podman:
		c, err = r.podman.container(ref.ID)
	case Containerd, "":
		ns, found := r.containerd.find(ref.Namespace, ref.ID)
		switch {
		case found:
			c, err = r.containerd.container(ns, ref.ID)
		case ref.Weak:
			return nil, nil
		case ref.Runtime == "":
			c, err = &event.Container{ID: ref.ID}, fmt.Errorf("no runtime claims container %s", ref.ID)
		default:
			c, err = &event.Container{ID: ref.ID, Runtime: Containerd}, fmt.Errorf("no containerd bundle for %s", ref.ID)
		}
	default:
		// cri-o and docker: the id and runtime from the path is all we
		// read for now; nothing more will come from retrying.
		c = &event.Container{ID: ref.ID, Runtime: ref.Runtime}
	}
	if c.Pod == nil {
		c.Pod = podOf(c.Labels)
	}
	if c.Pod != nil && c.Pod.UID != "" && r.cfg.PodOwner != nil {
		owner, oerr := r.cfg.PodOwner(c.Pod.UID)
		if oerr != nil {
			err = errors.Join(err, fmt.Errorf("owner of pod %s/%s: %w", c.Pod.Namespace, c.Pod.Name, oerr))
		}
		c.Pod.Owner = owner
	}
	if c.Runtime == Podman || c.Runtime == Containerd {
		// Mounts are looked at once per container; a config that cannot
		// be read leaves them out (the rules then see no mount).
		c.Mounts, _ = r.mounts(c)
	}
	return c, err
}

// store caches e, making room first when the cache is full.
func (r *Resolver) store(cgroupID uint64, e *entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.entries[cgroupID]; !ok && len(r.entries) >= r.cfg.MaxEntries {
		r.evictLocked()
	}
	r.entries[cgroupID] = e
}

// evictLocked drops the oldest quarter of the cache. Dead cgroups are
// Sweep's business (it runs without the write lock); dropping a live one
// only costs one more read of its metadata.
func (r *Resolver) evictLocked() {
	ids := make([]uint64, 0, len(r.entries))
	for id := range r.entries {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uint64) int {
		return r.entries[a].resolved.Compare(r.entries[b].resolved)
	})
	n := len(ids) - r.cfg.MaxEntries*3/4
	for _, id := range ids[:n] {
		delete(r.entries, id)
	}
	r.log.Warn("container cache full; dropped the oldest entries", "dropped", n, "max_entries", r.cfg.MaxEntries)
}

// Forget drops what the Resolver knows about a cgroup, e.g. when the sensor
// sees it removed.
func (r *Resolver) Forget(cgroupID uint64) {
	r.mu.Lock()
	delete(r.entries, cgroupID)
	r.mu.Unlock()
}

// Sweep forgets every cached cgroup that no longer exists and returns how
// many it forgot.
func (r *Resolver) Sweep() int {
	r.mu.RLock()
	candidates := make(map[uint64]string, len(r.entries))
	for id, e := range r.entries {
		candidates[id] = e.path
	}
	r.mu.RUnlock()

	n := 0
	for id, path := range candidates {
		if r.cgroups.alive(id, path) {
			continue
		}
		r.Forget(id)
		n++
	}
	return n
}

// Len returns the number of cached cgroups.
func (r *Resolver) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.entries)
}

// Run sweeps every Config.SweepInterval until ctx is done.
func (r *Resolver) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if n := r.Sweep(); n > 0 {
				r.log.Debug("forgot removed cgroups", "count", n)
			}
		}
	}
}

// podOf reads the Kubernetes identity from the labels CRI runtimes set.
func podOf(labels map[string]string) *event.Pod {
	name, ns := labels["io.kubernetes.pod.name"], labels["io.kubernetes.pod.namespace"]
	if name == "" && ns == "" {
		return nil
	}
	return &event.Pod{
		Name:      name,
		Namespace: ns,
		Container: labels["io.kubernetes.container.name"],
		UID:       labels["io.kubernetes.pod.uid"],
	}
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
