package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Counts over time are answered from alert_rollup: per field, per
// minute, per cluster, the number of alerts of each value, kept in the
// batch's transaction. Counting a day's alerts by priority per hour then
// reads 1,440 minutes of a few values instead of every alert. A count
// filtered by anything but time and cluster, by a field not rolled up, or
// bucketed by less than a minute, counts the alerts themselves (through
// their indexes); so do the partial minutes at either end of a range.

const rollupMigration = `CREATE TABLE alert_rollup (field TEXT NOT NULL, minute BIGINT NOT NULL, cluster TEXT NOT NULL,
		value TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (field, minute, cluster, value));`

// rollupFields are the fields counted per minute: those whose values are
// bounded by the rule set and the fleet. Containers, pods and images come
// and go without bound: a rollup of them would hold a row per alert, and
// counting by them reads the alerts through their indexes.
var rollupFields = map[string]bool{"rule": true, "priority": true, "node": true, "cluster": true, "namespace": true,
	"source": true, "action": true}

type rollupKey struct {
	field   string
	minute  int64
	cluster string
	value   string
}

// rollupDelta is what one batch adds to one rollup row: n alerts, the
// first at first and the last at last (ns).
type rollupDelta struct {
	rollupKey
	n, first, last int64
}

// rollupDeltas counts newly stored alerts (their alertRow columns) per
// rolled-up field, minute and cluster, in one order for every writer:
// concurrent batches then lock the rows they share alike.
func rollupDeltas(rows [][]any) []rollupDelta {
	counts := map[rollupKey]*rollupDelta{}
	for _, row := range rows {
		t := row[0].(int64)
		minute := minuteOf(t)
		cluster := row[3].(string)
		add := func(k rollupKey) {
			if d := counts[k]; d != nil {
				d.n++
				d.first, d.last = min(d.first, t), max(d.last, t)
			} else {
				counts[k] = &rollupDelta{k, 1, t, t}
			}
		}
		for _, f := range rolledUp {
			v, ok := row[f.col].(string)
			if !ok {
				v = strconv.Itoa(row[f.col].(int))
			}
			add(rollupKey{f.name, minute, cluster, v})
		}
		// The feed's marks (rollupfeed.go): an image's (none, for a
		// host's alerts: counted as the image "", as the alerts count
		// it), and each tag's.
		add(rollupKey{"image", minute, cluster, row[9].(string)})
		for tag := range strings.SplitSeq(strings.Trim(row[14].(string), ","), ",") {
			if tag != "" {
				add(rollupKey{"tag", minute, cluster, tag})
			}
		}
	}
	out := make([]rollupDelta, 0, len(counts))
	for _, d := range counts {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.field != b.field {
			return a.field < b.field
		}
		if a.minute != b.minute {
			return a.minute < b.minute
		}
		if a.cluster != b.cluster {
			return a.cluster < b.cluster
		}
		return a.value < b.value
	})
	return out
}

// rolledUp are rollupFields with their places in alertRow.
var rolledUp = []struct {
	name string
	col  int
}{{"cluster", 3}, {"node", 4}, {"namespace", 5}, {"rule", 10}, {"priority", 11}, {"source", 12}, {"action", 13}}

// rollupUpsert adds a batch's delta to a rollup row stored already. A
// row's first_ns and last_ns are unknown (NULL) when it holds alerts
// stored before they were kept (before PostgreSQL's schema version 12,
// SQLite's 11), and stay so.
const rollupUpsert = ` ON CONFLICT (field, minute, cluster, value) DO UPDATE SET n = alert_rollup.n + excluded.n`
const spansUpsert = `,
	first_ns = CASE WHEN alert_rollup.first_ns IS NULL OR alert_rollup.first_ns <= excluded.first_ns
		THEN alert_rollup.first_ns ELSE excluded.first_ns END,
	last_ns = CASE WHEN alert_rollup.last_ns IS NULL OR alert_rollup.last_ns >= excluded.last_ns
		THEN alert_rollup.last_ns ELSE excluded.last_ns END`

// rollupSQL is the statement that adds deltas to the rollup: "(cols)
// <values> upsert"; spans says whether the schema keeps first_ns and
// last_ns (the values then have them too).
func rollupSQL(spans bool, values string) string {
	if !spans {
		return "INSERT INTO alert_rollup (field, minute, cluster, value, n) " + values + rollupUpsert
	}
	return "INSERT INTO alert_rollup (field, minute, cluster, value, n, first_ns, last_ns) " + values + rollupUpsert + spansUpsert
}

// rollup adds newly stored alerts (their alertRow columns) to
// alert_rollup.
func (s *sqlStore) rollup(ctx context.Context, tx *sql.Tx, rows [][]any) error {
	deltas := rollupDeltas(rows)
	row := "(?,?,?,?,?)"
	if s.spans {
		row = "(?,?,?,?,?,?,?)"
	}
	for len(deltas) > 0 {
		n := min(len(deltas), 500)
		var q strings.Builder
		q.WriteString("VALUES ")
		args := make([]any, 0, n*7)
		for i, d := range deltas[:n] {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString(row)
			args = append(args, d.field, d.minute, d.cluster, d.value, d.n)
			if s.spans {
				args = append(args, d.first, d.last)
			}
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(rollupSQL(s.spans, q.String())), args...); err != nil {
			return fmt.Errorf("store rollup: %w", err)
		}
		deltas = deltas[n:]
	}
	return nil
}

// rollupable says whether q can be answered from alert_rollup.
func rollupable(q CountQuery) bool { return rollupFields[q.Field] && rollupShaped(q) }

// rollupShaped says whether q asks what the rollup keeps: buckets of
// whole minutes (or none), filtered by time and cluster only.
func rollupShaped(q CountQuery) bool {
	f := q.Filter
	f.Since, f.Until, f.Cluster = time.Time{}, time.Time{}, ""
	return q.Bucket%time.Minute == 0 && f == Filter{}
}

// rolledUp says whether q can be answered from alert_rollup, and from
// when (zero: from the start): the rollupFields, and the image and the
// tag (rollupfeed.go) from when the rollup began to keep them.
func (s *sqlStore) rolledUp(q CountQuery) (since time.Time, ok bool) {
	if rollupable(q) {
		return time.Time{}, true
	}
	t, marked := s.marks[q.Field]
	if q.Field != "image" && q.Field != "tag" || !marked || !rollupShaped(q) {
		return time.Time{}, false
	}
	if t == math.MinInt64 {
		return time.Time{}, true
	}
	return time.Unix(0, t), true
}

// countRange counts in [lo, hi) (zero: unbounded) into acc, from the
// rollup (whole minutes) or the alerts.
func (s *sqlStore) countRange(ctx context.Context, q CountQuery, lo, hi time.Time, fromRollup bool, acc map[countKey]*Count) error {
	f := q.Filter
	f.Since, f.Until = lo, hi
	table, timeCol, sum := "alerts", "time_ns", "count(*)"
	w, args, err := s.where(ctx, f)
	if err != nil {
		return err
	}
	col := countCols[q.Field]
	if fromRollup {
		table, timeCol, sum = "alert_rollup", "minute", "sum(n)"
		w = strings.ReplaceAll(w, "time_ns", "minute")
		if w == "" {
			w = " WHERE field = ?"
		} else {
			w += " AND field = ?"
		}
		args = append(args, q.Field)
		col = "value"
	}
	bucket := "0"
	if q.Bucket > 0 {
		bucket = "(" + timeCol + " / ?) * ?"
		args = append([]any{int64(q.Bucket), int64(q.Bucket)}, args...)
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT "+bucket+" AS b, "+col+", "+sum+" FROM "+table+w+" GROUP BY b, "+col), args...)
	if err != nil {
		return fmt.Errorf("store counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b int64
		var v any
		var n int64
		if err := rows.Scan(&b, &v, &n); err != nil {
			return fmt.Errorf("store counts: %w", err)
		}
		addCount(acc, q, b, v, n, fromRollup)
	}
	return rows.Err()
}

// countKey is a count's bucket (its start, ns) and value.
type countKey struct {
	bucket int64
	value  string
}

// addCount adds n alerts of value v (a column's, or the rollup's text)
// in bucket b (ns) to acc.
func addCount(acc map[countKey]*Count, q CountQuery, b int64, v any, n int64, fromRollup bool) {
	c := Count{Count: n}
	if q.Bucket > 0 {
		c.Bucket = time.Unix(0, b).UTC()
	} else if !q.Since.IsZero() {
		c.Bucket = q.Since.UTC()
	}
	c.Value = countValue(countCols[q.Field], v)
	if fromRollup && q.Field == "priority" {
		if r, err := strconv.Atoi(c.Value); err == nil && r >= 0 && r < len(Priorities) {
			c.Value = Priorities[r]
		}
	}
	values := []string{c.Value}
	if q.Field == "tag" {
		// Stored as ",a,b,": one count per tag.
		values = strings.Split(strings.Trim(c.Value, ","), ",")
	}
	for _, v := range values {
		if v == "" && q.Field == "tag" {
			continue
		}
		c := c
		c.Value = v
		key := countKey{c.Bucket.UnixNano(), c.Value}
		if have := acc[key]; have != nil {
			have.Count += n
		} else {
			acc[key] = &c
		}
	}
}
