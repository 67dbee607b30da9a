package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// An incident is the alerts of one workload that follow each other with
// gaps shorter than IncidentGap: one container's (or pod's) story, told
// once with a count instead of alert by alert. An alert that arrives late
// joins the incident whose span it falls in (or within the gap of); a
// resolved incident takes no more alerts: the next one opens a new
// incident. An incident's alerts are its workload's alerts from its first
// to its last.
const IncidentGap = 30 * time.Minute

// Incident states.
const (
	Open         = "open"
	Acknowledged = "acknowledged"
	Resolved     = "resolved"
)

// Incident is one row of the incidents list.
type Incident struct {
	ID        string    `json:"id"`
	Cluster   string    `json:"cluster"`
	Workload  string    `json:"workload"`
	Node      string    `json:"node"`
	Namespace string    `json:"namespace,omitempty"`
	Pod       string    `json:"pod,omitempty"`
	Container string    `json:"container,omitempty"`
	Image     string    `json:"image,omitempty"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	Alerts    int64     `json:"alerts"`
	Priority  string    `json:"priority"` // the most severe of its alerts
	Rules     []string  `json:"rules"`    // the rules raised, first seen first (at most 20)
	Status    string    `json:"status"`
	Note      string    `json:"note,omitempty"`
	Updated   time.Time `json:"updated"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// IncidentQuery selects incidents, most recently active first.
type IncidentQuery struct {
	Status, Cluster, Namespace, Node string
	Since                            time.Time // active (last alert) at or after
	Limit                            int
	Cursor                           string
}

// IncidentPage is a page of incidents.
type IncidentPage struct {
	Incidents []Incident `json:"incidents"`
	Next      string     `json:"next,omitempty"`
}

// IncidentDetail is an incident with its alerts, newest first.
type IncidentDetail struct {
	Incident Incident          `json:"incident"`
	Alerts   []json.RawMessage `json:"alerts"`
}

// WorkloadOf names what an alert is about, for grouping: a pod's owner
// (the pod name without the suffixes a Deployment, ReplicaSet, DaemonSet,
// Job or StatefulSet adds), a container's name, or the host.
func WorkloadOf(a *event.Alert) string {
	c := a.Container
	switch {
	case c.IsHost():
		return "host/" + a.Cluster + "/" + a.Hostname
	case c.Pod != nil && c.Pod.Name != "":
		return "pod/" + a.Cluster + "/" + c.Pod.Namespace + "/" + podOwner(c.Pod.Name)
	case c.Name != "":
		return "container/" + a.Cluster + "/" + a.Hostname + "/" + c.Name
	default:
		return "container/" + a.Cluster + "/" + a.Hostname + "/" + c.ID
	}
}

// podOwner strips web-5d8f7c9b4-x2x7k to web, agent-7xk2p to agent, db-0
// to db.
func podOwner(pod string) string {
	i := strings.LastIndexByte(pod, '-')
	if i <= 0 {
		return pod
	}
	last := pod[i+1:]
	if _, err := strconv.Atoi(last); err == nil {
		return pod[:i] // StatefulSet ordinal
	}
	if len(last) != 5 || !alnum(last) {
		return pod
	}
	pod = pod[:i]
	if j := strings.LastIndexByte(pod, '-'); j > 0 && len(pod)-j-1 >= 6 && len(pod)-j-1 <= 10 && alnum(pod[j+1:]) && hasDigit(pod[j+1:]) {
		pod = pod[:j] // ReplicaSet hash
	}
	return pod
}

func alnum(s string) bool {
	for _, c := range s {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }

const incidentCols = "id, cluster, workload, node, namespace, pod, container, image, first_ns, last_ns, alerts, priority, rules, status, note, updated_ns, updated_by"

func scanIncident(sc interface{ Scan(...any) error }) (Incident, error) {
	var in Incident
	var first, last, updated int64
	var prio int
	var rules string
	err := sc.Scan(&in.ID, &in.Cluster, &in.Workload, &in.Node, &in.Namespace, &in.Pod, &in.Container, &in.Image,
		&first, &last, &in.Alerts, &prio, &rules, &in.Status, &in.Note, &updated, &in.UpdatedBy)
	in.First, in.Last, in.Updated = time.Unix(0, first).UTC(), time.Unix(0, last).UTC(), time.Unix(0, updated).UTC()
	if prio >= 0 && prio < len(Priorities) {
		in.Priority = Priorities[prio]
	}
	in.Rules = []string{}
	if rules != "" {
		in.Rules = strings.Split(rules, "\x1f")
	}
	return in, err
}

// incidentBatch is the grouping of one batch's newly stored alerts: the
// workloads they belong to (sorted: one lock order for every replica) and
// the span of their times.
type incidentBatch struct {
	byWorkload map[string][]AlertIn
	workloads  []string
	lo, hi     int64
}

func planIncidents(alerts []AlertIn) *incidentBatch {
	p := &incidentBatch{byWorkload: map[string][]AlertIn{}}
	for i, a := range alerts {
		w := WorkloadOf(a.Alert)
		p.byWorkload[w] = append(p.byWorkload[w], a)
		t := a.Alert.Time.UnixNano()
		if i == 0 || t < p.lo {
			p.lo = t
		}
		if i == 0 || t > p.hi {
			p.hi = t
		}
	}
	p.workloads = make([]string, 0, len(p.byWorkload))
	for w := range p.byWorkload {
		p.workloads = append(p.workloads, w)
	}
	sort.Strings(p.workloads)
	return p
}

// openIncidentsSQL selects the incidents the batch's alerts may join (?s:
// Resolved, IncidentGap, hi, IncidentGap, lo, then the workloads).
func openIncidentsSQL(workloads int) string {
	return "SELECT " + incidentCols + " FROM incidents WHERE status <> ? AND first_ns - ? <= ? AND last_ns + ? >= ? AND workload IN (" +
		marks(workloads) + ")"
}

// assign puts each alert in the incident of its workload whose span (give
// or take IncidentGap) holds it, or opens one, and returns the incidents
// touched; open holds the stored incidents the alerts may join.
func (p *incidentBatch) assign(open map[string][]*Incident) []*Incident {
	gap := int64(IncidentGap)
	var touched []*Incident
	seen := map[*Incident]bool{}
	for _, w := range p.workloads {
		as := p.byWorkload[w]
		sort.Slice(as, func(i, j int) bool { return as[i].Alert.Time.Before(as[j].Alert.Time) })
		for _, a := range as {
			t := a.Alert.Time.UnixNano()
			var in *Incident
			for _, o := range open[w] {
				if o.First.UnixNano()-gap <= t && o.Last.UnixNano()+gap >= t && (in == nil || o.Last.After(in.Last)) {
					in = o
				}
			}
			if in == nil {
				in = newIncident(w, a.Alert)
				in.Alerts = 0
				open[w] = append(open[w], in)
			}
			in.add(a.Alert)
			if !seen[in] {
				seen[in] = true
				touched = append(touched, in)
			}
		}
	}
	return touched
}

// group assigns newly stored alerts to incidents, within the batch's
// transaction, in a constant number of statements whatever the number of
// workloads: read their open incidents, decide in memory, write the
// incidents touched in one upsert. (SQLite has one writer at a time;
// PostgreSQL's path, pgput.go, locks the workloads first.)
func (s *sqlStore) group(ctx context.Context, tx *sql.Tx, alerts []AlertIn) error {
	p := planIncidents(alerts)
	gap := int64(IncidentGap)
	open := map[string][]*Incident{}
	for chunk := range slices.Chunk(p.workloads, 500) {
		args := []any{Resolved, gap, p.hi, gap, p.lo}
		for _, w := range chunk {
			args = append(args, w)
		}
		rows, err := tx.QueryContext(ctx, s.d.rebind(openIncidentsSQL(len(chunk))), args...)
		if err != nil {
			return fmt.Errorf("store incidents: %w", err)
		}
		for rows.Next() {
			in, err := scanIncident(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("store incidents: %w", err)
			}
			open[in.Workload] = append(open[in.Workload], &in)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store incidents: %w", err)
		}
	}
	now := time.Unix(0, time.Now().UnixNano())
	for chunk := range slices.Chunk(p.assign(open), 200) {
		if err := s.saveIncidents(ctx, tx, chunk, now); err != nil {
			return err
		}
	}
	return nil
}

// saveIncidents writes incidents, new or changed, in one statement; a
// status or note set meanwhile (SetIncident) is kept.
func (s *sqlStore) saveIncidents(ctx context.Context, tx *sql.Tx, ins []*Incident, now time.Time) error {
	var q strings.Builder
	q.WriteString("INSERT INTO incidents (" + incidentCols + ") VALUES ")
	args := make([]any, 0, len(ins)*17)
	for i, in := range ins {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
		args = append(args, in.ID, in.Cluster, in.Workload, in.Node, in.Namespace, in.Pod, in.Container, in.Image,
			in.First.UnixNano(), in.Last.UnixNano(), in.Alerts, PriorityRank(in.Priority), strings.Join(in.Rules, "\x1f"),
			in.Status, in.Note, now.UnixNano(), in.UpdatedBy)
	}
	q.WriteString(` ON CONFLICT (id) DO UPDATE SET first_ns = excluded.first_ns, last_ns = excluded.last_ns,
		alerts = excluded.alerts, priority = excluded.priority, rules = excluded.rules`)
	if _, err := tx.ExecContext(ctx, s.d.rebind(q.String()), args...); err != nil {
		return fmt.Errorf("store incidents: %w", err)
	}
	return nil
}

func newIncident(w string, a *event.Alert) *Incident {
	in := &Incident{ID: event.NewUUID(), Cluster: a.Cluster, Workload: w, Node: a.Hostname, Status: Open,
		First: a.Time, Last: a.Time, Priority: Priorities[len(Priorities)-1], Rules: []string{}}
	if c := a.Container; c != nil && !c.IsHost() {
		in.Container, in.Image = c.Name, c.Image
		if c.Pod != nil {
			in.Namespace, in.Pod = c.Pod.Namespace, podOwner(c.Pod.Name)
		}
	}
	return in
}

func (in *Incident) add(a *event.Alert) {
	in.Alerts++
	if a.Time.Before(in.First) {
		in.First = a.Time
	}
	if a.Time.After(in.Last) {
		in.Last = a.Time
	}
	if r := PriorityRank(a.Priority); r >= 0 && r < PriorityRank(in.Priority) {
		in.Priority = a.Priority
	}
	if len(in.Rules) < 20 && !slices.Contains(in.Rules, a.Rule) {
		in.Rules = append(in.Rules, a.Rule)
	}
}

func (s *sqlStore) Incidents(ctx context.Context, q IncidentQuery) (*IncidentPage, error) {
	var conds []string
	var args []any
	add := func(c string, v any) { conds, args = append(conds, c), append(args, v) }
	if q.Status != "" {
		if !validStatus(q.Status) {
			return nil, fmt.Errorf("status %q: use open, acknowledged or resolved", q.Status)
		}
		add("status = ?", q.Status)
	}
	if q.Cluster != "" {
		add("cluster = ?", q.Cluster)
	}
	if q.Namespace != "" {
		add("namespace = ?", q.Namespace)
	}
	if q.Node != "" {
		add("node = ?", q.Node)
	}
	if !q.Since.IsZero() {
		add("last_ns >= ?", q.Since.UnixNano())
	}
	if q.Cursor != "" {
		t, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		conds = append(conds, "(last_ns < ? OR (last_ns = ? AND id < ?))")
		args = append(args, t, t, id)
	}
	w := ""
	if len(conds) > 0 {
		w = " WHERE " + strings.Join(conds, " AND ")
	}
	limit := q.Limit
	if limit <= 0 || limit > maxPage {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT "+incidentCols+" FROM incidents"+w+" ORDER BY last_ns DESC, id DESC LIMIT "+strconv.Itoa(limit+1)), args...)
	if err != nil {
		return nil, fmt.Errorf("store incidents: %w", err)
	}
	defer rows.Close()
	page := &IncidentPage{Incidents: []Incident{}}
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("store incidents: %w", err)
		}
		if len(page.Incidents) == limit {
			last := page.Incidents[limit-1]
			page.Next = encodeCursor(last.Last.UnixNano(), last.ID)
			break
		}
		page.Incidents = append(page.Incidents, in)
	}
	return page, rows.Err()
}

func (s *sqlStore) Incident(ctx context.Context, id string) (*IncidentDetail, error) {
	in, err := scanIncident(s.db.QueryRowContext(ctx, s.d.rebind("SELECT "+incidentCols+" FROM incidents WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store incident: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT doc FROM alerts WHERE workload = ? AND time_ns >= ? AND time_ns <= ? ORDER BY time_ns DESC, uuid DESC LIMIT 1000"),
		in.Workload, in.First.UnixNano(), in.Last.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("store incident: %w", err)
	}
	defer rows.Close()
	d := &IncidentDetail{Incident: in, Alerts: []json.RawMessage{}}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		d.Alerts = append(d.Alerts, json.RawMessage(doc))
	}
	return d, rows.Err()
}

func validStatus(s string) bool { return s == Open || s == Acknowledged || s == Resolved }

func (s *sqlStore) SetIncident(ctx context.Context, id, status, note, by string) (*Incident, error) {
	if !validStatus(status) {
		return nil, fmt.Errorf("status %q: use open, acknowledged or resolved", status)
	}
	res, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE incidents SET status = ?, note = ?, updated_ns = ?, updated_by = ? WHERE id = ?"),
		status, note, time.Now().UnixNano(), by, id)
	if err != nil {
		return nil, fmt.Errorf("store incident: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, ErrNotFound
	}
	d, err := s.Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	return &d.Incident, nil
}
