package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/mamori-dev/mamori/enforce"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/guard"
	"github.com/mamori-dev/mamori/policy"
)

// DriftProtector returns the guard's Protect hook for Drift Prevention: a
// container whose effective controls enforce drift prevention is protected
// by d (fanotify refusal, SIGKILL line), one whose controls no longer do is
// released. It returns the controls d now enforces for the container.
func DriftProtector(d *enforce.Drift, log *slog.Logger) func(*event.Container, *event.Process, *policy.Effective) ([]string, bool) {
	tries := map[string]int{}
	return func(c *event.Container, p *event.Process, eff *policy.Effective) ([]string, bool) {
		if eff.Mode("driftPrevention") != policy.Enforce {
			d.Release(c.ID)
			return nil, true
		}
		dp := eff.Enforce.Controls.DriftPrevention
		var allow []string
		for _, p := range dp.Allow.Paths.Strings() {
			if !strings.ContainsAny(p, "*?[") {
				allow = append(allow, p)
			}
		}
		if len(dp.Allow.Names.Strings()) > 0 || len(allow) < len(dp.Allow.Paths.Strings()) {
			log.Warn("drift enforcement allows exact paths only: name and pattern allow entries are not honoured when refusing",
				"container", c.Name, "names", dp.Allow.Names.Strings(), "paths", dp.Allow.Paths.Strings())
		}
		// The container's init outlives the exec that brought us here, which
		// may already be gone: use it when the process tree knows it.
		pid := p.PID
		for _, a := range p.Ancestors {
			if a.VPID == 1 {
				pid = a.PID
			}
		}
		if p.VPID == 1 {
			pid = p.PID
		}
		ref := enforce.ContainerRef{ID: c.ID, RootPID: int(pid), Mode: enforce.Enforce, Allow: allow}
		err := d.Protect(context.Background(), ref)
		switch {
		case errors.Is(err, enforce.ErrHostMountNS):
			return nil, false // runc before pivot_root: try the container's next exec
		case err != nil && tries[c.ID] < 5 && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)):
			tries[c.ID]++
			return nil, false // the process is gone already: try the next exec
		case err != nil:
			log.Error("drift prevention could not protect the container: its drift is reported, not refused",
				"container", c.Name, "err", err)
			return nil, true
		}
		delete(tries, c.ID)
		log.Info("drift prevention enforced", "container", c.Name, "id", c.ID[:min(12, len(c.ID))])
		return []string{"driftPrevention"}, true
	}
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
		// The alert is about the program that was refused, run by p.
		exe := v.Path
		if exe == "" {
			exe = v.Name
		}
		p.Exe, p.Name = exe, path.Base(exe)
		p.ExeUpperLayer = v.Reason == enforce.UpperLayer
		p.ExeFromMemfd = v.Reason == enforce.Memfd
		p.ExeDeleted = v.Reason == enforce.Deleted
		e := &event.Event{Kind: "event", Time: v.Time, Node: a.cfg.Node, Type: event.Exec, Syscall: "execve", Process: p,
			Container: a.containers.Lookup(v.CgroupID, v.PID)}
		if e.Container.IsHost() {
			continue
		}
		what := map[enforce.Action]string{enforce.Blocked: "refused", enforce.Audited: "reported", enforce.BlockFailed: "could NOT be stopped"}[v.Action]
		msg := fmt.Sprintf("Drifted executable %s (%s) %s by %s in container %s (image %s)",
			exe, v.Reason, what, v.Mechanism, e.Container.Name, e.Container.Image)
		a.cfg.Guard.Verdict(e, "driftPrevention", string(v.Action), msg, a.writeAlert)
	}
}

// catchUp waits, briefly, until the sensor's events have caught up with t:
// a verdict comes straight from the enforcer, while the events that led to
// it (the download, the write) are still in the ring buffer, and the alert's
// forensics should show them.
func (a *Agent) catchUp(t time.Time) {
	deadline := time.Now().Add(250 * time.Millisecond)
	for a.lastEvent.Load() < t.UnixNano() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

var _ = guard.Blocked // the verdict actions are the guard's alert actions
