package auditlog

import (
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// Detector evaluates the records of one source against the rules of that
// source in a ruleset. It is not safe for concurrent use.
type Detector struct {
	rs      *rules.Ruleset
	cfg     DetectorConfig
	matched []*rules.Rule
}

// DetectorConfig says which source a Detector matches, how, and what its
// alerts carry.
type DetectorConfig struct {
	// Source is the Falco event source of the records, such as
	// "aws_cloudtrail" or "k8s_audit".
	Source string
	// All raises an alert for every matching rule (Falco's rule_matching:
	// all); otherwise only for the first in definition order.
	All bool
	// Hostname is the alerts' hostname: the machine that read the logs.
	Hostname string
}

// NewDetector returns a Detector for rs.
func NewDetector(rs *rules.Ruleset, cfg DetectorConfig) *Detector {
	return &Detector{rs: rs, cfg: cfg}
}

// Detect evaluates rec, which happened at t, and calls emit with an alert
// for each matching rule.
func (d *Detector) Detect(rec any, t time.Time, emit func(*event.Alert)) {
	if d.cfg.All {
		d.matched = d.rs.MatchAll(d.cfg.Source, "", rec, d.matched[:0])
		for _, m := range d.matched {
			emit(d.alert(m, rec, t))
		}
		return
	}
	if m := d.rs.Match(d.cfg.Source, "", rec); m != nil {
		emit(d.alert(m, rec, t))
	}
}

// alert is Falco's alert for a rule matching a record. It has no process
// or container: the actor is in the output fields.
func (d *Detector) alert(rule *rules.Rule, rec any, t time.Time) *event.Alert {
	fields := rule.OutputFields(rec)
	if fields == nil {
		fields = map[string]any{}
	}
	tags := rule.Tags
	if tags == nil {
		tags = []string{}
	}
	return &event.Alert{
		Kind:         "alert",
		Time:         t,
		Rule:         rule.Name,
		Priority:     rule.Priority.String(),
		Output:       t.UTC().Format("15:04:05.000000000") + ": " + rule.Priority.String() + " " + rule.Format(rec),
		OutputFields: fields,
		Source:       d.cfg.Source,
		Tags:         tags,
		Hostname:     d.cfg.Hostname,
		Action:       event.Detected,
	}
}
