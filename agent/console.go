package agent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

// Console is where the agent sends what a central console keeps: every
// alert, and every event when the console asked for them. Its methods are
// called on the event path and must not block (package console/link
// queues and publishes on its own goroutine).
type Console interface {
	Alert(*event.Alert)
	Event(*event.Event)
	// Counts are the publisher's counters, for /status and /metrics.
	Counts() event.PublisherCounts
}

// Heartbeat describes the agent for the console: who it is, what each
// capability can do on this node, and its counters.
func (a *Agent) Heartbeat() event.Heartbeat {
	s := a.Status()
	hb := event.Heartbeat{
		Node:    a.cfg.Node,
		Version: a.cfg.Version,
		Kernel:  kernelRelease(),
		Started: a.start.UTC(),
		Counters: event.Counters{
			Events: s.Handled, Alerts: s.Alerts, RingDropped: s.Dropped, DecodeErrors: s.DecodeErrors,
			OutputErrors: s.WriteErrors, Containers: s.Containers, RSSBytes: s.RSSBytes,
		},
	}
	for _, c := range s.Capabilities {
		hb.Capabilities = append(hb.Capabilities, event.Capability{Name: c.Name, Mechanism: c.Mechanism, Effect: c.Effect, Degraded: c.Degraded})
	}
	if s.Dropped > 0 {
		hb.Drops = append(hb.Drops, fmt.Sprintf("%d events lost in the kernel since the agent started (ring buffer full)", s.Dropped))
	}
	hb.PolicyError = s.PolicyError
	if a.cfg.Policies != nil {
		set := a.cfg.Policies.Current()
		builtin := len(policy.Builtin())
		for i, p := range set.Policies() {
			src := "builtin"
			if i >= builtin {
				src = p.Source.File
			}
			hb.Policies = append(hb.Policies, event.PolicyInForce{Name: p.Metadata.Name, Version: shortDigest(set.Digest()),
				Mode: string(p.Spec.Mode), Source: src})
		}
	}
	return hb
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// Containers is the node's container inventory: each container the agent
// has seen and not yet seen gone, with its protection in force.
func (a *Agent) Containers() []event.ContainerState {
	now := time.Now().UTC()
	var out []event.ContainerState
	placed := map[string][]ControlState{}
	if a.protect != nil {
		for _, cp := range a.protect.status() {
			placed[cp.ID] = cp.Controls
		}
	}
	for _, c := range a.containers.Containers() {
		cs := event.ContainerState{Time: now, Node: a.cfg.Node, Container: c, Running: true, Protection: "unprotected",
			Reason: "no policy applies"}
		if a.guard == nil {
			cs.Reason = "the agent runs without policies"
		} else if _, eff, ok := a.guard.Explain(c.ID); ok {
			a.protection(&cs, eff)
		} else {
			cs.Reason = "not judged yet: no process of it has run since the agent started"
		}
		for _, st := range placed[c.ID] {
			cs.Enforcement = append(cs.Enforcement, event.ControlEnforcement{Control: st.Control, Mode: st.Mode, State: st.State,
				Mechanism: st.Mechanism, Reason: st.Reason})
		}
		out = append(out, cs)
	}
	slices.SortFunc(out, func(x, y event.ContainerState) int { return strings.Compare(x.Container.ID, y.Container.ID) })
	return out
}

func (a *Agent) protection(cs *event.ContainerState, eff *policy.Effective) {
	cs.Controls = map[string]string{}
	var audited, weak []string
	for _, name := range policy.ControlNames() {
		m := eff.Mode(name)
		if m == "" {
			continue
		}
		cs.Controls[name] = string(m)
		switch {
		case m == policy.Audit:
			audited = append(audited, name)
		case name == "driftPrevention" && a.cfg.Drift == nil:
			weak = append(weak, "driftPrevention (no refusing mechanism loads on this node)")
		}
	}
	switch {
	case len(cs.Controls) == 0:
		cs.Protection, cs.Reason = "unprotected", "no policy control applies"
	case len(audited) == len(cs.Controls):
		cs.Protection, cs.Reason = "audited", "every control is in audit mode"
	default:
		cs.Protection, cs.Reason = "enforced", ""
		if len(audited) > 0 {
			cs.Reason = "audit only: " + strings.Join(audited, ", ")
		}
	}
	if len(weak) > 0 {
		cs.Protection = "audited"
		cs.Reason = strings.TrimPrefix(cs.Reason+"; enforced but cannot refuse: "+strings.Join(weak, ", "), "; ")
	}
}

// consoleMetrics adds the console publisher's counters to /metrics.
func (a *Agent) consoleMetrics(b *strings.Builder) {
	if a.cfg.Console == nil {
		return
	}
	c := a.cfg.Console.Counts()
	one := func(name, typ, help string, v any) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", name, help, name, typ, name, v)
	}
	one("mamori_console_published_total", "counter", "Records acknowledged by the console's JetStream.", c.Published)
	one("mamori_console_spooled_total", "counter", "Records written to the on-disk spool while the console was away.", c.Spooled)
	one("mamori_console_replayed_total", "counter", "Spooled records replayed and acknowledged.", c.Replayed)
	one("mamori_console_dropped_total", "counter", "Records for the console lost: queue or spool full, or too large.", c.Dropped)
	one("mamori_console_spool_bytes", "gauge", "Bytes waiting in the spool.", c.SpoolBytes)
	v := 0
	if c.Connected {
		v = 1
	}
	one("mamori_console_connected", "gauge", "Whether the console takes records now (1) or not (0).", v)
}

// Observations returns what the agent learnt since it was last asked, one
// record per workload, for the console's behaviour profiles; nil when it
// does not learn.
func (a *Agent) Observations() []*event.Observation {
	if a.learner == nil {
		return nil
	}
	return a.learner.Flush(time.Now(), 5*time.Minute)
}
