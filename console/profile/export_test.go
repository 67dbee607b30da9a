package profile

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

func sample() *store.Profile {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	it := func(kind, key string, status string) store.ProfileItem {
		return store.ProfileItem{Kind: kind, Key: key, Status: status, First: t0, Last: t0.Add(time.Hour), Count: 42, Nodes: []string{"node-a", "node-b"}}
	}
	helper := it(event.ItemExec, "/tmp/helper", store.ItemLearned)
	helper.Path, helper.Drifted, helper.Digests = "/tmp/helper", true, []string{strings.Repeat("ab", 32)}
	web := it(event.ItemExec, "/bin/busybox", store.ItemLearned)
	web.Path, web.Parents = "/bin/busybox", []string{"/bin/busybox"}
	miner := it(event.ItemExec, "/tmp/miner", store.ItemNew)
	miner.Path, miner.Drifted = "/tmp/miner", true
	gone := it(event.ItemExec, "/tmp/deleted", store.ItemDeleted)
	gone.Path, gone.Drifted = "/tmp/deleted", true
	api := it(event.ItemEgress, "10.213.0.2:8081/tcp", store.ItemLearned)
	api.IP, api.Port, api.Protocol, api.Names = "10.213.0.2", 8081, "tcp", []string{"api.example.test"}
	db := it(event.ItemEgress, "10.88.0.7:8080/tcp", store.ItemLearned)
	db.IP, db.Port, db.Protocol, db.Peer = "10.88.0.7", 8080, "tcp", "web"
	bad := it(event.ItemEgress, "203.0.113.9:443/tcp", store.ItemNew)
	bad.IP, bad.Port, bad.Protocol = "203.0.113.9", 443, "tcp"
	listen := it(event.ItemListen, "8080/tcp", store.ItemLearned)
	listen.Port, listen.Protocol = 8080, "tcp"
	dns := it(event.ItemListen, "53/udp", store.ItemLearned)
	dns.Port, dns.Protocol = 53, "udp"
	backdoor := it(event.ItemListen, "9999/tcp", store.ItemNew)
	backdoor.Port, backdoor.Protocol = 9999, "tcp"
	return &store.Profile{ID: "0123456789ab", State: store.Stable, StateSince: t0.Add(2 * time.Hour), Created: t0,
		Workload:     event.Workload{Cluster: "lab", ImageDigest: "sha256:" + strings.Repeat("c", 64), Image: "localhost/worker:1", Name: "worker"},
		MaxProcesses: 6, Nodes: []string{"node-a", "node-b"},
		Items: []store.ProfileItem{helper, web, miner, gone, api, db, bad, listen, dns, backdoor}}
}

// TestExport: the exported policy is valid as `mamori policy validate`
// reads it, covers the workload's image, allows what was learnt with its
// evidence, and leaves out deviations and deleted items.
func TestExport(t *testing.T) {
	p := sample()
	doc, err := Export(p, Options{Mode: policy.Enforce})
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.LoadFrom(bytes.NewReader(doc), "-")
	if err != nil {
		t.Fatalf("exported policy does not load: %v\n%s", err, doc)
	}
	c := &event.Container{ID: "x", Name: "worker-2", Image: p.Workload.Image, ImageDigest: p.Workload.ImageDigest}
	eff := set.Effective(policy.TargetFromContainer(c))
	ctl := eff.Enforce.Controls
	if !ctl.DriftPrevention.On() || !ctl.DriftPrevention.Allowed("/tmp/helper", "helper") || ctl.DriftPrevention.Allowed("/tmp/miner", "miner") ||
		ctl.DriftPrevention.Allowed("/tmp/deleted", "deleted") {
		t.Errorf("drift prevention: %+v\n%s", ctl.DriftPrevention, doc)
	}
	al := ctl.ExecutableAllowlist
	if !al.Allowed("/bin/busybox") || !al.Allowed("/tmp/helper") || al.Allowed("/tmp/miner") || al.Allowed("/tmp/deleted") || al.Allowed("/usr/bin/curl") {
		t.Errorf("executable allowlist: %v\n%s", al.Paths.Strings(), doc)
	}
	if got := strings.Join(ctl.NetworkEgress.Allow, ","); got != "10.213.0.2/32,10.88.0.7/32" {
		t.Errorf("egress allow = %s\n%s", got, doc)
	}
	lp := ctl.ListeningPorts
	if !lp.On() || !lp.Allowed("tcp", 8080) || !lp.Allowed("udp", 53) || lp.Allowed("tcp", 9999) || lp.Allowed("udp", 8080) {
		t.Errorf("listening ports: %v\n%s", lp, doc)
	}
	if ctl.ForkGuard.MaxProcesses != 6+MinProcessHeadroom {
		t.Errorf("fork guard = %d", ctl.ForkGuard.MaxProcesses)
	}
	other := &event.Container{ID: "y", Name: "other", Image: "x", ImageDigest: "sha256:" + strings.Repeat("d", 64)}
	if e := set.Effective(policy.TargetFromContainer(other)); e.Mode("networkEgress") != "" {
		t.Error("the policy covers a workload of another image")
	}
	for _, want := range []string{
		"api.example.test 8081/tcp; seen 2026-12-01T10:00:00Z to 2026-12-01T11:00:00Z, 42 times, on node-a, node-b",
		"workload web 8080/tcp",
		"sha256 " + strings.Repeat("ab", 32),
		"listeningPorts:\n      allow:\n        - 8080/tcp # seen 2026-12-01T10:00:00Z to 2026-12-01T11:00:00Z, 42 times, on node-a, node-b\n        - 53/udp # seen",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("export lacks %q:\n%s", want, doc)
		}
	}

	// A learning profile is not exported without force.
	p.State = store.Learning
	p.LastNew = time.Now().Add(-time.Minute)
	var l ErrLearning
	if _, err := Export(p, Options{StableAfter: time.Hour}); !errors.As(err, &l) {
		t.Fatalf("export of a learning profile: %v", err)
	}
	if _, err := Export(p, Options{Force: true}); err != nil {
		t.Fatal(err)
	}
}

// TestDryRun: the export refuses the deviations, and a hand-made policy
// refuses what it does not list.
func TestDryRun(t *testing.T) {
	p := sample()
	doc, err := Export(p, Options{Mode: policy.Enforce})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	m := &store.NetMap{Edges: []store.MapEdge{{Source: "w:" + p.ID, Target: "ip:198.51.100.1", Port: 53, Protocol: "udp", Verdict: "refused", Count: 2}}}
	r, err := DryRun(p, m, nil, doc, since)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range r.Refused {
		got = append(got, x.Control+" "+x.What)
	}
	want := []string{"executableAllowlist exec /tmp/miner", "executableAllowlist exec /tmp/deleted", "networkEgress connect 203.0.113.9:443/tcp",
		"networkEgress connect 198.51.100.1:53/udp", "listeningPorts bind 9999/tcp"}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("dry run did not refuse %q; refused %q", w, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("dry run refused %q, want %q", got, want)
	}
	// A hand-made policy: Drift Prevention alone refuses every drifted
	// program, the learnt one too.
	hand := []byte(`apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: drift-only}
spec:
  mode: enforce
  scope: {container: {}}
  controls:
    driftPrevention: {}
`)
	r, err = DryRun(p, nil, nil, hand, since)
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, x := range r.Refused {
		got = append(got, x.Control+" "+x.What)
	}
	if strings.Join(got, ",") != "driftPrevention exec /tmp/helper,driftPrevention exec /tmp/miner,driftPrevention exec /tmp/deleted" {
		t.Errorf("drift-only dry run refused %q", got)
	}

	// Stored events: each refusal once, counted, with its nodes; what
	// the events show is not counted again from the map.
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	curl := event.Event{Type: event.Exec, Time: at, Node: "node-a", Process: event.Process{Exe: "/usr/bin/curl"}}
	curl2 := curl
	curl2.Node, curl2.Time = "node-b", at.Add(time.Minute)
	dns := event.Event{Type: event.Connect, Time: at, Node: "node-a", Result: -1,
		Network: &event.Network{Family: "inet", Protocol: "udp", DstIP: "198.51.100.1", DstPort: 53}}
	ok := event.Event{Type: event.Exec, Time: at, Node: "node-a", Process: event.Process{Exe: "/bin/busybox"}}
	bind := event.Event{Type: event.Bind, Time: at, Node: "node-a", Result: -1,
		Network: &event.Network{Family: "inet6", Protocol: "tcp", SrcIP: "::", SrcPort: 7070}}
	serve := event.Event{Type: event.Listen, Time: at, Node: "node-a", Network: &event.Network{Family: "inet", Protocol: "tcp", SrcIP: "0.0.0.0", SrcPort: 8080}}
	r, err = DryRun(p, m, []event.Event{curl, curl2, dns, ok, bind, serve}, doc, since)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]Refusal{}
	for _, x := range r.Refused {
		found[x.Control+" "+x.What] = x
	}
	if x := found["executableAllowlist exec /usr/bin/curl"]; x.Source != "events" || x.Count != 2 || len(x.Nodes) != 2 || !x.Last.Equal(at.Add(time.Minute)) {
		t.Errorf("curl from the events: %+v", x)
	}
	if x := found["networkEgress connect 198.51.100.1:53/udp"]; x.Source != "events" || x.Count != 1 || !strings.Contains(x.Reason, "refused when it happened") {
		t.Errorf("the refused connection from the events, not the map: %+v", x)
	}
	if x := found["listeningPorts bind 7070/tcp"]; x.Source != "events" || !strings.Contains(x.Reason, "refused when it happened") {
		t.Errorf("the refused bind from the events: %+v", x)
	}
	if _, bad := found["executableAllowlist exec /bin/busybox"]; bad {
		t.Error("an allowed program refused")
	}
	if _, bad := found["listeningPorts bind 8080/tcp"]; bad {
		t.Error("an allowed port refused")
	}
}
