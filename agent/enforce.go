package agent

import (
	"fmt"
	"log/slog"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mamori-dev/mamori/enforce"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/guard"
	"github.com/mamori-dev/mamori/policy"
)

// execRef is what the container's enforce-mode controls ask of the exec
// enforcer: Drift Prevention (exact allowed paths go to the kernel, names
// and patterns to the fanotify handler, which tells the kernel each path
// it lets through), the Executable Blocklist and Limit New Privileges.
// Audit-mode controls are left to the guard, which reports from events.
func execRef(c *event.Container, pid uint32, eff *policy.Effective) enforce.ContainerRef {
	ref := enforce.ContainerRef{ID: c.ID, RootPID: int(pid), Mode: enforce.Off}
	ctl := &eff.Enforce.Controls
	if dp := ctl.DriftPrevention; dp.On() {
		ref.Mode = enforce.Enforce
		ref.VolumesExec = dp.AllowExecFromVolumes
		patterns := dp.Allow.Names.Len() > 0
		for _, p := range dp.Allow.Paths.Strings() {
			if strings.ContainsAny(p, "*?[") {
				patterns = true
			} else {
				ref.Allow = append(ref.Allow, p)
			}
		}
		if patterns {
			ref.AllowMatch = func(p string) bool { return dp.Allowed(p, path.Base(p)) }
		}
	}
	if bl := ctl.ExecutableBlocklist; bl.On() {
		if bl.Names.Len()+bl.Paths.Len() > 0 {
			ref.Exec.Blocked = func(p string) bool { return bl.Blocked(p, "") }
		}
		if len(bl.SHA256) > 0 {
			ref.Exec.BlockedSHA256 = map[string]bool{}
			for _, h := range bl.SHA256 {
				ref.Exec.BlockedSHA256[h] = true
			}
		}
	}
	if al := ctl.ExecutableAllowlist; al.On() {
		ref.Exec.Allowed = al.Allowed
	}
	ref.Exec.NoNewPrivileges = ctl.LimitNewPrivileges.On()
	return ref
}

// driftedScript is the guard's DriftedScript: when p is an interpreter
// reading a script file, whether that file, as p sees it, is the image's.
func (a *Agent) driftedScript(c *event.Container, p *event.Process, eff *policy.Effective) (string, string) {
	d := a.cfg.Drift
	if d == nil {
		return "", ""
	}
	script, ok := enforce.ScriptArg(p.Exe, p.Args)
	if !ok {
		return "", ""
	}
	// The interpreter may be gone by now (a short script): the file is
	// looked up through any live process of the container, from the
	// interpreter's working directory.
	if !path.IsAbs(script) {
		script = path.Join(p.Cwd, script)
	}
	pid := p.PID
	if host, err := enforce.InHostMountNS(int(pid)); err != nil || host {
		if pid = a.protect.livePID(c.ID); pid == 0 {
			a.log.Debug("drifted script check: no live process of the container to look at the script through", "container", c.Name, "script", script)
			return "", ""
		}
	}
	ref := enforce.ContainerRef{ID: c.ID, RootPID: int(pid), Mode: enforce.Audit}
	if dp := eff.Audit.Controls.DriftPrevention; dp.On() {
		ref.VolumesExec = dp.AllowExecFromVolumes
		ref.AllowMatch = func(s string) bool { return dp.Allowed(s, path.Base(s)) }
	}
	f, err := d.DriftedFile(ref, int(pid), script)
	if err != nil {
		a.log.Debug("drifted script check: cannot judge the script", "container", c.Name, "script", script, "err", err)
		return "", ""
	}
	return f.Path, string(f.Reason)
}

// driftVerdicts turns Drift Prevention's verdicts into alerts until its
// channel closes.
func (a *Agent) driftVerdicts(d *enforce.Drift) {
	for v := range d.Verdicts() {
		a.catchUp(v.Time)
		p, _, ok := a.tree.Lookup(v.PID)
		if !ok {
			p = event.Process{PID: v.PID}
		}
		loader := p.Exe // for a mapped file: the program that mapped it
		// The alert is about the program that was refused, run by p.
		exe := v.Path
		if exe == "" {
			exe = v.Name
		}
		p.Exe, p.Name = exe, path.Base(exe)
		why := v.Reason
		if why == enforce.Mapped {
			why = v.FileReason
		}
		p.ExeUpperLayer = why == enforce.UpperLayer
		p.ExeFromMemfd = why == enforce.Memfd
		p.ExeDeleted = why == enforce.Deleted
		e := &event.Event{Kind: "event", Time: v.Time, Node: a.cfg.Node, Type: event.Exec, Syscall: "execve", Process: p,
			Container: a.containers.Lookup(v.CgroupID, v.PID)}
		if e.Container.IsHost() {
			continue
		}
		what := map[enforce.Action]string{enforce.Blocked: "refused", enforce.Audited: "reported", enforce.BlockFailed: "could NOT be stopped"}[v.Action]
		control, msg := "driftPrevention", ""
		switch v.Reason {
		case enforce.Blocklisted:
			control = "executableBlocklist"
			msg = fmt.Sprintf("Blocklisted executable %s %s by %s in container %s (image %s)",
				exe, what, v.Mechanism, e.Container.Name, e.Container.Image)
		case enforce.NotAllowlisted:
			control = "executableAllowlist"
			msg = fmt.Sprintf("Executable %s, not on the allow list, %s by %s in container %s (image %s)",
				exe, what, v.Mechanism, e.Container.Name, e.Container.Image)
		case enforce.NewPrivileges:
			control = "limitNewPrivileges"
			msg = fmt.Sprintf("Exec of %s that would gain privileges %s by %s in container %s (image %s)",
				exe, what, v.Mechanism, e.Container.Name, e.Container.Image)
		case enforce.Mapped:
			by := "a program"
			if loader != "" {
				by = loader
			}
			msg = fmt.Sprintf("Drifted file %s (%s) mapped executable by %s (a loader run on it, LD_PRELOAD or dlopen) %s by %s in container %s (image %s)",
				exe, v.FileReason, by, what, v.Mechanism, e.Container.Name, e.Container.Image)
		default:
			msg = fmt.Sprintf("Drifted executable %s (%s) %s by %s in container %s (image %s)",
				exe, v.Reason, what, v.Mechanism, e.Container.Name, e.Container.Image)
		}
		if why == enforce.UpperLayer && control == "driftPrevention" {
			msg += a.driftDetail(e.Container, exe)
		}
		if v.OutsideCgroup {
			msg += " [the process had left its container's cgroup]"
		}
		if v.Detail != "" {
			msg += ": " + v.Detail
		}
		a.guard.Verdict(e, control, string(v.Action), msg, a.writeAlert)
		if v.OutsideCgroup && a.escapes.first(v.PID) {
			// Reported apart: leaving the cgroup is an escape whatever
			// the process ran next.
			t := &escapeTarget{ctr: e.Container}
			if o, ok := a.escapes.ownerOf(e.Container.ID); ok {
				t = o
			}
			a.escaped(e, t, v.PID, "had left its container's cgroup (recognised by its namespaces when it ran "+exe+")")
		}
	}
}

// ImageFiles says what a registered image's baseline holds at a path:
// the SHA-256 of the program the image ships there and whether it ships
// one; known is false when the image has no registered baseline.
type ImageFiles interface {
	ImageFile(imageID, path string) (sha256 string, shipped, known bool)
}

// driftDetail says, from the container's registered image baseline, what
// a drifted program at path is: an image program changed (or copied up)
// after the container started, or one the image never shipped; "" when
// the image has no registered baseline.
func (a *Agent) driftDetail(c *event.Container, path string) string {
	if a.cfg.ImageFiles == nil || c == nil || c.ImageID == "" {
		return ""
	}
	sha, shipped, known := a.cfg.ImageFiles.ImageFile("sha256:"+strings.TrimPrefix(c.ImageID, "sha256:"), path)
	switch {
	case !known:
		return ""
	case shipped:
		return fmt.Sprintf("; the image ships a program at this path (sha256 %.12s in its registered baseline): this one was written or changed after the container started", sha)
	}
	return "; the image ships no program at this path (registered baseline)"
}

// netState is a container's network rule as the policies set it, kept so
// that a port-scan cool-down can be lifted back to it.
type netState struct {
	cgroup  uint64
	rule    enforce.NetRule
	cooling *time.Timer
}

// protectNet hands the container's enforced IP Reputation, Network
// Egress and Listening Ports to n for its cgroup cg, or lifts what it had,
// and returns the controls n refuses (with Port Scan Detection, whose
// cool-down n carries out).
func (a *Agent) protectNet(n *enforce.Net, c *event.Container, cg uint64, eff *policy.Effective, log *slog.Logger) []string {
	var rule enforce.NetRule
	var controls []string
	if r := eff.Enforce.Controls.IPReputation; r.On() {
		for _, l := range r.IPLists() {
			rule.Block = append(rule.Block, l.Prefixes()...)
		}
		controls = append(controls, "ipReputation")
	}
	if eg := eff.Enforce.Controls.NetworkEgress; eg.On() {
		rule.Allow = append([]netip.Prefix{}, eg.Prefixes()...)
		controls = append(controls, "networkEgress")
	}
	if lp := eff.Enforce.Controls.ListeningPorts; lp.On() && n.Binds() == nil {
		rule.Ports = []enforce.PortRange{}
		for _, r := range lp.Ranges() {
			rule.Ports = append(rule.Ports, enforce.PortRange{Protocol: r.Protocol, First: r.First, Last: r.Last})
		}
		controls = append(controls, "listeningPorts")
	}
	scan := eff.Enforce.Controls.PortScanDetection.On()
	a.netMu.Lock()
	defer a.netMu.Unlock()
	old := a.netRules[c.ID]
	if len(controls) == 0 && !scan {
		if old != nil {
			n.Release(old.cgroup)
			delete(a.netRules, c.ID)
		}
		return nil
	}
	if old != nil && old.cgroup == cg && sameRule(old.rule, rule) {
		if scan {
			controls = append(controls, "portScanDetection")
		}
		return controls // in place already (a port scan cool-down, too)
	}
	if err := n.ProtectCgroup(cg, rule); err != nil {
		log.Error("network refusal could not be set for the container: its violations are reported, not refused",
			"container", c.Name, "controls", controls, "err", err)
		return nil
	}
	if old != nil && old.cooling != nil {
		old.cooling.Stop()
	}
	if old != nil && old.cgroup != cg {
		n.Release(old.cgroup)
	}
	a.netRules[c.ID] = &netState{cgroup: cg, rule: rule}
	if rule.Ports != nil {
		go a.reportBoundPorts(c, cg, eff.Enforce.Controls.ListeningPorts)
	}
	if scan {
		controls = append(controls, "portScanDetection")
	}
	log.Info("network refusal enforced", "container", c.Name, "controls", controls, "blocked_prefixes", len(rule.Block))
	return controls
}

func sameRule(a, b enforce.NetRule) bool {
	return slices.Equal(a.Block, b.Block) && slices.Equal(a.Allow, b.Allow) && (a.Allow == nil) == (b.Allow == nil) &&
		slices.Equal(a.Ports, b.Ports) && (a.Ports == nil) == (b.Ports == nil)
}

// coolDown refuses every new outbound connection of the container (but
// loopback) until until, then restores its rule.
func (a *Agent) coolDown(c *event.Container, until time.Time) {
	a.netMu.Lock()
	defer a.netMu.Unlock()
	ns := a.netRules[c.ID]
	if ns == nil || a.cfg.Net == nil {
		return
	}
	// The ports stay as they are: a cool-down is about connections.
	if err := a.cfg.Net.ProtectCgroup(ns.cgroup, enforce.NetRule{Block: ns.rule.Block, Allow: []netip.Prefix{}, Ports: ns.rule.Ports}); err != nil {
		a.log.Error("port scan cool-down could not be set", "container", c.Name, "err", err)
		return
	}
	if ns.cooling != nil {
		ns.cooling.Stop()
	}
	ns.cooling = time.AfterFunc(time.Until(until), func() {
		a.netMu.Lock()
		defer a.netMu.Unlock()
		if a.netRules[c.ID] != ns {
			return // released or replaced meanwhile
		}
		// Back to the policies' rule; an empty one refuses nothing.
		if err := a.cfg.Net.ProtectCgroup(ns.cgroup, ns.rule); err != nil {
			a.log.Error("port scan cool-down could not be lifted", "container", c.Name, "err", err)
		}
	})
	a.log.Info("port scan cool-down: new outbound connections refused", "container", c.Name, "until", until.Format(time.RFC3339))
}

// bindVerdicts turns the binds the kernel refused into alerts until n's
// channel closes.
func (a *Agent) bindVerdicts(n *enforce.Net) {
	for v := range n.BindVerdicts() {
		a.catchUp(v.Time)
		p, _, ok := a.tree.Lookup(v.PID)
		if !ok {
			p = event.Process{PID: v.PID, Name: v.Comm}
		}
		fam := "inet"
		if v.Addr.Is6() {
			fam = "inet6"
		}
		e := &event.Event{Kind: "event", Time: v.Time, Node: a.cfg.Node, Type: event.Bind, Syscall: "bind", Process: p,
			Result:    -int64(syscall.EPERM),
			Network:   &event.Network{Family: fam, Protocol: v.Protocol, SrcIP: v.Addr.String(), SrcPort: v.Port},
			Container: a.containers.Lookup(v.CgroupID, v.PID)}
		if e.Container.IsHost() {
			continue
		}
		prog := p.Exe
		if prog == "" {
			prog = v.Comm
		}
		msg := fmt.Sprintf("Bind to port %d/%s (address %s) by %s, not on the listening ports allow list, refused by cgroup-bpf in container %s (image %s)",
			v.Port, v.Protocol, v.Addr, prog, e.Container.Name, e.Container.Image)
		a.guard.Verdict(e, "listeningPorts", guard.Blocked, msg, a.writeAlert)
	}
}

// forksRefused reports forks the kernel refused in a container whose
// process limit is enforced.
func (a *Agent) forksRefused(c *event.Container, pid uint32, max int, refused uint64) {
	p, _, ok := a.tree.Lookup(pid)
	if !ok {
		p = event.Process{PID: pid}
	}
	e := &event.Event{Kind: "event", Time: time.Now(), Node: a.cfg.Node, Type: event.Fork, Process: p, Container: c}
	msg := fmt.Sprintf("Container %s reached its limit of %d processes: the kernel refused %d forks", c.Name, max, refused)
	a.guard.Verdict(e, "forkGuard", guard.Blocked, msg, a.writeAlert)
}

// catchUp waits, briefly, until the sensor's events have caught up with t:
// a verdict comes straight from the enforcer, while the events that led to
// it (the download, the write) are still in the ring buffer, and the alert's
// forensics should show them. The wait ends 250 ms after t, not after the
// call: under a burst of verdicts, those already late wait no more, so the
// verdicts never back up behind it.
func (a *Agent) catchUp(t time.Time) {
	deadline := t.Add(250 * time.Millisecond)
	for a.lastEvent.Load() < t.UnixNano() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// verdictLoss is what the agent has reported of enforcement verdicts that
// were lost: refusals that happened but whose report did not reach it (the
// kernel's verdict ring buffer was full, or the agent read its channel too
// slowly). The refusal itself is not lost; its alert is.
type verdictLoss struct {
	mu       sync.Mutex
	reported uint64
	last     time.Time
}

// watchVerdictLoss logs and alerts, at most once per blindReport (and when
// final), the drift verdicts lost since the last report.
func (a *Agent) watchVerdictLoss(now time.Time, final bool) {
	var st enforce.Stats
	if a.cfg.Drift != nil {
		st = a.cfg.Drift.Stats()
	}
	if a.cfg.Net != nil {
		lost, dropped := a.cfg.Net.BindStats()
		st.KernelLost += lost
		st.VerdictsDropped += dropped
	}
	total := st.VerdictsDropped + st.KernelLost
	w := &a.verdictLoss
	w.mu.Lock()
	defer w.mu.Unlock()
	lost := total - w.reported
	if lost == 0 || !final && !w.last.IsZero() && now.Sub(w.last) < blindReport {
		return
	}
	w.reported, w.last = total, now
	msg := fmt.Sprintf("%d enforcement verdicts lost (%d with the kernel's verdict buffer full, %d not read in time): the refusals happened, their alerts are missing",
		lost, st.KernelLost, st.VerdictsDropped)
	a.log.Error("enforcement verdicts lost", "lost", lost, "kernel_lost", st.KernelLost, "dropped", st.VerdictsDropped)
	a.writeAlert(&event.Alert{
		Kind: "alert", Time: now, Rule: "Enforcement Verdicts Lost", Priority: "Critical",
		Output:       now.Format("15:04:05.000000000") + ": Critical " + msg,
		OutputFields: map[string]any{"enforce.lost": lost, "enforce.kernel_lost": st.KernelLost, "enforce.dropped": st.VerdictsDropped},
		Source:       "runtime", Tags: []string{"mamori", "enforcement"}, Hostname: a.cfg.Node, Action: event.Detected,
	})
}
