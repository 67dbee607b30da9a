package event

import "time"

// Heartbeat is what an agent tells the console about itself, every few
// seconds: who it is, what this node's kernel lets it enforce, and what it
// has seen and lost. Counters are totals since the agent started.
type Heartbeat struct {
	Kind         string       `json:"kind"` // always "heartbeat"
	Time         time.Time    `json:"time"`
	Cluster      string       `json:"cluster"`
	Node         string       `json:"node"`
	Version      string       `json:"version"`
	Kernel       string       `json:"kernel"`  // uname release
	BootID       string       `json:"boot_id"` // /proc/sys/kernel/random/boot_id
	Started      time.Time    `json:"started"` // when the agent started
	Capabilities []Capability `json:"capabilities"`
	Counters     Counters     `json:"counters"`
	// Drops lists what was lost since the previous heartbeat, one line per
	// cause, so that a loss is seen in the console as well as the log.
	Drops    []string        `json:"drops,omitempty"`
	Policies []PolicyInForce `json:"policies,omitempty"`
	// PolicyError is why the last policy reload failed, when the
	// policies in force are older than those offered.
	PolicyError string           `json:"policy_error,omitempty"`
	Console     *PublisherCounts `json:"console,omitempty"`
}

// Capability says how one of mamori's capabilities works on a node: the
// mechanism that loads there, or why none does (see the probe package).
type Capability struct {
	Name      string `json:"name"`
	Mechanism string `json:"mechanism"`
	Effect    string `json:"effect"`
	Degraded  bool   `json:"degraded"`
}

// Counters are an agent's totals since it started.
type Counters struct {
	Events       uint64 `json:"events"`
	Alerts       uint64 `json:"alerts"`
	RingDropped  uint64 `json:"ring_buffer_dropped"`
	DecodeErrors uint64 `json:"decode_errors"`
	OutputErrors uint64 `json:"output_errors"`
	Containers   int    `json:"containers"`
	RSSBytes     uint64 `json:"rss_bytes"`
}

// PublisherCounts are the agent's counters of what it sent to the console.
type PublisherCounts struct {
	Published  uint64 `json:"published"`   // acknowledged by JetStream
	Spooled    uint64 `json:"spooled"`     // written to the on-disk spool while the console was away
	Replayed   uint64 `json:"replayed"`    // read back from the spool and acknowledged
	Dropped    uint64 `json:"dropped"`     // lost: the queue or the spool was full, or a record too large
	SpoolBytes int64  `json:"spool_bytes"` // waiting in the spool now
	Connected  bool   `json:"connected"`
}

// PolicyInForce is one runtime policy an agent enforces, and its version.
type PolicyInForce struct {
	Name    string `json:"name"`
	Version string `json:"version"` // the console's revision of its file, or the local set's digest
	Mode    string `json:"mode"`
	Source  string `json:"source"` // "console:FILE", a local file path, or "builtin"
}

// ContainerState is one container as an agent knows it, sent when it is
// first seen, when its protection changes, and again when it is gone.
type ContainerState struct {
	Kind      string     `json:"kind"` // always "container"
	Time      time.Time  `json:"time"`
	Cluster   string     `json:"cluster"`
	Node      string     `json:"node"`
	Container *Container `json:"container"`
	Running   bool       `json:"running"`
	// Protection is "enforced" when a policy control refuses in it,
	// "audited" when controls only report, "unprotected" when none apply;
	// Reason says why, e.g. which control cannot enforce on this node.
	Protection string            `json:"protection"`
	Reason     string            `json:"reason,omitempty"`
	Controls   map[string]string `json:"controls,omitempty"` // control → mode in force
	// Enforcement is each runtime control as the agent placed it in the
	// container: enforced (and by which mechanism), audited, not
	// enforced (and why), or pending.
	Enforcement []ControlEnforcement `json:"enforcement,omitempty"`
}

// ControlEnforcement is one runtime control in one container, as the
// agent's /status shows it.
type ControlEnforcement struct {
	Control   string `json:"control"`
	Mode      string `json:"mode"`  // enforce or audit
	State     string `json:"state"` // enforced, audited, not-enforced, pending
	Mechanism string `json:"mechanism,omitempty"`
	Reason    string `json:"reason,omitempty"` // why an enforce-mode control is not enforced
}

// Record kinds, the "kind" member of every record.
const (
	KindEvent     = "event"
	KindAlert     = "alert"
	KindHeartbeat = "heartbeat"
	KindContainer = "container"
)
