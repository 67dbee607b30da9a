// Package store keeps what the console receives: alerts, events, nodes'
// heartbeats and containers, and answers the API's questions about them.
// Store is the one interface; OpenSQLite (one machine, nothing to install)
// and OpenPostgres (at scale: partitioned by day) implement it. Writes are
// idempotent: an alert or event already stored (the same uuid or message
// id at the same time) is ignored, which makes the console's at-least-once
// delivery exactly-once in effect.
//
// It knows records of package event and SQL; it must not know NATS or HTTP.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// Store is a console's database.
type Store interface {
	// Put stores a batch in one transaction.
	Put(ctx context.Context, b *Batch) error
	// Alerts returns a page of alerts, newest first.
	Alerts(ctx context.Context, q AlertQuery) (*AlertPage, error)
	// Alert returns one alert with what surrounds it; ErrNotFound if none.
	Alert(ctx context.Context, uuid string) (*AlertDetail, error)
	// Counts counts alerts by a field over time buckets.
	Counts(ctx context.Context, q CountQuery) ([]Count, error)
	Nodes(ctx context.Context) ([]Node, error)
	Containers(ctx context.Context, q ContainerQuery) ([]ContainerRow, error)
	// Incidents lists incidents, most recently active first; Incident
	// returns one with its alerts; SetIncident changes its status and
	// note (by names who did).
	Incidents(ctx context.Context, q IncidentQuery) (*IncidentPage, error)
	Incident(ctx context.Context, id string) (*IncidentDetail, error)
	SetIncident(ctx context.Context, id, status, note, by string) (*Incident, error)
	// Events returns stored events, oldest first.
	Events(ctx context.Context, q EventQuery) ([]json.RawMessage, error)
	// Learn merges agents' observations into the behaviour profiles
	// (profiles.go) and returns the deviations of stable profiles.
	Learn(ctx context.Context, obs []*event.Observation, now time.Time) ([]Deviation, error)
	Profiles(ctx context.Context, q ProfileQuery) ([]Profile, error)
	// Profile returns one profile with its items (id or a unique prefix).
	Profile(ctx context.Context, id string) (*Profile, error)
	DeleteProfileItem(ctx context.Context, id, kind, key, by string, now time.Time) error
	// ProfileContainers lists the workload's containers seen since.
	ProfileContainers(ctx context.Context, id string, since time.Time, limit int) ([]ProfileContainer, error)
	SetProfileState(ctx context.Context, id, state, by string, now time.Time) (*Profile, error)
	// PromoteProfiles makes the profiles that learnt nothing new for
	// stableAfter stable; CleanProfiles lists those stable for window
	// without a deviation.
	PromoteProfiles(ctx context.Context, now time.Time, stableAfter time.Duration) ([]Profile, error)
	CleanProfiles(ctx context.Context, now time.Time, window time.Duration) ([]string, error)
	// NetworkMap aggregates the workloads' connections (flows.go).
	NetworkMap(ctx context.Context, q FlowQuery) (*NetMap, error)
	// Prune deletes what is older than the retention of its kind.
	Prune(ctx context.Context, now time.Time, r Retention) (Pruned, error)
	// KeepCounts counts the hours of the week before now that are over,
	// by every field counted, ahead of the first count that asks for
	// them (rulehours.go).
	KeepCounts(ctx context.Context, now time.Time) error
	Close() error
}

// ErrNotFound is returned for an unknown uuid.
var ErrNotFound = errors.New("not found")

// Batch is what one round of ingest stores.
type Batch struct {
	Alerts     []AlertIn
	Events     []EventIn
	Heartbeats []*event.Heartbeat
	Containers []*event.ContainerState
	// Observations are not stored by Put: ingest merges them with Learn
	// first and adds the alerts of their deviations to the batch.
	Observations []*event.Observation
}

// AlertIn is an alert with the JSON it arrived as, which is what the API
// serves back.
type AlertIn struct {
	Alert    *event.Alert
	Raw      []byte
	Received time.Time
}

// EventIn is an event with its message id (its identity in the store).
type EventIn struct {
	ID    string
	Event *event.Event
	Raw   []byte
}

// Filter selects alerts. Empty fields do not filter.
type Filter struct {
	Since, Until time.Time // Since inclusive, Until exclusive
	Cluster      string
	Node         string
	Namespace    string
	Pod          string
	Container    string // id or a prefix of it (12 to 64 hex digits: idFilter), else name
	Image        string
	Rule         string
	// MinPriority keeps alerts at or above this Falco priority
	// ("Warning" keeps Warning, Error, Critical, Alert, Emergency).
	MinPriority string
	Source      string
	Action      string
	Tag         string // one tag, e.g. T1059 or mitre_execution
	Text        string // a substring of the output or the rule, any case
}

// AlertQuery is a filter and a page.
type AlertQuery struct {
	Filter
	Limit  int    // 100 when 0; at most 1000
	Cursor string // from the previous page's Next
}

// AlertPage is one page of alerts.
type AlertPage struct {
	Alerts []json.RawMessage `json:"alerts"`
	// Next continues after the last alert of this page; "" at the end. The
	// order (time, then uuid, newest first) is stable: alerts arriving
	// later with an older time do not shift later pages.
	Next string `json:"next,omitempty"`
}

// AlertDetail is one alert with its context.
type AlertDetail struct {
	Alert json.RawMessage `json:"alert"`
	// Ancestry is the acting process and its ancestors, nearest first, as
	// the alert carries them.
	Ancestry []event.Process `json:"ancestry"`
	// Around are the container's events before and after the alert (the
	// alert's forensics, and stored events when the agent sends them).
	Around []json.RawMessage `json:"around"`
	// Connections are the network events among them.
	Connections []json.RawMessage `json:"connections"`
}

// Fields alerts can be counted by.
// A count by "tag" counts an alert once under each of its tags (MITRE
// tactics and techniques among them).
var CountFields = []string{"rule", "priority", "node", "cluster", "namespace", "pod", "image", "source", "action", "container", "tag"}

// CountQuery counts alerts matching Filter by Field per Bucket.
type CountQuery struct {
	Filter
	Field  string
	Bucket time.Duration // one bucket over the whole range when 0
}

// Count is one group of one bucket.
type Count struct {
	Bucket time.Time `json:"bucket"`
	Value  string    `json:"value"`
	Count  int64     `json:"count"`
}

// Node is a node's latest heartbeat.
type Node struct {
	Cluster   string           `json:"cluster"`
	Node      string           `json:"node"`
	LastSeen  time.Time        `json:"last_seen"`
	Heartbeat *event.Heartbeat `json:"heartbeat"`
}

// ContainerQuery selects containers.
type ContainerQuery struct {
	Cluster, Node string
	Running       *bool
}

// ContainerRow is a container's latest state.
type ContainerRow struct {
	Cluster  string                `json:"cluster"`
	Node     string                `json:"node"`
	ID       string                `json:"id"`
	LastSeen time.Time             `json:"last_seen"`
	State    *event.ContainerState `json:"state"`
}

// EventQuery selects events of one container or process.
type EventQuery struct {
	Cluster, Node string
	Container     string
	ProcessID     string
	Since, Until  time.Time
	Limit         int
}

// Retention is how long each kind is kept; 0 keeps forever.
type Retention struct {
	Alerts, Events time.Duration
	// Flows are the network map's connections per minute.
	Flows time.Duration
}

// DefaultRetention keeps alerts 30 days, events 3 and the network map's
// flows 7.
var DefaultRetention = Retention{Alerts: 30 * 24 * time.Hour, Events: 3 * 24 * time.Hour, Flows: 7 * 24 * time.Hour}

// Pruned says how much Prune removed.
type Pruned struct {
	Alerts, Events, Flows int64
}

// Priorities are Falco's, most severe first; an alert's rank is its index.
var Priorities = []string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}

// PriorityRank returns p's index in Priorities (Falco's spellings and
// "Info"), or -1.
func PriorityRank(p string) int {
	for i, q := range Priorities {
		if equalFold(p, q) {
			return i
		}
	}
	if equalFold(p, "info") {
		return 6
	}
	return -1
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
