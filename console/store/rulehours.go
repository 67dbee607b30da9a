package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Counts of one rule's alerts by a field, over whole hours that are over,
// are kept once asked for (and ahead of any ask for the week before, by
// KeepCounts: keepEveryRule): rule_hours holds a row for each hour of a rule
// and field it keeps, with the count of each value per cluster (keptSet)
// and the generation of the hour it was counted as of. A batch that
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

// ruleHoursTables are the tables of schema versions before keptTables.
const ruleHoursTables = `CREATE TABLE count_hours (hour BIGINT PRIMARY KEY, gen BIGINT NOT NULL);
	CREATE TABLE rule_hours (rule TEXT%[1]s NOT NULL, field TEXT%[1]s NOT NULL, hour BIGINT NOT NULL, gen BIGINT NOT NULL,
		PRIMARY KEY (rule, field, hour));
	CREATE TABLE rule_hour_counts (rule TEXT%[1]s NOT NULL, field TEXT%[1]s NOT NULL, hour BIGINT NOT NULL,
		cluster TEXT%[1]s NOT NULL, value TEXT%[1]s NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (rule, field, hour, cluster, value));`

// keptTables replace rule_hours, rule_hour_counts and ruledays.go's
// tables of before: a row for each hour (day) kept of a rule and field,
// with its generation and its counts (keptSet), and the tables of before
// gone with what they kept, to be counted again. Keeping one rule's week
// by node wrote 8,400 rows of rule_hour_counts (168 hours, 50 nodes):
// 195 ms at 10M alerts in PostgreSQL, at the first ask of the count; it
// now writes 168.
const keptTables = `DROP TABLE rule_hour_counts; DROP TABLE rule_day_counts; DROP TABLE rule_hours; DROP TABLE rule_days;
	CREATE TABLE rule_hours (rule TEXT%[1]s NOT NULL, field TEXT%[1]s NOT NULL, hour BIGINT NOT NULL, gen BIGINT NOT NULL,
		counts %[2]s NOT NULL, PRIMARY KEY (rule, field, hour));
	CREATE TABLE rule_days (rule TEXT%[1]s NOT NULL, field TEXT%[1]s NOT NULL, day BIGINT NOT NULL, gen BIGINT NOT NULL,
		counts %[2]s NOT NULL, PRIMARY KEY (rule, field, day));
	CREATE TABLE rule_hours_every (hour BIGINT PRIMARY KEY, gen BIGINT NOT NULL);`

// keptSet is what is kept of an hour or a day of a rule and field, as it
// is counted: the count of each value, per cluster.
type keptSet map[string]map[string]int64

func (k keptSet) add(cluster, value string, n int64) {
	values := k[cluster]
	if values == nil {
		values = map[string]int64{}
		k[cluster] = values
	}
	values[value] += n
}

// keptCluster is a cluster's part of a keptSet as stored and read: its
// values, in order, and their counts.
type keptCluster struct {
	Cluster string
	Values  []string
	Counts  []int64
}

func (k keptSet) encode() []byte {
	out := make([]keptCluster, 0, len(k))
	for cluster, values := range k {
		c := keptCluster{Cluster: cluster, Values: make([]string, 0, len(values)), Counts: make([]int64, 0, len(values))}
		for v := range values {
			c.Values = append(c.Values, v)
		}
		sort.Strings(c.Values)
		for _, v := range c.Values {
			c.Counts = append(c.Counts, values[v])
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cluster < out[j].Cluster })
	return encodeKept(out)
}

// keptFormat is the first byte of a row's counts, the format after it:
// the number of clusters, then for each its name, the number of its
// values, and each value and its count; a name or value is its length
// and bytes, each number a uvarint (encoding/binary). Not JSON: a count
// over a week reads thousands of values, and encoding/json took 5 ms of
// the 20 of "by node per hour, one rule, 7 days" over 10M alerts.
const keptFormat = 1

func encodeKept(set []keptCluster) []byte {
	b := []byte{keptFormat}
	b = binary.AppendUvarint(b, uint64(len(set)))
	for _, c := range set {
		b = binary.AppendUvarint(b, uint64(len(c.Cluster)))
		b = append(b, c.Cluster...)
		b = binary.AppendUvarint(b, uint64(len(c.Values)))
		for i, v := range c.Values {
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
			b = binary.AppendUvarint(b, uint64(c.Counts[i]))
		}
	}
	return b
}

func decodeKept(b []byte) ([]keptCluster, error) {
	if len(b) == 0 || b[0] != keptFormat {
		return nil, fmt.Errorf("kept counts of an unknown format (%d bytes)", len(b))
	}
	b = b[1:]
	short := false // b ended before what it says it holds
	num := func() uint64 {
		n, size := binary.Uvarint(b)
		if size <= 0 {
			short = true
			return 0
		}
		b = b[size:]
		return n
	}
	// count is a number of things still to read, each at least a byte.
	count := func() int {
		n := num()
		if n > uint64(len(b)) {
			short = true
			return 0
		}
		return int(n)
	}
	str := func() string {
		n := num()
		if n > uint64(len(b)) {
			short = true
			return ""
		}
		v := string(b[:n])
		b = b[n:]
		return v
	}
	set := make([]keptCluster, count())
	for i := 0; i < len(set) && !short; i++ {
		c := &set[i]
		c.Cluster = str()
		m := count()
		c.Values, c.Counts = make([]string, m), make([]int64, m)
		for j := range c.Values {
			c.Values[j] = str()
			c.Counts[j] = int64(num())
		}
	}
	if short || len(b) > 0 {
		return nil, fmt.Errorf("kept counts of %d bytes cut short or too long", len(b))
	}
	return set, nil
}

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

// ruleHourly says whether q is counted from kept hours: one rule's
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
// over from rule_hours, what is left at either end from the alerts.
func (s *sqlStore) ruleCounts(ctx context.Context, q CountQuery, now time.Time, acc map[countKey]*Count) error {
	return s.keptCounts(ctx, q, q.Filter.Rule, q.Since, q.Until, now, acc)
}

// rollupCounts counts q (rolledUp) over [lo, hi) (whole minutes; zero:
// unbounded) from the rollup into acc: in buckets of whole hours (or
// none), the hours that are over from rule_hours (kept under
// allRules), the minutes at either end from the rollup itself.
func (s *sqlStore) rollupCounts(ctx context.Context, q CountQuery, lo, hi time.Time, acc map[countKey]*Count) error {
	if !s.kept || q.Bucket%time.Hour != 0 {
		return s.countRange(ctx, q, lo, hi, true, acc)
	}
	return s.keptCounts(ctx, q, allRules, lo, hi, time.Now(), acc)
}

// keptCounts counts q over [lo, hi) (zero: unbounded) into acc: the whole
// hours that are over from what is kept under rule (readKept), what is
// left at either end as without them: one rule's from its alerts, all
// rules' (allRules) from the rollup.
func (s *sqlStore) keptCounts(ctx context.Context, q CountQuery, rule string, lo, hi, now time.Time, acc map[countKey]*Count) error {
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
	kept := map[countKey]*Count{}
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
func (s *sqlStore) countWithoutKept(ctx context.Context, q CountQuery, lo, hi time.Time, fromRollup bool, acc map[countKey]*Count, err error) error {
	if ctx.Err() != nil {
		return err
	}
	return s.countRange(ctx, q, lo, hi, fromRollup, acc)
}

// staleRuleHours returns the hours in [h0, h1) that rule_hours does not
// hold for rule and field as of their current generation, with those
// generations.
func staleRuleHours(ctx context.Context, db querier, rebind func(string) string, rule, field string, h0, h1 int64) (stale []int64, gens map[int64]int64, err error) {
	return staleHours(ctx, db, rebind("SELECT hour, gen FROM rule_hours WHERE rule = ? AND field = ? AND hour >= ? AND hour < ?"), rebind, []any{rule, field}, h0, h1)
}

// staleHours returns the hours in [h0, h1) that held (a query of hours
// and their generations, given args then h0 and h1) does not hold as of
// their current generation, with those generations.
func staleHours(ctx context.Context, db querier, held string, rebind func(string) string, args []any, h0, h1 int64) (stale []int64, gens map[int64]int64, err error) {
	// The generations first, then what is held: an hour whose
	// generation changes between the two is seen stale, never current.
	if gens, err = readGens(ctx, db, rebind("SELECT hour, gen FROM count_hours WHERE hour >= ? AND hour < ?"), h0, h1); err != nil {
		return nil, nil, err
	}
	have, err := readGens(ctx, db, held, append(args, h0, h1)...)
	if err != nil {
		return nil, nil, err
	}
	for h := h0; h < h1; h += int64(time.Hour) {
		if g, ok := have[h]; !ok || g != gens[h] {
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
// writer is held that long), then sums its whole days (ruledays.go), then
// keeps each rule's counts of those hours (keepEveryRule). The
// console runs it every ten minutes, so that each hour is counted once as
// it ends, and a count over the week reads kept hours from its first ask
// on; without it, the first ask would count them (as long as a count did
// before they were kept).
func (s *sqlStore) KeepCounts(ctx context.Context, now time.Time) error {
	if !s.kept {
		return nil
	}
	hours := 0 // kept by this call
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
		hours += len(stale)
		d0, d1 := wholeDays(h0, h1)
		if _, err := s.keepRuleDays(ctx, allRules, f, d0, d1); err != nil {
			return fmt.Errorf("store: keep counts by %s: %w", f, err)
		}
	}
	// Each rule's, from the first alert of the week on.
	var first sql.NullInt64
	if err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT min(time_ns) FROM alerts WHERE time_ns >= ?"), h1-int64(keepBack)).Scan(&first); err != nil {
		return fmt.Errorf("store: keep each rule's counts: %w", err)
	}
	if first.Valid {
		n, err := s.keepEveryRule(ctx, first.Int64/int64(time.Hour)*int64(time.Hour), h1)
		if err != nil {
			return fmt.Errorf("store: keep each rule's counts: %w", err)
		}
		hours += n
	}
	if hours >= analyzeAfter && s.d.replans {
		// PostgreSQL's connections keep a generic plan of a statement
		// they ran often, made with the statistics of then: a store that
		// kept nothing yet reads rule_hours whole (a plan made for an
		// empty table) until autovacuum analyses it, up to minutes
		// later. Measured: a count of one rule 47 ms instead of 8 over a
		// million alerts, right after KeepCounts kept the week. ANALYZE
		// makes every connection plan again.
		if _, err := s.db.ExecContext(ctx, "ANALYZE rule_hours, rule_days, rule_hours_every"); err != nil {
			return fmt.Errorf("store: analyse the kept counts: %w", err)
		}
	}
	return nil
}

// analyzeAfter is how many hours KeepCounts keeps (an hour of a field, or
// of every rule) before it analyses the tables it kept them in: a day's.
// The console keeps about ten an hour (nine fields and every rule).
const analyzeAfter = 24

// everyRuleFields are the fields each rule's counts are kept by ahead of
// any ask: those ruleHourly counts one rule's alerts by, but the rule.
var everyRuleFields = func() []string {
	var fields []string
	for f := range rollupFields {
		if f != "rule" {
			fields = append(fields, f)
		}
	}
	sort.Strings(fields)
	return fields
}()

// keepEveryRule keeps each rule's counts by each of everyRuleFields for
// the hours of [h0, h1) that rule_hours_every does not hold as of their
// generation, an hour a transaction, one read of its alerts, and returns
// how many it kept. A dashboard asks for one rule's week by node,
// namespace or priority; without this, its first ask counted the rule's
// alerts (50,000 entries of the rule's index over 10M alerts, 120 ms when
// they were not in memory).
func (s *sqlStore) keepEveryRule(ctx context.Context, h0, h1 int64) (hours int, err error) {
	stale, _, err := staleEveryRule(ctx, s.db, s.d.rebind, h0, h1)
	if err != nil {
		return 0, err
	}
	for _, h := range stale {
		if err := s.keepEveryRuleHour(ctx, h); err != nil {
			return hours, err
		}
		hours++
	}
	return hours, nil
}

// staleEveryRule returns the hours of [h0, h1) that rule_hours_every does
// not hold as of their generation, with those generations.
func staleEveryRule(ctx context.Context, db querier, rebind func(string) string, h0, h1 int64) (stale []int64, gens map[int64]int64, err error) {
	return staleHours(ctx, db, rebind("SELECT hour, gen FROM rule_hours_every WHERE hour >= ? AND hour < ?"), rebind, nil, h0, h1)
}

// keepEveryRuleHour counts the alerts of hour h by rule, cluster and each
// of everyRuleFields, and keeps each rule's counts by each field, over
// what a first ask kept of them.
func (s *sqlStore) keepEveryRuleHour(ctx context.Context, h int64) error {
	tx, err := s.keepTx(ctx, "rule_hours/every")
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stale, gens, err := staleEveryRule(ctx, tx, s.d.rebind, h, h+int64(time.Hour))
	if err != nil || len(stale) == 0 {
		return err
	}
	cols := ""
	for _, f := range everyRuleFields {
		cols += ", CAST(" + countCols[f] + " AS TEXT)"
	}
	rows, err := tx.QueryContext(ctx, s.d.rebind("SELECT rule, cluster"+cols+", count(*) FROM alerts WHERE time_ns >= ? AND time_ns < ? GROUP BY rule, cluster"+cols),
		h, h+int64(time.Hour))
	if err != nil {
		return err
	}
	defer rows.Close()
	sets := make([]map[string]keptSet, len(everyRuleFields)) // by field, by rule
	for i := range sets {
		sets[i] = map[string]keptSet{}
	}
	var rule, cluster string
	var n int64
	values := make([]string, len(everyRuleFields))
	dest := []any{&rule, &cluster}
	for i := range values {
		dest = append(dest, &values[i])
	}
	dest = append(dest, &n)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		for i, v := range values {
			set := sets[i][rule]
			if set == nil {
				set = keptSet{}
				sets[i][rule] = set
			}
			set.add(cluster, v, n)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var kept []keptRow
	for i, f := range everyRuleFields {
		for rule, set := range sets[i] {
			kept = append(kept, keptRow{rule, f, h, gens[h], set})
		}
	}
	if err := s.putKept(ctx, tx, "rule_hours", "hour", kept); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind("INSERT INTO rule_hours_every (hour, gen) VALUES (?, ?) ON CONFLICT (hour) DO UPDATE SET gen = excluded.gen"),
		h, gens[h]); err != nil {
		return err
	}
	return tx.Commit()
}

// keepRuleHours counts the hours of [h0, h1) that rule_hours does not
// hold as of their generation (for rule and field): one rule's from its
// alerts, all rules' (allRules) from the rollup.
func (s *sqlStore) keepRuleHours(ctx context.Context, rule, field string, h0, h1 int64) error {
	stale, _, err := staleRuleHours(ctx, s.db, s.d.rebind, rule, field, h0, h1)
	if err != nil || len(stale) == 0 {
		return wrapCounts(err)
	}
	tx, err := s.keepTx(ctx, "rule_hours/"+field+"/"+rule)
	if err != nil {
		return wrapCounts(err)
	}
	defer tx.Rollback()
	stale, gens, err := staleRuleHours(ctx, tx, s.d.rebind, rule, field, h0, h1)
	if err != nil || len(stale) == 0 {
		return wrapCounts(err)
	}
	count := `SELECT (time_ns / ?) * ?, cluster, CAST(` + countCols[field] + ` AS TEXT), count(*)
		FROM alerts WHERE rule = ? AND time_ns >= ? AND time_ns < ? GROUP BY 1, 2, 3`
	of := rule
	if rule == allRules {
		count = `SELECT (minute / ?) * ?, cluster, value, sum(n)
		FROM alert_rollup WHERE field = ? AND minute >= ? AND minute < ? GROUP BY 1, 2, 3`
		of = field
	}
	sets := make(map[int64]keptSet, len(stale))
	for _, h := range stale {
		sets[h] = keptSet{} // an hour without alerts is kept too
	}
	for _, run := range hourRuns(stale) {
		if err := scanKept(ctx, tx, s.d.rebind(count), sets, int64(time.Hour), int64(time.Hour), of, run[0], run[1]); err != nil {
			return wrapCounts(err)
		}
	}
	rows := make([]keptRow, len(stale))
	for i, h := range stale {
		rows[i] = keptRow{rule, field, h, gens[h], sets[h]}
	}
	if err := s.putKept(ctx, tx, "rule_hours", "hour", rows); err != nil {
		return wrapCounts(err)
	}
	return wrapCounts(tx.Commit())
}

// scanKept adds the rows of q (a time, a cluster, a value, a count) to
// the sets of their times; a time without a set is left out.
func scanKept(ctx context.Context, db querier, q string, sets map[int64]keptSet, args ...any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var t, n int64
		var cluster, value string
		if err := rows.Scan(&t, &cluster, &value, &n); err != nil {
			return err
		}
		if set := sets[t]; set != nil {
			set.add(cluster, value, n)
		}
	}
	return rows.Err()
}

// keptRow is a row of rule_hours or rule_days: the counts of rule's
// alerts by field over the hour or day at, as of the generation gen.
type keptRow struct {
	rule, field string
	at, gen     int64
	set         keptSet
}

// putKept writes rows into table (rule_hours or rule_days, col its
// time's), over what it held for them.
func (s *sqlStore) putKept(ctx context.Context, tx *sql.Tx, table, col string, rows []keptRow) error {
	for len(rows) > 0 {
		n := min(len(rows), 200)
		args := make([]any, 0, 5*n)
		for _, r := range rows[:n] {
			args = append(args, r.rule, r.field, r.at, r.gen, r.set.encode())
		}
		q := "INSERT INTO " + table + " (rule, field, " + col + ", gen, counts) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?,?,?,?,?),", n), ",") +
			" ON CONFLICT (rule, field, " + col + ") DO UPDATE SET gen = excluded.gen, counts = excluded.counts"
		if _, err := tx.ExecContext(ctx, s.d.rebind(q), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
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

// readRuleHours adds what table (rule_hours, or rule_days: col is its
// time's) holds for q under rule in [t0, t1) to acc.
func (s *sqlStore) readRuleHours(ctx context.Context, q CountQuery, rule, table, col string, t0, t1 int64, acc map[countKey]*Count) error {
	// In order of time, so a bucket's values are summed in a small map,
	// into acc once the bucket is done.
	bucket, sums := int64(-1), map[string]int64{}
	done := func() {
		for v, n := range sums {
			addCount(acc, q, bucket, v, n, true)
		}
		clear(sums)
	}
	err := eachKept(ctx, s.db, s.d.rebind("SELECT "+col+", counts FROM "+table+" WHERE rule = ? AND field = ? AND "+col+" >= ? AND "+col+" < ? ORDER BY "+col),
		[]any{rule, q.Field, t0, t1}, func(t int64, set []keptCluster) {
			b := int64(0)
			if q.Bucket > 0 {
				b = t / int64(q.Bucket) * int64(q.Bucket)
			}
			if b != bucket {
				done()
				bucket = b
			}
			for _, c := range set {
				if q.Filter.Cluster != "" && c.Cluster != q.Filter.Cluster {
					continue
				}
				for i, v := range c.Values {
					sums[v] += c.Counts[i]
				}
			}
		})
	if err != nil {
		return wrapCounts(err)
	}
	done()
	return nil
}

// eachKept calls f with the time and the counts of each row (a time, its
// counts) of q.
func eachKept(ctx context.Context, db querier, q string, args []any, f func(t int64, set []keptCluster)) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var t int64
		var raw []byte
		if err := rows.Scan(&t, &raw); err != nil {
			return err
		}
		set, err := decodeKept(raw)
		if err != nil {
			return fmt.Errorf("at %d: %w", t, err)
		}
		f(t, set)
	}
	return rows.Err()
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

// keepTx begins the transaction that keeps counts under key: in
// PostgreSQL, not while retention takes kept hours (pruneRuleHours), and
// one console at a time under key (the next one finds the work done).
// SQLite's one writer does both.
func (s *sqlStore) keepTx(ctx context.Context, key string) (*sql.Tx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil || s.d.lockKey == nil {
		return tx, err
	}
	if err := s.d.lockKey(ctx, tx, pruneLock, true); err != nil {
		tx.Rollback()
		return nil, err
	}
	if err := s.d.lockKey(ctx, tx, key, false); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

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
	for _, t := range [][2]string{{"rule_hours", "hour"}, {"rule_days", "day"}, {"rule_hours_every", "hour"}} {
		if _, err := tx.ExecContext(ctx, s.d.rebind("DELETE FROM "+t[0]+" WHERE "+t[1]+" < ?"), cutoff); err != nil {
			return fmt.Errorf("%s: %w", t[0], err)
		}
	}
	return tx.Commit()
}
