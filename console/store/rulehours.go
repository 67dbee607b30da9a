package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Counts of one rule's alerts by a field, over whole hours that are over,
// are kept once asked for: rule_hour_counts holds them per rule, field,
// hour, cluster and value, and rule_hours says which hours of a rule and
// field it holds and as of which generation of the hour. A batch that
// stores alerts of an hour that is over adds one to the hour's generation
// (count_hours, in the batch's transaction), so that an alert stored late
// into an hour already counted makes that hour be counted again from the
// alerts, the next time it is asked for. Alerts of the hour that is not
// over do not (a row every batch changed would be locked by each in turn):
// an hour is kept only once it has been over for keepAfter, longer than a
// batch's transaction takes, so a batch that found its hour not over has
// committed by then, and the count sees its alerts. That holds as long as
// the clocks of the consoles storing and counting differ by less.
//
// "By node per hour, one rule, 7 days" read 50,000 entries of the rule's
// index at 10M alerts (50 ms, more than 100 at p99 on a busy machine); a
// rule that makes a third of the alerts would read millions. Now it reads
// from the alerts only the hour that is not over (and the one just over,
// for keepAfter) and the partial hours at the ends of its range.
//
// count_hours is never pruned (a row an hour): a generation must never
// come back to a value it had, or an hour counted before a prune could
// pass for current after it.
//
// The counts of every rule's alerts together (a count filtered by time and
// cluster only, by a field the rollup keeps, in whole hours) are kept the
// same way, under the rule allRules, and made from the rollup's minutes
// instead of the alerts (rollupCounts). The rollup holds a row per minute,
// cluster and value: "by rule per day, 7 days" read 790,000 of them over
// a million alerts (0.44 s in PostgreSQL, 3 s in SQLite), "by node per
// hour, 7 days" 435,000; kept hours are 60 times fewer rows.

const ruleHoursTables = `CREATE TABLE count_hours (hour BIGINT PRIMARY KEY, gen BIGINT NOT NULL);
	CREATE TABLE rule_hours (rule TEXT%[1]s NOT NULL, field TEXT%[1]s NOT NULL, hour BIGINT NOT NULL, gen BIGINT NOT NULL,
		PRIMARY KEY (rule, field, hour));
	CREATE TABLE rule_hour_counts (rule TEXT%[1]s NOT NULL, field TEXT%[1]s NOT NULL, hour BIGINT NOT NULL,
		cluster TEXT%[1]s NOT NULL, value TEXT%[1]s NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (rule, field, hour, cluster, value));`

// allRules is the rule under which the counts of all alerts are kept. No
// alert has an empty rule (ingest refuses one).
const allRules = ""

// keepAfter is how long an hour has been over before its counts are kept.
const keepAfter = 10 * time.Minute

// maxKeptBack is how far before the last hour that is over hours are kept
// at most: past the default retention of alerts (30 days).
const maxKeptBack = 35 * 24 * time.Hour

// minRuleHours is the fewest whole hours worth keeping counts of: fewer
// are counted from the alerts at once.
const minRuleHours = 2

// pastHours are the hours (their starts, in ns) that alerts (their
// alertRow columns) fall in and that are over now, in order: the rows of
// count_hours a batch locks, in one order for every batch. None when the
// schema has no count_hours.
func (s *sqlStore) pastHours(rows [][]any) []int64 {
	if !s.ruleHours {
		return nil
	}
	now := time.Now()
	seen := map[int64]bool{}
	var out []int64
	for _, r := range rows {
		h := r[0].(int64) / int64(time.Hour) * int64(time.Hour)
		if h+int64(time.Hour) <= now.UnixNano() && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// bumpHoursSQL is the statement that adds one to the generation of each
// of n hours, with placeholders ? (rebind for PostgreSQL).
func bumpHoursSQL(n int) string {
	return "INSERT INTO count_hours (hour, gen) VALUES " + strings.TrimSuffix(strings.Repeat("(?,1),", n), ",") +
		" ON CONFLICT (hour) DO UPDATE SET gen = count_hours.gen + 1"
}

// ruleHourly says whether q is counted from rule_hour_counts: one rule's
// alerts (and perhaps one cluster's), by a field the rollup keeps, in
// buckets of whole hours (or none).
func ruleHourly(q CountQuery) bool {
	f := q.Filter
	if f.Rule == "" {
		return false
	}
	f.Since, f.Until, f.Cluster, f.Rule = time.Time{}, time.Time{}, "", ""
	return rollupFields[q.Field] && q.Bucket%time.Hour == 0 && f == Filter{}
}

// ruleCounts counts q (ruleHourly) into acc: the whole hours that are
// over from rule_hour_counts, what is left at either end from the alerts.
func (s *sqlStore) ruleCounts(ctx context.Context, q CountQuery, now time.Time, acc map[[2]string]*Count) error {
	return s.keptCounts(ctx, q, q.Filter.Rule, q.Since, q.Until, now, acc)
}

// rollupCounts counts q (rolledUp) over [lo, hi) (whole minutes; zero:
// unbounded) from the rollup into acc: in buckets of whole hours (or
// none), the hours that are over from rule_hour_counts (kept under
// allRules), the minutes at either end from the rollup itself.
func (s *sqlStore) rollupCounts(ctx context.Context, q CountQuery, lo, hi time.Time, acc map[[2]string]*Count) error {
	if !s.ruleHours || q.Bucket%time.Hour != 0 {
		return s.countRange(ctx, q, lo, hi, true, acc)
	}
	return s.keptCounts(ctx, q, allRules, lo, hi, time.Now(), acc)
}

// keptCounts counts q over [lo, hi) (zero: unbounded) into acc: the whole
// hours that are over from what is kept under rule (readKept), what is
// left at either end as without them: one rule's from its alerts, all
// rules' (allRules) from the rollup.
func (s *sqlStore) keptCounts(ctx context.Context, q CountQuery, rule string, lo, hi, now time.Time, acc map[[2]string]*Count) error {
	fromRollup := rule == allRules
	start := lo
	if start.IsZero() {
		// From the first alert counted.
		first := "SELECT min(time_ns) FROM alerts WHERE rule = ?"
		arg := rule
		if fromRollup {
			first, arg = "SELECT min(minute) FROM alert_rollup WHERE field = ?", q.Field
		}
		var t sql.NullInt64
		if err := s.db.QueryRowContext(ctx, s.d.rebind(first), arg).Scan(&t); err != nil {
			return fmt.Errorf("store counts: %w", err)
		}
		if !t.Valid {
			return nil
		}
		start = time.Unix(0, t.Int64)
	}
	h0 := start.Truncate(time.Hour)
	if h0.Before(start) {
		h0 = h0.Add(time.Hour)
	}
	h1 := now.Add(-keepAfter).Truncate(time.Hour)
	if !hi.IsZero() && hi.Truncate(time.Hour).Before(h1) {
		h1 = hi.Truncate(time.Hour)
	}
	if h1.Sub(h0) > maxKeptBack {
		// Older hours are counted as without kept ones: an alert from
		// 1970 (a node's clock unset) must not make decades of them.
		h0 = h1.Add(-maxKeptBack)
	}
	if h1.Sub(h0) < minRuleHours*time.Hour {
		return s.countRange(ctx, q, lo, hi, fromRollup, acc)
	}
	// The kept hours first: a failure there (a lock not had in time, a
	// table an operator dropped) leaves acc as it was, and the count is
	// made as without kept hours.
	if err := s.keepRuleHours(ctx, rule, q.Field, h0.UnixNano(), h1.UnixNano()); err != nil {
		return s.countWithoutKept(ctx, q, lo, hi, fromRollup, acc, err)
	}
	kept := map[[2]string]*Count{}
	if err := s.readKept(ctx, q, rule, h0.UnixNano(), h1.UnixNano(), kept); err != nil {
		return s.countWithoutKept(ctx, q, lo, hi, fromRollup, acc, err)
	}
	for k, c := range kept {
		if have := acc[k]; have != nil {
			have.Count += c.Count
		} else {
			acc[k] = c
		}
	}
	if lo.Before(h0) { // from the start when lo is zero
		if err := s.countRange(ctx, q, lo, h0, fromRollup, acc); err != nil {
			return err
		}
	}
	if hi.IsZero() || h1.Before(hi) {
		return s.countRange(ctx, q, h1, hi, fromRollup, acc)
	}
	return nil
}

// countWithoutKept counts q over [lo, hi) as without kept hours after
// keeping them failed with err; when ctx is done, that is the answer.
func (s *sqlStore) countWithoutKept(ctx context.Context, q CountQuery, lo, hi time.Time, fromRollup bool, acc map[[2]string]*Count, err error) error {
	if ctx.Err() != nil {
		return err
	}
	return s.countRange(ctx, q, lo, hi, fromRollup, acc)
}

// staleRuleHours returns the hours in [h0, h1) that rule_hours does not
// hold for rule and field as of their current generation, with those
// generations.
func staleRuleHours(ctx context.Context, db querier, rebind func(string) string, rule, field string, h0, h1 int64) (stale []int64, gens map[int64]int64, err error) {
	// The generations first, then what is held: an hour whose
	// generation changes between the two is seen stale, never current.
	if gens, err = readGens(ctx, db, rebind("SELECT hour, gen FROM count_hours WHERE hour >= ? AND hour < ?"), h0, h1); err != nil {
		return nil, nil, err
	}
	held, err := readGens(ctx, db, rebind("SELECT hour, gen FROM rule_hours WHERE rule = ? AND field = ? AND hour >= ? AND hour < ?"), rule, field, h0, h1)
	if err != nil {
		return nil, nil, err
	}
	for h := h0; h < h1; h += int64(time.Hour) {
		if g, ok := held[h]; !ok || g != gens[h] {
			stale = append(stale, h)
		}
	}
	return stale, gens, nil
}

// keepBack is how far back KeepCounts looks for hours to keep: a week, the
// longest range the web UI offers.
const keepBack = 7 * 24 * time.Hour

// KeepCounts keeps the counts of all rules' alerts by each field the
// rollup keeps, for the hours of the week before now that are over and
// not kept as of their generation, an hour a transaction (SQLite's one
// writer is held that long), then sums its whole days (ruledays.go). The
// console runs it every ten minutes, so that each hour is counted once as
// it ends, and a count over the week reads kept hours from its first ask
// on; without it, the first ask would count them (as long as a count did
// before they were kept).
func (s *sqlStore) KeepCounts(ctx context.Context, now time.Time) error {
	if !s.ruleHours {
		return nil
	}
	h1 := now.Add(-keepAfter).Truncate(time.Hour).UnixNano()
	fields := []string{"image", "tag"}
	for f := range rollupFields {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		h0 := h1 - int64(keepBack)
		if since, marked := s.marks[f]; f == "image" || f == "tag" {
			if !marked {
				continue // an old schema's rollup: no images, no tags
			}
			// The rollup holds the field's alerts from since on.
			h0 = max(h0, (since+int64(time.Hour)-1)/int64(time.Hour)*int64(time.Hour))
		}
		// Not the hours before the first alert (a new store has none).
		var first sql.NullInt64
		if err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT min(minute) FROM alert_rollup WHERE field = ?"), f).Scan(&first); err != nil {
			return fmt.Errorf("store: keep counts by %s: %w", f, err)
		}
		if !first.Valid {
			continue
		}
		h0 = max(h0, first.Int64/int64(time.Hour)*int64(time.Hour))
		if h0 >= h1 {
			continue
		}
		stale, _, err := staleRuleHours(ctx, s.db, s.d.rebind, allRules, f, h0, h1)
		if err != nil {
			return fmt.Errorf("store: keep counts by %s: %w", f, err)
		}
		for _, h := range stale {
			if err := s.keepRuleHours(ctx, allRules, f, h, h+int64(time.Hour)); err != nil {
				return fmt.Errorf("store: keep counts by %s: %w", f, err)
			}
		}
		d0, d1 := wholeDays(h0, h1)
		if _, err := s.keepRuleDays(ctx, allRules, f, d0, d1); err != nil {
			return fmt.Errorf("store: keep counts by %s: %w", f, err)
		}
	}
	return nil
}

// keepRuleHours counts the hours of [h0, h1) that rule_hour_counts does
// not hold as of their generation (for rule and field): one rule's from
// its alerts, all rules' (allRules) from the rollup.
func (s *sqlStore) keepRuleHours(ctx context.Context, rule, field string, h0, h1 int64) error {
	stale, _, err := staleRuleHours(ctx, s.db, s.d.rebind, rule, field, h0, h1)
	if err != nil || len(stale) == 0 {
		return wrapCounts(err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapCounts(err)
	}
	defer tx.Rollback()
	if s.d.lockKey != nil {
		// Not while retention takes kept hours (pruneRuleHours), and one
		// console counts a rule's hours at a time: the next one finds
		// them done.
		if err := s.d.lockKey(ctx, tx, pruneLock, true); err != nil {
			return wrapCounts(err)
		}
		if err := s.d.lockKey(ctx, tx, "rule_hours/"+field+"/"+rule, false); err != nil {
			return wrapCounts(err)
		}
	}
	stale, gens, err := staleRuleHours(ctx, tx, s.d.rebind, rule, field, h0, h1)
	if err != nil || len(stale) == 0 {
		return wrapCounts(err)
	}
	fill := `INSERT INTO rule_hour_counts (rule, field, hour, cluster, value, n)
		SELECT CAST(? AS TEXT), CAST(? AS TEXT), (time_ns / ?) * ?, cluster, CAST(` + countCols[field] + ` AS TEXT), count(*)
		FROM alerts WHERE rule = ? AND time_ns >= ? AND time_ns < ? GROUP BY 3, 4, 5`
	of := rule
	if rule == allRules {
		fill = `INSERT INTO rule_hour_counts (rule, field, hour, cluster, value, n)
		SELECT CAST(? AS TEXT), CAST(? AS TEXT), (minute / ?) * ?, cluster, value, sum(n)
		FROM alert_rollup WHERE field = ? AND minute >= ? AND minute < ? GROUP BY 3, 4, 5`
		of = field
	}
	for _, run := range hourRuns(stale) {
		a, b := run[0], run[1]
		if _, err := tx.ExecContext(ctx, s.d.rebind("DELETE FROM rule_hour_counts WHERE rule = ? AND field = ? AND hour >= ? AND hour < ?"),
			rule, field, a, b); err != nil {
			return wrapCounts(err)
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind("DELETE FROM rule_hours WHERE rule = ? AND field = ? AND hour >= ? AND hour < ?"),
			rule, field, a, b); err != nil {
			return wrapCounts(err)
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(fill), rule, field, int64(time.Hour), int64(time.Hour), of, a, b); err != nil {
			return wrapCounts(err)
		}
	}
	for len(stale) > 0 {
		n := min(len(stale), 200)
		args := make([]any, 0, 4*n)
		for _, h := range stale[:n] {
			args = append(args, rule, field, h, gens[h])
		}
		q := "INSERT INTO rule_hours (rule, field, hour, gen) VALUES " + strings.TrimSuffix(strings.Repeat("(?,?,?,?),", n), ",")
		if _, err := tx.ExecContext(ctx, s.d.rebind(q), args...); err != nil {
			return wrapCounts(err)
		}
		stale = stale[n:]
	}
	return wrapCounts(tx.Commit())
}

// hourRuns groups hours (in order) into runs of consecutive ones, each
// as [first, after the last).
func hourRuns(hours []int64) [][2]int64 {
	var runs [][2]int64
	for _, h := range hours {
		if n := len(runs); n > 0 && runs[n-1][1] == h {
			runs[n-1][1] = h + int64(time.Hour)
			continue
		}
		runs = append(runs, [2]int64{h, h + int64(time.Hour)})
	}
	return runs
}

// readRuleHours adds what table (rule_hour_counts, or rule_day_counts:
// col is its time's) holds for q under rule in [h0, h1) to acc.
func (s *sqlStore) readRuleHours(ctx context.Context, q CountQuery, rule, table, col string, h0, h1 int64, acc map[[2]string]*Count) error {
	w := "WHERE rule = ? AND field = ? AND " + col + " >= ? AND " + col + " < ?"
	args := []any{rule, q.Field, h0, h1}
	if q.Filter.Cluster != "" {
		w += " AND cluster = ?"
		args = append(args, q.Filter.Cluster)
	}
	bucket := "0"
	if q.Bucket > 0 {
		bucket = "(" + col + " / ?) * ?"
		args = append([]any{int64(q.Bucket), int64(q.Bucket)}, args...)
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT "+bucket+" AS b, value, sum(n) FROM "+table+" "+w+" GROUP BY b, value"), args...)
	if err != nil {
		return wrapCounts(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b, n int64
		var v any
		if err := rows.Scan(&b, &v, &n); err != nil {
			return wrapCounts(err)
		}
		addCount(acc, q, b, v, n, true)
	}
	return wrapCounts(rows.Err())
}

func wrapCounts(err error) error {
	if err != nil {
		return fmt.Errorf("store counts: %w", err)
	}
	return nil
}

func int64sAny(v []int64) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}

// pruneLock is held shared by whoever counts hours to keep them, and
// alone by pruneRuleHours.
const pruneLock = "rule_hours/prune"

// pruneRuleHours drops the kept counts of the hours before cutoff, once
// their alerts before cutoff are gone. The generations do not change when
// retention deletes alerts, so hours counted from alerts that were then
// deleted must go too: with the lock, no count can be under way that read
// alerts before their deletion and keeps its hours after this.
func (s *sqlStore) pruneRuleHours(ctx context.Context, cutoff int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.d.lockKey != nil {
		if err := s.d.lockKey(ctx, tx, pruneLock, false); err != nil {
			return err
		}
	}
	tables := [][2]string{{"rule_hours", "hour"}, {"rule_hour_counts", "hour"}}
	if s.ruleDays {
		tables = append(tables, [2]string{"rule_days", "day"}, [2]string{"rule_day_counts", "day"})
	}
	for _, t := range tables {
		if _, err := tx.ExecContext(ctx, s.d.rebind("DELETE FROM "+t[0]+" WHERE "+t[1]+" < ?"), cutoff); err != nil {
			return fmt.Errorf("%s: %w", t[0], err)
		}
	}
	return tx.Commit()
}
