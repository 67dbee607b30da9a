package event

import "time"

// Alert says that a rule or a policy matched an event. Its JSON keeps
// Falco's alert fields (time, rule, priority, output, output_fields,
// source, tags, hostname) so that Falco tooling can read it, and adds what
// mamori knows: the action taken, the policy and control, and the acting
// process and container in the same shape as in events.
type Alert struct {
	Kind         string         `json:"kind"`              // always "alert"
	UUID         string         `json:"uuid,omitempty"`    // set once when the alert leaves for a console; a replay keeps it
	Cluster      string         `json:"cluster,omitempty"` // the agent's --cluster
	Time         time.Time      `json:"time"`
	Rule         string         `json:"rule"`
	Priority     string         `json:"priority"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	Source       string         `json:"source"` // syscall, k8s_audit, aws_cloudtrail
	Tags         []string       `json:"tags"`
	Hostname     string         `json:"hostname"`
	Action       string         `json:"action"`            // "detected", or what enforcement did
	Policy       string         `json:"policy,omitempty"`  // the policy that raised it, if any
	Control      string         `json:"control,omitempty"` // the policy's control, if any
	Event        Type           `json:"event,omitempty"`   // the kind of event that matched
	Process      *Process       `json:"process,omitempty"`
	Container    *Container     `json:"container,omitempty"`
	// Forensics are the container's most recent events before the alert,
	// oldest first, when a policy's forensics control asks for them.
	Forensics []Event `json:"forensics,omitempty"`
	// Count, when above 1, says that this alert stands for Count identical
	// ones (same rule or control, container, executable and action) that
	// happened from FirstTime to LastTime and were folded into it; the
	// first of a run is always sent alone, at once. Summing Count (1 when
	// absent) over alerts gives the exact number of occurrences.
	Count     int       `json:"count,omitempty"`
	FirstTime time.Time `json:"first_time,omitzero"`
	LastTime  time.Time `json:"last_time,omitzero"`
}

// Actions an alert can report.
const (
	Detected = "detected" // a detection rule matched
	Audited  = "audited"  // a policy control was violated and reported, not refused
	Blocked  = "blocked"  // a policy control was violated and an enforcer refused it
)
