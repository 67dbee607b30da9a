package profile

import (
	"bytes"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

// Refusal is something the workload did recently that a policy would have
// refused.
type Refusal struct {
	// Source is what it was found in: "events" (the stored events of the
	// workload's containers, from agents with --console-events), "profile"
	// (its items) or "map" (its connections per minute).
	Source  string    `json:"source"`
	Control string    `json:"control"`
	What    string    `json:"what"`
	Reason  string    `json:"reason"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Count   int64     `json:"count"`
	Nodes   []string  `json:"nodes,omitempty"`
}

// DryRunResult is what DryRun found.
type DryRunResult struct {
	Since   time.Time `json:"since"`
	Policy  string    `json:"policy"`
	Checked int       `json:"checked"` // items and connections looked at
	Refused []Refusal `json:"refused"`
}

// DryRun says which of the workload's recent events and behaviour the
// policies in policyYAML would have refused: a program off the Executable
// Allowlist, a drifted program Drift Prevention does not allow, a
// destination off the Network Egress allow list or on a block list, a
// port off the Listening Ports allow list, more processes than the Fork
// Guard limit. It judges the stored exec, connect, bind and listen events
// of the workload's containers (events, from agents with
// --console-events), its items last seen since, and its connections on the
// network map since; what the events show is not counted again from the
// items or the map. The policies are read and validated as `mamori policy
// validate` does, and judged by their own controls; only those whose scope
// covers the workload count.
func DryRun(p *store.Profile, flows *store.NetMap, events []event.Event, policyYAML []byte, since time.Time) (*DryRunResult, error) {
	set, err := policy.LoadFrom(bytes.NewReader(policyYAML), "-")
	if err != nil {
		return nil, err
	}
	w := p.Workload
	c := &event.Container{ID: "dry-run", Name: w.Name, Image: w.Image, ImageDigest: w.ImageDigest}
	if w.Namespace != "" {
		owner := w.Owner
		if i := bytes.IndexByte([]byte(owner), '/'); i >= 0 {
			owner = owner[:i]
		}
		c.Pod = &event.Pod{Namespace: w.Namespace, Name: owner + "-0"}
	}
	eff := set.Effective(policy.TargetFromContainer(c))
	ctl := func(name string) (policy.Controls, bool) {
		switch eff.Mode(name) {
		case policy.Enforce:
			return eff.Enforce.Controls, true
		case policy.Audit:
			return eff.Audit.Controls, true
		}
		return policy.Controls{}, false
	}
	r := &DryRunResult{Since: since.UTC(), Policy: fmt.Sprint(len(set.Policies())) + " policies", Refused: []Refusal{}}
	// The events first: each refusal counted once per control and what.
	byWhat := map[string]*Refusal{}
	fromEvents := map[string]bool{}
	for i := range events {
		e := &events[i]
		if e.Time.Before(since) {
			continue
		}
		var control, what, why string
		switch e.Type {
		case event.Exec:
			pr := &e.Process
			if pr.Exe == "" || strings.HasSuffix(pr.Exe, "/") {
				// No program: the runtime's exec of an entrypoint
				// shows the root directory as its path.
				continue
			}
			r.Checked++
			what = "exec " + pr.Exe
			if cs, ok := ctl("executableAllowlist"); ok && cs.ExecutableAllowlist.On() && !cs.ExecutableAllowlist.Allowed(pr.Exe) {
				control, why = "executableAllowlist", "not on the allow list"
			} else if cs, ok := ctl("driftPrevention"); ok && (pr.ExeUpperLayer || pr.ExeFromMemfd || pr.ExeDeleted) &&
				!cs.DriftPrevention.Allowed(pr.Exe, path.Base(pr.Exe)) {
				control, why = "driftPrevention", "not in the image and not allowed"
			}
		case event.Connect:
			n := e.Network
			if n == nil || (n.Family != "inet" && n.Family != "inet6") || n.DstIP == "" {
				continue
			}
			r.Checked++
			what = "connect " + destName(n.DstIP, n.DstPort, n.Protocol, nil)
			if ref := egressRefusal(ctl, n.DstIP); ref != "" {
				control, why = "networkEgress", ref
				if e.Result == -1 {
					why += " (refused when it happened)"
				}
			}
		case event.Bind, event.Listen:
			pr, ok := portTaken(e)
			if !ok {
				continue
			}
			r.Checked++
			what = "bind " + pr.String()
			if cs, ok := ctl("listeningPorts"); ok && cs.ListeningPorts.On() && !cs.ListeningPorts.Allowed(pr.Protocol, pr.First) {
				control, why = "listeningPorts", "not on the listening ports allow list"
				if e.Result == -1 {
					why += " (refused when it happened)"
				}
			}
		default:
			continue
		}
		fromEvents[what] = true
		if control == "" {
			continue
		}
		x := byWhat[control+" "+what]
		if x == nil {
			x = &Refusal{Source: "events", Control: control, What: what, Reason: why, First: e.Time}
			byWhat[control+" "+what] = x
		}
		x.Count++
		if e.Time.After(x.Last) {
			x.Last = e.Time
		}
		if !slices.Contains(x.Nodes, e.Node) {
			x.Nodes = append(x.Nodes, e.Node)
		}
	}
	for _, x := range byWhat {
		r.Refused = append(r.Refused, *x)
	}
	for _, it := range p.Items {
		if it.Last.Before(since) {
			continue
		}
		switch it.Kind {
		case event.ItemExec:
			if fromEvents["exec "+it.Path] {
				continue
			}
			r.Checked++
			if cs, ok := ctl("executableAllowlist"); ok && cs.ExecutableAllowlist.On() && !cs.ExecutableAllowlist.Allowed(it.Path) {
				r.Refused = append(r.Refused, Refusal{Source: "profile", Control: "executableAllowlist", What: "exec " + it.Path,
					Reason: "not on the allow list", First: it.First, Last: it.Last, Count: it.Count, Nodes: it.Nodes})
			} else if cs, ok := ctl("driftPrevention"); ok && it.Drifted && !cs.DriftPrevention.Allowed(it.Path, path.Base(it.Path)) {
				r.Refused = append(r.Refused, Refusal{Source: "profile", Control: "driftPrevention", What: "exec " + it.Path,
					Reason: "not in the image and not allowed", First: it.First, Last: it.Last, Count: it.Count, Nodes: it.Nodes})
			}
		case event.ItemListen:
			pr, err := policy.ParsePortRange(it.Key)
			if err != nil || fromEvents["bind "+pr.String()] {
				continue
			}
			r.Checked++
			if cs, ok := ctl("listeningPorts"); ok && cs.ListeningPorts.On() && !cs.ListeningPorts.Allowed(pr.Protocol, pr.First) {
				r.Refused = append(r.Refused, Refusal{Source: "profile", Control: "listeningPorts", What: "bind " + pr.String(),
					Reason: "not on the listening ports allow list", First: it.First, Last: it.Last, Count: it.Count, Nodes: it.Nodes})
			}
		case event.ItemEgress:
			if fromEvents["connect "+destName(it.IP, it.Port, it.Protocol, nil)] {
				continue
			}
			r.Checked++
			if ref := egressRefusal(ctl, it.IP); ref != "" {
				r.Refused = append(r.Refused, Refusal{Source: "profile", Control: "networkEgress", What: "connect " + destName(it.IP, it.Port, it.Protocol, it.Names),
					Reason: ref, First: it.First, Last: it.Last, Count: it.Count, Nodes: it.Nodes})
			}
		}
	}
	if cs, ok := ctl("forkGuard"); ok && cs.ForkGuard.On() && p.MaxProcesses > cs.ForkGuard.MaxProcesses {
		r.Refused = append(r.Refused, Refusal{Source: "profile", Control: "forkGuard", What: fmt.Sprintf("%d processes at once", p.MaxProcesses),
			Reason: fmt.Sprintf("above maxProcesses %d", cs.ForkGuard.MaxProcesses), Last: p.LastSeen, Count: 1, Nodes: p.Nodes})
	}
	// Connections the profile did not keep as items (refused already,
	// or before it learnt) are on the map.
	if flows != nil {
		seen := map[string]bool{}
		for _, it := range p.Items {
			if it.Kind == event.ItemEgress && !it.Last.Before(since) {
				seen[it.Key] = true
			}
		}
		for _, e := range flows.Edges {
			if e.Source != "w:"+p.ID {
				continue
			}
			ip := ""
			for _, n := range flows.Nodes {
				if n.ID == e.Target {
					ip = n.Name
				}
			}
			if n := e.Target; len(n) > 3 && n[:3] == "ip:" {
				ip = n[3:]
			}
			key := ip + ":" + strconv.Itoa(int(e.Port)) + "/" + e.Protocol
			if seen[key] || ip == "" || fromEvents["connect "+destName(ip, e.Port, e.Protocol, nil)] {
				continue
			}
			r.Checked++
			if ref := egressRefusal(ctl, ip); ref != "" {
				var names []string
				if e.DNS != "" {
					names = []string{e.DNS}
				}
				r.Refused = append(r.Refused, Refusal{Source: "map", Control: "networkEgress", What: "connect " + destName(ip, e.Port, e.Protocol, names),
					Reason: ref + " (" + e.Verdict + " when it happened)", First: e.First, Last: e.Last, Count: e.Count})
			}
		}
	}
	sort.SliceStable(r.Refused, func(i, j int) bool { return r.Refused[i].Last.After(r.Refused[j].Last) })
	return r, nil
}

// portTaken is the port a bind or listen event took or tried to take; a
// bind that failed for another reason than a refusal took none.
func portTaken(e *event.Event) (policy.PortRange, bool) {
	n := e.Network
	if n == nil || (n.Family != "inet" && n.Family != "inet6") || n.SrcPort == 0 || e.Type == event.Bind && e.Result != 0 && e.Result != -1 {
		return policy.PortRange{}, false
	}
	proto := n.Protocol
	if proto == "" || proto == "proto_262" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return policy.PortRange{}, false
	}
	return policy.PortRange{Protocol: proto, First: n.SrcPort, Last: n.SrcPort}, true
}

func egressRefusal(ctl func(string) (policy.Controls, bool), ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	if cs, ok := ctl("ipReputation"); ok && cs.IPReputation.On() {
		if list, bad := cs.IPReputation.Blocked(a); bad {
			return "on the block list " + list
		}
	}
	if cs, ok := ctl("networkEgress"); ok && cs.NetworkEgress.On() && !cs.NetworkEgress.Allowed(a) {
		return "not on the egress allow list"
	}
	return ""
}

func destName(ip string, port uint16, proto string, names []string) string {
	s := ip + ":" + strconv.Itoa(int(port)) + "/" + proto
	if len(names) > 0 {
		s = names[0] + " (" + s + ")"
	}
	return s
}
