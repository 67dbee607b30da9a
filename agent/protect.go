package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mamori-dev/mamori/container"
	"github.com/mamori-dev/mamori/enforce"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/guard"
	"github.com/mamori-dev/mamori/policy"
)

// Protection states of a container, as /status and `mamori status` show
// them.
const (
	// Protected: every control the policies enforce is enforced.
	Protected = "protected"
	// Pending: the container is known, its enforcement is not placed yet
	// (no process inside its own root yet, or a placement being retried).
	Pending = "pending"
	// Degraded: a control the policies enforce is not enforced; why is
	// in its ControlState, and an alert said so.
	Degraded = "degraded"
	// AuditOnly: no control is in enforce mode; violations are reported.
	AuditOnly = "audit"
)

// Control states.
const (
	ControlEnforced    = "enforced"
	ControlAudited     = "audited"
	ControlNotEnforced = "not-enforced"
	ControlPending     = "pending"
)

// runtimeControls are the controls judged while a container runs, in the
// order status lists them.
var runtimeControls = []string{
	"driftPrevention", "executableBlocklist", "executableAllowlist", "limitNewPrivileges", "forkGuard",
	"ipReputation", "networkEgress", "portScanDetection", "listeningPorts",
}

// ControlState is how one runtime control applies to one container now.
type ControlState struct {
	Control string `json:"control"`
	Mode    string `json:"mode"`  // enforce or audit
	State   string `json:"state"` // enforced, audited, not-enforced, pending
	// Mechanism is what refuses (enforced) or reports (audited).
	Mechanism string `json:"mechanism,omitempty"`
	// Reason says why an enforce-mode control is not enforced.
	Reason string `json:"reason,omitempty"`
}

// ContainerProtection is one container's enforcement, for /status.
type ContainerProtection struct {
	ID       string         `json:"id"`
	Name     string         `json:"name,omitempty"`
	Image    string         `json:"image,omitempty"`
	Pod      *event.Pod     `json:"pod,omitempty"`
	State    string         `json:"state"`
	Since    time.Time      `json:"since"`            // when it entered State
	Reason   string         `json:"reason,omitempty"` // why it is pending
	Controls []ControlState `json:"controls"`
}

// pendingGrace is how long a container may stay pending before the
// controls it should enforce are declared not enforced (with an alert).
// Placement normally takes milliseconds; the grace covers a container
// whose runtime is still setting it up.
const pendingGrace = 3 * time.Second

// protection keeps every container the node runs under the enforcement
// its effective controls ask for, from the moment the agent knows the
// container: found in the cgroup tree at start-up and every rescan,
// announced by the OCI hook, or seen in any event. It never waits for an
// exec, places enforcement through any process inside the container, and
// replaces it make-before-break when policies or the node's facts change.
type protection struct {
	a   *Agent
	log *slog.Logger

	mu   sync.Mutex
	ctrs map[string]*placement // by container id

	wake       chan struct{}
	discovered atomic.Bool // the start-up discovery is done
	readyOnce  sync.Once
	ready      chan struct{} // closed once discovered and nothing pending
}

// placement is one container's enforcement.
type placement struct {
	// mu serialises placing this container; held during the system calls.
	mu sync.Mutex

	// The fields below are guarded by protection.mu.
	ctr     *event.Container
	cgroup  uint64   // the container's own cgroup v2 id; 0 until known
	cgPath  string   // and its path below the cgroup v2 root
	hints   []uint32 // processes last seen in it, newest last
	key     string   // the effective controls placed, "" before the first placement
	dirty   bool     // the effective controls may have changed since
	state   string
	since   time.Time
	reason  string
	exiting bool // its init exited: release it once no process is left
	tracked bool // its PID namespace is known (escapes)
	ctls    []ControlState
	on      map[string]bool // controls enforced now
	alerted map[string]bool // control/cause → alert raised
	fork    string          // the pids.max file fork guard wrote, to lift it
}

func newProtection(a *Agent, log *slog.Logger) *protection {
	return &protection{a: a, log: log, ctrs: map[string]*placement{}, wake: make(chan struct{}, 1), ready: make(chan struct{})}
}

func (p *protection) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// seen notes that pid, in cgroup cgroupID, belongs to container c: a new
// container is placed at once; a known one keeps pid as a process to place
// through. Called on the event path for exec, fork and cgroup moves: a map
// lookup.
func (p *protection) seen(c *event.Container, cgroupID uint64, pid uint32) {
	if c.IsHost() || c.ID == container.UnknownID || pid == 0 {
		return
	}
	p.mu.Lock()
	pl := p.ctrs[c.ID]
	fresh := pl == nil
	if fresh {
		pl = &placement{ctr: c, dirty: true, state: Pending, since: time.Now(), reason: "new container"}
		p.ctrs[c.ID] = pl
	}
	pl.hint(pid)
	if pl.ctr != c {
		// A fuller description (labels that arrived late) may bring the
		// container into another policy's scope.
		pl.ctr, pl.dirty = c, true
		fresh = true
	}
	_ = cgroupID // the container's own cgroup is looked up off this path
	p.mu.Unlock()
	if fresh {
		p.log.Debug("container seen", "container", c.Name, "id", short(c.ID), "pid", pid, "cgroup", cgroupID)
		go p.prepare(c.ID)
	}
}

func (pl *placement) hint(pid uint32) {
	if n := len(pl.hints); n > 0 && pl.hints[n-1] == pid {
		return
	}
	if len(pl.hints) == 8 {
		copy(pl.hints, pl.hints[1:])
		pl.hints = pl.hints[:7]
	}
	pl.hints = append(pl.hints, pid)
}

// created registers a container the OCI hook announced, with its init pid,
// and places its enforcement as soon as the init is inside its own root:
// before the runtime starts the entrypoint.
func (p *protection) created(c *event.Container, pid uint32) {
	p.mu.Lock()
	pl := p.ctrs[c.ID]
	if pl == nil {
		pl = &placement{ctr: c, state: Pending, since: time.Now(), reason: "being created"}
		p.ctrs[c.ID] = pl
	}
	pl.ctr, pl.dirty = c, true
	pl.hint(pid)
	p.mu.Unlock()
	p.prepare(c.ID)
}

// prepare places container id, trying often while its processes are not
// inside its root yet: a starting container passes from the runtime's
// mount namespace to its own within milliseconds. After a few seconds the
// worker's slower retries take over.
func (p *protection) prepare(id string) {
	deadline := time.Now().Add(5 * time.Second)
	wait := time.Millisecond
	for {
		if done := p.place(id); done {
			return
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(wait)
		if wait < 20*time.Millisecond {
			wait *= 2
		}
	}
}

// changed marks every container for a fresh look at its effective
// controls: policies or the node's facts changed.
func (p *protection) changed() {
	p.mu.Lock()
	for _, pl := range p.ctrs {
		pl.dirty = true
	}
	p.mu.Unlock()
	p.poke()
}

// exited notes that the init process of container id exited. Its
// enforcement is released once no process is left in its cgroup (a
// process that is pid 1 of a namespace nested inside the container must
// not lift the container's protection by exiting).
func (p *protection) exited(id string) {
	p.mu.Lock()
	if pl := p.ctrs[id]; pl != nil {
		pl.exiting = true
	}
	p.mu.Unlock()
	p.poke()
}

// run discovers the containers running now, places them, reports ready,
// then keeps every container placed until ctx ends.
func (p *protection) run(ctx context.Context) {
	p.discover()
	p.reconcile()
	p.discovered.Store(true)
	p.checkReady()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	rescan := time.NewTicker(10 * time.Second)
	defer rescan.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-tick.C:
		case <-rescan.C:
			p.discover()
		}
		p.reconcile()
		p.checkReady()
	}
}

// discover walks the cgroup tree for containers with processes: those
// started before the agent, and any whose events were lost.
func (p *protection) discover() {
	found, err := p.a.containers.Running()
	if err != nil {
		p.log.Error("cannot list the node's containers from the cgroup tree; containers started before the agent are protected at their next event", "err", err)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	live := map[string]bool{}
	for _, r := range found {
		live[r.Container.ID] = true
		pl := p.ctrs[r.Container.ID]
		if pl == nil {
			pl = &placement{ctr: r.Container, dirty: true, state: Pending, since: time.Now(), reason: "found running"}
			p.ctrs[r.Container.ID] = pl
			if p.discovered.Load() {
				p.log.Info("found a running container the agent had not seen", "container", r.Container.Name, "id", short(r.Container.ID))
			}
		}
		pl.cgroup, pl.cgPath = r.CgroupID, r.Path
		if pl.ctr != r.Container {
			pl.ctr, pl.dirty = r.Container, true // described anew
		}
		for _, pid := range r.PIDs {
			pl.hint(pid)
		}
	}
	for id, pl := range p.ctrs {
		if !live[id] {
			pl.dirty = true // gone, or not started yet: place tells
		}
	}
}

// reconcile places every container that needs it.
func (p *protection) reconcile() {
	p.refresh()
	p.mu.Lock()
	var ids []string
	for id, pl := range p.ctrs {
		if pl.dirty || pl.state == Pending || pl.exiting || pl.reason != "" || !pl.tracked {
			ids = append(ids, id)
		}
	}
	p.mu.Unlock()
	for _, id := range ids {
		p.place(id)
	}
}

// refresh asks the container resolver again about every container: a
// description that was incomplete (the runtime's database was locked,
// labels missing) is read again once its retry time has come, and a
// fuller one may bring the container into another policy's scope. For
// the others it is a map read.
func (p *protection) refresh() {
	p.mu.Lock()
	type ask struct {
		pl  *placement
		cg  uint64
		pid uint32
	}
	var asks []ask
	for _, pl := range p.ctrs {
		if pl.cgroup != 0 && len(pl.hints) > 0 {
			asks = append(asks, ask{pl, pl.cgroup, pl.hints[0]})
		}
	}
	p.mu.Unlock()
	for _, q := range asks {
		c := p.a.containers.Lookup(q.cg, q.pid)
		if c.IsHost() || c.ID == container.UnknownID {
			continue
		}
		p.mu.Lock()
		if q.pl.ctr != c && q.pl.ctr.ID == c.ID {
			q.pl.ctr, q.pl.dirty = c, true
		}
		p.mu.Unlock()
	}
}

// checkReady closes ready once discovery is done and no container is
// pending.
func (p *protection) checkReady() {
	if !p.discovered.Load() || p.pending() > 0 {
		return
	}
	p.readyOnce.Do(func() { close(p.ready) })
}

// pending counts containers whose enforcement is not placed yet and that
// have enforce-mode controls waiting for it.
func (p *protection) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, pl := range p.ctrs {
		if pl.state == Pending {
			n++
		}
	}
	return n
}

// Ready reports whether every known container has its enforcement in
// place (or declared not enforceable), and why not.
func (p *protection) Ready() (bool, string) {
	if !p.discovered.Load() {
		return false, "discovering the node's running containers"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var waiting []string
	for _, pl := range p.ctrs {
		if pl.state == Pending {
			waiting = append(waiting, pl.ctr.Name+" ("+pl.reason+")")
		}
	}
	if len(waiting) > 0 {
		sort.Strings(waiting)
		return false, fmt.Sprintf("%d containers wait for their enforcement: %v", len(waiting), waiting)
	}
	return true, ""
}

// livePID returns a process inside container id now, or 0.
func (p *protection) livePID(id string) uint32 {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	pl := p.ctrs[id]
	var cg uint64
	var hints []uint32
	if pl != nil {
		cg, hints = pl.cgroup, slices.Clone(pl.hints)
	}
	p.mu.Unlock()
	if pl == nil {
		return 0
	}
	procs, _ := p.a.containers.Procs(cg)
	p.mu.Lock()
	cgPath := pl.cgPath
	p.mu.Unlock()
	pid, _ := insideProcess(append(procs, hints...), p.inCgroup(cgPath))
	return pid
}

// enforcing reports whether any control is enforced in container id now.
func (p *protection) enforcing(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl := p.ctrs[id]
	return pl != nil && len(pl.on) > 0
}

// enforced reports whether an enforcer refuses control in container id now;
// the guard's Config.Enforced.
func (p *protection) enforced(id, control string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl := p.ctrs[id]
	return pl != nil && pl.on[control]
}

// status lists every known container's protection, by name.
func (p *protection) status() []ContainerProtection {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ContainerProtection, 0, len(p.ctrs))
	for id, pl := range p.ctrs {
		out = append(out, ContainerProtection{ID: id, Name: pl.ctr.Name, Image: pl.ctr.Image, Pod: pl.ctr.Pod,
			State: pl.state, Since: pl.since, Reason: pl.reason, Controls: slices.Clone(pl.ctls)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// place computes container id's effective controls and, when they differ
// from what is in place or the last try failed, places them. It reports
// whether the container needs no further try now.
func (p *protection) place(id string) bool {
	p.mu.Lock()
	pl := p.ctrs[id]
	p.mu.Unlock()
	if pl == nil {
		return true
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()

	p.mu.Lock()
	c, cg, cgPath, hints, key := pl.ctr, pl.cgroup, pl.cgPath, slices.Clone(pl.hints), pl.key
	settled := !pl.dirty && pl.state != Pending && pl.reason == "" && pl.tracked
	pl.dirty = false
	p.mu.Unlock()

	if cg == 0 {
		var err error
		if cg, cgPath, err = p.ownCgroup(c, hints); err != nil {
			if errors.Is(err, container.ErrNoCgroup) {
				p.remove(id, "its cgroup is gone")
				return true
			}
			return p.pend(pl, c, "its cgroup cannot be read yet: "+err.Error(), nil)
		}
		p.mu.Lock()
		pl.cgroup, pl.cgPath = cg, cgPath
		p.mu.Unlock()
	}
	procs, err := p.a.containers.Procs(cg)
	if errors.Is(err, container.ErrNoCgroup) || err == nil && len(procs) == 0 {
		// Registered containers always had a process in their cgroup
		// (an event there, the walk, the hook's init): none left means
		// the container ended, whether or not its init's exit was seen.
		p.remove(id, "no process left")
		return true
	}
	eff := p.a.guard.Effective(c)
	nkey := eff.String()
	if settled && nkey == key {
		return true
	}
	wants := enforceModeControls(eff)
	// The container's longest-lived processes first (its init has the
	// lowest pid, normally): a process that exits while its enforcement
	// is being placed makes the placement fail and try again.
	pid, why := insideProcess(append(procs, hints...), p.inCgroup(cgPath))
	if pid != 0 {
		p.a.escapes.track(c, cgPath, pid) // its PID namespace is the container's
		p.mu.Lock()
		pl.tracked = true
		p.mu.Unlock()
	}
	if len(wants) == 0 && key == "" {
		// Nothing to refuse and nothing placed before: no process
		// needed, but one inside tells its PID namespace: try again
		// until one is.
		p.settle(pl, nkey, describeControls(eff, nil, nil), nil, "")
		return pid != 0
	}
	if pid == 0 {
		return p.pend(pl, c, why, wants)
	}
	ctls, on, fork, retry := p.a.apply(c, cg, pid, eff, p.log)
	if retry != "" {
		return p.pend(pl, c, retry, wants)
	}
	p.settle(pl, nkey, ctls, on, fork)
	return true
}

// ownCgroup finds container c's own cgroup through one of its processes.
// A pid seen earlier may name another process by now (pids are reused):
// only one whose cgroup is c's counts.
func (p *protection) ownCgroup(c *event.Container, pids []uint32) (uint64, string, error) {
	err := container.ErrNoCgroup
	for i := len(pids) - 1; i >= 0; i-- {
		var cg uint64
		cg, err = p.a.containers.CgroupOf(pids[i])
		if err != nil {
			continue
		}
		if got := p.a.containers.Lookup(cg, pids[i]); got.ID != c.ID {
			err = fmt.Errorf("process %d is in another cgroup now", pids[i])
			continue
		}
		own, path, err1 := p.a.containers.OwnCgroup(cg)
		if err1 == nil {
			return own, path, nil
		}
		err = err1
	}
	return 0, "", err
}

// inCgroup returns whether a process is in the cgroup at path (below the
// cgroup v2 root) or below it: a pid remembered from an event may have
// been reused by another process since, and enforcement placed through
// it would land on another container's mounts.
func (p *protection) inCgroup(path string) func(uint32) bool {
	return func(pid uint32) bool {
		got, err := p.a.containers.CgroupPathOf(pid)
		return err == nil && path != "" && under(got, path)
	}
}

// insideProcess returns the first of pids that is alive, in its container
// (belongs) and inside its container's own root, or why none is.
func insideProcess(pids []uint32, belongs func(uint32) bool) (uint32, string) {
	why := "no process of the container is alive"
	tried := map[uint32]bool{}
	for _, pid := range pids {
		if tried[pid] {
			continue
		}
		tried[pid] = true
		if !belongs(pid) {
			continue // gone, or a reused pid
		}
		host, err := enforce.InHostMountNS(int(pid))
		switch {
		case err != nil:
			continue // gone
		case host:
			why = "no process of the container is inside its own root yet"
			continue
		}
		return pid, ""
	}
	return 0, why
}

// pend records that container c could not be placed now, for why. Past
// the grace period, the controls it should enforce are declared not
// enforced, with an alert, and the container stops holding the agent's
// readiness; the worker keeps trying.
func (p *protection) pend(pl *placement, c *event.Container, why string, wants []string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl.reason = why
	if pl.state != Pending && pl.state != Degraded {
		pl.state, pl.since = Pending, time.Now()
	}
	if time.Since(pl.since) < pendingGrace {
		return false
	}
	if pl.state == Pending {
		pl.state, pl.since = Degraded, time.Now()
	}
	for _, ctl := range wants {
		cause := ctl + "/unplaced"
		if pl.alerted[cause] || pl.on[ctl] {
			continue
		}
		if pl.alerted == nil {
			pl.alerted = map[string]bool{}
		}
		pl.alerted[cause] = true
		p.log.Error("a policy enforces this control but it is not in place: its violations are reported, not refused",
			"container", c.Name, "control", ctl, "why", why)
		go p.a.degradedAlert(c, ctl, why)
	}
	return false
}

// settle records what is now in place for a container.
func (p *protection) settle(pl *placement, key string, ctls []ControlState, on map[string]bool, fork string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := pl.ctr
	pl.key, pl.ctls, pl.on, pl.reason = key, ctls, on, ""
	if pl.fork != "" && fork == "" {
		liftProcessLimit(pl.fork, p.log)
	}
	pl.fork = fork
	state := AuditOnly
	var missing []ControlState
	for _, cs := range ctls {
		switch {
		case cs.Mode == string(policy.Enforce) && cs.State == ControlEnforced:
			if state == AuditOnly {
				state = Protected
			}
		case cs.Mode == string(policy.Enforce):
			missing = append(missing, cs)
		}
	}
	if len(missing) > 0 {
		state = Degraded
	}
	if pl.state != state {
		pl.state, pl.since = state, time.Now()
	}
	for ctl := range pl.alerted {
		pl.alerted[ctl] = pl.alerted[ctl] && !on[ctlOf(ctl)] // enforced again: a new lapse alerts again
	}
	for _, cs := range missing {
		cause := cs.Control + "/" + cs.Reason
		if pl.alerted[cause] {
			continue
		}
		if pl.alerted == nil {
			pl.alerted = map[string]bool{}
		}
		pl.alerted[cause] = true
		go p.a.degradedAlert(c, cs.Control, cs.Reason)
	}
}

func ctlOf(cause string) string {
	for i := range len(cause) {
		if cause[i] == '/' {
			return cause[:i]
		}
	}
	return cause
}

// remove forgets a container that is gone and releases what it held.
func (p *protection) remove(id, why string) {
	p.mu.Lock()
	pl := p.ctrs[id]
	delete(p.ctrs, id)
	p.mu.Unlock()
	if pl == nil {
		return
	}
	p.a.release(id, pl.cgroup)
	p.a.escapes.forget(id)
	p.log.Info("container gone; its enforcement is released", "container", pl.ctr.Name, "id", short(id), "why", why)
}

// describeControls lists the state of each runtime control that is on,
// from eff, given what refuses each enforced one (on) and why others are
// not (why).
func describeControls(eff *policy.Effective, on map[string]string, why map[string]string) []ControlState {
	var out []ControlState
	for _, ctl := range runtimeControls {
		mode := eff.Mode(ctl)
		if mode == "" {
			continue
		}
		cs := ControlState{Control: ctl, Mode: string(mode)}
		switch {
		case mode == policy.Audit:
			cs.State, cs.Mechanism = ControlAudited, "events"
		case on[ctl] != "":
			cs.State, cs.Mechanism = ControlEnforced, on[ctl]
		default:
			cs.State, cs.Reason = ControlNotEnforced, why[ctl]
			if cs.Reason == "" {
				cs.Reason = "nothing on this node refuses it"
			}
		}
		out = append(out, cs)
	}
	return out
}

// enforceModeControls lists the runtime controls eff enforces.
func enforceModeControls(eff *policy.Effective) []string {
	var out []string
	for _, ctl := range runtimeControls {
		if eff.Mode(ctl) == policy.Enforce {
			out = append(out, ctl)
		}
	}
	return out
}

// apply puts container c's enforce-mode controls in place through pid, a
// process inside it, and lifts those no longer enforced. It returns each
// runtime control's state, the controls now refused, the pids.max file
// fork guard set, and a reason to try again later when the container's
// processes vanished under it.
func (a *Agent) apply(c *event.Container, cg uint64, pid uint32, eff *policy.Effective, log *slog.Logger) (ctls []ControlState, on map[string]bool, fork, retry string) {
	mech := map[string]string{}
	why := map[string]string{}
	ctl := &eff.Enforce.Controls

	if fg := ctl.ForkGuard; fg.On() {
		path, err := limitProcesses(pid, fg.MaxProcesses)
		switch {
		case err != nil && errors.Is(err, fs.ErrNotExist):
			return nil, nil, "", "the process it was placed through exited"
		case err != nil:
			why["forkGuard"] = "cannot set the process limit: " + err.Error()
		default:
			a.forks.add(c, pid, fg.MaxProcesses, path)
			mech["forkGuard"], fork = "pids cgroup", path
		}
	} else {
		a.forks.remove(c.ID)
	}

	if n := a.cfg.Net; n != nil {
		for _, name := range a.protectNet(n, c, cg, eff, log) {
			mech[name] = "cgroup-bpf"
		}
		for _, name := range []string{"ipReputation", "networkEgress", "portScanDetection", "listeningPorts"} {
			if mech[name] == "" {
				why[name] = "the container's network rule could not be set (see the agent's log)"
			}
		}
		if err := n.Binds(); err != nil {
			why["listeningPorts"] = "bind refusal (cgroup-BPF bind4/bind6) did not load on this node: " + err.Error()
		}
	} else {
		for _, name := range []string{"ipReputation", "networkEgress", "portScanDetection", "listeningPorts"} {
			why[name] = "network refusal (cgroup-BPF connect/sendmsg/bind) did not load on this node"
		}
	}

	execControls := []string{"driftPrevention", "executableBlocklist", "executableAllowlist", "limitNewPrivileges"}
	d := a.cfg.Drift
	if d == nil {
		for _, name := range execControls {
			why[name] = "drift prevention's programs did not load on this node"
		}
	} else {
		ref := execRef(c, pid, eff)
		ref.CgroupID = cg
		if ref.Mode == enforce.Off && !ref.Exec.Any() {
			d.Release(c.ID)
		} else if err := d.Protect(context.Background(), ref); err != nil {
			if errors.Is(err, enforce.ErrHostMountNS) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
				return nil, nil, "", "the process it was placed through left: " + err.Error()
			}
			for _, name := range execControls {
				why[name] = "could not be placed: " + err.Error()
			}
			log.Error("drift prevention and the exec checks could not protect the container: their violations are reported, not refused",
				"container", c.Name, "err", err)
		} else {
			ms := d.Mechanisms()
			refusing := d.Refusing(c.ID)
			if !refusing {
				ms = slices.DeleteFunc(ms, func(m enforce.Mechanism) bool { return m == enforce.Fanotify })
			}
			switch {
			case ref.Mode != enforce.Enforce:
			case !d.RootJudged(c.ID):
				why["driftPrevention"] = "the container's root file system is not an overlay (run from a plain directory, e.g. podman --rootfs): programs dropped onto it cannot be told from the image's; memfd, deleted and volume programs are still refused"
			default:
				mech["driftPrevention"] = joinMechanisms(ms)
			}
			for _, name := range []string{"executableBlocklist", "executableAllowlist", "limitNewPrivileges"} {
				if refusing {
					mech[name] = string(enforce.Fanotify)
				} else {
					why[name] = "no fanotify handler for the container (fanotify permission events unavailable): only it refuses this control on a kernel without BPF LSM"
				}
			}
		}
	}
	on = map[string]bool{}
	for name := range mech {
		if eff.Mode(name) == policy.Enforce {
			on[name] = true
		}
	}
	ctls = describeControls(eff, mech, why)
	if len(on) > 0 {
		names := make([]string, 0, len(on))
		for n := range on {
			names = append(names, n)
		}
		sort.Strings(names)
		log.Info("enforcement in place", "container", c.Name, "id", short(c.ID), "controls", names, "through_pid", pid)
	}
	return ctls, on, fork, ""
}

// release lifts everything placed for container id.
func (a *Agent) release(id string, cg uint64) {
	if a.cfg.Drift != nil {
		a.cfg.Drift.Release(id)
	}
	a.forks.remove(id)
	a.netMu.Lock()
	if ns, ok := a.netRules[id]; ok && a.cfg.Net != nil {
		a.cfg.Net.Release(ns.cgroup)
		delete(a.netRules, id)
	}
	a.netMu.Unlock()
	if a.guard != nil {
		a.guard.Forget(id)
	}
}

func joinMechanisms(ms []enforce.Mechanism) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += "+"
		}
		s += string(m)
	}
	return s
}

func short(id string) string { return id[:min(12, len(id))] }

// degradedAlert says that control, which a policy enforces in container c,
// is not enforced, and why: once per container, control and cause.
func (a *Agent) degradedAlert(c *event.Container, control, why string) {
	now := time.Now()
	rule := guard.RuleName(control)
	image := ""
	if c.Image != "" {
		image = " (image " + c.Image + ")"
	}
	msg := fmt.Sprintf("%s is set to enforce in container %s%s but is NOT enforced: %s; its violations are reported, not refused",
		rule, c.Name, image, why)
	policies := ""
	if a.guard != nil {
		policies = a.guard.PolicyOf(c, control)
	}
	a.writeAlert(&event.Alert{
		Kind:     "alert",
		Time:     now,
		Rule:     "Enforcement Not In Place",
		Priority: "Critical",
		Output:   now.Format("15:04:05.000000000") + ": Critical " + msg,
		OutputFields: map[string]any{
			"container.id": c.ID, "container.name": c.Name, "container.image": c.Image,
			"control": control, "reason": why,
		},
		Source:    "runtime",
		Tags:      []string{"mamori", "enforcement"},
		Hostname:  a.cfg.Node,
		Action:    event.Detected,
		Policy:    policies,
		Control:   control,
		Container: c,
	})
}
