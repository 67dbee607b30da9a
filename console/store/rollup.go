package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Counts over time are answered from alert_rollup: per minute, the number
// of alerts of each combination of cluster, node, namespace, rule,
// priority, source and action, kept in the batch's transaction. Counting
// a day by the hour then reads a few thousand rows instead of every
// alert. A count that filters on another field (pod, container, image,
// tag, text) or buckets by less than a minute counts the alerts
// themselves; so do the partial minutes at either end of a range.

const rollupMigration = `CREATE TABLE alert_rollup (minute BIGINT NOT NULL, cluster TEXT NOT NULL, node TEXT NOT NULL,
		namespace TEXT NOT NULL, rule TEXT NOT NULL, priority SMALLINT NOT NULL, source TEXT NOT NULL, action TEXT NOT NULL,
		n BIGINT NOT NULL, PRIMARY KEY (minute, cluster, node, namespace, rule, priority, source, action));
	INSERT INTO alert_rollup SELECT (time_ns / 60000000000) * 60000000000, cluster, node, namespace, rule, priority, source, action, count(*)
		FROM alerts GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;`

var rollupFields = map[string]bool{"rule": true, "priority": true, "node": true, "cluster": true, "namespace": true, "source": true, "action": true}

type rollupKey struct {
	minute                         int64
	cluster, node, namespace, rule string
	priority                       int
	source, action                 string
}

// rollup adds newly stored alerts to alert_rollup.
func (s *sqlStore) rollup(ctx context.Context, tx *sql.Tx, alerts []AlertIn) error {
	counts := map[rollupKey]int64{}
	for _, a := range alerts {
		row := alertRow(a)
		k := rollupKey{minute: a.Alert.Time.UnixNano() / int64(time.Minute) * int64(time.Minute),
			cluster: row[3].(string), node: row[4].(string), namespace: row[5].(string), rule: row[10].(string),
			priority: row[11].(int), source: row[12].(string), action: row[13].(string)}
		counts[k]++
	}
	keys := make([]rollupKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	// One order for every writer: concurrent batches lock rows alike.
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.minute != b.minute {
			return a.minute < b.minute
		}
		return fmt.Sprint(a) < fmt.Sprint(b)
	})
	for len(keys) > 0 {
		n := min(len(keys), 300)
		var q strings.Builder
		q.WriteString("INSERT INTO alert_rollup (minute, cluster, node, namespace, rule, priority, source, action, n) VALUES ")
		args := make([]any, 0, n*9)
		for i, k := range keys[:n] {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,?,?,?,?)")
			args = append(args, k.minute, k.cluster, k.node, k.namespace, k.rule, k.priority, k.source, k.action, counts[k])
		}
		q.WriteString(" ON CONFLICT (minute, cluster, node, namespace, rule, priority, source, action) DO UPDATE SET n = alert_rollup.n + excluded.n")
		if _, err := tx.ExecContext(ctx, s.d.rebind(q.String()), args...); err != nil {
			return fmt.Errorf("store rollup: %w", err)
		}
		keys = keys[n:]
	}
	return nil
}

// rollupable says whether q can be answered from alert_rollup.
func rollupable(q CountQuery) bool {
	f := q.Filter
	return rollupFields[q.Field] && q.Bucket%time.Minute == 0 &&
		f.Pod == "" && f.Container == "" && f.Image == "" && f.Tag == "" && f.Text == ""
}

// countRange counts in [lo, hi) (zero: unbounded) into acc, from the
// rollup (whole minutes) or the alerts.
func (s *sqlStore) countRange(ctx context.Context, q CountQuery, lo, hi time.Time, fromRollup bool, acc map[[2]string]*Count) error {
	f := q.Filter
	f.Since, f.Until = lo, hi
	table, timeCol, sum := "alerts", "time_ns", "count(*)"
	w, args, err := s.where(f)
	if err != nil {
		return err
	}
	if fromRollup {
		table, timeCol, sum = "alert_rollup", "minute", "sum(n)"
		w = strings.ReplaceAll(w, "time_ns", "minute")
	}
	col := countCols[q.Field]
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
		c := Count{Count: n}
		if q.Bucket > 0 {
			c.Bucket = time.Unix(0, b).UTC()
		} else if !q.Since.IsZero() {
			c.Bucket = q.Since.UTC()
		}
		c.Value = countValue(col, v)
		key := [2]string{c.Bucket.Format(time.RFC3339Nano), c.Value}
		if have := acc[key]; have != nil {
			have.Count += n
		} else {
			acc[key] = &c
		}
	}
	return rows.Err()
}
