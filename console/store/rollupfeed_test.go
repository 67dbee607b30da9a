package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/pgtest"
)

// TestFeedReadsMarkedMinutes: a feed filtered by a tag, an image, an
// action or a source reads the minutes the rollup marks for the value, and
// pages through exactly what a plain reading of the alerts gives (Match
// over all of them, newest first), across runs of minutes, clusters,
// bounds, cursors and times around 1970; and it does read the rollup: with
// a value's rows gone, its alerts are not found.
func TestFeedReadsMarkedMinutes(t *testing.T) {
	ctx := context.Background()
	bothStores(t, func(t *testing.T, s *sqlStore) {
		base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		var all []AlertIn
		// 3,000 alerts 7 s apart (about 6 hours); a rare tag on every
		// 97th (a minute of its own, mostly), an image on a run of
		// 40 alerts (consecutive minutes) and on a few far apart,
		// "blocked" on every 250th in the other cluster.
		for i := range 3000 {
			in := sampleAlert(base, i)
			a := in.Alert
			a.Time = base.Add(time.Duration(i) * 7 * time.Second)
			if i%97 == 0 {
				a.Tags = append(a.Tags, "T1611")
			}
			if (i >= 1000 && i < 1040) || i%700 == 5 {
				a.Container.Image = "miner:1"
			}
			if i%250 == 3 {
				a.Action, a.Cluster = "blocked", "staging"
			}
			if i%500 == 9 {
				a.Source = "k8s_audit"
			}
			in.Raw, _ = json.Marshal(a)
			all = append(all, in)
		}
		// Three at one time: a cursor between them.
		for i := range 2 {
			in := sampleAlert(base, 6000+i)
			in.Alert.Time = all[970].Alert.Time
			in.Alert.Tags = []string{"T1611"}
			in.Raw, _ = json.Marshal(in.Alert)
			all = append(all, in)
		}
		// A host's alerts: no container, no image.
		for i := range 5 {
			in := sampleAlert(base, 7000+i)
			in.Alert.Time = base.Add(time.Duration(i)*time.Hour + 13*time.Second)
			in.Alert.Container = nil
			in.Raw, _ = json.Marshal(in.Alert)
			all = append(all, in)
		}
		// Around the epoch the rollup's minutes round toward zero.
		for i, at := range []time.Duration{-90 * time.Second, -30 * time.Second, 30 * time.Second} {
			in := sampleAlert(time.Unix(0, 0).UTC(), 5000+i)
			in.Alert.Time = time.Unix(0, 0).Add(at).UTC()
			in.Alert.Tags = []string{"T1611"}
			in.Raw, _ = json.Marshal(in.Alert)
			all = append(all, in)
		}
		for i := 0; i < len(all); i += 500 {
			if err := s.Put(ctx, &Batch{Alerts: all[i:min(i+500, len(all))]}); err != nil {
				t.Fatal(err)
			}
		}
		newestFirst := func(f Filter) []string {
			var out []*event.Alert
			for _, in := range all {
				if f.Match(in.Alert) && (f.Since.IsZero() || !in.Alert.Time.Before(f.Since)) &&
					(f.Until.IsZero() || in.Alert.Time.Before(f.Until)) {
					out = append(out, in.Alert)
				}
			}
			slices.SortFunc(out, func(a, b *event.Alert) int {
				if c := b.Time.Compare(a.Time); c != 0 {
					return c
				}
				return strings.Compare(b.UUID, a.UUID)
			})
			ids := []string{}
			for _, a := range out {
				ids = append(ids, a.UUID)
			}
			return ids
		}
		pages := 0 // read's pages that were not the last
		read := func(f Filter, limit int) ([]string, error) {
			ids := []string{}
			q := AlertQuery{Filter: f, Limit: limit}
			for {
				page, err := s.Alerts(ctx, q)
				if err != nil {
					return nil, err
				}
				for _, raw := range page.Alerts {
					var a event.Alert
					json.Unmarshal(raw, &a)
					ids = append(ids, a.UUID)
				}
				if page.Next == "" {
					return ids, nil
				}
				if len(page.Alerts) != limit && f.Text == "" {
					return nil, fmt.Errorf("a page of %d alerts, %d wanted, before the end", len(page.Alerts), limit)
				}
				pages++
				q.Cursor = page.Next
			}
		}
		filters := []Filter{
			{Tag: "T1611"},
			{Tag: "T1611", Since: base.Add(time.Hour), Until: base.Add(3*time.Hour + 30*time.Second)},
			{Tag: "T1611", Until: base},
			{Tag: "T1611", Node: "node-1"},
			{Tag: "T1611", Until: time.Unix(-85, 0)},
			{Tag: "T1612"},
			{Image: "miner:1"},
			{Image: "miner:1", Since: base.Add(7000*time.Second + 3*time.Second)},
			{Action: "blocked"},
			{Action: "blocked", Cluster: "staging"},
			{Action: "blocked", Cluster: "prod"},
			{Source: "k8s_audit", Tag: "T1059"},
			{Tag: "container", Image: "nginx"},
			// The free text reads s.textBudget alerts a page at most:
			// with none of its own, and through a marked filter.
			{Text: "something 97"},
			{Text: "SOMETHING 1", Since: base.Add(time.Hour)},
			{Text: "something 1", Tag: "T1611"},
			{Text: "something 29", Tag: "container"},
		}
		s.textBudget = 250
		for _, f := range filters {
			want := newestFirst(f)
			for _, limit := range []int{1, 7, 100} {
				pages = 0
				got, err := read(f, limit)
				if err != nil {
					t.Fatalf("%+v, pages of %d: %v", f, limit, err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%+v, pages of %d: %d alerts %.3v…, want %d %.3v…", f, limit, len(got), got, len(want), want)
				}
				// A page of a text search tests 250 alerts at most:
				// 12 pages for 3,000 alerts at least, however few match.
				if f.Text != "" && f.Tag != "T1611" && f.Since.IsZero() && pages < 11 {
					t.Errorf("%+v, pages of %d: %d pages before the last, want 11 or more", f, limit, pages)
				}
			}
		}
		if n := len(newestFirst(Filter{Tag: "T1611"})); n != 36 {
			t.Fatalf("%d alerts with the rare tag, want 36: the test's data changed", n)
		}

		// Counts by tag and by image come from the rollup (whole
		// minutes) as the alerts themselves give them.
		counts := []CountQuery{
			{Field: "tag", Bucket: time.Hour},
			{Field: "image"},
			{Field: "image", Bucket: time.Minute, Filter: Filter{Since: base.Add(90*time.Second + 7), Until: base.Add(3 * time.Hour)}},
			{Field: "tag", Filter: Filter{Cluster: "staging", Until: base.Add(5 * time.Hour)}},
		}
		for _, c := range counts {
			if fast, slow := countTwice(t, s, c); fmt.Sprint(fast) != fmt.Sprint(slow) || len(fast) == 0 {
				t.Errorf("%+v: rollup %v, alerts %v", c, fast, slow)
			}
		}

		// A marked minute is read from the value's first alert in it to
		// its last. all[970] is the minute's only alert with the rare
		// tag (and two more at its time): alerts that come late, before
		// and after it, widen the minute's row; one that comes late to
		// a row that does not know (stored before the schema kept
		// first_ns and last_ns) leaves it so, and the minute is read
		// whole.
		span := func(m time.Time) (first, last sql.NullInt64) {
			t.Helper()
			if err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT first_ns, last_ns FROM alert_rollup WHERE field = ? AND value = ? AND minute = ?"),
				"tag", "T1611", minuteOf(m.UnixNano())).Scan(&first, &last); err != nil {
				t.Fatal(err)
			}
			return first, last
		}
		lateTagged := func(i int, at time.Time) {
			t.Helper()
			in := sampleAlert(base, i)
			in.Alert.Time = at
			in.Alert.Tags = []string{"T1611"}
			in.Raw, _ = json.Marshal(in.Alert)
			all = append(all, in)
			if err := s.Put(ctx, &Batch{Alerts: []AlertIn{in}}); err != nil {
				t.Fatal(err)
			}
		}
		at := all[970].Alert.Time
		minute := time.Unix(0, minuteOf(at.UnixNano())).UTC()
		if first, last := span(minute); first.Int64 != at.UnixNano() || last.Int64 != at.UnixNano() {
			t.Fatalf("the rare tag's row at %v: first %v, last %v, want both %v", minute, first, last, at.UnixNano())
		}
		lateTagged(8000, minute.Add(500*time.Millisecond))
		lateTagged(8001, minute.Add(59*time.Second))
		if first, last := span(minute); first.Int64 != minute.Add(500*time.Millisecond).UnixNano() || last.Int64 != minute.Add(59*time.Second).UnixNano() {
			t.Errorf("after two late alerts, the row at %v: first %v, last %v, want :00.5 and :59", minute, first, last)
		}
		if _, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE alert_rollup SET first_ns = NULL, last_ns = NULL WHERE field = ? AND minute = ?"),
			"tag", minuteOf(at.UnixNano())); err != nil {
			t.Fatal(err)
		}
		lateTagged(8002, minute.Add(30*time.Second))
		if first, last := span(minute); first.Valid || last.Valid {
			t.Errorf("a row that did not know its first and last alerts: %v, %v after a late alert", first, last)
		}
		for _, f := range []Filter{{Tag: "T1611"}, {Tag: "T1611", Until: minute.Add(45 * time.Second)}} {
			for _, limit := range []int{1, 100} {
				if got, err := read(f, limit); err != nil || !slices.Equal(got, newestFirst(f)) {
					t.Errorf("%+v with late alerts, pages of %d: %d alerts %.3v… (%v), want %v", f, limit, len(got), got, err, newestFirst(f))
				}
			}
		}
		// The span is what the feed goes by: narrowed past all[485]'s
		// time, the minute gives nothing.
		lone := all[485].Alert.Time.UnixNano()
		if _, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE alert_rollup SET first_ns = ?, last_ns = ? WHERE field = ? AND minute = ?"),
			lone+1, lone+1, "tag", minuteOf(lone)); err != nil {
			t.Fatal(err)
		}
		if got, _ := read(Filter{Tag: "T1611"}, 100); slices.Contains(got, all[485].Alert.UUID) || len(got) != len(newestFirst(Filter{Tag: "T1611"}))-1 {
			t.Errorf("with all[485]'s minute narrowed past it: %d alerts, all[485] among them: %v", len(got), slices.Contains(got, all[485].Alert.UUID))
		}

		// The rollup is what the feed goes by.
		if _, err := s.db.ExecContext(ctx, s.d.rebind("DELETE FROM alert_rollup WHERE field = ? AND value = ?"), "tag", "T1611"); err != nil {
			t.Fatal(err)
		}
		if got, err := read(Filter{Tag: "T1611"}, 100); err != nil || len(got) != 0 {
			t.Errorf("with the tag's minutes gone from the rollup: %d alerts (%v), want none read", len(got), err)
		}
		// And what counts by tag go by.
		if fast, slow := countTwice(t, s, counts[0]); fmt.Sprint(fast) == fmt.Sprint(slow) {
			t.Errorf("counts by tag with a tag's minutes gone from the rollup: the alerts' own %v", fast)
		}
	})
}

// TestSpansUpgrade: rows the rollup kept before it kept their first and
// last alerts' times (PostgreSQL's schema 11, SQLite's 10) stay without
// them when alerts come late to their minute, and the feed reads those
// minutes whole; minutes rolled up after the upgrade have them.
func TestSpansUpgrade(t *testing.T) {
	ctx := context.Background()
	for _, st := range []struct {
		name          string
		openOld, open func(t *testing.T, url string) (*sqlStore, error)
		url           func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T, path string) (*sqlStore, error) {
			return openSQLite(path, sqliteMigrations[:sqliteSpansVersion-1])
		},
			func(t *testing.T, path string) (*sqlStore, error) { return openSQLite(path, sqliteMigrations) },
			func(t *testing.T) string { return filepath.Join(t.TempDir(), "console.db") }},
		{"postgres", func(t *testing.T, url string) (*sqlStore, error) {
			return openPostgres(ctx, url, pgMigrations[:pgSpansVersion-1])
		},
			func(t *testing.T, url string) (*sqlStore, error) { return openPostgres(ctx, url, pgMigrations) },
			func(t *testing.T) string { return pgtest.Start(t).URL }},
	} {
		t.Run(st.name, func(t *testing.T) {
			url := st.url(t)
			old, err := st.openOld(t, url)
			if err != nil {
				t.Fatal(err)
			}
			minute := time.Date(2026, 12, 1, 10, 7, 0, 0, time.UTC)
			var tagged []string
			put := func(s *sqlStore, i int, at time.Time, tag bool, cluster string) {
				t.Helper()
				in := sampleAlert(minute, i)
				in.Alert.Time, in.Alert.Cluster = at, cluster
				if tag {
					in.Alert.Tags = []string{"T1611"}
					tagged = append([]string{in.Alert.UUID}, tagged...)
				}
				in.Raw, _ = json.Marshal(in.Alert)
				if err := s.Put(ctx, &Batch{Alerts: []AlertIn{in}}); err != nil {
					t.Fatal(err)
				}
			}
			put(old, 0, minute.Add(20*time.Second), true, "prod")
			put(old, 1, minute.Add(30*time.Second), false, "prod")
			put(old, 6, minute.Add(-3*time.Minute+20*time.Second), true, "prod") // 10:04:20
			put(old, 7, minute.Add(-90*time.Second), false, "prod")
			old.Close()

			s, err := st.open(t, url)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			put(s, 2, minute.Add(10*time.Second), true, "prod") // late, before the first
			put(s, 3, minute.Add(40*time.Second), true, "prod") // late, after the last
			put(s, 4, minute.Add(2*time.Minute+5*time.Second), true, "prod")
			// Another cluster's row of the same minute knows its span;
			// the minute is still read whole.
			put(s, 5, minute.Add(50*time.Second), true, "staging")
			rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT minute, first_ns, last_ns FROM alert_rollup WHERE field = ? AND value = ? ORDER BY minute, cluster"), "tag", "T1611")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for rows.Next() {
				var m int64
				var first, last sql.NullInt64
				rows.Scan(&m, &first, &last)
				got = append(got, fmt.Sprintf("%s %v %v", time.Unix(0, m).UTC().Format("15:04"), first.Valid, last.Valid))
			}
			rows.Close()
			if want := []string{"10:04 false false", "10:07 false false", "10:07 true true", "10:09 true true"}; !slices.Equal(got, want) {
				t.Errorf("the tag's rows: %q, want %q", got, want)
			}
			// The ranges read: 10:09:05 alone, 10:07 whole (a row of
			// before), 10:04 whole, and not the minutes between.
			m := s.markedFeed(AlertQuery{Filter: Filter{Tag: "T1611"}}, 0, false)
			var runs []string
			for {
				r, ok, err := m.nextRun(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				runs = append(runs, fmt.Sprintf("%s+%v", time.Unix(0, r.lo).UTC().Format("15:04:05"), time.Duration(r.hi-r.lo)))
			}
			if want := []string{"10:09:05+1ns", "10:07:00+1m0s", "10:04:00+1m0s"}; !slices.Equal(runs, want) {
				t.Errorf("the runs read: %q, want %q", runs, want)
			}
			for _, limit := range []int{1, 100} {
				ids := pageAll(t, s, AlertQuery{Filter: Filter{Tag: "T1611"}, Limit: limit})
				// Stored newest first in tagged: 10:09:05, :50, :40, :10,
				// 10:04:20, :20 make the feed's order 10:09:05, :50, :40,
				// :20, :10, 10:04:20.
				want := []string{tagged[1], tagged[0], tagged[2], tagged[5], tagged[3], tagged[4]}
				if !slices.Equal(ids, want) {
					t.Errorf("pages of %d: %v, want %v", limit, ids, want)
				}
			}
		})
	}
}
