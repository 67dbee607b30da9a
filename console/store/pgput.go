package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL's Put. Several batches are stored at once (by one console's
// workers and by its replicas), and what they share must be changed by
// one at a time: the incidents of a workload (two batches must not each
// open one) and the rollup's rows of the current minute. Whoever holds
// those holds them until its commit, so the part of a batch that takes
// them is kept to two round trips at its very end:
//
//  1. BEGIN, heartbeats and container states (one round trip), then the
//     alerts and the events by COPY; the alerts' indexes are the work, and
//     batches do it side by side. A batch stored again because some of it
//     is stored already (below) inserts them instead by INSERT ... SELECT
//     FROM unnest of each column's values, skipping what is stored, in the
//     first round trip.
//  2. the workloads' advisory locks and their open incidents: one round
//     trip; the incidents are decided in memory meanwhile.
//  3. the incidents touched and the rollup's counts, then COMMIT: one
//     round trip. The batch is acknowledged only once COMMIT has returned,
//     that is once the commit is durable.
//
// A batch that fails anywhere rolls back whole and is stored again later;
// the alerts it did store are then skipped, and only the alerts inserted
// by a transaction count in its incidents and rollup, so nothing counts
// twice.
//
// Alerts and events are first copied in as if none were stored yet: ON
// CONFLICT DO NOTHING costs every row a look into the primary key before
// its insertion and a second WAL record after it (a speculative
// insertion), and rules out COPY, to catch what is rare (a replay the
// streams did not recognise, a batch stored again after a failure). When
// a row is there already, the copy fails, the transaction rolls back, and
// the batch is stored again skipping what is stored.

const pgInsertAlerts = `INSERT INTO alerts (time_ns, uuid, received_ns, cluster, node, namespace, pod, container_id,
	container_name, image, rule, priority, source, action, tags, output, process_id, doc, workload)
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::text[], $11::text[], $12::smallint[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[],
		$18::text[], $19::text[])
	ON CONFLICT DO NOTHING RETURNING uuid`

const pgInsertEvents = `INSERT INTO events (time_ns, id, cluster, node, container_id, type, process_id, parent_id, doc)
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
	ON CONFLICT DO NOTHING`

// Locks are taken in one order (of the hashes) by every batch.
const pgLockWorkloads = `SELECT pg_advisory_xact_lock(7306373, h)
	FROM (SELECT DISTINCT hashtext(w) AS h FROM unnest($1::text[]) AS w ORDER BY 1) AS s`

var pgOpenIncidents = "SELECT " + incidentCols + ` FROM incidents
	WHERE status <> $1 AND first_ns - $2 <= $3 AND last_ns + $2 >= $4 AND workload = ANY($5::text[])`

var pgSaveIncidents = "INSERT INTO incidents (" + incidentCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::bigint[], $10::bigint[], $11::bigint[], $12::smallint[], $13::text[], $14::text[], $15::text[], $16::bigint[], $17::text[])
	ON CONFLICT (id) DO UPDATE SET first_ns = excluded.first_ns, last_ns = excluded.last_ns,
		alerts = excluded.alerts, priority = excluded.priority, rules = excluded.rules`

// The deltas come sorted: rows are locked in one order by every batch.
// The second is for a schema whose rows keep when their first and last
// alerts are (sqlStore.spans).
var pgAddRollup = [2]string{
	rollupSQL(false, "SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[])"),
	rollupSQL(true, "SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])"),
}

func (p *partitions) put(ctx context.Context, s *sqlStore, b *Batch) error {
	aRows := make([][]any, len(b.Alerts))
	aTimes := make([]int64, len(b.Alerts))
	for i, a := range b.Alerts {
		aRows[i] = alertRow(a)
		aTimes[i] = aRows[i][0].(int64)
	}
	eRows := make([][]any, len(b.Events))
	eTimes := make([]int64, len(b.Events))
	for i, e := range b.Events {
		eRows[i] = eventRow(e)
		eTimes[i] = eRows[i][0].(int64)
	}
	if err := p.ensure(ctx, s.db, "alerts", aTimes); err != nil {
		return err
	}
	if err := p.ensure(ctx, s.db, "events", eTimes); err != nil {
		return err
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: not a pgx connection: %T", dc)
		}
		rollback := func() {
			if c.Conn().PgConn().TxStatus() != 'I' && !c.Conn().IsClosed() {
				// A connection left in a transaction is discarded by
				// the pool anyway; roll back so that it need not be.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				c.Conn().Exec(rctx, "ROLLBACK")
				cancel()
			}
		}
		err := s.pgPut(ctx, c.Conn(), b, aRows, eRows, false)
		if storedBefore(err) {
			rollback()
			err = s.pgPut(ctx, c.Conn(), b, aRows, eRows, true)
		}
		if err != nil {
			rollback()
		}
		return err
	})
}

// storedBefore says whether err is the refusal of a row that is stored
// already (a unique violation: in the first round trip, only the alerts'
// and the events' keys are unique).
func storedBefore(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// pgPut stores b; with skip, it skips the alerts and events stored
// already (pgInsertAlerts, pgInsertEvents), else it copies them in and
// fails on one stored already (see storedBefore).
func (s *sqlStore) pgPut(ctx context.Context, c *pgx.Conn, b *Batch, aRows, eRows [][]any, skip bool) error {
	// 1: the rows.
	first := &pgx.Batch{}
	first.Queue("BEGIN")
	inserted := map[string]bool{}
	if skip && len(aRows) > 0 {
		first.Queue(pgInsertAlerts, columns(aRows, alertCols)...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var u string
				if err := rows.Scan(&u); err != nil {
					return err
				}
				inserted[u] = true
			}
			return rows.Err()
		})
	}
	if skip && len(eRows) > 0 {
		first.Queue(pgInsertEvents, columns(eRows, eventCols)...)
	}
	for _, hb := range b.Heartbeats {
		doc, _ := json.Marshal(hb)
		first.Queue(dollar(upsertNode), hb.Cluster, hb.Node, hb.Time.UnixNano(), string(doc))
		if !hb.Started.IsZero() {
			first.Queue(dollar(goneBeforeStart), goneArgs(hb)...)
		}
	}
	for _, cs := range b.Containers {
		doc, _ := json.Marshal(cs)
		first.Queue(dollar(upsertContainer), cs.Cluster, cs.Node, cs.Container.ID, cs.Time.UnixNano(), cs.Running, string(doc))
	}
	if err := c.SendBatch(ctx, first).Close(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if !skip {
		// As if nothing were stored: COPY, which forms each row straight
		// from the wire (unnest's arrays went through a tuple store:
		// about a sixth of PostgreSQL's work per alert).
		if len(aRows) > 0 {
			if _, err := c.CopyFrom(ctx, pgx.Identifier{"alerts"}, alertCols, pgx.CopyFromRows(aRows)); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			for _, r := range aRows {
				inserted[r[1].(string)] = true
			}
		}
		if len(eRows) > 0 {
			if _, err := c.CopyFrom(ctx, pgx.Identifier{"events"}, eventCols, pgx.CopyFromRows(eRows)); err != nil {
				return fmt.Errorf("store: %w", err)
			}
		}
	}
	fresh, freshRows := freshAlerts(b.Alerts, aRows, inserted)
	if len(fresh) == 0 {
		tag, err := c.Exec(ctx, "COMMIT")
		if err == nil {
			err = committed(tag)
		}
		if err != nil {
			return fmt.Errorf("store: commit: %w", err)
		}
		return nil
	}
	deltas := rollupDeltas(freshRows)
	plan := planIncidents(fresh)

	// 2: the workloads' locks and their open incidents.
	second := &pgx.Batch{}
	second.Queue(pgLockWorkloads, plan.workloads)
	open := map[string][]*Incident{}
	second.Queue(pgOpenIncidents, Resolved, int64(IncidentGap), plan.hi, plan.lo, plan.workloads).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			in, err := scanIncident(rows)
			if err != nil {
				return err
			}
			open[in.Workload] = append(open[in.Workload], &in)
		}
		return rows.Err()
	})
	if err := c.SendBatch(ctx, second).Close(); err != nil {
		return fmt.Errorf("store incidents: %w", err)
	}
	touched := plan.assign(open)

	// 3: what the batch changes in what is shared, and the commit.
	third := &pgx.Batch{}
	third.Queue(pgSaveIncidents, incidentColumns(touched, time.Now())...)
	if s.spans {
		third.Queue(pgAddRollup[1], rollupColumns(deltas)...)
	} else {
		third.Queue(pgAddRollup[0], rollupColumns(deltas)[:5]...)
	}
	if hours := s.pastHours(freshRows); len(hours) > 0 {
		third.Queue(dollar(bumpHoursSQL(len(hours))), int64sAny(hours)...)
	}
	third.Queue("COMMIT").Exec(committed)
	if err := c.SendBatch(ctx, third).Close(); err != nil {
		return fmt.Errorf("store: incidents, rollup or commit: %w", err)
	}
	return nil
}

// committed makes sure that a COMMIT committed: one that ends a failed
// transaction answers ROLLBACK, without an error.
func committed(tag pgconn.CommandTag) error {
	if tag.String() != "COMMIT" {
		return fmt.Errorf("store: commit answered %q", tag.String())
	}
	return nil
}

// columns turns rows into one slice per column, of the type its unnest
// parameter takes.
func columns(rows [][]any, cols []string) []any {
	out := make([]any, len(cols))
	for j := range cols {
		switch rows[0][j].(type) {
		case int64:
			v := make([]int64, len(rows))
			for i, r := range rows {
				v[i] = r[j].(int64)
			}
			out[j] = v
		case int:
			v := make([]int16, len(rows))
			for i, r := range rows {
				v[i] = int16(r[j].(int))
			}
			out[j] = v
		default:
			v := make([]string, len(rows))
			for i, r := range rows {
				v[i] = r[j].(string)
			}
			out[j] = v
		}
	}
	return out
}

func incidentColumns(ins []*Incident, now time.Time) []any {
	n := len(ins)
	var id, cluster, workload, node, ns, pod, ctr, image, rules, status, note, by = make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	first, last, alerts, updated := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	prio := make([]int16, n)
	for i, in := range ins {
		id[i], cluster[i], workload[i], node[i], ns[i], pod[i], ctr[i], image[i] = in.ID, in.Cluster, in.Workload, in.Node,
			in.Namespace, in.Pod, in.Container, in.Image
		first[i], last[i], alerts[i], prio[i] = in.First.UnixNano(), in.Last.UnixNano(), in.Alerts, int16(PriorityRank(in.Priority))
		rules[i], status[i], note[i], updated[i], by[i] = strings.Join(in.Rules, "\x1f"), in.Status, in.Note, now.UnixNano(), in.UpdatedBy
	}
	return []any{id, cluster, workload, node, ns, pod, ctr, image, first, last, alerts, prio, rules, status, note, updated, by}
}

func rollupColumns(ds []rollupDelta) []any {
	field, cluster, value := make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds))
	minute, n, first, last := make([]int64, len(ds)), make([]int64, len(ds)), make([]int64, len(ds)), make([]int64, len(ds))
	for i, d := range ds {
		field[i], minute[i], cluster[i], value[i], n[i], first[i], last[i] = d.field, d.minute, d.cluster, d.value, d.n, d.first, d.last
	}
	return []any{field, minute, cluster, value, n, first, last}
}
