package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// Behaviour profiles: what each workload does, merged from every node's
// observations (event.Observation). A profile learns (Learning) until no
// new item has come for a window, then it is Stable: a new item is a
// deviation, kept with status "new" and returned to the caller to raise
// an alert. A person (or, opt-in, the console after a clean window) makes
// it Enforced. Items a person deleted stay deleted: seen again they are
// counted, never learnt, in this profile and in the profiles of the
// workload's next images.

// Profile states.
const (
	Learning = "learning"
	Stable   = "stable"
	Enforced = "enforced"
)

// Item statuses.
const (
	ItemLearned = "learned" // learnt while the profile was learning
	ItemNew     = "new"     // first seen after the profile became stable: a deviation
	ItemDeleted = "deleted" // deleted by a person: never learnt again
)

// Profile is one workload's behaviour profile.
type Profile struct {
	ID       string         `json:"id"`
	Workload event.Workload `json:"workload"`
	State    string         `json:"state"`
	// StateSince is when the profile entered its state; StateBy who put
	// it there ("console" when the time window did).
	StateSince time.Time `json:"state_since"`
	StateBy    string    `json:"state_by"`
	Created    time.Time `json:"created"`
	// LastNew is when the profile last learnt something new: it becomes
	// stable a window after it.
	LastNew      time.Time `json:"last_new"`
	LastSeen     time.Time `json:"last_seen"`
	MaxProcesses int       `json:"max_processes"`
	Nodes        []string  `json:"nodes"`
	// Counts are its items by kind and status ("exec/learned": 3).
	Counts map[string]int `json:"counts"`
	// Items are filled in by Profile, not by Profiles.
	Items []ProfileItem `json:"items,omitempty"`
}

// ProfileItem is one thing a workload does, with its evidence.
type ProfileItem struct {
	Kind     string   `json:"kind"`
	Key      string   `json:"key"`
	Status   string   `json:"status"`
	Path     string   `json:"path,omitempty"`
	Parents  []string `json:"parents,omitempty"`
	Digests  []string `json:"digests,omitempty"`
	Drifted  bool     `json:"drifted,omitempty"`
	IP       string   `json:"ip,omitempty"`
	Port     uint16   `json:"port,omitempty"`
	Protocol string   `json:"protocol,omitempty"`
	Names    []string `json:"names,omitempty"` // DNS names the address was resolved from
	// Peer is the workload at IP, when the console knows one.
	Peer  string    `json:"peer,omitempty"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	Count int64     `json:"count"`
	Nodes []string  `json:"nodes"`
}

// itemDoc is what an item's doc column holds.
type itemDoc struct {
	Path     string   `json:"path,omitempty"`
	Parents  []string `json:"parents,omitempty"`
	Digests  []string `json:"digests,omitempty"`
	Drifted  bool     `json:"drifted,omitempty"`
	IP       string   `json:"ip,omitempty"`
	Port     uint16   `json:"port,omitempty"`
	Protocol string   `json:"protocol,omitempty"`
	Names    []string `json:"names,omitempty"`
}

// Deviation is an item a stable or enforced profile had not seen.
type Deviation struct {
	Profile     Profile
	Item        ProfileItem
	Node        string
	Containers  []string
	Observation time.Time
}

// ProfileQuery selects profiles.
type ProfileQuery struct {
	Cluster, Namespace, State string
}

// ProfileID is the id of the profile of workload key w.
func ProfileID(w event.Workload) string {
	h := sha256.Sum256([]byte(w.Key()))
	return hex.EncodeToString(h[:6])
}

const profilesMigration = `CREATE TABLE profiles (id TEXT PRIMARY KEY, wkey TEXT NOT NULL, family TEXT NOT NULL,
		cluster TEXT NOT NULL, namespace TEXT NOT NULL, owner TEXT NOT NULL, image_digest TEXT NOT NULL,
		image TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, state_ns BIGINT NOT NULL, state_by TEXT NOT NULL,
		created_ns BIGINT NOT NULL, last_new_ns BIGINT NOT NULL, last_seen_ns BIGINT NOT NULL,
		max_procs BIGINT NOT NULL, nodes TEXT NOT NULL);
	CREATE INDEX profiles_family ON profiles (family);
	CREATE TABLE profile_items (profile_id TEXT NOT NULL, kind TEXT NOT NULL, ikey TEXT NOT NULL, status TEXT NOT NULL,
		doc TEXT NOT NULL, first_ns BIGINT NOT NULL, last_ns BIGINT NOT NULL, n BIGINT NOT NULL, nodes TEXT NOT NULL,
		PRIMARY KEY (profile_id, kind, ikey));
	CREATE TABLE profile_deleted (family TEXT NOT NULL, kind TEXT NOT NULL, ikey TEXT NOT NULL, deleted_ns BIGINT NOT NULL,
		deleted_by TEXT NOT NULL, PRIMARY KEY (family, kind, ikey));
	CREATE TABLE profile_containers (profile_id TEXT NOT NULL, cluster TEXT NOT NULL, node TEXT NOT NULL,
		container_id TEXT NOT NULL, last_ns BIGINT NOT NULL, PRIMARY KEY (profile_id, cluster, node, container_id));
	CREATE TABLE workload_addrs (cluster TEXT NOT NULL, addr TEXT NOT NULL, profile_id TEXT NOT NULL, last_ns BIGINT NOT NULL,
		PRIMARY KEY (cluster, addr));
	CREATE TABLE flows (minute_ns BIGINT NOT NULL, profile_id TEXT NOT NULL, cluster TEXT NOT NULL, namespace TEXT NOT NULL,
		dst_ip TEXT NOT NULL, dst_port INTEGER NOT NULL, protocol TEXT NOT NULL, verdict TEXT NOT NULL, dns TEXT NOT NULL,
		n BIGINT NOT NULL, PRIMARY KEY (minute_ns, profile_id, dst_ip, dst_port, protocol, verdict));
	CREATE INDEX flows_namespace ON flows (namespace, minute_ns);`

// Learn merges observations into the profiles, creating those of new
// workloads, and returns the deviations of stable and enforced profiles.
func (s *sqlStore) Learn(ctx context.Context, obs []*event.Observation, now time.Time) ([]Deviation, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	if s.d.lockWorkloads != nil {
		keys := make([]string, 0, len(obs))
		for _, o := range obs {
			keys = append(keys, "profile "+o.Workload.Key())
		}
		slices.Sort(keys)
		if err := s.d.lockWorkloads(ctx, tx, slices.Compact(keys)); err != nil {
			return nil, fmt.Errorf("store: lock profiles: %w", err)
		}
	}
	var devs []Deviation
	for _, o := range obs {
		d, err := s.learnOne(ctx, tx, o, now)
		if err != nil {
			return nil, err
		}
		devs = append(devs, d...)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: commit: %w", err)
	}
	return devs, nil
}

func (s *sqlStore) learnOne(ctx context.Context, tx *sql.Tx, o *event.Observation, now time.Time) ([]Deviation, error) {
	w := o.Workload
	w.Cluster = o.Cluster
	id := ProfileID(w)
	p, err := s.profileTx(ctx, tx, id)
	switch {
	case err == ErrNotFound:
		p = &Profile{ID: id, Workload: w, State: Learning, StateSince: now, StateBy: "console", Created: now, LastNew: now}
		_, err = tx.ExecContext(ctx, s.d.rebind(`INSERT INTO profiles (id, wkey, family, cluster, namespace, owner, image_digest,
			image, name, state, state_ns, state_by, created_ns, last_new_ns, last_seen_ns, max_procs, nodes)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			id, w.Key(), w.Family(), w.Cluster, w.Namespace, w.Owner, w.ImageDigest, w.Image, w.Name, Learning, now.UnixNano(), "console",
			now.UnixNano(), now.UnixNano(), o.Time.UnixNano(), 0, "[]")
		if err != nil {
			return nil, fmt.Errorf("store: new profile: %w", err)
		}
	case err != nil:
		return nil, err
	}
	learning := p.State == Learning
	grew := false
	var devs []Deviation
	for _, it := range o.Items {
		var status, docS, nodesS string
		var first, last, n int64
		err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT status, doc, first_ns, last_ns, n, nodes FROM profile_items
			WHERE profile_id = ? AND kind = ? AND ikey = ?`), id, it.Kind, it.Key).Scan(&status, &docS, &first, &last, &n, &nodesS)
		if err == sql.ErrNoRows {
			status = ItemLearned
			if !learning {
				status = ItemNew
			}
			var gone int
			if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT count(*) FROM profile_deleted WHERE family = ? AND kind = ? AND ikey = ?`),
				w.Family(), it.Kind, it.Key).Scan(&gone); err != nil {
				return nil, fmt.Errorf("store: deleted items: %w", err)
			}
			if gone > 0 {
				status = ItemDeleted
			}
			var d itemDoc
			mergeDoc(&d, &it)
			doc, _ := json.Marshal(d)
			nodes, _ := json.Marshal([]string{o.Node})
			_, err = tx.ExecContext(ctx, s.d.rebind(`INSERT INTO profile_items (profile_id, kind, ikey, status, doc, first_ns, last_ns, n, nodes)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), id, it.Kind, it.Key, status, string(doc), it.First.UnixNano(), it.Last.UnixNano(), it.Count, string(nodes))
			if err != nil {
				return nil, fmt.Errorf("store: profile item: %w", err)
			}
			switch status {
			case ItemLearned:
				grew = true
			case ItemNew:
				pi := itemOf(it.Kind, it.Key, status, d, it.First.UnixNano(), it.Last.UnixNano(), it.Count, []string{o.Node})
				devs = append(devs, Deviation{Profile: *p, Item: pi, Node: o.Node, Containers: o.Containers, Observation: o.Time})
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: profile item: %w", err)
		}
		var d itemDoc
		json.Unmarshal([]byte(docS), &d)
		before, _ := json.Marshal(d)
		mergeDoc(&d, &it)
		doc, _ := json.Marshal(d)
		var nodes []string
		json.Unmarshal([]byte(nodesS), &nodes)
		if !slices.Contains(nodes, o.Node) {
			nodes = append(nodes, o.Node)
			slices.Sort(nodes)
		}
		if learning && status == ItemLearned && string(doc) != string(before) && it.Kind == event.ItemExec {
			// A program with new content (a digest not seen) is new
			// behaviour while learning.
			grew = true
		}
		nb, _ := json.Marshal(nodes)
		_, err = tx.ExecContext(ctx, s.d.rebind(`UPDATE profile_items SET doc = ?, first_ns = ?, last_ns = ?, n = ?, nodes = ?
			WHERE profile_id = ? AND kind = ? AND ikey = ?`), string(doc), min(first, it.First.UnixNano()), max(last, it.Last.UnixNano()),
			n+it.Count, string(nb), id, it.Kind, it.Key)
		if err != nil {
			return nil, fmt.Errorf("store: profile item: %w", err)
		}
	}
	if o.MaxProcesses > p.MaxProcesses && learning {
		grew = true
	}
	nodes := p.Nodes
	if !slices.Contains(nodes, o.Node) {
		nodes = append(nodes, o.Node)
		slices.Sort(nodes)
	}
	nb, _ := json.Marshal(nodes)
	lastNew := p.LastNew.UnixNano()
	if grew {
		lastNew = now.UnixNano()
	}
	_, err = tx.ExecContext(ctx, s.d.rebind(`UPDATE profiles SET image = ?, name = ?, last_new_ns = ?, last_seen_ns = ?, max_procs = ?, nodes = ?
		WHERE id = ?`), w.Image, w.Name, lastNew, max(p.LastSeen.UnixNano(), o.Time.UnixNano()), max(p.MaxProcesses, o.MaxProcesses), string(nb), id)
	if err != nil {
		return nil, fmt.Errorf("store: profile: %w", err)
	}
	for _, c := range o.Containers {
		_, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO profile_containers (profile_id, cluster, node, container_id, last_ns)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (profile_id, cluster, node, container_id) DO UPDATE SET last_ns = excluded.last_ns
			WHERE excluded.last_ns >= profile_containers.last_ns`), id, o.Cluster, o.Node, c, o.Time.UnixNano())
		if err != nil {
			return nil, fmt.Errorf("store: profile container: %w", err)
		}
	}
	for _, a := range o.Addresses {
		_, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO workload_addrs (cluster, addr, profile_id, last_ns) VALUES (?, ?, ?, ?)
			ON CONFLICT (cluster, addr) DO UPDATE SET profile_id = excluded.profile_id, last_ns = excluded.last_ns
			WHERE excluded.last_ns >= workload_addrs.last_ns`), o.Cluster, a, id, o.Time.UnixNano())
		if err != nil {
			return nil, fmt.Errorf("store: workload address: %w", err)
		}
	}
	for _, f := range o.Flows {
		_, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO flows (minute_ns, profile_id, cluster, namespace, dst_ip, dst_port, protocol, verdict, dns, n)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (minute_ns, profile_id, dst_ip, dst_port, protocol, verdict) DO UPDATE SET n = flows.n + excluded.n,
			dns = CASE WHEN excluded.dns <> '' THEN excluded.dns ELSE flows.dns END`),
			f.Minute.UnixNano(), id, o.Cluster, w.Namespace, f.DstIP, int(f.DstPort), f.Protocol, f.Verdict, f.DNS, f.Count)
		if err != nil {
			return nil, fmt.Errorf("store: flow: %w", err)
		}
	}
	if len(devs) > 0 {
		// The deviations carry the profile as it stands.
		if q, err := s.profileTx(ctx, tx, id); err == nil {
			for i := range devs {
				devs[i].Profile = *q
			}
		}
	}
	return devs, nil
}

// mergeDoc adds what an observation says of an item to its document.
func mergeDoc(d *itemDoc, it *event.ObservedItem) {
	if it.Path != "" {
		d.Path = it.Path
	}
	if it.Parent != "" && !slices.Contains(d.Parents, it.Parent) && len(d.Parents) < 16 {
		d.Parents = append(d.Parents, it.Parent)
		slices.Sort(d.Parents)
	}
	if it.Digest != "" && !slices.Contains(d.Digests, it.Digest) && len(d.Digests) < 16 {
		d.Digests = append(d.Digests, it.Digest)
		slices.Sort(d.Digests)
	}
	d.Drifted = d.Drifted || it.Drifted
	if it.IP != "" {
		d.IP, d.Port, d.Protocol = it.IP, it.Port, it.Protocol
	}
	if it.Kind == event.ItemListen {
		d.Port, d.Protocol = it.Port, it.Protocol
	}
	if it.DNS != "" && !slices.Contains(d.Names, it.DNS) && len(d.Names) < 16 {
		d.Names = append(d.Names, it.DNS)
		slices.Sort(d.Names)
	}
}

func itemOf(kind, key, status string, d itemDoc, first, last, n int64, nodes []string) ProfileItem {
	return ProfileItem{Kind: kind, Key: key, Status: status, Path: d.Path, Parents: d.Parents, Digests: d.Digests,
		Drifted: d.Drifted, IP: d.IP, Port: d.Port, Protocol: d.Protocol, Names: d.Names,
		First: time.Unix(0, first).UTC(), Last: time.Unix(0, last).UTC(), Count: n, Nodes: nodes}
}

const profileCols = `id, cluster, namespace, owner, image_digest, image, name, state, state_ns, state_by, created_ns,
	last_new_ns, last_seen_ns, max_procs, nodes`

type scanner interface{ Scan(...any) error }

func scanProfile(r scanner) (*Profile, error) {
	var p Profile
	var stateNS, created, lastNew, lastSeen int64
	var nodes string
	w := &p.Workload
	if err := r.Scan(&p.ID, &w.Cluster, &w.Namespace, &w.Owner, &w.ImageDigest, &w.Image, &w.Name, &p.State, &stateNS, &p.StateBy,
		&created, &lastNew, &lastSeen, &p.MaxProcesses, &nodes); err != nil {
		return nil, err
	}
	p.StateSince, p.Created = time.Unix(0, stateNS).UTC(), time.Unix(0, created).UTC()
	p.LastNew, p.LastSeen = time.Unix(0, lastNew).UTC(), time.Unix(0, lastSeen).UTC()
	json.Unmarshal([]byte(nodes), &p.Nodes)
	if p.Nodes == nil {
		p.Nodes = []string{}
	}
	return &p, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *sqlStore) profileTx(ctx context.Context, q querier, id string) (*Profile, error) {
	p, err := scanProfile(q.QueryRowContext(ctx, s.d.rebind("SELECT "+profileCols+" FROM profiles WHERE id = ?"), id))
	if err == sql.ErrNoRows {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store profile: %w", err)
	}
	if err := s.countItems(ctx, q, []*Profile{p}); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *sqlStore) countItems(ctx context.Context, q querier, ps []*Profile) error {
	if len(ps) == 0 {
		return nil
	}
	byID := map[string]*Profile{}
	args := make([]any, 0, len(ps))
	for _, p := range ps {
		p.Counts = map[string]int{}
		byID[p.ID] = p
		args = append(args, p.ID)
	}
	rows, err := q.QueryContext(ctx, s.d.rebind(`SELECT profile_id, kind, status, count(*) FROM profile_items
		WHERE profile_id IN (?`+strings.Repeat(", ?", len(args)-1)+`) GROUP BY profile_id, kind, status`), args...)
	if err != nil {
		return fmt.Errorf("store profile items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, kind, status string
		var n int
		if err := rows.Scan(&id, &kind, &status, &n); err != nil {
			return err
		}
		byID[id].Counts[kind+"/"+status] = n
	}
	return rows.Err()
}

// Profiles lists profiles, by cluster, namespace and name.
func (s *sqlStore) Profiles(ctx context.Context, q ProfileQuery) ([]Profile, error) {
	var conds []string
	var args []any
	for _, f := range []struct{ col, v string }{{"cluster", q.Cluster}, {"namespace", q.Namespace}, {"state", q.State}} {
		if f.v != "" {
			conds = append(conds, f.col+" = ?")
			args = append(args, f.v)
		}
	}
	w := ""
	if len(conds) > 0 {
		w = " WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT "+profileCols+" FROM profiles"+w+" ORDER BY cluster, namespace, name, image_digest"), args...)
	if err != nil {
		return nil, fmt.Errorf("store profiles: %w", err)
	}
	var ps []*Profile
	for rows.Next() {
		p, err := scanProfile(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("store profiles: %w", err)
		}
		ps = append(ps, p)
	}
	rows.Close()
	if err := s.countItems(ctx, s.db, ps); err != nil {
		return nil, err
	}
	out := make([]Profile, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out, nil
}

// Profile returns one profile with its items; an id may be given by a
// unique prefix.
func (s *sqlStore) Profile(ctx context.Context, id string) (*Profile, error) {
	id, err := s.profileID(ctx, id)
	if err != nil {
		return nil, err
	}
	p, err := s.profileTx(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT kind, ikey, status, doc, first_ns, last_ns, n, nodes FROM profile_items
		WHERE profile_id = ? ORDER BY kind, ikey`), id)
	if err != nil {
		return nil, fmt.Errorf("store profile items: %w", err)
	}
	defer rows.Close()
	p.Items = []ProfileItem{}
	for rows.Next() {
		var kind, key, status, doc, nodes string
		var first, last, n int64
		if err := rows.Scan(&kind, &key, &status, &doc, &first, &last, &n, &nodes); err != nil {
			return nil, err
		}
		var d itemDoc
		json.Unmarshal([]byte(doc), &d)
		var ns []string
		json.Unmarshal([]byte(nodes), &ns)
		p.Items = append(p.Items, itemOf(kind, key, status, d, first, last, n, ns))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Name the workloads behind the addresses it connects to.
	peers, err := s.peers(ctx, p.Workload.Cluster)
	if err != nil {
		return nil, err
	}
	for i := range p.Items {
		if it := &p.Items[i]; it.IP != "" {
			it.Peer = peers[it.IP]
		}
	}
	return p, nil
}

// ProfileContainer is a container of a profile's workload, on one node.
type ProfileContainer struct {
	Cluster, Node, ID string
	LastSeen          time.Time
}

// ProfileContainers lists the containers of profile id seen since,
// most recently seen first, at most limit.
func (s *sqlStore) ProfileContainers(ctx context.Context, id string, since time.Time, limit int) ([]ProfileContainer, error) {
	id, err := s.profileID(ctx, id)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT cluster, node, container_id, last_ns FROM profile_containers
		WHERE profile_id = ? AND last_ns >= ? ORDER BY last_ns DESC LIMIT `+strconv.Itoa(limit)), id, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("store profile containers: %w", err)
	}
	defer rows.Close()
	var out []ProfileContainer
	for rows.Next() {
		var c ProfileContainer
		var last int64
		if err := rows.Scan(&c.Cluster, &c.Node, &c.ID, &last); err != nil {
			return nil, err
		}
		c.LastSeen = time.Unix(0, last).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// profileID resolves a unique prefix of a profile's id.
func (s *sqlStore) profileID(ctx context.Context, prefix string) (string, error) {
	if prefix == "" || strings.ContainsAny(prefix, "%_") {
		return "", ErrNotFound
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT id FROM profiles WHERE id LIKE ? LIMIT 2"), prefix+"%")
	if err != nil {
		return "", fmt.Errorf("store profile: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	switch len(ids) {
	case 0:
		return "", ErrNotFound
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("profile id %q is ambiguous: give more of it", prefix)
}

// peers maps the cluster's known workload addresses to the workloads' names.
func (s *sqlStore) peers(ctx context.Context, cluster string) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT a.addr, p.namespace, p.name FROM workload_addrs a
		JOIN profiles p ON p.id = a.profile_id WHERE a.cluster = ?`), cluster)
	if err != nil {
		return nil, fmt.Errorf("store workload addresses: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var addr, ns, name string
		if err := rows.Scan(&addr, &ns, &name); err != nil {
			return nil, err
		}
		out[addr] = workloadName(ns, name)
	}
	return out, rows.Err()
}

func workloadName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// DeleteProfileItem deletes an item from a profile and from the profiles
// of the workload's other images: it is never learnt again.
func (s *sqlStore) DeleteProfileItem(ctx context.Context, id, kind, key, by string, now time.Time) error {
	id, err := s.profileID(ctx, id)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	var family string
	if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT family FROM profiles WHERE id = ?"), id).Scan(&family); err != nil {
		return fmt.Errorf("store profile: %w", err)
	}
	res, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE profile_items SET status = ? WHERE kind = ? AND ikey = ?
		AND profile_id IN (SELECT id FROM profiles WHERE family = ?)`), ItemDeleted, kind, key, family)
	if err != nil {
		return fmt.Errorf("store: delete item: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	_, err = tx.ExecContext(ctx, s.d.rebind(`INSERT INTO profile_deleted (family, kind, ikey, deleted_ns, deleted_by) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (family, kind, ikey) DO NOTHING`), family, kind, key, now.UnixNano(), by)
	if err != nil {
		return fmt.Errorf("store: delete item: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// SetProfileState puts a profile in a state: Enforced or Stable by a
// person's decision, Learning to learn afresh (relearn: what it learnt
// is forgotten, what was deleted stays deleted).
func (s *sqlStore) SetProfileState(ctx context.Context, id, state, by string, now time.Time) (*Profile, error) {
	id, err := s.profileID(ctx, id)
	if err != nil {
		return nil, err
	}
	if state != Learning && state != Stable && state != Enforced {
		return nil, fmt.Errorf("unknown profile state %q: learning, stable or enforced", state)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	if state == Learning {
		if _, err := tx.ExecContext(ctx, s.d.rebind("DELETE FROM profile_items WHERE profile_id = ? AND status <> ?"), id, ItemDeleted); err != nil {
			return nil, fmt.Errorf("store: relearn: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind("UPDATE profiles SET max_procs = 0, last_new_ns = ? WHERE id = ?"), now.UnixNano(), id); err != nil {
			return nil, fmt.Errorf("store: relearn: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind("UPDATE profiles SET state = ?, state_ns = ?, state_by = ? WHERE id = ?"),
		state, now.UnixNano(), by, id); err != nil {
		return nil, fmt.Errorf("store: profile state: %w", err)
	}
	p, err := s.profileTx(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: commit: %w", err)
	}
	return p, nil
}

// PromoteProfiles makes learning profiles that learnt nothing new for
// stableAfter stable, and returns them.
func (s *sqlStore) PromoteProfiles(ctx context.Context, now time.Time, stableAfter time.Duration) ([]Profile, error) {
	cut := now.Add(-stableAfter).UnixNano()
	ids, err := s.ids(ctx, "SELECT id FROM profiles WHERE state = ? AND last_new_ns <= ?", Learning, cut)
	if err != nil {
		return nil, err
	}
	var out []Profile
	for _, id := range ids {
		res, err := s.db.ExecContext(ctx, s.d.rebind(`UPDATE profiles SET state = ?, state_ns = ?, state_by = ?
			WHERE id = ? AND state = ? AND last_new_ns <= ?`), Stable, now.UnixNano(), "console", id, Learning, cut)
		if err != nil {
			return nil, fmt.Errorf("store: promote: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			if p, err := s.profileTx(ctx, s.db, id); err == nil {
				out = append(out, *p)
			}
		}
	}
	return out, nil
}

// CleanProfiles returns the ids of profiles stable for window without a
// deviation: those the console may enforce when told to do so on its own.
func (s *sqlStore) CleanProfiles(ctx context.Context, now time.Time, window time.Duration) ([]string, error) {
	return s.ids(ctx, `SELECT id FROM profiles p WHERE state = ? AND state_ns <= ?
		AND NOT EXISTS (SELECT 1 FROM profile_items i WHERE i.profile_id = p.id AND i.status = ?)`, Stable, now.Add(-window).UnixNano(), ItemNew)
}

func (s *sqlStore) ids(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("store profiles: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
