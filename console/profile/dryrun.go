package profile

import (
	"bytes"
	"fmt"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"time"

	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

// Refusal is something the workload did recently that a policy would have
// refused.
type Refusal struct {
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

// DryRun says which of the workload's recent behaviour (items last seen
// since, and the network map's connections since) the policies in
// policyYAML would have refused: a drifted program Drift Prevention does
// not allow, a destination off the Network Egress allow list, more
// processes than the Fork Guard limit. The policies are read and
// validated as `mamori policy validate` does, and judged by their own
// controls; only those whose scope covers the workload count.
func DryRun(p *store.Profile, flows *store.NetMap, policyYAML []byte, since time.Time) (*DryRunResult, error) {
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
	for _, it := range p.Items {
		if it.Last.Before(since) {
			continue
		}
		switch it.Kind {
		case event.ItemExec:
			r.Checked++
			if cs, ok := ctl("executableAllowlist"); ok && cs.ExecutableAllowlist.On() && !cs.ExecutableAllowlist.Allowed(it.Path) {
				r.Refused = append(r.Refused, Refusal{Control: "executableAllowlist", What: "exec " + it.Path,
					Reason: "not on the allow list", First: it.First, Last: it.Last, Count: it.Count, Nodes: it.Nodes})
			} else if cs, ok := ctl("driftPrevention"); ok && it.Drifted && !cs.DriftPrevention.Allowed(it.Path, path.Base(it.Path)) {
				r.Refused = append(r.Refused, Refusal{Control: "driftPrevention", What: "exec " + it.Path,
					Reason: "not in the image and not allowed", First: it.First, Last: it.Last, Count: it.Count, Nodes: it.Nodes})
			}
		case event.ItemEgress:
			r.Checked++
			if ref := egressRefusal(ctl, it.IP); ref != "" {
				r.Refused = append(r.Refused, Refusal{Control: "networkEgress", What: "connect " + destName(it.IP, it.Port, it.Protocol, it.Names),
					Reason: ref, First: it.First, Last: it.Last, Count: it.Count, Nodes: it.Nodes})
			}
		}
	}
	if cs, ok := ctl("forkGuard"); ok && cs.ForkGuard.On() && p.MaxProcesses > cs.ForkGuard.MaxProcesses {
		r.Refused = append(r.Refused, Refusal{Control: "forkGuard", What: fmt.Sprintf("%d processes at once", p.MaxProcesses),
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
			if seen[key] || ip == "" {
				continue
			}
			r.Checked++
			if ref := egressRefusal(ctl, ip); ref != "" {
				var names []string
				if e.DNS != "" {
					names = []string{e.DNS}
				}
				r.Refused = append(r.Refused, Refusal{Control: "networkEgress", What: "connect " + destName(ip, e.Port, e.Protocol, names),
					Reason: ref + " (" + e.Verdict + " when it happened)", First: e.First, Last: e.Last, Count: e.Count})
			}
		}
	}
	sort.SliceStable(r.Refused, func(i, j int) bool { return r.Refused[i].Last.After(r.Refused[j].Last) })
	return r, nil
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
