package k8saudit

import (
	"github.com/mamori-dev/mamori/audit/auditlog"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// Detector evaluates events against the k8s_audit rules of a ruleset
// loaded with this package's Catalog. It is not safe for concurrent use.
type Detector struct {
	d *auditlog.Detector
}

// DetectorConfig says how a Detector matches and what its alerts carry.
type DetectorConfig struct {
	// All raises an alert for every matching rule (Falco's rule_matching:
	// all); otherwise only for the first in definition order.
	All bool
	// Hostname is the alerts' hostname: the machine that read the events.
	Hostname string
}

// NewDetector returns a Detector for rs.
func NewDetector(rs *rules.Ruleset, cfg DetectorConfig) *Detector {
	return &Detector{auditlog.NewDetector(rs, auditlog.DetectorConfig{Source: Source, All: cfg.All, Hostname: cfg.Hostname})}
}

// Detect evaluates e and calls emit with an alert for each matching rule.
// The alerts have no process or container: the actor and the target are
// in the output fields (ka.user.name, ka.target.name and the like).
func (d *Detector) Detect(e *Event, emit func(*event.Alert)) {
	d.d.Detect(e, d.d.Candidates("", false), e.Time, emit)
}
