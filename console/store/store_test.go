package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/pgtest"
)

func TestSQLite(t *testing.T) {
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "console.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exercise(t, s)
}

// sampleAlert is alert i of a fixed set: three nodes, two rules, a pod on
// every other one.
func sampleAlert(base time.Time, i int) AlertIn {
	a := &event.Alert{
		Kind: "alert", UUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Cluster: "prod",
		Time: base.Add(time.Duration(i) * time.Second), Rule: []string{"Shell in container", "Write below etc"}[i%2],
		Priority: []string{"Warning", "Critical", "Notice"}[i%3], Output: fmt.Sprintf("something %d happened", i),
		Source: "syscall", Tags: []string{"container", "T1059"}, Hostname: fmt.Sprintf("node-%d", i%3), Action: "detected",
		Process:   &event.Process{PID: uint32(100 + i), ID: fmt.Sprintf("p%d", i), Ancestors: []event.Process{{PID: 1, ID: "init"}}},
		Container: &event.Container{ID: fmt.Sprintf("%02d%062d", i%4, 0), Name: fmt.Sprintf("web-%d", i%4), Image: "nginx"},
	}
	if i%2 == 0 {
		a.Container.Pod = &event.Pod{Name: "web", Namespace: "shop"}
	}
	raw, _ := json.Marshal(a)
	return AlertIn{Alert: a, Raw: raw}
}

// countTwice counts c as asked, and again from the alerts themselves (a
// text every sample alert has keeps the store from the rollup).
func countTwice(t *testing.T, s Store, c CountQuery) (fast, slow []Count) {
	t.Helper()
	fast, err := s.Counts(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	c.Text = "something"
	if slow, err = s.Counts(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return fast, slow
}

// exercise runs every Store method against s: the same test holds both
// implementations to the same answers.
func exercise(t *testing.T, s Store) {
	ctx := context.Background()
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var b Batch
	for i := range 300 {
		b.Alerts = append(b.Alerts, sampleAlert(base, i))
	}
	if err := s.Put(ctx, &b); err != nil {
		t.Fatal(err)
	}
	// A replay stores nothing twice.
	if err := s.Put(ctx, &Batch{Alerts: b.Alerts[100:150]}); err != nil {
		t.Fatal(err)
	}

	all := pageAll(t, s, AlertQuery{Limit: 70})
	if len(all) != 300 {
		t.Fatalf("paged through %d alerts, want 300", len(all))
	}
	for i, u := range all {
		if want := b.Alerts[299-i].Alert.UUID; u != want {
			t.Fatalf("alert %d is %s, want %s (newest first)", i, u, want)
		}
	}

	for _, c := range []struct {
		f    Filter
		want int
	}{
		{Filter{Node: "node-1"}, 100},
		{Filter{Rule: "Shell in container"}, 150},
		{Filter{MinPriority: "Warning"}, 200},
		{Filter{MinPriority: "critical"}, 100},
		{Filter{Namespace: "shop", Pod: "web"}, 150},
		{Filter{Container: "web-3"}, 75},
		{Filter{Container: fmt.Sprintf("%02d%062d", 2, 0)[:12]}, 75},
		{Filter{Container: fmt.Sprintf("%02d%062d", 2, 0)}, 75},
		{Filter{Container: strings.ToUpper(fmt.Sprintf("%02d%062d", 2, 0)[:20])}, 75},
		{Filter{Container: fmt.Sprintf("%02d%062d", 2, 0)[:11]}, 0}, // a name, not an id
		{Filter{Tag: "T1059"}, 300},
		{Filter{Tag: "T1060"}, 0},
		{Filter{Text: "SOMETHING 12"}, 11}, // 12, 120..129
		{Filter{Since: base.Add(10 * time.Second), Until: base.Add(20 * time.Second)}, 10},
		{Filter{Cluster: "prod", Action: "detected", Source: "syscall", Image: "nginx"}, 300},
		{Filter{Cluster: "staging"}, 0},
	} {
		page, err := s.Alerts(ctx, AlertQuery{Filter: c.f, Limit: 1000})
		if err != nil {
			t.Fatalf("%+v: %v", c.f, err)
		}
		if len(page.Alerts) != c.want {
			t.Errorf("%+v: %d alerts, want %d", c.f, len(page.Alerts), c.want)
		}
		// The live stream decides as the store does.
		matched := 0
		for _, a := range b.Alerts {
			if c.f.Match(a.Alert) {
				matched++
			}
		}
		if matched != c.want {
			t.Errorf("%+v: Match passes %d alerts, want %d", c.f, matched, c.want)
		}
	}
	if _, err := s.Alerts(ctx, AlertQuery{Filter: Filter{MinPriority: "Loud"}}); err == nil {
		t.Error("an unknown priority was accepted")
	}
	if _, err := s.Counts(ctx, CountQuery{Field: "rule", Filter: Filter{MinPriority: "Loud"}}); err == nil {
		t.Error("counts: an unknown priority was accepted")
	}

	// By tag: each alert once under each of its tags, never an empty one.
	tagCounts, err := s.Counts(ctx, CountQuery{Field: "tag", Filter: Filter{Node: "node-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tagCounts) != 2 || tagCounts[0].Value != "T1059" || tagCounts[0].Count != 100 ||
		tagCounts[1].Value != "container" || tagCounts[1].Count != 100 {
		t.Errorf("counts by tag on node-1: %+v, want T1059 and container 100 each", tagCounts)
	}

	counts, err := s.Counts(ctx, CountQuery{Field: "priority", Bucket: time.Minute, Filter: Filter{Since: base, Until: base.Add(2 * time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range counts {
		got[c.Bucket.Format("15:04")+" "+c.Value] = c.Count
	}
	want := map[string]int64{"10:00 Warning": 20, "10:00 Critical": 20, "10:00 Notice": 20, "10:01 Warning": 20, "10:01 Critical": 20, "10:01 Notice": 20}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts by priority per minute: %v, want %v", got, want)
	}
	// The rollup's answers (whole minutes, edges from the alerts) are the
	// alerts' own: a text filter matching every alert forces the latter.
	for _, c := range []CountQuery{
		{Field: "rule", Filter: Filter{Since: base.Add(30 * time.Second), Until: base.Add(90 * time.Second)}},
		{Field: "node", Bucket: time.Minute, Filter: Filter{Since: base.Add(17 * time.Second), Until: base.Add(250 * time.Second)}},
		{Field: "priority", Bucket: 2 * time.Minute, Filter: Filter{Since: base.Add(-time.Hour), Node: "node-1"}},
		{Field: "action", Filter: Filter{Since: base.Add(10 * time.Second), Until: base.Add(50 * time.Second)}},
		{Field: "namespace"},
		{Field: "tag", Bucket: time.Minute, Filter: Filter{Since: base.Add(17 * time.Second)}},
		{Field: "image", Filter: Filter{Cluster: "prod"}},
	} {
		if fast, slow := countTwice(t, s, c); fmt.Sprint(fast) != fmt.Sprint(slow) || len(fast) == 0 {
			t.Errorf("%+v: rollup %v, alerts %v", c, fast, slow)
		}
	}
	if _, err := s.Counts(ctx, CountQuery{Field: "doc"}); err == nil {
		t.Error("counting by an unknown field was accepted")
	}

	d, err := s.Alert(ctx, b.Alerts[7].Alert.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Ancestry) != 2 || d.Ancestry[0].ID != "p7" || d.Ancestry[1].ID != "init" {
		t.Errorf("ancestry %+v", d.Ancestry)
	}
	if _, err := s.Alert(ctx, "nope"); err != ErrNotFound {
		t.Errorf("unknown uuid: %v", err)
	}

	exerciseIncidents(t, s, base)

	// State: the newest heartbeat and container state win, whatever order
	// they arrive in.
	hb := func(at time.Time, v string) *event.Heartbeat {
		return &event.Heartbeat{Kind: "heartbeat", Time: at, Cluster: "prod", Node: "node-1", Version: v}
	}
	s.Put(ctx, &Batch{Heartbeats: []*event.Heartbeat{hb(base.Add(time.Minute), "new")}})
	s.Put(ctx, &Batch{Heartbeats: []*event.Heartbeat{hb(base, "old")}})
	nodes, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Heartbeat.Version != "new" {
		t.Errorf("nodes %+v, %v", nodes, err)
	}
	cs := &event.ContainerState{Kind: "container", Time: base, Cluster: "prod", Node: "node-1", Running: true,
		Container: &event.Container{ID: "abc", Name: "web"}, Protection: "enforced"}
	s.Put(ctx, &Batch{Containers: []*event.ContainerState{cs}})
	cs2 := *cs
	cs2.Time, cs2.Running = base.Add(time.Second), false
	s.Put(ctx, &Batch{Containers: []*event.ContainerState{&cs2}})
	running := true
	if cons, _ := s.Containers(ctx, ContainerQuery{Running: &running}); len(cons) != 0 {
		t.Errorf("a container that stopped is listed as running: %+v", cons)
	}
	if cons, _ := s.Containers(ctx, ContainerQuery{}); len(cons) != 1 || cons[0].State.Protection != "enforced" {
		t.Errorf("containers %+v", cons)
	}
	// The agent stops; "gone" ends while it is down, "kept" runs on, and
	// the agent, started again, reports "kept" and a heartbeat: "gone"
	// is not running any more. (An agent starting elsewhere, or a late
	// heartbeat from before, changes nothing.)
	for _, id := range []string{"gone", "kept", "other"} {
		c := *cs
		c.Container = &event.Container{ID: id, Name: id}
		if id == "other" {
			c.Node = "node-2"
		}
		if err := s.Put(ctx, &Batch{Containers: []*event.ContainerState{&c}}); err != nil {
			t.Fatal(err)
		}
	}
	restart := base.Add(time.Hour)
	kept := *cs
	kept.Container, kept.Time = &event.Container{ID: "kept", Name: "kept"}, restart.Add(time.Second)
	beat := hb(restart.Add(2*time.Second), "new")
	beat.Started = restart
	old := hb(base.Add(-time.Hour), "old")
	old.Started = base.Add(-2 * time.Hour)
	other := hb(restart.Add(2*time.Second), "new")
	other.Node, other.Started = "node-3", restart
	if err := s.Put(ctx, &Batch{Heartbeats: []*event.Heartbeat{beat, old, other}, Containers: []*event.ContainerState{&kept}}); err != nil {
		t.Fatal(err)
	}
	cons, err := s.Containers(ctx, ContainerQuery{Running: &running})
	var names []string
	for _, c := range cons {
		names = append(names, c.ID+"/"+strconv.FormatBool(c.State.Running))
	}
	if err != nil || strings.Join(names, " ") != "kept/true other/true" {
		t.Errorf("running after the agent's restart: %v, %v; want kept and other", names, err)
	}
	if cons, _ := s.Containers(ctx, ContainerQuery{Node: "node-1"}); len(cons) != 3 || cons[1].ID != "gone" || cons[1].State.Running {
		t.Errorf("a container that ended while no agent ran is listed as running: %+v", cons)
	}

	// Events around an alert and retention.
	var evs []EventIn
	for i := range 20 {
		e := &event.Event{Kind: "event", Time: base.Add(time.Duration(i) * time.Second), Cluster: "prod", Node: "node-1",
			Type: event.Connect, Process: event.Process{PID: 5, ID: "p5"}, Container: &event.Container{ID: fmt.Sprintf("%02d%062d", 1, 0)},
			Network: &event.Network{DstIP: "10.0.0.1", DstPort: 443}}
		raw, _ := json.Marshal(e)
		evs = append(evs, EventIn{ID: fmt.Sprintf("ev-%d", i), Event: e, Raw: raw})
	}
	if err := s.Put(ctx, &Batch{Events: evs}); err != nil {
		t.Fatal(err)
	}
	d, err = s.Alert(ctx, b.Alerts[1].Alert.UUID) // node-1, container 1
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Around) != 20 || len(d.Connections) != 20 {
		t.Errorf("alert detail: %d events around, %d connections; want 20 and 20", len(d.Around), len(d.Connections))
	}
	p, err := s.Prune(ctx, base.Add(24*time.Hour+150*time.Second), Retention{Alerts: 24 * time.Hour, Events: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if p.Alerts != 150 || p.Events != 20 {
		t.Errorf("pruned %+v, want 150 alerts and 20 events", p)
	}
	page, _ := s.Alerts(ctx, AlertQuery{Limit: 1000})
	if len(page.Alerts) != 153 { // with exerciseIncidents' 3 later ones
		t.Errorf("%d alerts left after pruning, want 153", len(page.Alerts))
	}
	inc, _ := s.Incidents(ctx, IncidentQuery{})
	if len(inc.Incidents) != 9 {
		t.Errorf("%d incidents left after pruning, want the 9 whose last alert is kept", len(inc.Incidents))
	}
	s.Prune(ctx, base.Add(48*time.Hour), Retention{Alerts: 24 * time.Hour})
	if inc, _ := s.Incidents(ctx, IncidentQuery{}); len(inc.Incidents) != 0 {
		t.Errorf("%d incidents left once their alerts are gone, want none", len(inc.Incidents))
	}
}

func TestPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	s, err := OpenPostgres(context.Background(), pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exercise(t, s)
	// The console's sessions compile no query (JIT), unless the URL asks.
	for url, want := range map[string]string{pg.URL: "off", pg.URL + "&options=-cjit%3Don": "on"} {
		if !strings.Contains(pg.URL, "?") {
			url = strings.Replace(url, "&", "?", 1)
		}
		js, err := openPostgres(context.Background(), url, pgMigrations)
		if err != nil {
			t.Fatal(err)
		}
		var jit string
		if err := js.db.QueryRow("SHOW jit").Scan(&jit); err != nil || jit != want {
			t.Errorf("%s: jit %q (%v), want %s", url, jit, err, want)
		}
		js.Close()
	}
	// A second console opening the same database finds the schema done.
	s2, err := OpenPostgres(context.Background(), pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

// TestPostgresDropsWholeDays: retention drops the partitions of days past
// it, and leaves today's to take rows.
func TestPostgresDropsWholeDays(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	s, err := OpenPostgres(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var b Batch
	for d := range 5 {
		for i := range 10 {
			b.Alerts = append(b.Alerts, sampleAlert(base.Add(time.Duration(d)*24*time.Hour), d*100+i))
		}
	}
	if err := s.Put(ctx, &b); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	parts := func() int {
		var n int
		db.QueryRow(`SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'alerts'`).Scan(&n)
		return n
	}
	if n := parts(); n != 6 { // five days and the one after
		t.Fatalf("%d partitions, want 6", n)
	}
	// Keep two days back from the fifth day's noon: days 1 and 2 go whole,
	// day 3 keeps its rows after noon.
	p, err := s.Prune(ctx, base.Add(4*24*time.Hour), Retention{Alerts: 2 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if p.Alerts != 20 || parts() != 4 {
		t.Errorf("pruned %d alerts leaving %d partitions; want 20 and 4", p.Alerts, parts())
	}
	if err := s.Put(ctx, &Batch{Alerts: []AlertIn{sampleAlert(base, 999)}}); err != nil {
		t.Errorf("an alert older than the kept days: %v", err)
	}
}

// exerciseIncidents checks the grouping of the 300 sample alerts (and the
// replayed 50, which must not count) into incidents, and their states.
func exerciseIncidents(t *testing.T, s Store, base time.Time) {
	ctx := context.Background()
	page, err := s.Incidents(ctx, IncidentQuery{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, in := range page.Incidents {
		counts[in.Workload] = in.Alerts
	}
	want := map[string]int64{"pod/prod/shop/web": 150}
	for _, n := range []int{0, 1, 2} {
		for _, c := range []int{1, 3} {
			want[fmt.Sprintf("container/prod/node-%d/web-%d", n, c)] = 25
		}
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("incidents %v, want %v", counts, want)
	}
	var pod Incident
	for _, in := range page.Incidents {
		if in.Workload == "pod/prod/shop/web" {
			pod = in
		}
	}
	if pod.Priority != "Critical" || len(pod.Rules) != 1 || pod.Status != Open || pod.Namespace != "shop" ||
		!pod.First.Equal(base) || !pod.Last.Equal(base.Add(298*time.Second)) {
		t.Errorf("pod incident %+v", pod)
	}
	d, err := s.Incident(ctx, pod.ID)
	if err != nil || len(d.Alerts) != 150 {
		t.Fatalf("incident detail: %d alerts, %v", len(d.Alerts), err)
	}
	if _, err := s.SetIncident(ctx, pod.ID, "closed", "", "me"); err == nil {
		t.Error("an unknown status was accepted")
	}
	in, err := s.SetIncident(ctx, pod.ID, Acknowledged, "looking", "alice")
	if err != nil || in.Status != Acknowledged || in.Note != "looking" || in.UpdatedBy != "alice" {
		t.Fatalf("acknowledge: %+v %v", in, err)
	}
	if p, _ := s.Incidents(ctx, IncidentQuery{Status: Acknowledged}); len(p.Incidents) != 1 {
		t.Errorf("%d acknowledged incidents, want 1", len(p.Incidents))
	}
	// An acknowledged incident still takes its workload's alerts; a
	// resolved one does not; a gap longer than IncidentGap opens another.
	late := func(i int, after time.Duration) AlertIn {
		a := sampleAlert(base, 1000+i*2) // even: the pod
		a.Alert.Time = base.Add(after)
		a.Raw, _ = json.Marshal(a.Alert)
		return a
	}
	s.Put(ctx, &Batch{Alerts: []AlertIn{late(0, 10*time.Minute)}})
	if d, _ := s.Incident(ctx, pod.ID); d.Incident.Alerts != 151 {
		t.Errorf("acknowledged incident has %d alerts, want 151", d.Incident.Alerts)
	}
	s.SetIncident(ctx, pod.ID, Resolved, "fixed", "alice")
	s.Put(ctx, &Batch{Alerts: []AlertIn{late(1, 11*time.Minute), late(2, 2*time.Hour)}})
	p, _ := s.Incidents(ctx, IncidentQuery{Namespace: "shop"})
	if len(p.Incidents) != 3 || p.Incidents[0].Alerts != 1 || p.Incidents[1].Alerts != 1 || p.Incidents[2].Status != Resolved {
		t.Errorf("after resolving: %+v", p.Incidents)
	}
	if PodOwnerCheck := podOwner("web-5d8f7c9b4-x2x7k") + " " + podOwner("agent-7xk2p") + " " + podOwner("db-0") + " " + podOwner("plain"); PodOwnerCheck != "web agent db plain" {
		t.Errorf("pod owners: %s", PodOwnerCheck)
	}
}

// TestPostgresUpgrade: a console upgraded over a database of schema
// version 3 (before the rule's covering index, and before 6 collated the
// identifiers "C") keeps its alerts, and answers from the new indexes as
// the old ones did.
func TestPostgresUpgrade(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	testUpgrade(t, func() (*sqlStore, error) { return openPostgres(ctx, pg.URL, pgMigrations[:3]) },
		func() (Store, error) { return OpenPostgres(ctx, pg.URL) })
	db, err := sql.Open("pgx", pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version int
	var indexes string
	db.QueryRow("SELECT max(version) FROM mamori_schema").Scan(&version)
	db.QueryRow("SELECT string_agg(indexname, ' ' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'alerts' AND indexname LIKE 'alerts_rule%'").Scan(&indexes)
	if version != len(pgMigrations) || indexes != "alerts_rule_counts" {
		t.Errorf("schema version %d, rule indexes %q; want %d and alerts_rule_counts", version, indexes, len(pgMigrations))
	}
	checkByteCollated(t, db)
	// Version 13 leaves room in the rollup's pages for its rows' updates.
	var opts string
	db.QueryRow(`SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'alert_rollup'`).Scan(&opts)
	if opts != "fillfactor=50" {
		t.Errorf("the rollup's storage options: %q, want fillfactor=50", opts)
	}
	// Version 6 dropped the statistics of the columns it changed, and
	// analyses again: a past day's partition would not be otherwise.
	var stats int
	db.QueryRow(`SELECT count(*) FROM pg_stats WHERE tablename = 'alerts_20261201' AND attname IN ('rule', 'namespace')`).Scan(&stats)
	if stats != 2 {
		t.Errorf("statistics of %d of rule and namespace in a partition made before the upgrade, want both", stats)
	}
}

// TestPostgresUpgradeContainerStats: version 8 tells the planner of every
// partition, those made before it included, that a container's id decides
// its name (pgContainerStats), as soon as it is opened.
func TestPostgresUpgradeContainerStats(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	old, err := openPostgres(ctx, pg.URL, pgMigrations[:7])
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if err := old.Put(ctx, &Batch{Alerts: []AlertIn{sampleAlert(base, 1), sampleAlert(base.Add(48*time.Hour), 2)}}); err != nil {
		t.Fatal(err)
	}
	// As a version before 8 made them: without.
	if _, err := old.db.ExecContext(ctx, `DO $$ DECLARE n text; BEGIN
		FOR n IN SELECT stxname FROM pg_statistic_ext LOOP EXECUTE format('DROP STATISTICS %I', n); END LOOP; END $$`); err != nil {
		t.Fatal(err)
	}
	old.Close()
	s, err := OpenPostgres(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var parts, deps int
	db := s.(*sqlStore).db
	db.QueryRow(`SELECT count(*) FROM pg_inherits WHERE inhparent = 'alerts'::regclass`).Scan(&parts)
	db.QueryRow(`SELECT count(*) FROM pg_statistic_ext s JOIN pg_inherits i ON i.inhrelid = s.stxrelid
		WHERE i.inhparent = 'alerts'::regclass AND 'f' = ANY(s.stxkind)`).Scan(&deps)
	if parts < 4 || deps != parts {
		t.Errorf("%d partitions of alerts, %d with the container's dependencies; want them all", parts, deps)
	}
}

// checkByteCollated wants the identifiers of alerts (their partitions
// too, those made before the upgrade included), incidents and the rollup
// in collation "C" (schema version 6), and no index of theirs comparing
// text by the database's locale.
func checkByteCollated(t *testing.T, db *sql.DB) {
	t.Helper()
	const rels = `(c.relname IN ('alerts', 'incidents', 'alert_rollup', 'events')
		OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent IN ('alerts'::regclass, 'events'::regclass)))`
	for table, cols := range map[string][]string{
		"alerts":       {"uuid", "cluster", "node", "namespace", "pod", "container_id", "container_name", "rule", "source", "action", "workload"},
		"incidents":    {"id", "workload"},
		"alert_rollup": {"field", "cluster", "value"},
		"events":       {"id", "cluster", "node", "container_id", "type", "process_id", "parent_id"},
	} {
		for _, col := range cols {
			rows, err := db.Query(`SELECT c.relname, co.collname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
				JOIN pg_collation co ON co.oid = a.attcollation
				WHERE (c.relname = $1 OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1::regclass))
				AND c.relkind IN ('r', 'p') AND a.attname = $2`, table, col)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				var rel, coll string
				if err := rows.Scan(&rel, &coll); err != nil {
					t.Fatal(err)
				}
				n++
				if coll != "C" {
					t.Errorf("%s.%s in collation %q, want \"C\"", rel, col, coll)
				}
			}
			rows.Close()
			if n == 0 || ((table == "alerts" || table == "events") && n < 2) {
				t.Errorf("%s.%s: %d tables found; want the table and, for alerts and events, its partitions", table, col, n)
			}
		}
	}
	var locale string
	db.QueryRow(`SELECT COALESCE(string_agg(i.indexrelid::regclass::text, ' ' ORDER BY i.indexrelid::regclass::text), '') FROM pg_index i
		JOIN pg_class c ON c.oid = i.indrelid WHERE ` + rels + `
		AND EXISTS (SELECT 1 FROM unnest(i.indcollation::oid[]) AS k WHERE k NOT IN (0, 'pg_catalog."C"'::regcollation))`).Scan(&locale)
	if locale != "" {
		t.Errorf("indexes comparing text by the locale: %s", locale)
	}
}

// TestPostgresTextSearch: the feed's text search folds case by the
// database's locale in rule too, which schema version 6 collates "C"
// (folding ASCII only): "écriture" finds "Écriture sous /etc" in a
// C.UTF-8 database, as it did before.
func TestPostgresTextSearch(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	db, err := sql.Open("pgx", pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE DATABASE utf8 TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'`); err != nil {
		t.Skipf("no C.UTF-8 database: %v", err)
	}
	s, err := OpenPostgres(ctx, strings.Replace(pg.URL, "/mamori?", "/utf8?", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := sampleAlert(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), 1)
	a.Alert.Rule = "Écriture sous /etc"
	a.Raw, _ = json.Marshal(a.Alert)
	if err := s.Put(ctx, &Batch{Alerts: []AlertIn{a}}); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"écriture", "ÉCRITURE", "sous /ETC"} {
		page, err := s.Alerts(ctx, AlertQuery{Filter: Filter{Text: text}})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Alerts) != 1 {
			t.Errorf("text %q: %d alerts, want the one", text, len(page.Alerts))
		}
	}
}

// TestSQLiteUpgrade: the same for SQLite.
func TestSQLiteUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.db")
	testUpgrade(t, func() (*sqlStore, error) { return openSQLite(path, sqliteMigrations[:3]) },
		func() (Store, error) { return OpenSQLite(path) })
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version int
	var indexes string
	db.QueryRow("PRAGMA user_version").Scan(&version)
	db.QueryRow("SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'alerts_rule%' ORDER BY name)").Scan(&indexes)
	if version != len(sqliteMigrations) || indexes != "alerts_rule_counts" {
		t.Errorf("schema version %d, rule indexes %q; want %d and alerts_rule_counts", version, indexes, len(sqliteMigrations))
	}
}

// testUpgrade stores alerts through a store of schema version 3 (before
// the rule's covering index), reopens it as this mamori does, and wants
// the alerts kept, the same counts for one rule, and room for more.
func testUpgrade(t *testing.T, openOld func() (*sqlStore, error), open func() (Store, error)) {
	ctx := context.Background()
	old, err := openOld()
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var b Batch
	for i := range 300 {
		b.Alerts = append(b.Alerts, sampleAlert(base, i))
	}
	e := &event.Event{Kind: "event", Time: base, Cluster: "prod", Node: "node-1", Type: event.Exec, Process: event.Process{PID: 5, ID: "p5"}}
	raw, _ := json.Marshal(e)
	b.Events = append(b.Events, EventIn{ID: "ev-1", Event: e, Raw: raw})
	if err := old.Put(ctx, &b); err != nil {
		t.Fatal(err)
	}
	// This code rolls up tags and images whatever the schema; the
	// versions of these schemas did not.
	if _, err := old.db.ExecContext(ctx, "DELETE FROM alert_rollup WHERE field IN ('tag', 'image')"); err != nil {
		t.Fatal(err)
	}
	q := CountQuery{Field: "node", Bucket: time.Hour, Filter: Filter{Rule: "Shell in container"}}
	before, err := old.Counts(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	old.Close()

	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	page, err := s.Alerts(ctx, AlertQuery{Limit: 1000})
	if err != nil || len(page.Alerts) != 300 {
		t.Fatalf("after the upgrade: %d alerts, %v; want the 300 stored before", len(page.Alerts), err)
	}
	after, err := s.Counts(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after) != fmt.Sprint(before) || len(after) == 0 {
		t.Errorf("counts by node for one rule: %v after the upgrade, %v before", after, before)
	}
	if err := s.Put(ctx, &Batch{Alerts: []AlertIn{sampleAlert(base, 1000)}}); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Alert(ctx, sampleAlert(base, 1000).Alert.UUID); err != nil || d == nil {
		t.Errorf("an alert stored after the upgrade: %v", err)
	}
	// The rollup kept no tags or images before: counts by them read the
	// alerts stored then and the rollup after, and the feed reads the
	// alerts stored then as it did, and the rollup's minutes after.
	for _, c := range []CountQuery{{Field: "tag", Bucket: time.Hour}, {Field: "image"}} {
		if fast, slow := countTwice(t, s, c); fmt.Sprint(fast) != fmt.Sprint(slow) || len(fast) == 0 {
			t.Errorf("%+v after the upgrade: %v, the alerts' own %v", c, fast, slow)
		}
	}
	for _, f := range []Filter{{Tag: "T1059"}, {Image: "nginx"}, {Tag: "T1059", Text: "happened"}} {
		if page, err := s.Alerts(ctx, AlertQuery{Filter: f, Limit: 1000}); err != nil || len(page.Alerts) != 301 || page.Next != "" {
			t.Errorf("%+v after the upgrade: %d alerts, next %q, %v; want 301 and no next", f, len(page.Alerts), page.Next, err)
		}
	}
	// A free text through a marked filter tests the alerts stored before
	// as it tests others: the text's budget a page at most.
	s.(*sqlStore).textBudget = 50
	for _, limit := range []int{1000, 1} { // 1: the page is full when the time before is reached
		pages, found := 0, 0
		for q := (AlertQuery{Filter: Filter{Tag: "T1059", Text: "happened"}, Limit: limit}); pages < 1000; pages++ {
			page, err := s.Alerts(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			found += len(page.Alerts)
			if q.Cursor = page.Next; q.Cursor == "" {
				break
			}
		}
		if found != 301 || pages < 6 {
			t.Errorf("a text and a tag after the upgrade, 50 alerts tested a page, %d a page: %d alerts in %d pages; want 301 in 7 or more",
				limit, found, pages+1)
		}
	}
	if evs, err := s.Events(ctx, EventQuery{ProcessID: "p5"}); err != nil || len(evs) != 1 {
		t.Errorf("the event stored before the upgrade: %d found, %v", len(evs), err)
	}
}

// TestOpenFails: a store that cannot be opened is a nil Store and an
// error (a console that fails to start closes what it opened, and must
// not call Close on a store it never had).
func TestOpenFails(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenSQLite(filepath.Join(file, "console.db")); err == nil || s != nil {
		t.Errorf("SQLite below a file: %v, %v", s, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s, err := OpenPostgres(ctx, "postgres://mamori@127.0.0.1:1/none?sslmode=disable&connect_timeout=5"); err == nil || s != nil {
		t.Errorf("PostgreSQL where none listens: %v, %v", s, err)
	}
}

// TestFiltersReadIndexes: the feed filtered by a node, a namespace (and
// a pod) or a container (by its name, or its id: a prefix of 12 digits
// or the whole, resolved to the name through the inventory) reads the
// index kept for that filter, so that a quiet one's few alerts are found
// without reading the others. Before schema version 8 in PostgreSQL and
// 7 in SQLite the container filter was "id or name", and both stores read
// the feed's whole time index, filtering: about a second over a million
// alerts for a container without any. Each store is asked for the plan of
// the feed's own query, over enough alerts that reading them all would
// cost more. An id the inventory does not know is still found.
func TestFiltersReadIndexes(t *testing.T) {
	ctx := context.Background()
	idOf := func(n int) string { return fmt.Sprintf("%012x%052x", 0xabc000+n, n) }
	id := idOf(7)
	// A busy container (300 alerts) is read in the order of
	// the index of names, until the page is full: a plan for a few rows
	// would read them all and sort them.
	const byName = "Index Scan Backward using alerts_20261201_container_name_time_ns_idx"
	cases := []struct {
		f    Filter
		want int // alerts that pass f
		// sqlite is the index SQLite's plan names, postgres the start
		// of PostgreSQL's index condition; neither is checked if empty.
		sqlite, postgres string
	}{
		{Filter{Container: "web-7"}, 300, "alerts_container_name", byName},
		{Filter{Container: id}, 300, "alerts_container_name", byName},
		{Filter{Container: id[:12]}, 300, "alerts_container_name", byName},
		{Filter{Container: strings.ToUpper(id[:30])}, 300, "alerts_container_name", byName},
		{Filter{Container: idOf(9)}, 100, "", ""}, // not in the inventory
		{Filter{Container: idOf(9)[:12]}, 100, "", ""},
		{Filter{Container: idOf(1000)}, 0, "", ""}, // neither
		{Filter{Node: "node-7"}, 200, "alerts_node", "Index Cond: (node = "},
		{Filter{Namespace: "ns-7"}, 200, "alerts_namespace_time", "Index Cond: (namespace = "},
		{Filter{Namespace: "ns-7", Pod: "pod-7"}, 100, "alerts_namespace", "Index Cond: ((namespace = "},
		// A rule is more telling than a namespace (SQLite has no
		// statistics to say so).
		{Filter{Namespace: "ns-7", Rule: "rule-7"}, 50, "alerts_rule_counts", ""},
	}
	bothStores(t, func(t *testing.T, s *sqlStore) {
		base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		var b Batch
		for i := range 20000 {
			in := sampleAlert(base, i)
			a := in.Alert
			a.Hostname = fmt.Sprintf("node-%d", i%100)
			n := i % 200
			if i%100 == 0 {
				n = 7
			}
			a.Container.ID = idOf(n)
			a.Container.Name = fmt.Sprintf("web-%d", n)
			a.Container.Pod = &event.Pod{Namespace: fmt.Sprintf("ns-%d", i%100), Name: fmt.Sprintf("pod-%d", i%200)}
			a.Rule = fmt.Sprintf("rule-%d", i%400)
			b.Alerts = append(b.Alerts, in)
		}
		for n := range 200 {
			if n != 9 {
				b.Containers = append(b.Containers, &event.ContainerState{Kind: "container", Time: base, Cluster: "prod",
					Node: fmt.Sprintf("node-%d", n%100), Container: &event.Container{ID: idOf(n), Name: fmt.Sprintf("web-%d", n)}, Running: true})
			}
		}
		if err := s.Put(ctx, &b); err != nil {
			t.Fatal(err)
		}
		// PostgreSQL's autovacuum would analyse the table; the console
		// never analyses SQLite's, whose plans are checked without.
		explainSQL := "EXPLAIN QUERY PLAN "
		if s.d.name == "postgres" {
			explainSQL = "EXPLAIN "
			if _, err := s.db.ExecContext(ctx, "ANALYZE"); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range cases {
			want := map[string]string{"sqlite": c.sqlite, "postgres": c.postgres}[s.d.name]
			if want != "" {
				query, args, _, err := s.feedSQL(ctx, AlertQuery{Filter: c.f})
				if err != nil {
					t.Fatal(err)
				}
				plan := explain(t, s.db, explainSQL+query, args)
				if !strings.Contains(plan, want) {
					t.Errorf("%s: the feed's plan does not read its index (%s):\n%s", filterString(c.f), want, plan)
				}
				// Sorting all that pass (ties of time only: "RIGHT PART
				// OF ORDER BY") is what the index is there to spare.
				if strings.Contains(plan, "TEMP B-TREE FOR ORDER BY") {
					t.Errorf("%s: the feed's plan sorts every alert that passes:\n%s", filterString(c.f), plan)
				}
			}
			page, err := s.Alerts(ctx, AlertQuery{Filter: c.f, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Alerts) != c.want {
				t.Errorf("%s: %d alerts, want %d", filterString(c.f), len(page.Alerts), c.want)
			}
		}
	})
}

// bothStores runs test on a new SQLite store and on a new PostgreSQL one,
// each in a subtest of its own.
func bothStores(t *testing.T, test func(t *testing.T, s *sqlStore)) {
	for _, st := range []struct {
		name string
		open func(t *testing.T) (*sqlStore, error)
	}{
		{"sqlite", func(t *testing.T) (*sqlStore, error) {
			return openSQLite(filepath.Join(t.TempDir(), "console.db"), sqliteMigrations)
		}},
		{"postgres", func(t *testing.T) (*sqlStore, error) {
			return openPostgres(context.Background(), pgtest.Start(t).URL, pgMigrations)
		}},
	} {
		t.Run(st.name, func(t *testing.T) {
			s, err := st.open(t)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			test(t, s)
		})
	}
}

// explain is the plan the database gives for query (an EXPLAIN), its rows
// as lines.
func explain(t *testing.T, db *sql.DB, query string, args []any) string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&plan, vals...)
	}
	return plan.String()
}

// filterString is the filters TestFiltersReadIndexes sets.
func filterString(f Filter) string {
	return fmt.Sprintf("node %q, namespace %q, pod %q, container %q, rule %q", f.Node, f.Namespace, f.Pod, f.Container, f.Rule)
}

// pageAll reads the feed q gives, page by page, and returns the alerts'
// uuids in the order read.
func pageAll(t *testing.T, s Store, q AlertQuery) []string {
	t.Helper()
	var ids []string
	for {
		page, err := s.Alerts(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range page.Alerts {
			var a event.Alert
			json.Unmarshal(raw, &a)
			ids = append(ids, a.UUID)
		}
		if q.Cursor = page.Next; q.Cursor == "" {
			return ids
		}
	}
}
