package store

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/pgtest"
)

func TestProfilesSQLite(t *testing.T) {
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "console.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exerciseProfiles(t, s)
}

func TestProfilesPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	s, err := OpenPostgres(context.Background(), pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exerciseProfiles(t, s)
}

var webV1 = event.Workload{Cluster: "lab", Namespace: "shop", Owner: "web", ImageDigest: "sha256:aaaa", Image: "shop/web:1", Name: "web"}

func obs(node string, w event.Workload, at time.Time, items ...event.ObservedItem) *event.Observation {
	for i := range items {
		items[i].First, items[i].Last, items[i].Count = at, at, 1
	}
	return &event.Observation{Kind: event.KindObservation, Cluster: w.Cluster, Node: node, Time: at, Workload: w, Items: items,
		Containers: []string{"c-" + node}}
}

func execItem(path string) event.ObservedItem {
	return event.ObservedItem{Kind: event.ItemExec, Key: path, Path: path, Parent: "/bin/sh"}
}

func egressItem(ip string, port uint16) event.ObservedItem {
	return event.ObservedItem{Kind: event.ItemEgress, Key: ip + ":" + itoa(int(port)) + "/tcp", IP: ip, Port: port, Protocol: "tcp"}
}

func itoa(i int) string { return strconv.Itoa(i) }

func item(t *testing.T, p *Profile, kind, key string) *ProfileItem {
	t.Helper()
	for i := range p.Items {
		if p.Items[i].Kind == kind && p.Items[i].Key == key {
			return &p.Items[i]
		}
	}
	return nil
}

// exerciseProfiles holds both stores to the profiles' rules: what every
// node sees is merged; a profile is stable only after a window without
// anything new; a stable profile reports what is new as a deviation;
// deleted items stay deleted, also in the next image's profile; relearn
// forgets what was learnt but not what was deleted.
func exerciseProfiles(t *testing.T, s Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	window := time.Hour
	id := ProfileID(webV1)

	// Two nodes learn the same workload.
	o1 := obs("node-a", webV1, t0, execItem("/usr/bin/web"), egressItem("10.0.0.7", 5432))
	o1.MaxProcesses = 5
	o1.Addresses = []string{"10.0.0.5"}
	o1.Flows = []event.Flow{{Minute: t0.Truncate(time.Minute), DstIP: "10.0.0.7", DstPort: 5432, Protocol: "tcp", Verdict: "allowed", Count: 3}}
	o2 := obs("node-b", webV1, t0.Add(time.Minute), execItem("/usr/bin/web"), execItem("/bin/sh"))
	o2.MaxProcesses = 9
	if devs, err := s.Learn(ctx, []*event.Observation{o1, o2}, t0.Add(time.Minute)); err != nil || len(devs) != 0 {
		t.Fatalf("learn: %v, deviations %v", err, devs)
	}
	p, err := s.Profile(ctx, id[:6])
	if err != nil {
		t.Fatal(err)
	}
	if p.State != Learning || p.MaxProcesses != 9 || len(p.Nodes) != 2 || len(p.Items) != 3 {
		t.Fatalf("profile after two nodes: %+v", p)
	}
	if it := item(t, p, event.ItemExec, "/usr/bin/web"); it == nil || it.Count != 2 || len(it.Nodes) != 2 || !it.First.Equal(t0) {
		t.Fatalf("merged item: %+v", it)
	}
	// The workload's containers, for the dry run's events.
	if cs, err := s.ProfileContainers(ctx, id[:6], t0, 10); err != nil || len(cs) != 2 || cs[0].Node != "node-b" || cs[1].ID != "c-node-a" {
		t.Fatalf("profile containers: %+v %v", cs, err)
	}

	// Pitfall: promoted too early. Something new keeps coming: no
	// promotion, however often the console looks.
	for i := 1; i <= 3; i++ {
		at := t0.Add(time.Duration(i) * 50 * time.Minute)
		if _, err := s.Learn(ctx, []*event.Observation{obs("node-a", webV1, at, execItem("/usr/bin/job-"+itoa(i)))}, at); err != nil {
			t.Fatal(err)
		}
		if ps, err := s.PromoteProfiles(ctx, at.Add(30*time.Minute), window); err != nil || len(ps) != 0 {
			t.Fatalf("promoted while still learning something new every 50 minutes: %v %v", ps, err)
		}
	}
	// Old items seen again are not new: they do not hold it back.
	last := t0.Add(150 * time.Minute)
	if _, err := s.Learn(ctx, []*event.Observation{obs("node-b", webV1, last.Add(10*time.Minute), execItem("/usr/bin/web"))}, last.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ps, err := s.PromoteProfiles(ctx, last.Add(window), window)
	if err != nil || len(ps) != 1 || ps[0].State != Stable {
		t.Fatalf("a window after the last new item: want stable, got %v %v", ps, err)
	}
	stableAt := last.Add(window)
	// Not clean for enforcement yet: stable for less than the window.
	if ids, err := s.CleanProfiles(ctx, stableAt.Add(window/2), window); err != nil || len(ids) != 0 {
		t.Fatalf("clean before a window of stability: %v %v", ids, err)
	}

	// A stable profile: something new is a deviation, kept as "new".
	at := stableAt.Add(time.Minute)
	dev := obs("node-a", webV1, at, execItem("/tmp/miner"), egressItem("203.0.113.9", 443))
	dev.Flows = []event.Flow{{Minute: at.Truncate(time.Minute), DstIP: "203.0.113.9", DstPort: 443, Protocol: "tcp", Verdict: "allowed", Count: 1}}
	devs, err := s.Learn(ctx, []*event.Observation{dev}, at)
	if err != nil || len(devs) != 2 {
		t.Fatalf("deviations: %v %v", devs, err)
	}
	// On the map the deviation's edge is new since the profile; the
	// destination learnt before stays allowed.
	m, err := s.NetworkMap(ctx, FlowQuery{Since: t0.Add(-time.Hour), Until: at.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]string{}
	for _, e := range m.Edges {
		verdicts[e.Target] = e.Verdict
	}
	if verdicts["ip:203.0.113.9"] != EdgeNew || verdicts["ip:10.0.0.7"] != EdgeAllowed {
		t.Fatalf("map verdicts: %v", verdicts)
	}
	if d := devs[0]; d.Profile.ID != id || d.Profile.State != Stable || d.Item.Status != ItemNew || d.Node != "node-a" {
		t.Fatalf("deviation: %+v", d)
	}
	// Seen again, it is not a second deviation.
	if devs, _ := s.Learn(ctx, []*event.Observation{obs("node-b", webV1, at.Add(time.Minute), execItem("/tmp/miner"))}, at); len(devs) != 0 {
		t.Fatalf("a deviation reported twice: %v", devs)
	}
	// A deviation keeps it from being enforced on its own.
	if ids, _ := s.CleanProfiles(ctx, stableAt.Add(2*window), window); len(ids) != 0 {
		t.Fatalf("a profile with a deviation counted clean: %v", ids)
	}

	// Pitfall: learned rules coming back after deletion.
	if err := s.DeleteProfileItem(ctx, id, event.ItemExec, "/bin/sh", "alice", at); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetProfileState(ctx, id, Learning, "alice", at); err != nil { // relearn
		t.Fatal(err)
	}
	at = at.Add(time.Minute)
	if _, err := s.Learn(ctx, []*event.Observation{obs("node-a", webV1, at, execItem("/bin/sh"), execItem("/usr/bin/web"))}, at); err != nil {
		t.Fatal(err)
	}
	p, _ = s.Profile(ctx, id)
	if it := item(t, p, event.ItemExec, "/bin/sh"); it == nil || it.Status != ItemDeleted || it.Count < 2 {
		t.Fatalf("a deleted item seen again after relearning: %+v", it)
	}
	if it := item(t, p, event.ItemExec, "/usr/bin/job-1"); it != nil {
		t.Fatalf("relearn kept what was learnt: %+v", it)
	}
	if it := item(t, p, event.ItemExec, "/usr/bin/web"); it == nil || it.Status != ItemLearned {
		t.Fatalf("relearnt item: %+v", it)
	}
	// A new image is a new profile, learning; what was deleted stays
	// deleted there too.
	webV2 := webV1
	webV2.ImageDigest, webV2.Image = "sha256:bbbb", "shop/web:2"
	if _, err := s.Learn(ctx, []*event.Observation{obs("node-a", webV2, at, execItem("/bin/sh"), execItem("/usr/bin/web"))}, at); err != nil {
		t.Fatal(err)
	}
	p2, err := s.Profile(ctx, ProfileID(webV2))
	if err != nil || p2.State != Learning {
		t.Fatalf("new image's profile: %+v %v", p2, err)
	}
	if it := item(t, p2, event.ItemExec, "/bin/sh"); it == nil || it.Status != ItemDeleted {
		t.Fatalf("a deleted item came back with a new image: %+v", it)
	}

	// The network map: the flow, its destination named by the address
	// table when it is a workload's.
	db := webV1
	db.Owner, db.Name, db.ImageDigest = "db", "db", "sha256:dddd"
	odb := obs("node-b", db, t0)
	odb.Addresses = []string{"10.0.0.7"}
	if _, err := s.Learn(ctx, []*event.Observation{odb}, t0); err != nil {
		t.Fatal(err)
	}
	m, err = s.NetworkMap(ctx, FlowQuery{Since: t0.Add(-time.Hour), Until: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Edges) != 1 || m.Edges[0].Source != "w:"+id || m.Edges[0].Target != "w:"+ProfileID(db) || m.Edges[0].Count != 3 {
		t.Fatalf("map: %+v", m)
	}
	if m, _ := s.NetworkMap(ctx, FlowQuery{Namespace: "other", Since: t0.Add(-time.Hour), Until: t0.Add(time.Hour)}); len(m.Edges) != 0 {
		t.Fatalf("namespace filter: %+v", m)
	}
	if _, err := s.Prune(ctx, t0.Add(48*time.Hour), Retention{Flows: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.NetworkMap(ctx, FlowQuery{Since: t0.Add(-time.Hour), Until: t0.Add(time.Hour)}); len(m.Edges) != 0 {
		t.Fatalf("flows outlived their retention: %+v", m)
	}
	list, err := s.Profiles(ctx, ProfileQuery{Namespace: "shop"})
	if err != nil || len(list) != 3 {
		t.Fatalf("profiles: %v %v", list, err)
	}
}

// BenchmarkLearn merges one agent window of 100 workloads with 20 items
// each (the same items every window, the steady state) into SQLite.
func BenchmarkLearn(b *testing.B) {
	s, err := OpenSQLite(filepath.Join(b.TempDir(), "console.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	at := time.Now()
	var batch []*event.Observation
	for w := range 100 {
		wl := webV1
		wl.Owner, wl.Name = "app-"+strconv.Itoa(w), "app-"+strconv.Itoa(w)
		var items []event.ObservedItem
		for i := range 10 {
			items = append(items, execItem("/usr/bin/p"+strconv.Itoa(i)), egressItem("10.0."+strconv.Itoa(w)+"."+strconv.Itoa(i), 443))
		}
		batch = append(batch, obs("node-a", wl, at, items...))
	}
	if _, err := s.Learn(ctx, batch, at); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Learn(ctx, batch, at); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2000, "ns/item")
}
