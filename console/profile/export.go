// Package profile turns a workload's behaviour profile into a runtime
// policy (Export) and says what such a policy would have refused of the
// workload's recent behaviour (DryRun). The profiles themselves are the
// store's (console/store/profiles.go): this package reads them and never
// writes.
package profile

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

// ErrLearning refuses to export a profile that is still learning: a
// policy made before the workload has shown all it does breaks it.
type ErrLearning struct {
	Profile     *store.Profile
	StableAfter time.Duration
}

func (e ErrLearning) Error() string {
	p := e.Profile
	return fmt.Sprintf("profile %s is still learning (its last new item came %s ago; it becomes stable after %s without one): "+
		"a policy exported now may refuse what the workload has not shown yet; wait, or export with force",
		p.ID, time.Since(p.LastNew).Round(time.Second), e.StableAfter)
}

// Options are how Export writes the policy.
type Options struct {
	// Mode is the policy's mode: policy.Enforce or policy.Audit.
	Mode policy.Mode
	// Force exports a profile that is still learning.
	Force       bool
	StableAfter time.Duration
	Now         time.Time
}

// Label is the label an exported policy names its profile by; applying
// such a policy in enforce mode marks the profile enforced.
const Label = "mamori.dev/profile"

// MinProcessHeadroom is what the fork guard limit leaves above the most
// processes seen at once, at the least: the limit is twice the peak, or
// the peak plus this, whichever is more.
const MinProcessHeadroom = 16

// Name is the name of the policy exported from p, and of its file in the
// console (Name(p)+".yaml").
func Name(p *store.Profile) string {
	base := strings.ToLower(p.Workload.Name)
	if p.Workload.Namespace != "" {
		base = strings.ToLower(p.Workload.Namespace) + "-" + base
	}
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	n := strings.Trim(b.String(), "-.")
	if len(n) > 40 {
		n = n[:40]
	}
	if n == "" {
		return "profile-" + p.ID
	}
	return "profile-" + n + "-" + p.ID
}

// Export writes p's learnt behaviour as a RuntimePolicy scoped to the
// workload: Drift Prevention allowing the programs it ran from outside its
// image, an Executable Allowlist of every program it ran, a Network Egress
// allow list of the addresses it connected to, a Listening Ports allow
// list of the ports it bound or listened on, and a Fork Guard limit above
// the most processes it had; each entry carries its evidence as a YAML
// comment. Deleted items and deviations are left out. What no control can
// refuse yet (inbound connections, written directories) is listed in
// comments.
func Export(p *store.Profile, o Options) ([]byte, error) {
	if p.State == store.Learning && !o.Force {
		return nil, ErrLearning{Profile: p, StableAfter: o.StableAfter}
	}
	if o.Mode == "" {
		o.Mode = policy.Enforce
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	w := p.Workload
	var learnt []store.ProfileItem
	for _, it := range p.Items {
		if it.Status == store.ItemLearned {
			learnt = append(learnt, it)
		}
	}

	controls := mapping()
	// Drift Prevention: what ran from outside the image may run again.
	drift := mapping()
	var paths []*yaml.Node
	for _, it := range learnt {
		if it.Kind == event.ItemExec && it.Drifted {
			paths = append(paths, scalar(it.Path, evidence(it)+digestNote(it)))
		}
	}
	if len(paths) > 0 {
		add(drift, "allow", mapping(), "programs the workload ran that were not in its image")
		add(drift.Content[1], "paths", seq(paths...), "")
	} else {
		drift.Style = yaml.FlowStyle
	}
	add(controls, "driftPrevention", drift, "only the image's programs, and those below, may run")

	// Executable Allowlist: only the programs the workload ran.
	var progs []*yaml.Node
	for _, it := range learnt {
		if it.Kind == event.ItemExec {
			note := evidence(it)
			if len(it.Parents) > 0 {
				note = "parent " + strings.Join(it.Parents, ", ") + "; " + note
			}
			progs = append(progs, scalar(it.Path, note+digestNote(it)))
		}
	}
	if len(progs) > 0 {
		al := mapping()
		add(al, "paths", seq(progs...), "")
		add(controls, "executableAllowlist", al, "only the programs the workload ran, from its image or not")
	}

	// Network Egress: one entry per address, its ports and names told.
	type dest struct {
		addr  string
		items []store.ProfileItem
	}
	var dests []*dest
	for _, it := range learnt {
		if it.Kind != event.ItemEgress {
			continue
		}
		a, err := netip.ParseAddr(it.IP)
		if err != nil {
			continue
		}
		s := a.Unmap().String()
		i := slices.IndexFunc(dests, func(d *dest) bool { return d.addr == s })
		if i < 0 {
			dests = append(dests, &dest{addr: s})
			i = len(dests) - 1
		}
		dests[i].items = append(dests[i].items, it)
	}
	allow := seq()
	for _, d := range dests {
		var what []string
		var first, last time.Time
		var n int64
		var nodes []string
		for _, it := range d.items {
			port := strconv.Itoa(int(it.Port)) + "/" + it.Protocol
			switch {
			case len(it.Names) > 0:
				port = strings.Join(it.Names, ",") + " " + port
			case it.Peer != "":
				port = "workload " + it.Peer + " " + port
			}
			what = append(what, port)
			if first.IsZero() || it.First.Before(first) {
				first = it.First
			}
			last = later(last, it.Last)
			n += it.Count
			for _, x := range it.Nodes {
				if !slices.Contains(nodes, x) {
					nodes = append(nodes, x)
				}
			}
		}
		allow.Content = append(allow.Content, scalar(d.addr, strings.Join(what, "; ")+"; "+seen(first, last, n, nodes)))
	}
	egress := mapping()
	if len(allow.Content) == 0 {
		allow.Style = yaml.FlowStyle
	}
	add(egress, "allow", allow, "")
	add(controls, "networkEgress", egress, "only the addresses the workload connected to (loopback always passes)")

	// Listening Ports: only the ports the workload bound or listened on.
	var ports []*yaml.Node
	for _, it := range learnt {
		if it.Kind == event.ItemListen {
			if r, err := policy.ParsePortRange(it.Key); err == nil {
				ports = append(ports, scalar(r.String(), evidence(it)))
			}
		}
	}
	lp := mapping()
	portList := seq(ports...)
	if len(ports) == 0 {
		portList.Style = yaml.FlowStyle
	}
	add(lp, "allow", portList, "")
	add(controls, "listeningPorts", lp, "only the ports the workload bound or listened on (binding port 0, a port the kernel picks, always passes)")

	if p.MaxProcesses > 0 {
		limit := max(2*p.MaxProcesses, p.MaxProcesses+MinProcessHeadroom)
		fg := mapping()
		add(fg, "maxProcesses", scalar(strconv.Itoa(limit), fmt.Sprintf("the most seen at once: %d (threads count), on %s", p.MaxProcesses, strings.Join(p.Nodes, ", "))), "")
		add(controls, "forkGuard", fg, "")
	}

	scope := mapping()
	all := seq()
	img := mapping()
	add(img, "digest", scalar(w.ImageDigest, w.Image), "")
	all.Content = append(all.Content, mappingOf("image", img))
	if w.Namespace != "" {
		k := mapping()
		add(k, "namespace", scalar(w.Namespace, ""), "")
		owner, _, _ := strings.Cut(w.Owner, "/")
		if d := owner; d != "" {
			add(k, "pod", scalar(d+"-*", "the owner's pods"), "")
		}
		all.Content = append(all.Content, mappingOf("kubernetes", k))
	}
	if len(all.Content) == 1 {
		scope = all.Content[0]
	} else {
		add(scope, "all", all, "")
	}

	meta := mapping()
	add(meta, "name", scalar(Name(p), ""), "")
	labels := mapping()
	add(labels, Label, scalar(p.ID, ""), "")
	add(meta, "labels", labels, "")
	ann := mapping()
	add(ann, "mamori.dev/profile-state", scalar(p.State, ""), "")
	add(ann, "mamori.dev/learning-since", scalar(p.Created.UTC().Format(time.RFC3339), ""), "")
	add(ann, "mamori.dev/exported", scalar(o.Now.UTC().Format(time.RFC3339), ""), "")
	add(meta, "annotations", ann, "")

	spec := mapping()
	add(spec, "mode", scalar(string(o.Mode), ""), "")
	add(spec, "scope", scope, "")
	add(spec, "controls", controls, "")

	doc := mapping()
	add(doc, "apiVersion", scalar("mamori.dev/v1", ""), "")
	add(doc, "kind", scalar("RuntimePolicy", ""), "")
	add(doc, "metadata", meta, "")
	add(doc, "spec", spec, "")
	name := w.Name
	if w.Namespace != "" {
		name = w.Namespace + "/" + w.Name
	}
	doc.HeadComment = fmt.Sprintf("Learnt from behaviour profile %s of workload %s (image %s, %s).\n"+
		"The profile is %s since %s; it learnt from %s on nodes %s.\n"+
		"Each entry says when it was first and last seen, how often, and on which nodes.",
		p.ID, name, w.Image, w.ImageDigest, p.State, p.StateSince.UTC().Format(time.RFC3339), p.Created.UTC().Format(time.RFC3339),
		strings.Join(p.Nodes, ", "))
	doc.FootComment = notes(learnt)

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{doc}}); err != nil {
		return nil, fmt.Errorf("profile %s: %w", p.ID, err)
	}
	enc.Close()
	return buf.Bytes(), nil
}

// notes lists what the profile learnt that no control refuses by list yet.
func notes(items []store.ProfileItem) string {
	var b strings.Builder
	section := func(title string, kind string, line func(store.ProfileItem) string) {
		first := true
		for _, it := range items {
			if it.Kind != kind {
				continue
			}
			if first {
				b.WriteString(title + "\n")
				first = false
			}
			b.WriteString("  " + line(it) + "; " + evidence(it) + "\n")
		}
	}
	section("Inbound connections (no control refuses them yet):", event.ItemIngress,
		func(it store.ProfileItem) string {
			if it.Peer != "" {
				return it.Key + " (workload " + it.Peer + ")"
			}
			return it.Key
		})
	section("Directories written outside the image's files:", event.ItemFile,
		func(it store.ProfileItem) string { return it.Path })
	return strings.TrimRight(b.String(), "\n")
}

func evidence(it store.ProfileItem) string {
	return seen(it.First, it.Last, it.Count, it.Nodes)
}

func seen(first, last time.Time, n int64, nodes []string) string {
	return fmt.Sprintf("seen %s to %s, %d times, on %s", first.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339), n,
		strings.Join(nodes, ", "))
}

func digestNote(it store.ProfileItem) string {
	if len(it.Digests) == 0 {
		return ""
	}
	return "; sha256 " + strings.Join(it.Digests, ", ")
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func seq(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Content: items}
}

func scalar(v, comment string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: v, LineComment: comment}
	if v == "" || strings.ContainsAny(v[:1], "*&!|>'\"%@`[]{},#?:-") || strings.Contains(v, ": ") || strings.Contains(v, " #") {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

func add(m *yaml.Node, key string, v *yaml.Node, comment string) {
	k := &yaml.Node{Kind: yaml.ScalarNode, Value: key, HeadComment: comment}
	m.Content = append(m.Content, k, v)
}

func mappingOf(key string, v *yaml.Node) *yaml.Node {
	m := mapping()
	add(m, key, v, "")
	return m
}
