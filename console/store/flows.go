package store

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The network map: each workload's outbound connections per minute
// (source workload → destination address, port, protocol, verdict, with
// the DNS name the address was resolved from), kept in flows for
// Retention.Flows. A destination address that is a known workload's
// (workload_addrs, from the agents' observations) is drawn as that
// workload.

// Edge verdicts on the map: what the kernel did, and whether the
// destination is new to a stable or enforced profile.
const (
	EdgeAllowed = "allowed"
	EdgeRefused = "refused"
	EdgeNew     = "new"
)

// FlowQuery selects the map's edges.
type FlowQuery struct {
	Cluster   string
	Namespace string // edges from or to workloads of this namespace
	Workload  string // edges from or to workloads whose name contains this
	Since     time.Time
	Until     time.Time
	// Limit caps the edges (500 when 0, at most 5000): the busiest are
	// kept, and the map says how many were left out.
	Limit int
}

// MapNode is a workload or an address on the map.
type MapNode struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"` // workload or address
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	Profile   string `json:"profile,omitempty"`
	State     string `json:"state,omitempty"`
	DNS       string `json:"dns,omitempty"`
}

// MapEdge is the connections from one workload to one destination port.
type MapEdge struct {
	Source   string    `json:"source"`
	Target   string    `json:"target"`
	Port     uint16    `json:"port"`
	Protocol string    `json:"protocol"`
	DNS      string    `json:"dns,omitempty"`
	Verdict  string    `json:"verdict"`
	Count    int64     `json:"count"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
}

// NetMap is the network map of a query.
type NetMap struct {
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until"`
	Nodes     []MapNode `json:"nodes"`
	Edges     []MapEdge `json:"edges"`
	Total     int       `json:"total_edges"`
	Truncated bool      `json:"truncated"`
}

// NetworkMap aggregates the flows of a time range into the map.
func (s *sqlStore) NetworkMap(ctx context.Context, q FlowQuery) (*NetMap, error) {
	if q.Limit <= 0 {
		q.Limit = 500
	}
	q.Limit = min(q.Limit, 5000)
	if q.Until.IsZero() {
		q.Until = time.Now().Add(time.Minute)
	}
	conds := []string{"f.minute_ns >= ?", "f.minute_ns < ?"}
	args := []any{q.Since.Truncate(time.Minute).UnixNano(), q.Until.UnixNano()}
	if q.Cluster != "" {
		conds = append(conds, "f.cluster = ?")
		args = append(args, q.Cluster)
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT f.profile_id, f.cluster, p.namespace, p.name, p.state, f.dst_ip, f.dst_port,
		f.protocol, f.verdict, max(f.dns), sum(f.n), min(f.minute_ns), max(f.minute_ns)
		FROM flows f JOIN profiles p ON p.id = f.profile_id WHERE `+strings.Join(conds, " AND ")+`
		GROUP BY f.profile_id, f.cluster, p.namespace, p.name, p.state, f.dst_ip, f.dst_port, f.protocol, f.verdict`), args...)
	if err != nil {
		return nil, fmt.Errorf("store flows: %w", err)
	}
	type row struct {
		pid, cluster, ns, name, state, ip, proto, verdict, dns string
		port                                                   int
		n, first, last                                         int64
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.pid, &r.cluster, &r.ns, &r.name, &r.state, &r.ip, &r.port, &r.proto, &r.verdict, &r.dns, &r.n, &r.first, &r.last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store flows: %w", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store flows: %w", err)
	}
	// Destinations that are workloads, and what each source's profile
	// says of its destinations.
	type peer struct{ id, ns, name, state string }
	peers := map[string]peer{} // cluster + addr
	prow, err := s.db.QueryContext(ctx, `SELECT a.cluster, a.addr, p.id, p.namespace, p.name, p.state FROM workload_addrs a JOIN profiles p ON p.id = a.profile_id`)
	if err != nil {
		return nil, fmt.Errorf("store workload addresses: %w", err)
	}
	for prow.Next() {
		var c, a string
		var p peer
		if err := prow.Scan(&c, &a, &p.id, &p.ns, &p.name, &p.state); err != nil {
			prow.Close()
			return nil, err
		}
		peers[c+"\x00"+a] = p
	}
	prow.Close()
	status := map[string]string{} // profile id + egress key → item status
	irow, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT profile_id, ikey, status FROM profile_items WHERE kind = ?`), "egress")
	if err != nil {
		return nil, fmt.Errorf("store profile items: %w", err)
	}
	for irow.Next() {
		var id, k, st string
		if err := irow.Scan(&id, &k, &st); err != nil {
			irow.Close()
			return nil, err
		}
		status[id+"\x00"+k] = st
	}
	irow.Close()

	m := &NetMap{Since: q.Since.UTC(), Until: q.Until.UTC(), Nodes: []MapNode{}, Edges: []MapEdge{}}
	nodes := map[string]MapNode{}
	for _, r := range all {
		src := MapNode{ID: "w:" + r.pid, Kind: "workload", Name: workloadName(r.ns, r.name), Namespace: r.ns, Profile: r.pid, State: r.state}
		dst := MapNode{ID: "ip:" + r.ip, Kind: "address", Name: r.ip, DNS: r.dns}
		if p, ok := peers[r.cluster+"\x00"+r.ip]; ok {
			dst = MapNode{ID: "w:" + p.id, Kind: "workload", Name: workloadName(p.ns, p.name), Namespace: p.ns, Profile: p.id, State: p.state}
		}
		if q.Namespace != "" && src.Namespace != q.Namespace && dst.Namespace != q.Namespace {
			continue
		}
		if q.Workload != "" && !strings.Contains(src.Name, q.Workload) && !strings.Contains(dst.Name, q.Workload) {
			continue
		}
		verdict := EdgeAllowed
		switch {
		case r.verdict == "refused":
			verdict = EdgeRefused
		case r.state != Learning:
			key := r.ip + ":" + strconv.Itoa(r.port) + "/" + r.proto
			if st, ok := status[r.pid+"\x00"+key]; !ok || st != ItemLearned {
				verdict = EdgeNew
			}
		}
		m.Edges = append(m.Edges, MapEdge{Source: src.ID, Target: dst.ID, Port: uint16(r.port), Protocol: r.proto, DNS: r.dns,
			Verdict: verdict, Count: r.n, First: time.Unix(0, r.first).UTC(), Last: time.Unix(0, r.last).UTC()})
		nodes[src.ID] = src
		if old, ok := nodes[dst.ID]; !ok || old.DNS == "" {
			nodes[dst.ID] = dst
		}
	}
	m.Total = len(m.Edges)
	if len(m.Edges) > q.Limit {
		sort.SliceStable(m.Edges, func(i, j int) bool { return m.Edges[i].Count > m.Edges[j].Count })
		m.Edges, m.Truncated = m.Edges[:q.Limit], true
	}
	sort.Slice(m.Edges, func(i, j int) bool {
		a, b := m.Edges[i], m.Edges[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		return a.Verdict < b.Verdict
	})
	used := map[string]bool{}
	for _, e := range m.Edges {
		used[e.Source], used[e.Target] = true, true
	}
	for id, n := range nodes {
		if used[id] {
			m.Nodes = append(m.Nodes, n)
		}
	}
	sort.Slice(m.Nodes, func(i, j int) bool { return m.Nodes[i].ID < m.Nodes[j].ID })
	return m, nil
}
