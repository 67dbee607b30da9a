package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// sqlStore is the Store over database/sql; dialect holds what SQLite and
// PostgreSQL do differently.
type sqlStore struct {
	db *sql.DB
	d  dialect
	// ruleHours says that the schema has count_hours (a test opens one
	// of a version before it).
	ruleHours bool
	// kept says that it has keptTables (rulehours.go).
	kept bool
	// spans says that the rollup's rows have first_ns and last_ns.
	spans bool
	// textBudget is how many alerts one page of the feed tests for the
	// free text at most (defaultTextBudget).
	textBudget int
	// marks are, per field the feed narrows through the rollup, the time
	// from which the rollup holds every alert's value (rollupfeed.go);
	// nil for a schema from before.
	marks map[string]int64
}

type dialect struct {
	name string
	// rebind turns the ? placeholders into the database's own.
	rebind func(string) string
	// lateral says that the database joins LATERAL (PostgreSQL): the
	// feed reads several ranges of time by one query planned once.
	lateral bool
	// unindexed, before a column in a condition, keeps the planner from
	// choosing that column's index for it (SQLite's unary +).
	unindexed string
	// like is the case-insensitive LIKE operator (with a COLLATE
	// clause for its left side if need be).
	like string
	// maxRows is how many rows one INSERT carries.
	maxRows int
	// put, when set, is the database's own Put (PostgreSQL's, pgput.go).
	put func(ctx context.Context, s *sqlStore, b *Batch) error
	// prune removes rows of table older than cutoff.
	prune func(ctx context.Context, db *sql.DB, table string, cutoff int64) (int64, error)
	// lockWorkloads, when set, takes the transaction's locks on keys (in
	// one order) that replicas writing at once must share: their
	// profiles (profiles.go). SQLite has one writer.
	lockWorkloads func(ctx context.Context, tx *sql.Tx, keys []string) error
	// lockKey, when set, takes the transaction's lock on key (shared
	// with others that take it shared), which replicas counting the same
	// thing at once share (rulehours.go). SQLite has one writer.
	lockKey func(ctx context.Context, tx *sql.Tx, key string, shared bool) error
	// replans says that the database's connections keep generic plans
	// made with the statistics of then (PostgreSQL's prepared
	// statements), which ANALYZE makes them plan again (rulehours.go).
	replans bool
}

func dollar(q string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (s *sqlStore) Close() error { return s.db.Close() }

// alertCols are the alert table's columns, in the order rowOf gives them.
var alertCols = []string{"time_ns", "uuid", "received_ns", "cluster", "node", "namespace", "pod", "container_id",
	"container_name", "image", "rule", "priority", "source", "action", "tags", "output", "process_id", "doc", "workload"}

var eventCols = []string{"time_ns", "id", "cluster", "node", "container_id", "type", "process_id", "parent_id", "doc"}

func alertRow(in AlertIn) []any {
	a := in.Alert
	var ns, pod, cid, cname, image, pid string
	if c := a.Container; c != nil {
		cid, cname, image = c.ID, c.Name, c.Image
		if c.Pod != nil {
			ns, pod = c.Pod.Namespace, c.Pod.Name
		}
	}
	if a.Process != nil {
		pid = a.Process.ID
	}
	tags := ""
	if len(a.Tags) > 0 {
		tags = "," + strings.Join(a.Tags, ",") + ","
	}
	rank := PriorityRank(a.Priority)
	if rank < 0 {
		rank = len(Priorities)
	}
	rec := in.Received
	if rec.IsZero() {
		rec = time.Now()
	}
	return []any{a.Time.UnixNano(), a.UUID, rec.UnixNano(), a.Cluster, a.Hostname, ns, pod, cid,
		cname, image, a.Rule, rank, a.Source, a.Action, tags, a.Output, pid, string(in.Raw), WorkloadOf(a)}
}

func eventRow(in EventIn) []any {
	e := in.Event
	cid := ""
	if e.Container != nil {
		cid = e.Container.ID
	}
	return []any{e.Time.UnixNano(), in.ID, e.Cluster, e.Node, cid, string(e.Type), e.Process.ID, e.Process.ParentID, string(in.Raw)}
}

// Put stores b in one transaction: the rows, then, for the alerts that
// were not already stored, their incidents and rollup counts.
func (s *sqlStore) Put(ctx context.Context, b *Batch) error {
	if s.d.put != nil {
		return s.d.put(ctx, s, b)
	}
	aRows := make([][]any, len(b.Alerts))
	for i, a := range b.Alerts {
		aRows[i] = alertRow(a)
	}
	eRows := make([][]any, len(b.Events))
	for i, e := range b.Events {
		eRows[i] = eventRow(e)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	inserted, err := s.insert(ctx, tx, "alerts", alertCols, aRows, "uuid")
	if err != nil {
		return err
	}
	if _, err := s.insert(ctx, tx, "events", eventCols, eRows, ""); err != nil {
		return err
	}
	if fresh, rows := freshAlerts(b.Alerts, aRows, inserted); len(fresh) > 0 {
		if err := s.group(ctx, tx, fresh); err != nil {
			return err
		}
		if err := s.rollup(ctx, tx, rows); err != nil {
			return err
		}
		if hours := s.pastHours(rows); len(hours) > 0 {
			if _, err := tx.ExecContext(ctx, s.d.rebind(bumpHoursSQL(len(hours))), int64sAny(hours)...); err != nil {
				return fmt.Errorf("store: count hours: %w", err)
			}
		}
	}
	for _, hb := range b.Heartbeats {
		doc, _ := json.Marshal(hb)
		_, err := tx.ExecContext(ctx, s.d.rebind(upsertNode), hb.Cluster, hb.Node, hb.Time.UnixNano(), string(doc))
		if err != nil {
			return fmt.Errorf("store heartbeat: %w", err)
		}
		if !hb.Started.IsZero() {
			if _, err := tx.ExecContext(ctx, s.d.rebind(goneBeforeStart), goneArgs(hb)...); err != nil {
				return fmt.Errorf("store heartbeat: %w", err)
			}
		}
	}
	for _, cs := range b.Containers {
		doc, _ := json.Marshal(cs)
		_, err := tx.ExecContext(ctx, s.d.rebind(upsertContainer), cs.Cluster, cs.Node, cs.Container.ID, cs.Time.UnixNano(), cs.Running, string(doc))
		if err != nil {
			return fmt.Errorf("store container: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// The newest heartbeat and container state win, whatever order they
// arrive in.
const (
	upsertNode = `INSERT INTO nodes (cluster, node, last_ns, doc) VALUES (?, ?, ?, ?)
		ON CONFLICT (cluster, node) DO UPDATE SET last_ns = excluded.last_ns, doc = excluded.doc
		WHERE excluded.last_ns >= nodes.last_ns`
	upsertContainer = `INSERT INTO containers (cluster, node, id, last_ns, running, doc) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (cluster, node, id) DO UPDATE SET last_ns = excluded.last_ns, running = excluded.running, doc = excluded.doc
		WHERE excluded.last_ns >= containers.last_ns`
)

// goneBeforeStart marks the containers of a heartbeat's node that its agent
// has not reported since it started as not running. An agent reports
// every container it finds when it starts, and a container that ends
// while it runs as gone; one that ended while no agent ran on the node
// was reported by none, and was listed as running for good.
const goneBeforeStart = `UPDATE containers SET running = ? WHERE cluster = ? AND node = ? AND running = ? AND last_ns < ?`

func goneArgs(hb *event.Heartbeat) []any {
	return []any{false, hb.Cluster, hb.Node, true, hb.Started.UnixNano()}
}

// freshAlerts returns the alerts (and their rows) whose uuids were
// inserted now: only those count in incidents and the rollup, a replayed
// one was counted when it was first stored. A uuid twice in one batch
// counts once.
func freshAlerts(alerts []AlertIn, rows [][]any, inserted map[string]bool) ([]AlertIn, [][]any) {
	if len(inserted) == 0 {
		return nil, nil
	}
	fresh := make([]AlertIn, 0, len(inserted))
	freshRows := make([][]any, 0, len(inserted))
	for i, a := range alerts {
		if inserted[a.Alert.UUID] {
			fresh = append(fresh, a)
			freshRows = append(freshRows, rows[i])
			delete(inserted, a.Alert.UUID)
		}
	}
	return fresh, freshRows
}

// insert adds rows, ignoring those whose key is already stored. With
// returning it returns that column of the rows it added.
func (s *sqlStore) insert(ctx context.Context, tx *sql.Tx, table string, cols []string, rows [][]any, returning string) (map[string]bool, error) {
	var added map[string]bool
	if returning != "" {
		added = map[string]bool{}
	}
	one := "(" + strings.Repeat("?,", len(cols)-1) + "?)"
	for len(rows) > 0 {
		n := min(len(rows), s.d.maxRows)
		var q strings.Builder
		q.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ",") + ") VALUES ")
		args := make([]any, 0, n*len(cols))
		for i := range n {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString(one)
			args = append(args, rows[i]...)
		}
		q.WriteString(" ON CONFLICT DO NOTHING")
		if returning == "" {
			if _, err := tx.ExecContext(ctx, s.d.rebind(q.String()), args...); err != nil {
				return nil, fmt.Errorf("store %s: %w", table, err)
			}
		} else {
			res, err := tx.QueryContext(ctx, s.d.rebind(q.String()+" RETURNING "+returning), args...)
			if err != nil {
				return nil, fmt.Errorf("store %s: %w", table, err)
			}
			for res.Next() {
				var k string
				if err := res.Scan(&k); err != nil {
					res.Close()
					return nil, fmt.Errorf("store %s: %w", table, err)
				}
				added[k] = true
			}
			res.Close()
			if err := res.Err(); err != nil {
				return nil, fmt.Errorf("store %s: %w", table, err)
			}
		}
		rows = rows[n:]
	}
	return added, nil
}

// where renders f as a WHERE clause (with a leading " WHERE ") and its
// arguments.
func (s *sqlStore) where(ctx context.Context, f Filter) (string, []any, error) {
	if err := f.check(); err != nil {
		return "", nil, err
	}
	var conds []string
	var args []any
	eq := func(col, v string) {
		if v != "" {
			conds = append(conds, col+" = ?")
			args = append(args, v)
		}
	}
	if !f.Since.IsZero() {
		conds = append(conds, "time_ns >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		conds = append(conds, "time_ns < ?")
		args = append(args, f.Until.UnixNano())
	}
	eq("cluster", f.Cluster)
	eq("node", f.Node)
	if f.Pod == "" && (f.Rule != "" || f.Node != "" || f.Container != "") {
		// A namespace is the least telling of these filters: the feed
		// reads the other's index (SQLite, without statistics, would
		// read the namespace's alerts: 89 ms against 1.3 for a namespace
		// and a rule over a million).
		eq(s.d.unindexed+"namespace", f.Namespace)
	} else {
		eq("namespace", f.Namespace)
	}
	eq("pod", f.Pod)
	eq("image", f.Image)
	eq("rule", f.Rule)
	eq("source", f.Source)
	eq("action", f.Action)
	if c := f.Container; c != "" {
		cond, a, err := s.containerCond(ctx, c)
		if err != nil {
			return "", nil, err
		}
		conds, args = append(conds, cond), append(args, a...)
	}
	if p := f.MinPriority; p != "" {
		conds = append(conds, "priority <= ?")
		args = append(args, PriorityRank(p))
	}
	if f.Tag != "" {
		conds = append(conds, "tags LIKE ?")
		args = append(args, "%,"+escapeLike(f.Tag)+",%")
	}
	if f.Text != "" {
		c, a := s.textCond(f.Text)
		conds, args = append(conds, c), append(args, a...)
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// textCond is the free text's condition: text in the output or the rule,
// any case.
func (s *sqlStore) textCond(text string) (string, []any) {
	t := "%" + escapeLike(text) + "%"
	return "(output " + s.d.like + " ? OR rule " + s.d.like + " ?)", []any{t, t}
}

// check says what is wrong with f's values, if anything, without reading
// the store.
func (f Filter) check() error {
	if p := f.MinPriority; p != "" && PriorityRank(p) < 0 {
		return fmt.Errorf("priority %q: use one of %s", p, strings.Join(Priorities, ", "))
	}
	return nil
}

// containerCond is the filters' container condition: c is a container's
// id, or a prefix of it of 12 digits or more (idFilter), else its name.
// Alerts are indexed by the container's name (and time), which the feed
// reads in its order however few the container's alerts among the others.
// An id is resolved through the inventory to its containers' names and
// whole ids, and the alerts are those of these names and ids (and of the
// 12-digit id itself, as Falco shortens them); a container renamed since
// an alert is found by its id under its present name only. An id the
// inventory does not know (a container no agent reported, such as
// Falco's) is looked for among all the alerts, newest first.
func (s *sqlStore) containerCond(ctx context.Context, c string) (string, []any, error) {
	if !idFilter(c) {
		return "container_name = ?", []any{c}, nil
	}
	c = strings.ToLower(c)
	names, ids, err := s.inventoryIDs(ctx, c)
	if err != nil {
		return "", nil, err
	}
	if len(names) == 0 {
		return "substr(container_id, 1, ?) = ?", []any{len(c), c}, nil
	}
	if len(c) == 12 {
		ids = append(ids, c)
	}
	return "container_name IN (" + marks(len(names)) + ") AND container_id IN (" + marks(len(ids)) + ")", append(names, ids...), nil
}

// marks is n placeholders, separated by commas.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// inventoryIDs is the names and the ids of the inventory's containers
// whose id begins with prefix, or none if one has no name (its alerts
// would be among those of every host process: no faster to find by name).
func (s *sqlStore) inventoryIDs(ctx context.Context, prefix string) (names, ids []any, err error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT id, doc FROM containers WHERE substr(id, 1, 12) = ? AND substr(id, 1, ?) = ?"),
		prefix[:12], len(prefix), prefix)
	if err != nil {
		return nil, nil, fmt.Errorf("store: container %s: %w", prefix, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, doc string
		if err := rows.Scan(&id, &doc); err != nil {
			return nil, nil, fmt.Errorf("store: container %s: %w", prefix, err)
		}
		var st event.ContainerState
		if json.Unmarshal([]byte(doc), &st) != nil || st.Container == nil || st.Container.Name == "" {
			return nil, nil, rows.Err()
		}
		if !slices.Contains(names, any(st.Container.Name)) {
			names = append(names, st.Container.Name)
		}
		if !slices.Contains(ids, any(id)) {
			ids = append(ids, id)
		}
	}
	return names, ids, rows.Err()
}

func escapeLike(s string) string {
	// Neither database treats a backslash as LIKE's escape by default in
	// the same way; % and _ in a search are rare enough to match loosely.
	return s
}

const maxPage = 1000

// feedSQL is the feed's query for q (one row more than a page, which
// says whether there is a next one), its arguments and the page's size.
func (s *sqlStore) feedSQL(ctx context.Context, q AlertQuery) (string, []any, int, error) {
	f, err := s.feedWhere(ctx, q)
	if err != nil {
		return "", nil, 0, err
	}
	f.withText()
	query, args := f.sql(nil, f.limit+1)
	return query, args, f.limit, nil
}

// feed is a feed query's conditions and page size.
type feed struct {
	s         *sqlStore
	where     string // with its leading " WHERE ", or ""
	args      []any
	limit     int
	cursorT   int64
	hasCursor bool
	// text is the free text, if any; then where and args are the other
	// conditions, and textSQL has the text's.
	text     string
	textSQL  string
	textArgs []any
}

func (s *sqlStore) feedWhere(ctx context.Context, q AlertQuery) (*feed, error) {
	f := &feed{s: s, limit: q.Limit, text: q.Text}
	others := q.Filter
	others.Text = ""
	w, args, err := s.where(ctx, others)
	if err != nil {
		return nil, err
	}
	if f.text != "" {
		f.textSQL, f.textArgs = s.textCond(f.text)
	}
	if f.limit <= 0 {
		f.limit = 100
	}
	f.limit = min(f.limit, maxPage)
	if q.Cursor != "" {
		t, u, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		c := "(time_ns < ? OR (time_ns = ? AND uuid < ?))"
		if w == "" {
			w = " WHERE " + c
		} else {
			w += " AND " + c
		}
		args = append(args, t, t, u)
		f.cursorT, f.hasCursor = t, true
	}
	f.where, f.args = w, args
	return f, nil
}

// withText adds the free text's condition to where, for the queries
// that read no more alerts than the page needs anyway (rollupfeed.go).
func (f *feed) withText() {
	if f.text == "" {
		return
	}
	if f.where == "" {
		f.where = " WHERE " + f.textSQL
	} else {
		f.where += " AND " + f.textSQL
	}
	f.args = append(f.args[:len(f.args):len(f.args)], f.textArgs...)
	f.text = ""
}

// sql is the feed's query for at most n alerts, within the ranges rs
// when there are any (each read by its own query, which a UNION ALL joins).
func (f *feed) sql(rs []timeRange, n int) (string, []any) {
	const cols, order = "SELECT time_ns, uuid, doc FROM alerts", " ORDER BY time_ns DESC, uuid DESC LIMIT "
	limit := strconv.Itoa(n)
	if len(rs) == 0 {
		return f.s.d.rebind(cols + f.where + order + limit), f.args
	}
	within := func(lo, hi string) string { // f's conditions and the range's
		c := " WHERE "
		if f.where != "" {
			c = f.where + " AND "
		}
		return c + "time_ns >= " + lo + " AND time_ns < " + hi
	}
	var args []any
	switch {
	case len(rs) == 1:
		args = append(append(args, f.args...), rs[0].lo, rs[0].hi)
		return f.s.d.rebind(cols + within("?", "?") + order + limit), args
	case f.s.d.lateral:
		// One plan for every range (each a UNION ALL branch would be
		// planned anew: 0.4 ms each over a week's partitions).
		los, his := make([]int64, len(rs)), make([]int64, len(rs))
		for i, r := range rs {
			los[i], his[i] = r.lo, r.hi
		}
		args = append(append(args, los, his), f.args...)
		return f.s.d.rebind("SELECT a.time_ns, a.uuid, a.doc FROM unnest(?::bigint[], ?::bigint[]) AS r(lo, hi) CROSS JOIN LATERAL (" +
			cols + within("r.lo", "r.hi") + order + limit + ") AS a ORDER BY a.time_ns DESC, a.uuid DESC LIMIT " + limit), args
	}
	var q strings.Builder
	q.WriteString("SELECT time_ns, uuid, doc FROM (")
	for i, r := range rs {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&q, "SELECT * FROM (%s%s%s%s) AS r%d", cols, within("?", "?"), order, limit, i)
		args = append(append(args, f.args...), r.lo, r.hi)
	}
	q.WriteString(") AS runs" + order + limit)
	return f.s.d.rebind(q.String()), args
}

// Alerts reads a page of the feed: in one query, or, for a filter by a
// value the rollup marks (rollupfeed.go), by the runs of minutes that hold
// it, newest first, as many at a time as the rollup says hold what the
// page still needs, until the page and one more alert are read.
func (s *sqlStore) Alerts(ctx context.Context, q AlertQuery) (*AlertPage, error) {
	f, err := s.feedWhere(ctx, q)
	if err != nil {
		return nil, err
	}
	page := &AlertPage{Alerts: []json.RawMessage{}}
	p := &pager{page: page, limit: f.limit}
	read := func(rs []timeRange) error {
		query, args := f.sql(rs, f.limit+1-len(page.Alerts))
		rows, err := s.db.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("store alerts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var t int64
			var u, doc string
			if err := rows.Scan(&t, &u, &doc); err != nil {
				return fmt.Errorf("store alerts: %w", err)
			}
			if !p.add(t, u, doc) {
				break
			}
		}
		return rows.Err()
	}
	m := s.markedFeed(q, f.cursorT, f.hasCursor)
	if m == nil {
		if f.text != "" {
			return page, s.readText(ctx, f, p, int64(s.textBudget))
		}
		return page, read(nil)
	}
	// The free text reads s.textBudget alerts a page at most (as the
	// rollup counts them, in runs of at most as many); the page then
	// ends where it stopped.
	budget := int64(math.MaxInt64)
	if f.text != "" {
		budget = int64(s.textBudget)
	}
	unmarked := *f // the text apart, for the time before the rollup was complete
	f.withText()
	var scanned int64
	for page.Next == "" {
		room := int64(math.MaxInt64) // unbounded; and one run at least, however large
		if budget < math.MaxInt64 && scanned > 0 {
			room = budget - scanned
		}
		rs, n, err := m.runs(ctx, int64(f.limit+1-len(page.Alerts)), room)
		if err != nil {
			return nil, err
		}
		if len(rs) == 0 {
			if len(m.pending) > 0 { // the budget is spent
				page.Next = encodeCursor(m.pending[0].hi, "")
			}
			break
		}
		if n == math.MaxInt64 && budget < math.MaxInt64 {
			// The time before the rollup was complete (runs gives it
			// alone, the last), of unknown size: tested for the text as
			// an unmarked feed is, what is left of the budget at most.
			unmarked.where, unmarked.args = andWhere(unmarked.where, unmarked.args, "time_ns >= ? AND time_ns < ?", rs[0].lo, rs[0].hi)
			return page, s.readText(ctx, &unmarked, p, budget-scanned)
		}
		if err := read(rs); err != nil {
			return nil, err
		}
		if scanned += min(n, budget-scanned); page.Next == "" && budget < math.MaxInt64 && scanned >= budget && m.more() {
			page.Next = encodeCursor(rs[len(rs)-1].lo, "")
		}
	}
	return page, nil
}

// andWhere adds the condition cond, with its arguments, to a where clause
// (with its leading " WHERE ", or "") and its arguments.
func andWhere(where string, args []any, cond string, condArgs ...any) (string, []any) {
	if where == "" {
		where = " WHERE " + cond
	} else {
		where += " AND " + cond
	}
	return where, append(args[:len(args):len(args)], condArgs...)
}

// defaultTextBudget is how many alerts one page of the feed tests for the
// free text at most (PostgreSQL's; SQLite's is half): there is no index of
// words, and a text no alert has would read every alert of the range
// (about 4 µs each in PostgreSQL here: 0.45 s for a day of a million
// alerts over a week). A page that has read them ends there, with fewer
// alerts than asked for perhaps, and a cursor from where it stopped.
const defaultTextBudget = 10000

// readText reads (the rest of) a page of the feed with the free text: the
// alerts the other conditions give, newest first, budget at most, keeping
// those with the text; the page ends at the last one read when it is not
// full.
func (s *sqlStore) readText(ctx context.Context, f *feed, p *pager, budget int64) error {
	n := strconv.FormatInt(budget, 10)
	q := s.d.rebind(`SELECT time_ns, uuid, rn, hit, CASE WHEN hit THEN doc ELSE '' END FROM (
		SELECT time_ns, uuid, doc, ` + f.textSQL + ` AS hit, row_number() OVER (ORDER BY time_ns DESC, uuid DESC) AS rn
		FROM alerts` + f.where + ` ORDER BY time_ns DESC, uuid DESC LIMIT ` + n + `) AS scanned
		WHERE hit OR rn = ` + n + ` ORDER BY time_ns DESC, uuid DESC LIMIT ` + strconv.Itoa(f.limit+2))
	rows, err := s.db.QueryContext(ctx, q, append(append([]any{}, f.textArgs...), f.args...)...)
	if err != nil {
		return fmt.Errorf("store alerts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t, rn int64
		var u, doc string
		var hit bool
		if err := rows.Scan(&t, &u, &rn, &hit, &doc); err != nil {
			return fmt.Errorf("store alerts: %w", err)
		}
		if hit && !p.add(t, u, doc) {
			break
		}
		if rn == budget {
			p.page.Next = encodeCursor(t, u) // read up to here
		}
	}
	return rows.Err()
}

// pager fills a page of the feed, the alerts newest first.
type pager struct {
	page  *AlertPage
	limit int
	lastT int64 // the last alert added's time and uuid
	lastU string
}

// add adds an alert to the page; when it is full, it gives the page its
// cursor instead and returns false.
func (p *pager) add(t int64, u, doc string) bool {
	if len(p.page.Alerts) == p.limit {
		p.page.Next = encodeCursor(p.lastT, p.lastU)
		return false
	}
	p.page.Alerts = append(p.page.Alerts, json.RawMessage(doc))
	p.lastT, p.lastU = t, u
	return true
}

func encodeCursor(t int64, u string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t, 10) + "/" + u))
}

func decodeCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if ts, u, ok := strings.Cut(string(b), "/"); ok {
			if t, err := strconv.ParseInt(ts, 10, 64); err == nil {
				return t, u, nil
			}
		}
	}
	return 0, "", fmt.Errorf("cursor %q is not one this console gave", c)
}

func (s *sqlStore) Alert(ctx context.Context, uuid string) (*AlertDetail, error) {
	var doc string
	err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT doc FROM alerts WHERE uuid = ?"), uuid).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store alert: %w", err)
	}
	var a event.Alert
	if err := json.Unmarshal([]byte(doc), &a); err != nil {
		return nil, fmt.Errorf("store alert %s: %w", uuid, err)
	}
	d := &AlertDetail{Alert: json.RawMessage(doc), Ancestry: []event.Process{}, Around: []json.RawMessage{}, Connections: []json.RawMessage{}}
	if a.Process != nil {
		p := *a.Process
		p.Ancestors = nil
		d.Ancestry = append(d.Ancestry, p)
		d.Ancestry = append(d.Ancestry, a.Process.Ancestors...)
	}
	seen := map[string]bool{}
	add := func(raw []byte, e *event.Event) {
		key := e.Time.Format(time.RFC3339Nano) + string(e.Type) + strconv.Itoa(int(e.Process.PID))
		if seen[key] {
			return
		}
		seen[key] = true
		d.Around = append(d.Around, raw)
		if e.Network != nil {
			d.Connections = append(d.Connections, raw)
		}
	}
	for i := range a.Forensics {
		raw, _ := json.Marshal(&a.Forensics[i])
		add(raw, &a.Forensics[i])
	}
	if a.Container != nil && !a.Container.IsHost() {
		evs, err := s.Events(ctx, EventQuery{Cluster: a.Cluster, Node: a.Hostname, Container: a.Container.ID,
			Since: a.Time.Add(-5 * time.Minute), Until: a.Time.Add(5 * time.Minute), Limit: 500})
		if err != nil {
			return nil, err
		}
		for _, raw := range evs {
			var e event.Event
			if json.Unmarshal(raw, &e) == nil {
				add(raw, &e)
			}
		}
	}
	return d, nil
}

func (s *sqlStore) Events(ctx context.Context, q EventQuery) ([]json.RawMessage, error) {
	var conds []string
	var args []any
	add := func(c string, v any) {
		conds = append(conds, c)
		args = append(args, v)
	}
	if q.Cluster != "" {
		add("cluster = ?", q.Cluster)
	}
	if q.Node != "" {
		add("node = ?", q.Node)
	}
	if q.Container != "" {
		add("container_id = ?", q.Container)
	}
	if q.ProcessID != "" {
		add("(process_id = ? OR parent_id = ?)", q.ProcessID)
		args = append(args, q.ProcessID)
	}
	if !q.Since.IsZero() {
		add("time_ns >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		add("time_ns < ?", q.Until.UnixNano())
	}
	w := ""
	if len(conds) > 0 {
		w = " WHERE " + strings.Join(conds, " AND ")
	}
	limit := q.Limit
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT doc FROM events"+w+" ORDER BY time_ns, id LIMIT "+strconv.Itoa(limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("store events: %w", err)
	}
	defer rows.Close()
	out := []json.RawMessage{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		out = append(out, json.RawMessage(doc))
	}
	return out, rows.Err()
}

// countCols maps CountFields to columns.
var countCols = map[string]string{"rule": "rule", "priority": "priority", "node": "node", "cluster": "cluster",
	"namespace": "namespace", "pod": "pod", "image": "image", "source": "source", "action": "action", "container": "container_name",
	"tag": "tags"}

func (s *sqlStore) Counts(ctx context.Context, q CountQuery) ([]Count, error) {
	if _, ok := countCols[q.Field]; !ok {
		return nil, fmt.Errorf("cannot count by %q: use one of %s", q.Field, strings.Join(CountFields, ", "))
	}
	if err := q.Filter.check(); err != nil {
		return nil, err
	}
	acc := map[countKey]*Count{}
	lo, hi := q.Since, q.Until
	if s.kept && ruleHourly(q) {
		if err := s.ruleCounts(ctx, q, time.Now(), acc); err != nil {
			return nil, err
		}
	} else if since, ok := s.rolledUp(q); !ok {
		if err := s.countRange(ctx, q, lo, hi, false, acc); err != nil {
			return nil, err
		}
	} else {
		// Before the rollup held the field, from the alerts.
		if !since.IsZero() && (lo.IsZero() || lo.Before(since)) {
			end := since
			if !hi.IsZero() && hi.Before(since) {
				end = hi
			}
			if err := s.countRange(ctx, q, lo, end, false, acc); err != nil {
				return nil, err
			}
			if lo = since; !hi.IsZero() && !hi.After(lo) {
				lo = hi // nothing left
			}
		}
		// Whole minutes from the rollup, the partial ones at the ends
		// from the alerts.
		loUp := lo
		if !lo.IsZero() {
			loUp = lo.Truncate(time.Minute)
			if loUp.Before(lo) {
				loUp = loUp.Add(time.Minute)
			}
		}
		hiDown := hi
		if !hi.IsZero() {
			hiDown = hi.Truncate(time.Minute)
		}
		if !hi.IsZero() && hiDown.Before(loUp) {
			if err := s.countRange(ctx, q, lo, hi, false, acc); err != nil {
				return nil, err
			}
		} else {
			if !lo.Equal(loUp) {
				if err := s.countRange(ctx, q, lo, loUp, false, acc); err != nil {
					return nil, err
				}
			}
			if err := s.rollupCounts(ctx, q, loUp, hiDown, acc); err != nil {
				return nil, err
			}
			if !hi.Equal(hiDown) {
				if err := s.countRange(ctx, q, hiDown, hi, false, acc); err != nil {
					return nil, err
				}
			}
		}
	}
	// By bucket, most first, then by value: sorted by their keys (a
	// week by the hour is thousands of counts).
	type sorted struct {
		k countKey
		c *Count
	}
	order := make([]sorted, 0, len(acc))
	for k, c := range acc {
		order = append(order, sorted{k, c})
	}
	slices.SortFunc(order, func(a, b sorted) int {
		if a.k.bucket != b.k.bucket {
			return cmp.Compare(a.k.bucket, b.k.bucket)
		}
		if a.c.Count != b.c.Count {
			return cmp.Compare(b.c.Count, a.c.Count)
		}
		return strings.Compare(a.k.value, b.k.value)
	})
	out := make([]Count, len(order))
	for i, o := range order {
		out[i] = *o.c
	}
	return out, nil
}

// countValue renders a counted column's value; priorities by name.
func countValue(col string, v any) string {
	switch v := v.(type) {
	case int64:
		if col == "priority" && v >= 0 && int(v) < len(Priorities) {
			return Priorities[v]
		}
		return strconv.FormatInt(v, 10)
	case int32:
		return countValue(col, int64(v))
	case int16:
		return countValue(col, int64(v))
	case string:
		return v
	case []byte:
		return string(v)
	}
	return fmt.Sprint(v)
}

func (s *sqlStore) Nodes(ctx context.Context) ([]Node, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT cluster, node, last_ns, doc FROM nodes ORDER BY cluster, node")
	if err != nil {
		return nil, fmt.Errorf("store nodes: %w", err)
	}
	defer rows.Close()
	out := []Node{}
	for rows.Next() {
		var n Node
		var last int64
		var doc string
		if err := rows.Scan(&n.Cluster, &n.Node, &last, &doc); err != nil {
			return nil, err
		}
		n.LastSeen = time.Unix(0, last).UTC()
		n.Heartbeat = &event.Heartbeat{}
		json.Unmarshal([]byte(doc), n.Heartbeat)
		out = append(out, n)
	}
	return out, rows.Err()
}

func (s *sqlStore) Containers(ctx context.Context, q ContainerQuery) ([]ContainerRow, error) {
	var conds []string
	var args []any
	if q.Cluster != "" {
		conds, args = append(conds, "cluster = ?"), append(args, q.Cluster)
	}
	if q.Node != "" {
		conds, args = append(conds, "node = ?"), append(args, q.Node)
	}
	if q.Running != nil {
		conds, args = append(conds, "running = ?"), append(args, *q.Running)
	}
	w := ""
	if len(conds) > 0 {
		w = " WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT cluster, node, id, last_ns, running, doc FROM containers"+w+" ORDER BY cluster, node, id"), args...)
	if err != nil {
		return nil, fmt.Errorf("store containers: %w", err)
	}
	defer rows.Close()
	out := []ContainerRow{}
	for rows.Next() {
		var c ContainerRow
		var last int64
		var running bool
		var doc string
		if err := rows.Scan(&c.Cluster, &c.Node, &c.ID, &last, &running, &doc); err != nil {
			return nil, err
		}
		c.LastSeen = time.Unix(0, last).UTC()
		c.State = &event.ContainerState{}
		json.Unmarshal([]byte(doc), c.State)
		c.State.Running = running // goneBeforeStart changes the column alone
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *sqlStore) Prune(ctx context.Context, now time.Time, r Retention) (Pruned, error) {
	var p Pruned
	var err error
	if r.Alerts > 0 {
		cutoff := now.Add(-r.Alerts).UnixNano()
		if p.Alerts, err = s.d.prune(ctx, s.db, "alerts", cutoff); err != nil {
			return p, err
		}
		if _, err := s.db.ExecContext(ctx, s.d.rebind("DELETE FROM alert_rollup WHERE minute < ?"), cutoff/int64(time.Minute)*int64(time.Minute)); err != nil {
			return p, fmt.Errorf("store: prune rollup: %w", err)
		}
		// An hour some of whose alerts are gone is counted no more.
		if s.kept {
			if err := s.pruneRuleHours(ctx, cutoff); err != nil {
				return p, fmt.Errorf("store: prune kept counts: %w", err)
			}
		}
		// An incident goes with its last alert.
		if _, err := s.db.ExecContext(ctx, s.d.rebind("DELETE FROM incidents WHERE last_ns < ?"), cutoff); err != nil {
			return p, fmt.Errorf("store: prune incidents: %w", err)
		}
	}
	if r.Events > 0 {
		if p.Events, err = s.d.prune(ctx, s.db, "events", now.Add(-r.Events).UnixNano()); err != nil {
			return p, err
		}
	}
	if r.Flows > 0 {
		cutoff := now.Add(-r.Flows).UnixNano()
		res, err := s.db.ExecContext(ctx, s.d.rebind("DELETE FROM flows WHERE minute_ns < ?"), cutoff)
		if err != nil {
			return p, fmt.Errorf("store: prune flows: %w", err)
		}
		p.Flows, _ = res.RowsAffected()
		// An address not reported for as long names no workload now.
		if _, err := s.db.ExecContext(ctx, s.d.rebind("DELETE FROM workload_addrs WHERE last_ns < ?"), cutoff); err != nil {
			return p, fmt.Errorf("store: prune workload addresses: %w", err)
		}
		if _, err := s.db.ExecContext(ctx, s.d.rebind("DELETE FROM profile_containers WHERE last_ns < ?"), cutoff); err != nil {
			return p, fmt.Errorf("store: prune profile containers: %w", err)
		}
	}
	return p, nil
}
