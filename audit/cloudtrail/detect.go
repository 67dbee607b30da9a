package cloudtrail

import (
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// Detector evaluates records against the aws_cloudtrail rules of a ruleset
// loaded with this package's Catalog. It is not safe for concurrent use.
type Detector struct {
	rs       *rules.Ruleset
	all      bool
	hostname string
	matched  []*rules.Rule
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
	return &Detector{rs: rs, all: cfg.All, hostname: cfg.Hostname}
}

// Detect evaluates r and calls emit with an alert for each matching rule.
func (d *Detector) Detect(r *Record, emit func(*event.Alert)) {
	if d.all {
		d.matched = d.rs.MatchAll(Source, "", r, d.matched[:0])
		for _, m := range d.matched {
			emit(d.alert(m, r))
		}
		return
	}
	if m := d.rs.Match(Source, "", r); m != nil {
		emit(d.alert(m, r))
	}
}

// alert is Falco's alert for a rule matching a record. It has no process
// or container: the actor is in the output fields (ct.user and the like).
func (d *Detector) alert(rule *rules.Rule, r *Record) *event.Alert {
	fields := rule.OutputFields(r)
	if fields == nil {
		fields = map[string]any{}
	}
	tags := rule.Tags
	if tags == nil {
		tags = []string{}
	}
	t := r.Time()
	return &event.Alert{
		Kind:         "alert",
		Time:         t,
		Rule:         rule.Name,
		Priority:     rule.Priority.String(),
		Output:       t.UTC().Format("15:04:05.000000000") + ": " + rule.Priority.String() + " " + rule.Format(r),
		OutputFields: fields,
		Source:       Source,
		Tags:         tags,
		Hostname:     d.hostname,
		Action:       event.Detected,
	}
}
