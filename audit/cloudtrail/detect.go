package cloudtrail

import (
	"github.com/mamori-dev/mamori/audit/auditlog"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// Detector evaluates records against the aws_cloudtrail rules of a ruleset
// loaded with this package's Catalog. It remembers what the stateful
// mamori.* fields need (see scanState) across the records it is given, in
// the order given. It is not safe for concurrent use.
type Detector struct {
	d     *auditlog.Detector
	state *scanState
	ev    evaluation // reused: the rules do not keep the event
}

// DetectorConfig says how a Detector matches and what its alerts carry.
type DetectorConfig struct {
	// All raises an alert for every matching rule (Falco's rule_matching:
	// all); otherwise only for the first in definition order.
	All bool
	// Hostname is the alerts' hostname: the machine that read the logs.
	Hostname string
}

// NewDetector returns a Detector for rs.
func NewDetector(rs *rules.Ruleset, cfg DetectorConfig) *Detector {
	return &Detector{
		d:     auditlog.NewDetector(rs, auditlog.DetectorConfig{Source: Source, All: cfg.All, Hostname: cfg.Hostname}),
		state: newScanState(),
	}
}

// Detect evaluates r and calls emit with an alert for each matching rule.
// The alerts have no process or container: the actor is in the output
// fields (ct.user and the like).
func (d *Detector) Detect(r *Record, emit func(*event.Alert)) {
	d.ev = evaluation{rec: r, facts: d.state.observe(r)}
	d.d.Detect(&d.ev, r.Time(), emit)
}
