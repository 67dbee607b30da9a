// Package guard applies runtime policies to the events of each container:
// it keeps every container's effective controls (computed once, when the
// container is first seen or the policies change), checks events against
// the controls that can be judged from events, keeps the recent events that
// forensics attaches to an alert, and turns enforcers' verdicts into alerts.
// Refusing is the enforcers' job (package enforce); guard only reports, and
// says so when a control asks for enforcement that nothing on the node
// performs. It must not capture events or write outputs.
package guard

import (
	"fmt"
	"log/slog"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

// Actions a policy alert reports.
const (
	Blocked = event.Blocked
	Audited = event.Audited
)

// EventTypes are the events the guard judges containers by; the sensor must
// capture them whatever the rules need.
var EventTypes = []event.Type{event.Exec, event.Fork, event.Exit, event.Connect, event.Bind, event.Open, event.Mount, event.CgroupMove}

// defaultForensicEvents is how many recent events a container keeps when its
// forensics control is on without saying how many.
const defaultForensicEvents = 32

// Guard is not safe for concurrent use except where noted: the agent calls
// Observe from the sensor's goroutine.
type Guard struct {
	log      *slog.Logger
	store    *policy.Store
	host     atomic.Pointer[policy.HostFacts]
	facts    func(*event.Container) []policy.Fact
	enforced func(containerID, control string) bool // whether an enforcer refuses a control for a container now
	coolDown func(*event.Container, time.Time)
	digest   func(*event.Process) (string, error)
	detail   func(*event.Container, string) string
	script   func(*event.Container, *event.Process, *policy.Effective) (string, string)

	gen     atomic.Uint64 // bumped when the policies or the node's facts change
	mu      sync.Mutex    // guards ctrs against Explain from other goroutines
	ctrs    map[string]*containerState
	warned  map[string]bool
	cancel  func()
	maxCtrs int
}

// Config says what a Guard needs besides the policies.
type Config struct {
	// Host is what host scopes match: the node's name, addresses and
	// groups. SetHost changes it.
	Host policy.HostFacts
	// Facts, when set, returns what is known about a container beyond
	// event.Container (its environment variable names, its image's
	// labels, OS and architecture, its pod's labels), applied after Host.
	// It is called when a container's target is computed: once per
	// container and policy change, and again when the runtime's
	// description of the container changes; never per event. It must be
	// safe for concurrent use (the OCI hook asks through Target).
	Facts func(c *event.Container) []policy.Fact
	// Enforced reports whether an enforcer refuses violations of the
	// named control (e.g. "driftPrevention") in the container with the
	// given id now: the enforcer then reports them itself (through
	// Verdict) and Observe stays quiet about them. Nil means nothing
	// does: enforce-mode violations are then reported as audited, saying
	// that nothing refused them, never silently. It is called per
	// violation and must be safe for concurrent use.
	Enforced func(containerID, control string) bool
	// CoolDown, when set, refuses the container's new outbound
	// connections until the given time: Port Scan Detection's answer in
	// enforce mode, where Protect reported it enforced.
	CoolDown func(c *event.Container, until time.Time)
	// Digest, when set, returns the SHA-256 (lower-case hex) of the
	// program an exec event ran, for an Executable Blocklist of digests
	// that no enforcer applies. Without it, or when it fails, digests are
	// not checked (names and paths still are).
	Digest func(p *event.Process) (string, error)
	// DriftDetail, when set, adds to a drift alert what the container's
	// registered image baseline says of the program's path.
	DriftDetail func(c *event.Container, path string) string
	// DriftedScript, when set, is asked on each exec in a container whose
	// Drift Prevention is on: when the program is an interpreter reading
	// a script file (sh /tmp/x.sh), it returns the script's path in the
	// container and why it is not the image's ("" when it is). A script
	// is read, not executed: no exec check sees it, so the guard reports
	// it in either mode.
	DriftedScript func(c *event.Container, p *event.Process, eff *policy.Effective) (path, reason string)
}

type containerState struct {
	ctr    *event.Container
	gen    uint64
	eff    *policy.Effective
	recent []event.Event // ring of the last events, for forensics
	next   int
	full   bool
	procs  int
	dests  map[scanKey]time.Time
	quiet  time.Time // port scan cool-down: no new scan alert before this
	seen   map[string]bool
}

type scanKey struct {
	ip   netip.Addr
	port uint16
}

// New returns a Guard over the policies in store.
func New(store *policy.Store, cfg Config, log *slog.Logger) *Guard {
	g := &Guard{log: log, store: store, facts: cfg.Facts, enforced: cfg.Enforced, coolDown: cfg.CoolDown, digest: cfg.Digest,
		detail: cfg.DriftDetail, script: cfg.DriftedScript,
		ctrs: map[string]*containerState{}, warned: map[string]bool{}, maxCtrs: 16384}
	host := cfg.Host
	g.host.Store(&host)
	if g.enforced == nil {
		g.enforced = func(string, string) bool { return false }
	}
	g.cancel = store.Subscribe(func(*policy.Set) { g.gen.Add(1) })
	return g
}

// Close stops following policy changes.
func (g *Guard) Close() { g.cancel() }

// Target is what the policies' scopes are matched against for container
// c: what c says, the node's facts, and Config.Facts. The runtime guard
// and the OCI hook both describe containers through it, so that a policy
// covers a container at creation exactly when it covers it at run time.
// Safe for concurrent use.
func (g *Guard) Target(c *event.Container) *policy.Target {
	facts := []policy.Fact{policy.WithHost(*g.host.Load())}
	if g.facts != nil && !c.IsHost() {
		facts = append(facts, g.facts(c)...)
	}
	return policy.TargetFromContainer(c, facts...)
}

// SetHost replaces the node's facts (e.g. when its addresses change); every
// container's controls are computed again at its next event. Safe for
// concurrent use.
func (g *Guard) SetHost(h policy.HostFacts) {
	if old := g.host.Load(); old.Hostname == h.Hostname && slices.Equal(old.IPs, h.IPs) && slices.Equal(old.Groups, h.Groups) {
		return // nothing to compute again, and no enforcement to place again
	}
	g.host.Store(&h)
	g.gen.Add(1)
}

// state returns the state of e's container, recomputing its effective
// controls when the policies changed since. g.mu must be held.
func (g *Guard) state(e *event.Event) *containerState {
	c := e.Container
	gen := g.gen.Load()
	st := g.ctrs[c.ID]
	if st == nil {
		if len(g.ctrs) >= g.maxCtrs {
			for id := range g.ctrs { // drop one at random; it is rebuilt if it comes back
				delete(g.ctrs, id)
				break
			}
		}
		st = &containerState{ctr: c, gen: gen - 1, dests: map[scanKey]time.Time{}, seen: map[string]bool{}}
		g.ctrs[c.ID] = st
	}
	// The container's description changes when the runtime's metadata
	// was incomplete at first (a label arriving later may bring the
	// container into a policy's scope) or the OCI hook described it
	// before its first event: its controls are computed again.
	if st.gen != gen || st.eff == nil || st.ctr != c {
		st.gen = gen
		st.ctr = c
		st.eff = g.store.Current().Effective(g.Target(c))
		// Only containers whose alerts carry forensics keep events: the
		// copy is made for every event of the container.
		n := 0
		if f := st.eff.Audit.Controls.Forensics; f.On() {
			n = defaultForensicEvents
			if f.Events > 0 {
				n = f.Events
			}
		}
		if len(st.recent) != n {
			st.recent, st.next, st.full = make([]event.Event, n), 0, false
		}
	}
	return st
}

// Effective computes container c's effective controls from the policies
// in force now, as Observe will judge its next event. The agent places
// enforcement from it when a container appears and when policies or the
// node's facts change. Safe for concurrent use.
func (g *Guard) Effective(c *event.Container) *policy.Effective {
	return g.store.Current().Effective(g.Target(c))
}

// Observe checks one event against its container's controls and calls
// emit for each violation. Host events are not subject to container
// policies.
func (g *Guard) Observe(e *event.Event, emit func(*event.Alert)) {
	if e.Container == nil || e.Container.IsHost() || e.Container.ID == "unknown" {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.state(e)
	st.remember(e)
	ctl := &st.eff.Audit.Controls

	switch e.Type {
	case event.Fork:
		st.procs++
		fg := ctl.ForkGuard
		switch {
		case !fg.On() || st.seen["forkGuard"]:
		case g.enforced(st.ctr.ID, "forkGuard"):
			// The kernel refuses the forks; the enforcer reports them.
		case st.procs > fg.MaxProcesses:
			st.seen["forkGuard"] = true
			g.raise(st, e, emit, "forkGuard", "Warning",
				fmt.Sprintf("Container %s has more than %d processes", name(e.Container), fg.MaxProcesses))
		}
	case event.Exit:
		if st.procs > 0 {
			st.procs--
		}
	case event.Exec:
		g.exec(st, e, ctl, emit)
	case event.Connect:
		g.connect(st, e, ctl, emit)
	case event.Bind:
		g.bind(st, e, ctl, emit)
	}
	if ctl.LimitContainerPrivileges.On() && e.Container.Privileged && !st.seen["limitContainerPrivileges"] &&
		ctl.LimitContainerPrivileges.Blocks("privileged") {
		st.seen["limitContainerPrivileges"] = true
		g.raise(st, e, emit, "limitContainerPrivileges", "Critical",
			fmt.Sprintf("Container %s runs privileged", name(e.Container)))
	}
}

func (g *Guard) exec(st *containerState, e *event.Event, ctl *policy.Controls, emit func(*event.Alert)) {
	p := &e.Process
	if dp := ctl.DriftPrevention; dp.On() && !g.enforced(st.ctr.ID, "driftPrevention") {
		if why := DriftReason(p); why != "" && !dp.Allowed(p.Exe, path.Base(p.Exe)) {
			msg := fmt.Sprintf("Drifted executable %s (%s) ran in container %s (image %s)", p.Exe, why, name(e.Container), e.Container.Image)
			if g.detail != nil && p.ExeUpperLayer {
				msg += g.detail(e.Container, p.Exe)
			}
			g.raise(st, e, emit, "driftPrevention", "Critical", msg)
		}
	}
	if dp := ctl.DriftPrevention; dp.On() && g.script != nil {
		if script, why := g.script(e.Container, p, st.eff); why != "" && !dp.Allowed(script, path.Base(script)) {
			msg := fmt.Sprintf("Drifted script %s (%s) run by %s in container %s (image %s)", script, why, p.Exe, name(e.Container), e.Container.Image)
			if st.eff.Mode("driftPrevention") == policy.Enforce {
				msg += " [a script read by its interpreter is no exec: reported, never refused; see docs/policies.md]"
			}
			g.raise(st, e, emit, "driftPrevention", "Critical", msg)
		}
	}
	if bl := ctl.ExecutableBlocklist; bl.On() && !g.enforced(st.ctr.ID, "executableBlocklist") {
		sum := ""
		if len(bl.SHA256) > 0 && g.digest != nil {
			var err error
			if sum, err = g.digest(p); err != nil {
				g.log.Debug("executable blocklist: cannot hash the program; its digest is not checked", "exe", p.Exe, "err", err)
			}
		}
		if bl.Blocked(p.Exe, sum) {
			msg := fmt.Sprintf("Blocklisted executable %s ran in container %s", p.Exe, name(e.Container))
			if sum != "" && !bl.Blocked(p.Exe, "") {
				msg += " (sha256 " + sum + ")"
			}
			g.raise(st, e, emit, "executableBlocklist", "Critical", msg)
		}
	}
	if al := ctl.ExecutableAllowlist; al.On() && !g.enforced(st.ctr.ID, "executableAllowlist") && p.Exe != "" && !al.Allowed(p.Exe) {
		g.raise(st, e, emit, "executableAllowlist", "Critical",
			fmt.Sprintf("Executable %s, not on the allow list, ran in container %s (image %s)", p.Exe, name(e.Container), e.Container.Image))
	}
	if ctl.LimitNewPrivileges.On() && !g.enforced(st.ctr.ID, "limitNewPrivileges") && gainedPrivileges(p) {
		g.raise(st, e, emit, "limitNewPrivileges", "Critical",
			fmt.Sprintf("%s gained privileges through exec (uid %d euid %d) in container %s", p.Exe, p.UID, p.EUID, name(e.Container)))
	}
}

// DriftReason says why an exec'd file is not from the image, or "" when it is.
func DriftReason(p *event.Process) string {
	switch {
	case p.ExeFromMemfd:
		return "from memory (memfd)"
	case p.ExeDeleted:
		return "deleted file"
	case p.ExeUpperLayer:
		return "written after the image was built"
	}
	return ""
}

// gainedPrivileges reports an exec that raised the effective uid above the
// real one: a setuid binary, the classic way to new privileges.
func gainedPrivileges(p *event.Process) bool {
	return p.EUID != p.UID && p.EUID == 0 || p.EGID != p.GID && p.EGID == 0
}

func (g *Guard) connect(st *containerState, e *event.Event, ctl *policy.Controls, emit func(*event.Alert)) {
	n := e.Network
	if n == nil || n.DstIP == "" {
		return
	}
	ip, err := netip.ParseAddr(n.DstIP)
	if err != nil {
		return
	}
	if r := ctl.IPReputation; r.On() {
		if list, bad := r.Blocked(ip); bad {
			g.raise(st, e, emit, "ipReputation", "Critical",
				fmt.Sprintf("Connection to %s:%d, on block list %s, from container %s", n.DstIP, n.DstPort, list, name(e.Container)))
		}
	}
	if eg := ctl.NetworkEgress; eg.On() && !eg.Allowed(ip) {
		g.raise(st, e, emit, "networkEgress", "Warning",
			fmt.Sprintf("Connection to %s:%d, not on the egress allow list, from container %s", n.DstIP, n.DstPort, name(e.Container)))
	}
	if ps := ctl.PortScanDetection; ps.On() {
		now := e.Time
		window := time.Duration(ps.Window)
		if window == 0 {
			window = time.Duration(policy.DefaultScanWindow)
		}
		st.dests[scanKey{ip, n.DstPort}] = now
		ports, hosts := map[uint16]bool{}, map[netip.Addr]bool{}
		for k, t := range st.dests {
			if now.Sub(t) > window {
				delete(st.dests, k)
				continue
			}
			ports[k.port], hosts[k.ip] = true, true
		}
		over := ps.DistinctPorts > 0 && len(ports) > ps.DistinctPorts || ps.DistinctHosts > 0 && len(hosts) > ps.DistinctHosts
		if over && now.After(st.quiet) {
			cool := time.Duration(ps.CoolDown)
			if cool == 0 {
				cool = time.Duration(policy.DefaultScanCoolDown)
			}
			st.quiet = now.Add(cool)
			msg := fmt.Sprintf("Port scan from container %s: %d ports on %d hosts within %s", name(e.Container), len(ports), len(hosts), window)
			if g.coolDown != nil && g.enforced(st.ctr.ID, "portScanDetection") {
				g.coolDown(e.Container, st.quiet)
				al := newAlert(e, RuleName("portScanDetection"), "Critical",
					msg+"; its new outbound connections are refused for "+cool.String(), Blocked)
				al.Control, al.Policy = "portScanDetection", g.policyOf(st.eff, "portScanDetection")
				if st.eff.Audit.Controls.Forensics.On() {
					al.Forensics = st.history()
				}
				emit(al)
				return
			}
			g.raise(st, e, emit, "portScanDetection", "Critical", msg)
		}
	}
}

// bind reports a bind() that took a port off the Listening Ports allow
// list. Where an enforcer refuses the control it reports its refusals
// itself, and a bind that failed took no port.
func (g *Guard) bind(st *containerState, e *event.Event, ctl *policy.Controls, emit func(*event.Alert)) {
	lp, n := ctl.ListeningPorts, e.Network
	if !lp.On() || n == nil || e.Result != 0 || g.enforced(st.ctr.ID, "listeningPorts") {
		return
	}
	proto := n.Protocol
	if proto == "proto_262" { // Multipath TCP: the kernel judges its TCP subflow
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" || lp.Allowed(proto, n.SrcPort) {
		return
	}
	g.raise(st, e, emit, "listeningPorts", "Warning",
		fmt.Sprintf("Bind to port %d/%s (address %s) by %s, not on the listening ports allow list, in container %s (image %s)",
			n.SrcPort, proto, n.SrcIP, e.Process.Exe, name(e.Container), e.Container.Image))
}

// raise builds the alert for a violation of control, with the container's
// recent events when forensics is on.
func (g *Guard) raise(st *containerState, e *event.Event, emit func(*event.Alert), control, priority, msg string) {
	mode := st.eff.Mode(control)
	action := Audited
	enforced := mode == policy.Enforce && g.enforced(st.ctr.ID, control)
	switch {
	case enforced && e.Result == -1 && (e.Type == event.Connect):
		// The kernel refused it (EPERM), as the enforcer was told to.
		action = Blocked
		msg += " [refused]"
	case mode == policy.Enforce && !enforced:
		key := control + "/" + st.ctr.ID
		if !g.warned[key] {
			g.warned[key] = true
			g.log.Warn("a policy enforces this control but nothing on this node refuses it: reporting only",
				"control", control, "container", name(st.ctr))
		}
		msg += " [enforce requested, but nothing on this node refused it]"
	}
	al := newAlert(e, RuleName(control), priority, msg, action)
	al.Control = control
	al.Policy = g.policyOf(st.eff, control)
	if st.eff.Audit.Controls.Forensics.On() {
		al.Forensics = st.history()
	}
	emit(al)
}

// PolicyOf names the policies that set control for container c now.
// Safe for concurrent use.
func (g *Guard) PolicyOf(c *event.Container, control string) string {
	return g.policyOf(g.Effective(c), control)
}

// policyOf names the policies that set a control for this container.
func (g *Guard) policyOf(eff *policy.Effective, control string) string {
	var names []string
	for _, s := range eff.Settings() {
		if s.Path != control && !strings.HasPrefix(s.Path, control+".") {
			continue
		}
		for _, o := range s.From {
			if !contains(names, o.Policy) {
				names = append(names, o.Policy)
			}
		}
	}
	return strings.Join(names, ",")
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// Verdict turns an enforcer's decision about e into an alert: action is
// what it did ("blocked", "audited", or "block-failed" when the kernel
// would not deliver the kill). Safe for concurrent use with Observe.
func (g *Guard) Verdict(e *event.Event, control, action, reason string, emit func(*event.Alert)) {
	if e.Container == nil || e.Container.IsHost() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.state(e)
	al := newAlert(e, RuleName(control), "Critical", reason, action)
	al.Control = control
	al.Policy = g.policyOf(st.eff, control)
	if st.eff.Audit.Controls.Forensics.On() {
		al.Forensics = st.history()
	}
	emit(al)
}

// Forget drops what the guard keeps about a container that is gone.
func (g *Guard) Forget(id string) {
	g.mu.Lock()
	delete(g.ctrs, id)
	for k := range g.warned {
		if strings.HasSuffix(k, "/"+id) {
			delete(g.warned, k)
		}
	}
	g.mu.Unlock()
}

// Explain returns the effective controls of the container whose id (or a
// prefix of at least 12 characters) or name is ref, among the containers
// the guard has seen. Safe for concurrent use.
func (g *Guard) Explain(ref string) (*event.Container, *policy.Effective, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, st := range g.ctrs {
		if id == ref || st.ctr.Name == ref || len(ref) >= 12 && strings.HasPrefix(id, ref) {
			return st.ctr, g.state(&event.Event{Container: st.ctr}).eff, true
		}
	}
	return nil, nil, false
}

func (st *containerState) remember(e *event.Event) {
	if len(st.recent) == 0 {
		return
	}
	c := *e
	c.Process.Ancestors = nil // kept small; the alert's own process has them
	st.recent[st.next] = c
	st.next++
	if st.next == len(st.recent) {
		st.next, st.full = 0, true
	}
}

// history returns the remembered events, oldest first.
func (st *containerState) history() []event.Event {
	if !st.full {
		return append([]event.Event(nil), st.recent[:st.next]...)
	}
	out := make([]event.Event, 0, len(st.recent))
	out = append(out, st.recent[st.next:]...)
	return append(out, st.recent[:st.next]...)
}

func name(c *event.Container) string {
	if c.Name != "" {
		return c.Name
	}
	if len(c.ID) > 12 {
		return c.ID[:12]
	}
	return c.ID
}

// RuleName is the alert's rule for a control: "driftPrevention" → "Drift Prevention".
func RuleName(control string) string {
	var b strings.Builder
	for i, r := range control {
		if i == 0 {
			b.WriteRune(r - 'a' + 'A')
			continue
		}
		if r >= 'A' && r <= 'Z' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	s := b.String()
	if strings.HasPrefix(s, "Ip ") {
		s = "IP" + s[2:]
	}
	return s
}

func newAlert(e *event.Event, rule, priority, msg, action string) *event.Alert {
	p := e.Process
	p.Ancestors = append([]event.Process(nil), e.Process.Ancestors...)
	return &event.Alert{
		Kind:     "alert",
		Time:     e.Time,
		Rule:     rule,
		Priority: priority,
		Output:   e.Time.Format("15:04:05.000000000") + ": " + priority + " " + msg,
		OutputFields: map[string]any{
			"container.id": e.Container.ID, "container.name": e.Container.Name, "container.image": e.Container.Image,
			"proc.exepath": e.Process.Exe, "proc.cmdline": strings.Join(e.Process.Args, " "), "proc.pid": int64(e.Process.PID),
			"evt.type": string(e.Type),
		},
		Source:    "syscall",
		Tags:      []string{"mamori", "policy"},
		Hostname:  e.Node,
		Action:    action,
		Event:     e.Type,
		Process:   &p,
		Container: e.Container,
	}
}
