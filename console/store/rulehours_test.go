package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/internal/pgtest"
)

func TestSQLiteRuleHours(t *testing.T) {
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "console.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exerciseRuleHours(t, s)
}

func TestPostgresRuleHours(t *testing.T) {
	pg := pgtest.Start(t)
	s, err := OpenPostgres(context.Background(), pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exerciseRuleHours(t, s)
}

// exerciseRuleHours: one rule's counts over whole hours that are over, and
// all rules' (from the rollup), come from rule_hours once asked for,
// and are the alerts' own: when they
// are first counted, when they are read back, after an alert stored late
// into an hour already counted, and after a prune took part of an hour.
func exerciseRuleHours(t *testing.T, st Store) {
	ctx := context.Background()
	s := st.(*sqlStore)
	now := time.Now().UTC()
	start := now.Truncate(time.Hour).Add(-30*time.Hour + 16*time.Minute)
	hourly := func(at time.Time, i int, rule, node string) AlertIn {
		in := sampleAlert(at, 0)
		a := in.Alert
		a.UUID = fmt.Sprintf("00000000-0000-4000-9000-%012d", i)
		a.Rule, a.Hostname = rule, node
		a.Priority = []string{"Warning", "Critical", "Notice", "Error"}[i%4]
		if i%3 == 0 {
			a.Cluster = "staging"
		}
		a.Tags = []string{"container", fmt.Sprintf("T%d", 1000+i%7)}
		if i%5 == 4 {
			a.Container = nil // a host's alert: the image ""
		}
		raw, _ := json.Marshal(a)
		return AlertIn{Alert: a, Raw: raw}
	}
	// A new store: nothing to keep.
	if err := st.KeepCounts(ctx, now); err != nil {
		t.Fatal(err)
	}
	var none int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM rule_hours").Scan(&none); err != nil || none != 0 {
		t.Errorf("KeepCounts kept %d hours of an empty store (%v)", none, err)
	}
	var b Batch
	for i := range 400 { // every 4 minutes from 30 hours ago to 3 ago (some on the hour), 0, 7 or 14 s into it
		b.Alerts = append(b.Alerts, hourly(start.Add(time.Duration(i)*4*time.Minute+time.Duration(i%3)*7*time.Second), i, []string{"Hourly A", "Hourly B"}[i%2],
			fmt.Sprintf("node-%d", i%5)))
	}
	day0 := now.Truncate(time.Hour).Add(-103 * time.Hour)
	for i := range 300 { // every 20 minutes from 103 hours ago to 3 ago: whole days
		b.Alerts = append(b.Alerts, hourly(day0.Add(time.Duration(i)*20*time.Minute), 1000+i, []string{"Daily C", "Hourly A"}[i%2],
			fmt.Sprintf("node-%d", i%4)))
	}
	// and one from a node whose clock was not set
	b.Alerts = append(b.Alerts, hourly(time.Unix(5*3600+42, 0).UTC(), 998, "Hourly A", "node-1970"))
	for i := range 10 { // and in the hour that is not over
		b.Alerts = append(b.Alerts, hourly(now.Add(-time.Duration(i)*time.Second), 400+i, "Hourly A", "node-now"))
	}
	if err := st.Put(ctx, &b); err != nil {
		t.Fatal(err)
	}
	queries := []CountQuery{
		{Field: "node", Bucket: time.Hour, Filter: Filter{Rule: "Hourly A", Since: start.Add(-time.Hour), Until: now.Add(time.Hour)}},
		{Field: "priority", Bucket: 3 * time.Hour, Filter: Filter{Rule: "Hourly B", Since: start.Add(7 * time.Minute)}},
		{Field: "namespace", Filter: Filter{Rule: "Hourly A"}},
		{Field: "cluster", Bucket: 24 * time.Hour, Filter: Filter{Rule: "Hourly A", Cluster: "prod"}},
		{Field: "node", Bucket: 2 * time.Hour, Filter: Filter{Rule: "Hourly B", Since: start.Add(5 * time.Hour), Until: start.Add(9*time.Hour + 30*time.Minute)}},
		// All rules' alerts (allRules, from the rollup).
		{Field: "node", Bucket: time.Hour, Filter: Filter{Since: start.Add(-time.Hour), Until: now.Add(time.Hour)}},
		{Field: "rule", Filter: Filter{Since: start.Add(4*time.Minute + 3*time.Second)}}, // an alert at 4 min 7 s
		{Field: "cluster", Bucket: 24 * time.Hour, Filter: Filter{Since: start.Add(3*time.Minute + 30*time.Second)}},
		{Field: "tag", Bucket: 2 * time.Hour},
		{Field: "image", Filter: Filter{Cluster: "staging"}},
		{Field: "priority", Bucket: time.Hour, Filter: Filter{Since: start.Add(5*time.Hour + 30*time.Second),
			Until: start.Add(9*time.Hour + 30*time.Minute + 20*time.Second)}},
	}
	allRulesNode := queries[5]
	queries = append(queries, // by the day
		CountQuery{Field: "node", Bucket: 24 * time.Hour, Filter: Filter{Rule: "Daily C"}},
		CountQuery{Field: "priority", Bucket: 48 * time.Hour},
		CountQuery{Field: "tag", Bucket: 24 * time.Hour, Filter: Filter{Since: day0.Add(90*time.Minute + 10*time.Second)}})
	allRulesByDays := queries[len(queries)-2]
	same := func(when string, some bool) {
		t.Helper()
		for _, q := range queries {
			for round := range 2 { // counted, then read back
				fast, err := st.Counts(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				slow := q
				slow.Text = "something" // every alert's output: counted from the alerts
				want, err := st.Counts(ctx, slow)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(fast) != fmt.Sprint(want) || some && len(fast) == 0 {
					t.Errorf("%s, round %d, %+v:\nkept   %v\nalerts %v", when, round, q, fast, want)
				}
			}
		}
	}
	same("first", true)
	var kept int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM rule_hours").Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if kept < 20 {
		t.Fatalf("rule_hours holds %d hours: the counts did not come from it", kept)
	}
	for _, f := range []string{"node", "rule", "tag", "image", "priority"} {
		if err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT count(*) FROM rule_hours WHERE rule = ? AND field = ?"), allRules, f).Scan(&kept); err != nil {
			t.Fatal(err)
		}
		if kept < 3 {
			t.Errorf("rule_hours holds %d hours of all rules' alerts by %s: the counts did not come from it", kept, f)
		}
	}
	var most int
	if err := s.db.QueryRowContext(ctx, "SELECT max(n) FROM (SELECT count(*) AS n FROM rule_hours GROUP BY rule, field) AS k").Scan(&most); err != nil {
		t.Fatal(err)
	}
	if most > int(maxKeptBack/time.Hour) {
		t.Errorf("%d hours kept for a rule and field: an alert of 1970 made them all", most)
	}
	for _, rule := range []string{allRules, "Daily C"} {
		if err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT count(*) FROM rule_days WHERE rule = ?"), rule).Scan(&kept); err != nil {
			t.Fatal(err)
		}
		if kept < 3 {
			t.Errorf("rule_days holds %d days of rule %q: the counts by the day did not come from it", kept, rule)
		}
	}
	// What is kept is what is read: a count changed there changes the answer.
	for _, k := range []struct {
		table, col, field string
		q                 CountQuery
	}{{"rule_hours", "hour", "node", allRulesNode}, {"rule_days", "day", "priority", allRulesByDays}} {
		changeKept(t, s, k.table, k.col, allRules, k.field, 1000)
		if fast, slow := countTwice(t, st, k.q); fmt.Sprint(fast) == fmt.Sprint(slow) {
			t.Errorf("counts by %s of all rules do not read %s: %v", k.field, k.table, fast)
		}
		changeKept(t, s, k.table, k.col, allRules, k.field, -1000)
	}

	// The console keeps every hour of the week as it ends (KeepCounts):
	// all rules' hours forgotten, it counts them again, an hour by each
	// field, and they are the alerts' own.
	for _, table := range []string{"rule_hours", "rule_days"} {
		if _, err := s.db.ExecContext(ctx, s.d.rebind("DELETE FROM "+table+" WHERE rule = ?"), allRules); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // and a second time finds nothing to do
		if err := st.KeepCounts(ctx, now); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"action", "cluster", "image", "namespace", "node", "priority", "rule", "source", "tag"} {
			if err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT count(*) FROM rule_hours WHERE rule = ? AND field = ?"), allRules, f).Scan(&kept); err != nil {
				t.Fatal(err)
			}
			if kept != int(keepBack/time.Hour) {
				t.Errorf("KeepCounts kept %d hours of all rules' alerts by %s, want a week's", kept, f)
			}
			weekEnd := now.Add(-keepAfter).Truncate(time.Hour)
			if err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT count(*) FROM rule_days WHERE rule = ? AND field = ? AND day >= ? AND day < ?"),
				allRules, f, weekEnd.Add(-keepBack).UnixNano(), weekEnd.UnixNano()).Scan(&kept); err != nil {
				t.Fatal(err)
			}
			want := 6 // whole days in the week before the last hour over
			if weekEnd.Hour() == 0 {
				want = 7
			}
			if kept != want {
				t.Errorf("KeepCounts kept %d days of all rules' alerts by %s, want %d", kept, f, want)
			}
		}
	}
	if s.d.name == "postgres" {
		// Having kept more than a day's hours, KeepCounts analysed the
		// tables (a connection's plans are made again).
		var tuples float64
		if err := s.db.QueryRowContext(ctx, "SELECT reltuples FROM pg_class WHERE relname = 'rule_hours'").Scan(&tuples); err != nil {
			t.Fatal(err)
		}
		if tuples <= 0 {
			t.Errorf("rule_hours not analysed after KeepCounts kept a week (reltuples %v)", tuples)
		}
	}
	same("kept ahead", true)
	// Each rule's hours are kept too, by the fields a count of one rule
	// reads kept hours by: a rule and field never asked for are read
	// from them at their first ask.
	never := CountQuery{Field: "source", Bucket: time.Hour, Filter: Filter{Rule: "Daily C", Since: day0}}
	for _, f := range everyRuleFields {
		if err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT count(*) FROM rule_hours WHERE rule = ? AND field = ?"), "Daily C", f).Scan(&kept); err != nil {
			t.Fatal(err)
		}
		if kept < 50 { // an alert every hour but one in three
			t.Errorf("KeepCounts kept %d hours of rule \"Daily C\" by %s", kept, f)
		}
	}
	changeKept(t, s, "rule_hours", "hour", "Daily C", "source", 1000)
	if fast, slow := countTwice(t, st, never); fmt.Sprint(fast) == fmt.Sprint(slow) {
		t.Errorf("a rule's first count by source does not read the hours KeepCounts kept: %v", fast)
	}
	changeKept(t, s, "rule_hours", "hour", "Daily C", "source", -1000)
	if fast, slow := countTwice(t, st, never); fmt.Sprint(fast) != fmt.Sprint(slow) || len(fast) == 0 {
		t.Errorf("a rule's first count by source:\nkept   %v\nalerts %v", fast, slow)
	}

	// An alert stored late into an hour that is counted already.
	late := hourly(start.Add(2*time.Hour+time.Minute), 999, "Hourly A", "node-late")
	if err := st.Put(ctx, &Batch{Alerts: []AlertIn{late}}); err != nil {
		t.Fatal(err)
	}
	// Its day is not summed again while its hour is not counted again.
	lateDay := late.Alert.Time.Truncate(24 * time.Hour).UnixNano()
	if days, err := s.keepRuleDays(ctx, allRules, "priority", lateDay, lateDay+int64(24*time.Hour)); err != nil || len(days) != 0 {
		t.Errorf("a day with an hour not counted as of its generation is kept: %v, %v", days, err)
	}
	// KeepCounts counts its hour again for every rule, as of the hour's
	// new generation.
	if err := st.KeepCounts(ctx, now); err != nil {
		t.Fatal(err)
	}
	lateHour := late.Alert.Time.Truncate(time.Hour).UnixNano()
	var gen, every, rowGen int64
	for _, g := range []struct {
		q    string
		args []any
		to   *int64
	}{
		{"SELECT gen FROM count_hours WHERE hour = ?", []any{lateHour}, &gen},
		{"SELECT gen FROM rule_hours_every WHERE hour = ?", []any{lateHour}, &every},
		{"SELECT gen FROM rule_hours WHERE rule = ? AND field = ? AND hour = ?", []any{"Hourly A", "source", lateHour}, &rowGen},
	} {
		if err := s.db.QueryRowContext(ctx, s.d.rebind(g.q), g.args...).Scan(g.to); err != nil {
			t.Fatal(err)
		}
	}
	if gen == 0 || every != gen || rowGen != gen {
		t.Errorf("the late alert's hour is at generation %d; every rule's counts kept as of %d, rule \"Hourly A\" by source as of %d", gen, every, rowGen)
	}
	same("after a late alert", true)
	counts, err := st.Counts(ctx, queries[0])
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range counts {
		found = found || c.Value == "node-late" && c.Count == 1
	}
	if !found {
		t.Errorf("the late alert is not counted: %v", counts)
	}
	if counts, err = st.Counts(ctx, allRulesNode); err != nil {
		t.Fatal(err)
	}
	found = false
	for _, c := range counts {
		found = found || c.Value == "node-late" && c.Count == 1
	}
	if !found {
		t.Errorf("the late alert is not counted among all rules': %v", counts)
	}

	// A prune that takes the first 20 hours but for 10 minutes.
	if _, err := st.Prune(ctx, now, Retention{Alerts: now.Sub(start.Add(20*time.Hour - 10*time.Minute))}); err != nil {
		t.Fatal(err)
	}
	same("after a prune", false)

	// Without the kept days' table, counts come from the kept hours;
	// without the kept hours' table, from the alerts.
	if _, err := s.db.ExecContext(ctx, "DROP TABLE rule_days"); err != nil {
		t.Fatal(err)
	}
	same("without the kept days", false)
	if _, err := s.db.ExecContext(ctx, "DROP TABLE rule_hours"); err != nil {
		t.Fatal(err)
	}
	same("without the kept counts", false)
}

// changeKept adds by to every count that table (rule_hours or rule_days,
// col its time's) keeps of rule's alerts by field.
func changeKept(t *testing.T, s *sqlStore, table, col, rule, field string, by int64) {
	t.Helper()
	ctx := context.Background()
	sets := map[int64][]keptCluster{}
	err := eachKept(ctx, s.db, s.d.rebind("SELECT "+col+", counts FROM "+table+" WHERE rule = ? AND field = ?"), []any{rule, field},
		func(at int64, set []keptCluster) { sets[at] = set })
	if err != nil || len(sets) == 0 {
		t.Fatalf("%s holds %d sets by %s (%v)", table, len(sets), field, err)
	}
	for at, set := range sets {
		for _, c := range set {
			for i := range c.Counts {
				c.Counts[i] += by
			}
		}
		if _, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE "+table+" SET counts = ? WHERE rule = ? AND field = ? AND "+col+" = ?"),
			encodeKept(set), rule, field, at); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSQLiteKeptUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.db")
	testKeptUpgrade(t, func() (*sqlStore, error) { return openSQLite(path, sqliteMigrations[:sqliteKeptVersion-1]) },
		func() (*sqlStore, error) { return openSQLite(path, sqliteMigrations) })
}

func TestPostgresKeptUpgrade(t *testing.T) {
	url := pgtest.Start(t).URL
	ctx := context.Background()
	testKeptUpgrade(t, func() (*sqlStore, error) { return openPostgres(ctx, url, pgMigrations[:pgKeptVersion-1]) },
		func() (*sqlStore, error) { return openPostgres(ctx, url, pgMigrations) })
}

// testKeptUpgrade: counts kept before an hour was one row (PostgreSQL's
// schema 13, SQLite's 11) go at the upgrade with their tables, and are
// counted again, into the new ones, at the next ask: one rule's by the
// hour, all rules' by the day.
func testKeptUpgrade(t *testing.T, openOld, open func() (*sqlStore, error)) {
	ctx := context.Background()
	old, err := openOld()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Truncate(time.Hour).Add(-60 * time.Hour)
	var b Batch
	for i := range 200 { // every 17 minutes from 60 hours ago
		in := sampleAlert(start.Add(time.Duration(i)*17*time.Minute), i)
		in.Alert.Rule = []string{"Kept A", "Kept B"}[i%2]
		in.Alert.Hostname = fmt.Sprintf("node-%d", i%3)
		in.Raw, _ = json.Marshal(in.Alert)
		b.Alerts = append(b.Alerts, in)
	}
	if err := old.Put(ctx, &b); err != nil {
		t.Fatal(err)
	}
	queries := []CountQuery{
		{Field: "node", Bucket: time.Hour, Filter: Filter{Rule: "Kept A", Since: start}},
		{Field: "rule", Bucket: 24 * time.Hour, Filter: Filter{Since: start}},
	}
	// As the version before kept them (this code keeps nothing in a
	// schema from before), and wrong: what is left of them would show.
	h := start.Add(2 * time.Hour).UnixNano()
	d := start.Add(24 * time.Hour).Truncate(24 * time.Hour).UnixNano()
	for _, st := range []struct {
		q    string
		args []any
	}{
		{"INSERT INTO rule_hours (rule, field, hour, gen) SELECT ?, ?, hour, gen FROM count_hours WHERE hour = ?", []any{"Kept A", "node", h}},
		{"INSERT INTO rule_hour_counts (rule, field, hour, cluster, value, n) VALUES (?, ?, ?, ?, ?, 1000)", []any{"Kept A", "node", h, "prod", "node-0"}},
		{"INSERT INTO rule_days (rule, field, day, gen) VALUES (?, ?, ?, 0)", []any{allRules, "rule", d}},
		{"INSERT INTO rule_day_counts (rule, field, day, cluster, value, n) VALUES (?, ?, ?, ?, ?, 1000)", []any{allRules, "rule", d, "prod", "Kept B"}},
	} {
		if _, err := old.db.ExecContext(ctx, old.d.rebind(st.q), st.args...); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, table := range []string{"rule_hour_counts", "rule_day_counts"} {
		if _, err := s.db.ExecContext(ctx, "SELECT 1 FROM "+table); err == nil {
			t.Errorf("%s is still there after the upgrade", table)
		}
	}
	for _, q := range queries {
		if fast, slow := countTwice(t, s, q); fmt.Sprint(fast) != fmt.Sprint(slow) || len(fast) == 0 {
			t.Errorf("after the upgrade, %+v:\nkept   %v\nalerts %v", q, fast, slow)
		}
	}
	for _, k := range []struct{ table, col, rule, field string }{{"rule_hours", "hour", "Kept A", "node"}, {"rule_days", "day", allRules, "rule"}} {
		n := 0
		err := eachKept(ctx, s.db, s.d.rebind("SELECT "+k.col+", counts FROM "+k.table+" WHERE rule = ? AND field = ?"), []any{k.rule, k.field},
			func(_ int64, set []keptCluster) { n += len(set) })
		if err != nil || n == 0 {
			t.Errorf("%s holds no counts of %q by %s after the upgrade (%v): not counted again", k.table, k.rule, k.field, err)
		}
	}
}

// TestKeptEncoding: a kept set reads back as it was written, its clusters
// and values in order; anything cut from it or added to it is refused,
// not read as other counts.
func TestKeptEncoding(t *testing.T) {
	set := keptSet{}
	long := string(make([]byte, 300)) // a length of two bytes
	set.add("prod", "node-1", 12)
	set.add("prod", "", 1)
	set.add("prod", "nœud-ü", 1<<40)
	set.add("", long, 3)
	set.add("staging", "node-1", 2)
	set.add("prod", "node-1", 5)
	raw := set.encode()
	got, err := decodeKept(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := []keptCluster{
		{Cluster: "", Values: []string{long}, Counts: []int64{3}},
		{Cluster: "prod", Values: []string{"", "node-1", "nœud-ü"}, Counts: []int64{1, 17, 1 << 40}},
		{Cluster: "staging", Values: []string{"node-1"}, Counts: []int64{2}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read back %v, want %v", got, want)
	}
	if empty, err := decodeKept(keptSet{}.encode()); err != nil || len(empty) != 0 {
		t.Errorf("an hour without alerts reads back as %v, %v", empty, err)
	}
	for n := range len(raw) {
		if got, err := decodeKept(raw[:n]); err == nil {
			t.Errorf("the first %d of %d bytes read as %v", n, len(raw), got)
		}
	}
	if got, err := decodeKept(append(raw[:len(raw):len(raw)], 0)); err == nil {
		t.Errorf("a byte more read as %v", got)
	}
	other := append([]byte{keptFormat + 1}, raw[1:]...)
	if _, err := decodeKept(other); err == nil {
		t.Error("another format read as this one")
	}
}

// FuzzDecodeKept: whatever a row holds, reading it returns or fails; it
// never panics or allocates past what the row could hold.
func FuzzDecodeKept(f *testing.F) {
	set := keptSet{}
	set.add("prod", "node-1", 12)
	set.add("staging", "node-2", 1)
	f.Add(set.encode())
	f.Add([]byte{keptFormat, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		if set, err := decodeKept(b); err == nil {
			for _, c := range set {
				if len(c.Values) != len(c.Counts) {
					t.Fatalf("%d values, %d counts", len(c.Values), len(c.Counts))
				}
			}
		}
	})
}
