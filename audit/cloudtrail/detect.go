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
	rules *rules.Ruleset
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
		d:     auditlog.NewDetector(rs, auditlog.DetectorConfig{Source: Source, All: cfg.All, Hostname: cfg.Hostname, Key: "ct.name"}),
		rules: rs,
		state: newScanState(),
	}
}

// Detect evaluates r and calls emit with an alert for each matching rule.
// The alerts have no process or container: the actor is in the output
// fields (ct.user and the like).
//
// Only the rules that can match the record's event name see it (most
// records are of events no rule names, and are read no further than their
// eventName); a record without one is seen by every rule.
func (d *Detector) Detect(r *Record, emit func(*event.Alert)) {
	// The evaluation is set for every record, matched or not, so that it
	// never holds a record that went before (a caller that reads fields
	// through it after Detect, as the fuzzer does, reads this record).
	d.ev = evaluation{rec: r, facts: d.state.observe(r)}
	cands := d.d.Candidates(r.eventName())
	if len(cands) == 0 {
		return
	}
	for _, h := range d.d.Match(&d.ev, cands, r.Time) {
		emit(d.d.Alert(h, &d.ev, r.Time()))
	}
}
