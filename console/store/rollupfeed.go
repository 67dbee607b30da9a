package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"
)

// The feed filters by a tag, an image, an action or a source without an
// index of its own: each would cost every alert another B-tree at ingest,
// and ingest is what the console is measured by. Without one, a filter by
// a value few alerts have read the alerts newest first until it had a
// page, all of them for a value none has: a second over a million alerts
// for a MITRE technique no alert carries, or for "blocked" where nothing
// was. The rollup already says, per minute, how many alerts had each
// action and source; it now keeps each image's and each tag's too (a row
// per minute and value that had alerts, added in the batch's own
// transaction, so it is never behind the alerts). The feed asks it which
// minutes hold the value, newest first, and reads only those minutes'
// alerts, until it has a page: runs of consecutive minutes, as many to a
// query as the rollup's counts say the page needs (Alerts, in sql.go). A
// value no alert has is answered without reading an alert. With a free
// text too, the runs are cut to the text's budget of alerts a page.
//
// The rollup is complete from the time its version of the schema first
// ran (rollup_fields); before that, the alerts are read as they were.

// markFields are the filters the feed narrows through the rollup, in the
// order it prefers them when several are given (tags are usually the
// rarest, sources the commonest).
var markFields = []struct {
	field string
	value func(Filter) string
}{
	{"tag", func(f Filter) string { return f.Tag }},
	{"image", func(f Filter) string { return f.Image }},
	{"action", func(f Filter) string { return f.Action }},
	{"source", func(f Filter) string { return f.Source }},
}

// rollupFieldsTable records, for the fields the rollup began to keep after
// alerts were stored, the time from which it holds every alert's. Each
// alert stored before the migration is older than its since_ns.
const rollupFieldsTable = `CREATE TABLE rollup_fields (field TEXT%[1]s PRIMARY KEY, since_ns BIGINT NOT NULL);
	INSERT INTO rollup_fields (field, since_ns)
		SELECT f, COALESCE((SELECT max(time_ns) + 1 FROM alerts), 0) FROM (SELECT 'image' AS f UNION ALL SELECT 'tag') AS v;
	CREATE INDEX alert_rollup_value ON alert_rollup (field, value, minute);`

// loadMarks reads rollup_fields: from when the rollup is complete, per
// field the feed narrows by.
func loadMarks(ctx context.Context, db *sql.DB) (map[string]int64, error) {
	rows, err := db.QueryContext(ctx, "SELECT field, since_ns FROM rollup_fields")
	if err != nil {
		return nil, fmt.Errorf("store: rollup fields: %w", err)
	}
	defer rows.Close()
	since := map[string]int64{}
	for _, f := range markFields {
		since[f.field] = math.MinInt64 // rolled up from the start
	}
	for rows.Next() {
		var f string
		var t int64
		if err := rows.Scan(&f, &t); err != nil {
			return nil, fmt.Errorf("store: rollup fields: %w", err)
		}
		if t > 0 {
			since[f] = t
		}
	}
	return since, rows.Err()
}

// timeRange is [lo, hi) in nanoseconds.
type timeRange struct{ lo, hi int64 }

// markedMinutes is how many of a value's minutes the feed asks the rollup
// for at a time: more than a page can hold alerts (at least one each).
const markedMinutes = maxPage + 1

// minuteOf is the rollup's minute of t (rollupDeltas): t rounded toward
// zero.
func minuteOf(t int64) int64 { return t / int64(time.Minute) * int64(time.Minute) }

// minuteSpan is the times whose minuteOf is m: [m, m+1min) when m > 0,
// rounded toward zero below it.
func minuteSpan(m int64) timeRange {
	switch {
	case m > 0:
		return timeRange{m, m + int64(time.Minute)}
	case m < 0:
		return timeRange{m - int64(time.Minute) + 1, m + 1}
	}
	return timeRange{-int64(time.Minute) + 1, int64(time.Minute)}
}

// marked is a feed narrowed to the minutes that hold a filter's value.
type marked struct {
	s            *sqlStore
	field, value string
	cluster      string
	lo, hi       int64 // the feed's bounds: [lo, hi)
	since        int64 // the rollup is complete from here
	next         int64 // minutes at or after it were asked for already
	done         bool  // every marked minute was asked for
	pending      []markedRun
	readUnmarked bool // [lo, since) was given out
	// maxRun is how many alerts a run holds at most: consecutive minutes
	// beyond it are another run (one minute may hold more).
	maxRun int64
}

// markedRun is a run of consecutive minutes that hold the value, and how
// many alerts they hold with it (at most; the feed's other filters and
// bounds may leave fewer).
type markedRun struct {
	timeRange
	n int64
	// minute is where the run's oldest minute begins (its span's lo,
	// or the feed's lower bound): only the minute just before joins it.
	minute int64
}

// markedFeed returns the feed's ranges through the rollup when q filters by
// a marked field, else nil (read as one query).
func (s *sqlStore) markedFeed(q AlertQuery, cursorT int64, hasCursor bool) *marked {
	if s.marks == nil {
		return nil
	}
	for _, f := range markFields {
		v := f.value(q.Filter)
		if v == "" {
			continue
		}
		m := &marked{s: s, field: f.field, value: v, cluster: q.Cluster, lo: math.MinInt64, hi: math.MaxInt64,
			since: s.marks[f.field], maxRun: math.MaxInt64}
		if q.Text != "" {
			m.maxRun = int64(s.textBudget)
		}
		if !q.Since.IsZero() {
			m.lo = q.Since.UnixNano()
		}
		if !q.Until.IsZero() {
			m.hi = q.Until.UnixNano()
		}
		if hasCursor && cursorT < math.MaxInt64 {
			m.hi = min(m.hi, cursorT+1)
		}
		m.next = m.hi
		return m
	}
	return nil
}

// nextRun returns the next range to read, newest first: a run of
// consecutive marked minutes, then the time before the rollup was
// complete (of unknown size: n is math.MaxInt64). ok is false when there
// is none left.
func (m *marked) nextRun(ctx context.Context) (r markedRun, ok bool, err error) {
	for len(m.pending) == 0 && !m.done {
		if err := m.ask(ctx); err != nil {
			return r, false, err
		}
	}
	if len(m.pending) > 0 {
		r, m.pending = m.pending[0], m.pending[1:]
		return r, true, nil
	}
	if !m.readUnmarked && m.lo < m.since {
		m.readUnmarked = true
		return markedRun{timeRange: timeRange{m.lo, min(m.since, m.hi)}, n: math.MaxInt64}, m.lo < min(m.since, m.hi), nil
	}
	return r, false, nil
}

// more says whether nextRun may have a run left to give.
func (m *marked) more() bool {
	return len(m.pending) > 0 || !m.done || !m.readUnmarked && m.lo < min(m.since, m.hi)
}

// ask reads the next markedMinutes minutes (newest first) that hold the
// value, and makes ranges of them.
func (m *marked) ask(ctx context.Context) error {
	lo := max(m.lo, m.since)
	if m.next <= lo {
		m.done = true
		return nil
	}
	// The minutes whose spans reach into [lo, next), and where in each
	// the value's first and last alerts are, when every row of the
	// minute knows (s.spans).
	cols := "minute, sum(n), 0, 0, 1"
	if m.s.spans {
		cols = "minute, sum(n), min(first_ns), max(last_ns), count(*) - count(first_ns)"
	}
	q := "SELECT " + cols + " FROM alert_rollup WHERE field = ? AND value = ? AND minute >= ? AND minute <= ?"
	args := []any{m.field, m.value, minuteOf(lo), minuteOf(m.next - 1)}
	if m.cluster != "" {
		q += " AND cluster = ?"
		args = append(args, m.cluster)
	}
	q += fmt.Sprintf(" GROUP BY minute ORDER BY minute DESC LIMIT %d", markedMinutes)
	rows, err := m.s.db.QueryContext(ctx, m.s.d.rebind(q), args...)
	if err != nil {
		return fmt.Errorf("store alerts: the rollup's minutes: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var minute, count, unknown int64
		var first, last sql.NullInt64
		if err := rows.Scan(&minute, &count, &first, &last, &unknown); err != nil {
			return fmt.Errorf("store alerts: the rollup's minutes: %w", err)
		}
		n++
		span := minuteSpan(minute)
		next := max(span.lo, lo) // this minute is asked for now, whatever part of it is read
		whole := unknown > 0 || !first.Valid || !last.Valid
		if !whole {
			// Only the part of the minute that holds the value's
			// alerts: over a busy store, a value seen once in a
			// minute is read alone, not with the minute's thousand
			// others.
			span.lo, span.hi = max(span.lo, first.Int64), min(span.hi, last.Int64+1)
		}
		span.lo, span.hi = max(span.lo, lo), min(span.hi, m.next)
		m.next = next
		if span.lo >= span.hi {
			continue
		}
		// The minute joins the run of the minute after it when the time
		// between them is at most ten times the time between the value's
		// alerts in this minute: each run is a query of its own (of
		// every partition's index), and a value seen all along (one
		// alert in 50, say) would otherwise be read in runs of a few
		// minutes, cut wherever its alerts happen to be sparse. A value
		// seen once in a minute never joins; whole minutes that follow
		// each other always do.
		gap := 10 * (span.hi - span.lo) / max(count, 1)
		if k := len(m.pending) - 1; k >= 0 && m.pending[k].minute == minuteSpan(minute).hi && m.pending[k].lo-span.hi <= gap &&
			m.pending[k].n+count <= m.maxRun {
			m.pending[k].lo = span.lo // the minute before the last: one run
			m.pending[k].n += count
			m.pending[k].minute = next
		} else {
			m.pending = append(m.pending, markedRun{span, count, next})
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store alerts: the rollup's minutes: %w", err)
	}
	if n < markedMinutes {
		m.done = true
	}
	return nil
}

// maxRuns is how many runs of minutes one query of the feed reads at most
// (a UNION ALL of a query for each).
const maxRuns = 64

// runs returns the next runs to read in one query: as many as the rollup
// says hold need alerts, within maxRuns, and holding room alerts at most
// (math.MaxInt64: no bound);
// and how many they hold (math.MaxInt64 for the time before the rollup
// was complete, which comes alone, room or none). None and no error: the
// next run does not fit in room.
func (m *marked) runs(ctx context.Context, need, room int64) ([]timeRange, int64, error) {
	var out []timeRange
	var n int64
	for need > 0 && len(out) < maxRuns {
		r, ok, err := m.nextRun(ctx)
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			break
		}
		if r.n == math.MaxInt64 && len(out) > 0 || r.n < math.MaxInt64 && room < math.MaxInt64 && r.n > room-n {
			// The next query's (the time before the rollup was
			// complete is read by a query of its own, whatever room).
			m.pending = append([]markedRun{r}, m.pending...)
			break
		}
		out = append(out, r.timeRange)
		need -= min(r.n, need)
		n += min(r.n, math.MaxInt64-n)
	}
	return out, n, nil
}
