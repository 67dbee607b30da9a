package enforce

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mamori-dev/mamori/container"
)

// Config tunes Drift Prevention. Zero values take the defaults.
type Config struct {
	// CgroupRoot is the cgroup2 mount point; by default the one in
	// /proc/self/mountinfo.
	CgroupRoot string
	// DecisionTimeout bounds how long an exec may wait for the fanotify
	// handler; 250ms. A late decision is answered by the fail policy.
	DecisionTimeout time.Duration
	// FailClosed answers a late decision with EPERM. By default it is
	// allowed, and the sigkill line, which does not depend on user space,
	// kills it if it drifted: no workload hangs or fails on a slow agent,
	// and no drifted program runs either.
	FailClosed bool
	// VerdictBuffer is the capacity of the Verdicts channel; 1024. When it
	// is full, verdicts are counted in Stats.VerdictsDropped and dropped:
	// enforcement never waits for a reader.
	VerdictBuffer int
	// NoFanotify uses only the kernel-side mechanisms (sigkill, lsm). For
	// measurements and for nodes where fanotify marks are unwanted.
	NoFanotify bool
}

// Drift is Drift Prevention on one node: protected containers may run only
// the programs their image shipped. Its methods are safe for concurrent use.
type Drift struct {
	cfg      Config
	log      *slog.Logger
	k        *kernel
	verdicts chan Verdict

	mu      sync.Mutex
	targets map[string]*target // by ContainerRef.ID
	byCgrp  map[uint64]string  // cgroup id → container id, for kernel verdicts

	dropped atomic.Uint64
	stop    chan struct{}
	wg      sync.WaitGroup
	closed  bool
	// lost, once kernelGone, is the kernel's count of lost verdicts as
	// Close left it: its map is gone after Close.
	lost       uint64
	kernelGone bool
}

// target is a protected container, resolved.
type target struct {
	ref         ContainerRef
	cgroupID    uint64
	rootMnt     uint64
	upper       string
	lowers      []string
	inoIdentity bool
	mounts      []mount
	execMounts  map[uint64]bool
	allow       map[string]bool
	policy      kernelPolicy
	guard       *guard // nil in audit mode or without fanotify
	digests     digests
	// allowMu guards policy.allow, which the fanotify handler extends
	// (allowPath), and released.
	allowMu  sync.Mutex
	released bool
}

// NewDrift loads Drift Prevention's BPF programs and attaches them. Nothing
// is enforced until Protect. The caller must Close it.
func NewDrift(cfg Config, log *slog.Logger) (*Drift, error) {
	if cfg.DecisionTimeout <= 0 {
		cfg.DecisionTimeout = 250 * time.Millisecond
	}
	if cfg.VerdictBuffer <= 0 {
		cfg.VerdictBuffer = 1024
	}
	if cfg.CgroupRoot == "" {
		root, err := container.FindCgroup2Mount("/proc/self/mountinfo")
		if err != nil {
			return nil, err
		}
		cfg.CgroupRoot = root
	}
	k, err := loadKernel(log)
	if err != nil {
		return nil, err
	}
	d := &Drift{
		cfg: cfg, log: log, k: k,
		verdicts: make(chan Verdict, cfg.VerdictBuffer),
		targets:  map[string]*target{},
		byCgrp:   map[uint64]string{},
		stop:     make(chan struct{}),
	}
	if k.lsmErr != nil {
		log.Info("drift: BPF LSM unavailable; drifted execs are refused by fanotify and killed by the sigkill line",
			"reason", k.lsmErr)
	} else {
		log.Info("drift: BPF LSM attached; drifted execs fail with EPERM in the kernel")
	}
	logMappingLine(log, k)
	d.wg.Add(2)
	go d.readKernel()
	go d.watchdog()
	return d, nil
}

// Mechanisms lists, strongest first, what enforces on this node.
func (d *Drift) Mechanisms() []Mechanism {
	var ms []Mechanism
	if d.k.lsmErr == nil {
		ms = append(ms, LSM)
	}
	if !d.cfg.NoFanotify {
		ms = append(ms, Fanotify)
	}
	return append(ms, SIGKILL)
}

// Verdicts delivers a Verdict for each drifted exec in a protected
// container, blocked or audited. Read it promptly: when its buffer is full
// verdicts are dropped (and counted), never waited for.
func (d *Drift) Verdicts() <-chan Verdict { return d.verdicts }

// Stats are Drift Prevention's counters.
type Stats struct {
	Protected       int    `json:"protected"`
	VerdictsDropped uint64 `json:"verdicts_dropped"` // channel full
	KernelLost      uint64 `json:"kernel_lost"`      // ring buffer full
	LateDecisions   uint64 `json:"late_decisions"`   // answered by the fail policy
}

// Stats returns the counters.
func (d *Drift) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Stats{Protected: len(d.targets), VerdictsDropped: d.dropped.Load(), KernelLost: d.lost}
	if !d.kernelGone {
		s.KernelLost = d.k.lost()
	}
	for _, t := range d.targets {
		if t.guard != nil {
			t.guard.mu.Lock()
			s.LateDecisions += t.guard.late
			t.guard.mu.Unlock()
		}
	}
	return s
}

// Protect starts Drift Prevention for a container: the kernel map entries
// first (the sigkill line, effective at once), then in enforce mode the
// fanotify marks. Protecting a container again replaces its policy, make
// before break: the new entries and marks are in place before the old ones
// go, so that an exec in between is judged by one policy or both (both
// must allow it), never by none.
//
// Execs before Protect returns are not judged: the agent should call it as
// soon as the container's init exists (an OCI hook or the runtime's
// create/start event), and in any case the sensor reports those execs with
// exe_upper_layer set.
func (d *Drift) Protect(ctx context.Context, ref ContainerRef) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := d.resolve(ref)
	if err != nil {
		return fmt.Errorf("protect container %s: %w", ref.ID, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("drift prevention is closed")
	}
	old := d.targets[ref.ID]
	if ref.Mode != Off {
		// The enforced entry is written last: with an old policy in place
		// the kernel sees the union of both allow lists until retire.
		if err := d.k.put(t.policy); err != nil {
			d.k.removeExcept(t.policy, old.kernelPolicy())
			return fmt.Errorf("protect container %s: %w", ref.ID, err)
		}
	}
	if (ref.Mode == Enforce || ref.Exec.Any()) && !d.cfg.NoFanotify {
		g, err := newGuard(t, d.cfg.DecisionTimeout, d.cfg.FailClosed, d.send, d.allowPath, d.log)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			// RootPID exited under us: not a reason to run without the
			// handler. What was in place stays; the caller tries again
			// through another process.
			d.k.removeExcept(t.policy, old.kernelPolicy())
			if old != nil && ref.Mode != Off && old.ref.Mode != Off {
				d.k.put(old.policy) // the enforced entry is the old one's again
			}
			return fmt.Errorf("protect container %s: %w", ref.ID, err)
		}
		if err != nil {
			// For drift not weaker in effect (the sigkill line still
			// stops the program), but the workload sees a kill instead
			// of EPERM: say so. The exec checks have no other line:
			// Refusing tells the caller.
			d.log.Warn("fanotify unavailable for this container; drifted programs are killed at exec instead of refused, and the exec checks are not applied",
				"container", ref.ID, "err", err)
		}
		t.guard = g
	}
	d.targets[ref.ID] = t
	d.byCgrp[t.cgroupID] = ref.ID
	if old != nil {
		return d.retireLocked(old, t)
	}
	return nil
}

// retireLocked ends what old, a container's previous protection, holds
// that next, the one now in place, does not: its fanotify group (next's
// marks are already there) and its kernel entries that next lacks.
func (d *Drift) retireLocked(old, next *target) error {
	old.allowMu.Lock()
	old.released = true // its handler adds no more allowed paths
	old.allowMu.Unlock()
	if old.guard != nil {
		old.guard.retire()
	}
	if old.cgroupID != next.cgroupID || next.ref.Mode == Off {
		if d.byCgrp[old.cgroupID] == old.ref.ID && old.cgroupID != next.cgroupID {
			delete(d.byCgrp, old.cgroupID)
		}
		if err := d.k.remove(old.policy); err != nil {
			return fmt.Errorf("replace the protection of container %s: %w", old.ref.ID, err)
		}
		return nil
	}
	// Under next's allowMu: its handler may be adding a path right now,
	// and a path both allow must stay in the kernel's map.
	next.allowMu.Lock()
	defer next.allowMu.Unlock()
	if err := d.k.removeExcept(old.policy, next.kernelPolicy()); err != nil {
		return fmt.Errorf("replace the protection of container %s: %w", old.ref.ID, err)
	}
	return nil
}

// Refusing reports whether the fanotify handler judges the execs of
// container id: Protect put it in place (enforce mode or ExecChecks) and
// fanotify works for that container. Without it, ExecChecks are not
// applied and drift is only killed by the sigkill line.
func (d *Drift) Refusing(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.targets[id]
	return t != nil && t.guard != nil
}

// RootJudged reports whether Drift Prevention can tell a new program from
// an image program on container id's root file system: the root is an
// overlay whose upper layer it knows. Where it is not (a container run
// from a plain directory, e.g. podman --rootfs), memfd, deleted and
// volume programs are still refused, but a program dropped onto the root
// is not: the caller should say so.
func (d *Drift) RootJudged(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.targets[id]
	return t != nil && t.upper != ""
}

// allowPath writes path, which the fanotify handler allowed through
// ContainerRef.AllowMatch, into the kernel's allow map for t, so that the
// sigkill line lets the exec through as well.
func (d *Drift) allowPath(t *target, p string) {
	if t.ref.Mode == Off {
		return // no kernel entry to agree with
	}
	h := pathHash(p)
	// Not d.mu: Release holds it while it waits for this handler to end.
	t.allowMu.Lock()
	defer t.allowMu.Unlock()
	if t.released || slices.Contains(t.policy.allow, h) {
		return // released meanwhile, or known
	}
	if err := d.k.allow(t.cgroupID, h); err != nil {
		d.log.Warn("drift: cannot add an allowed program to the kernel's allow map; the sigkill line will kill it",
			"container", t.ref.ID, "path", p, "err", err)
		return
	}
	t.policy.allow = append(t.policy.allow, h)
}

// ErrHostMountNS says that RootPID is not inside its container's file
// system yet: it shares the agent's mount namespace, or its root is still
// the host's. Protecting it would protect the host.
var ErrHostMountNS = errors.New("RootPID is not inside its container yet (host mount namespace or host root)")

// InHostMountNS reports whether pid is not inside its container's file
// system yet: a process of a starting container is in its cgroup before it
// is in its own mount namespace (runc before unshare), and in that
// namespace before its root is the container's (an OCI createRuntime hook
// runs before pivot_root); in both cases the runtime has not applied all
// of the container's settings either.
func InHostMountNS(pid int) (bool, error) { return sameMountNS(pid) }

func sameMountNS(pid int) (bool, error) {
	var own, other unix.Stat_t
	if err := unix.Stat("/proc/self/ns/mnt", &own); err != nil {
		return false, fmt.Errorf("stat own mount namespace: %w", err)
	}
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/mnt", pid), &other); err != nil {
		return false, fmt.Errorf("stat mount namespace of pid %d: %w", pid, err)
	}
	if own.Ino == other.Ino && own.Dev == other.Dev {
		return true, nil
	}
	// A new mount namespace copies the host's mounts (new mount ids, the
	// same directories): the root is the host's until pivot_root.
	// The host's root is init's, where the agent may read it (it may run
	// in a container of its own with the host's PID namespace); else its
	// own.
	var host, root unix.Stat_t
	if err := unix.Stat("/proc/1/root/", &host); err != nil {
		if err := unix.Stat("/", &host); err != nil {
			return false, fmt.Errorf("stat the host's root: %w", err)
		}
	}
	if err := unix.Stat(fmt.Sprintf("/proc/%d/root/", pid), &root); err != nil {
		return false, fmt.Errorf("stat the root of pid %d: %w", pid, err)
	}
	if host.Ino == root.Ino && host.Dev == root.Dev {
		return true, nil
	}
	// The root the runtime runs in is the one a starting container's
	// first process still has: its parent (the runtime, or its shim) is
	// outside the container's cgroup. That catches what init's root
	// cannot when init's root is not readable (some sandboxes refuse
	// /proc/1/root even to root) and the agent, in a pod, has a root of
	// its own to fall back on.
	ppid, err := parentPID(pid)
	if err != nil || ppid <= 0 {
		return false, nil
	}
	var parent unix.Stat_t
	if unix.Stat(fmt.Sprintf("/proc/%d/root/", ppid), &parent) != nil || parent.Ino != root.Ino || parent.Dev != root.Dev {
		return false, nil
	}
	mine, err1 := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	theirs, err2 := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", ppid))
	return err1 == nil && err2 == nil && string(mine) != string(theirs), nil
}

// parentPID is the parent of pid, from /proc/PID/stat.
func parentPID(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name in parentheses may hold spaces and parentheses:
	// the fields after it start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	return strconv.Atoi(f[1])
}

// resolve reads what Protect needs from the kernel through RootPID.
func (d *Drift) resolve(ref ContainerRef) (*target, error) {
	if ref.ID == "" {
		return nil, errors.New("no container id")
	}
	if ref.RootPID <= 0 {
		return nil, errors.New("no process of the container (RootPID)")
	}
	if ref.Mode != Enforce && ref.Mode != Audit && ref.Mode != Off {
		return nil, fmt.Errorf("mode %q: want %q, %q or %q", ref.Mode, Enforce, Audit, Off)
	}
	allow, err := cleanAllow(ref.Allow)
	if err != nil {
		return nil, err
	}
	t := &target{ref: ref, cgroupID: ref.CgroupID, execMounts: map[uint64]bool{}, allow: map[string]bool{}}
	if t.cgroupID == 0 {
		if t.cgroupID, err = cgroupID(d.cfg.CgroupRoot, ref.RootPID); err != nil {
			return nil, err
		}
	}
	if t.cgroupID == 1 {
		return nil, errors.New("RootPID is in the root cgroup: that is the host, not a container")
	}
	// A process of a starting container can sit in the container's cgroup
	// while still in the host's mount namespace (runc before pivot_root).
	// Marking those mounts would refuse execs on the whole host.
	if same, err := sameMountNS(ref.RootPID); err != nil {
		return nil, err
	} else if same {
		return nil, ErrHostMountNS
	}
	if t.policy.owner, err = containerNS(ref.RootPID); err != nil {
		return nil, err
	}
	root := fmt.Sprintf("/proc/%d/root", ref.RootPID)
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, root+"/", 0, unix.STATX_MNT_ID, &st); err != nil {
		return nil, fmt.Errorf("statx %s: %w", root, err)
	}
	t.rootMnt = st.Mnt_id
	t.policy.rootDev = st.Dev_major<<20 | st.Dev_minor
	if t.mounts, err = readMountinfo(fmt.Sprintf("/proc/%d/mountinfo", ref.RootPID)); err != nil {
		return nil, err
	}
	for _, m := range t.mounts {
		if m.id == t.rootMnt && m.fstype == "overlay" {
			t.upper, t.lowers = overlayLayers(m.superOpts)
		}
	}
	if ref.UpperDir != "" {
		t.upper = ref.UpperDir
	}
	if len(ref.LowerDirs) > 0 {
		t.lowers = ref.LowerDirs
	}
	if t.upper == "" && ref.Mode == Enforce && !d.cfg.NoFanotify {
		d.log.Warn("drift: the container's root is not an overlay with an upper layer; fanotify allows root-mount execs and the sigkill line judges them",
			"container", ref.ID)
	}
	if t.upper != "" {
		t.inoIdentity = inodeIdentity(root, t.upper, t.lowers)
	}
	for _, p := range ref.ExecMounts {
		p = path.Clean(p)
		found := false
		for _, m := range t.mounts {
			if m.point == p {
				t.execMounts[m.id] = true
				t.policy.execMounts = append(t.policy.execMounts, uint32(m.id))
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("exec mount %s: no such mount point in the container", p)
		}
	}
	if ref.VolumesExec {
		for _, m := range t.mounts {
			if m.id != t.rootMnt && isVolume(root, m) && !t.execMounts[m.id] {
				t.execMounts[m.id] = true
				t.policy.execMounts = append(t.policy.execMounts, uint32(m.id))
			}
		}
	}
	for _, p := range allow {
		t.allow[p] = true
		t.policy.allow = append(t.policy.allow, pathHash(p))
	}
	t.policy.hasAllow = len(allow) > 0 || ref.AllowMatch != nil
	t.policy.cgroupID = t.cgroupID
	t.policy.enforce = ref.Mode == Enforce
	return t, nil
}

// kernelPolicy returns what t wrote into the kernel's maps, nil when it
// wrote nothing (no target, or Mode Off).
func (t *target) kernelPolicy() *kernelPolicy {
	if t == nil || t.ref.Mode == Off {
		return nil
	}
	return &t.policy
}

// Release ends Drift Prevention for a container: its marks and map entries
// go. Releasing a container that is not protected does nothing.
func (d *Drift) Release(id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.targets[id]
	if t == nil {
		return nil
	}
	return d.releaseLocked(t)
}

func (d *Drift) releaseLocked(t *target) error {
	t.allowMu.Lock()
	t.released = true // the handler adds no more allowed paths
	t.allowMu.Unlock()
	if t.guard != nil {
		t.guard.close()
	}
	delete(d.targets, t.ref.ID)
	if d.byCgrp[t.cgroupID] == t.ref.ID {
		delete(d.byCgrp, t.cgroupID)
	}
	if err := d.k.remove(t.policy); err != nil {
		return fmt.Errorf("release container %s: %w", t.ref.ID, err)
	}
	return nil
}

// Close releases every container, detaches the programs, delivers the
// verdicts still in the kernel's buffer and closes the Verdicts channel.
func (d *Drift) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	var errs []error
	for _, t := range d.targets {
		if err := d.releaseLocked(t); err != nil {
			errs = append(errs, err)
		}
	}
	d.mu.Unlock()
	d.k.detach()
	d.mu.Lock()
	d.lost, d.kernelGone = d.k.lost(), true // final: the programs are detached
	d.mu.Unlock()
	close(d.stop)
	d.k.reader.Flush() // the reader delivers what is there, then stops
	d.wg.Wait()
	d.k.close()
	close(d.verdicts)
	return errors.Join(errs...)
}

func (d *Drift) send(v Verdict) {
	select {
	case d.verdicts <- v:
	default:
		d.dropped.Add(1)
	}
}

func (d *Drift) readKernel() {
	defer d.wg.Done()
	err := d.k.read(func(r driftVerdict) {
		d.mu.Lock()
		id := d.byCgrp[r.CgroupId]
		d.mu.Unlock()
		d.send(d.k.verdict(r, id))
	})
	if err != nil {
		d.log.Error("drift: verdict reader stopped", "err", err)
	}
}

func (d *Drift) watchdog() {
	defer d.wg.Done()
	tick := time.NewTicker(max(d.cfg.DecisionTimeout/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case now := <-tick.C:
			d.mu.Lock()
			for _, t := range d.targets {
				if t.guard != nil {
					t.guard.watch(now)
				}
			}
			d.mu.Unlock()
		}
	}
}
