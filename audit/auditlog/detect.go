package auditlog

import (
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// Detector evaluates the records of one source against the rules of that
// source in a ruleset. It is not safe for concurrent use.
type Detector struct {
	cfg     DetectorConfig
	all     []*rules.Rule            // the source's runnable rules, in definition order
	byKey   map[string][]*rules.Rule // the rules that can match a key a rule names
	others  []*rules.Rule            // the rules that can match a key no rule names
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
	// Key is the string field that tells records apart for the rules,
	// such as a CloudTrail record's event name (ct.name): each record is
	// evaluated only against the rules whose conditions can match its
	// value, compared without regard to ASCII case as iglob compares (see
	// rules.Rule.FieldValuesFold). Empty: every rule sees every record.
	Key string
}

// NewDetector returns a Detector for the enabled, active rules of
// cfg.Source in rs.
func NewDetector(rs *rules.Ruleset, cfg DetectorConfig) *Detector {
	d := &Detector{cfg: cfg, byKey: map[string][]*rules.Rule{}}
	type values struct {
		named map[string]bool
		all   bool // any value but the named ones
	}
	var vals []values
	for _, r := range rs.Rules() {
		if r.Source != cfg.Source || !r.Enabled || !r.Active() {
			continue
		}
		v := values{all: true}
		if cfg.Key != "" {
			var names []string
			names, v.all = r.FieldValuesFold(cfg.Key)
			v.named = map[string]bool{}
			for _, n := range names {
				v.named[n] = true
				d.byKey[n] = nil
			}
		}
		d.all = append(d.all, r)
		vals = append(vals, v)
		if v.all {
			d.others = append(d.others, r)
		}
	}
	// A rule goes under every key it can match, in definition order.
	for i, r := range d.all {
		for k := range d.byKey {
			if vals[i].named[k] != vals[i].all {
				d.byKey[k] = append(d.byKey[k], r)
			}
		}
	}
	return d
}

// Candidates returns, in definition order, the rules that can match a
// record whose Key field reads key; has is false when the record has no
// value there, and then every rule can.
func (d *Detector) Candidates(key string, has bool) []*rules.Rule {
	if !has || d.cfg.Key == "" {
		return d.all
	}
	var buf [64]byte
	folded := buf[:0]
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		folded = append(folded, c)
	}
	if l, ok := d.byKey[string(folded)]; ok {
		return l
	}
	return d.others
}

// Match returns the rules of cands (from Candidates) that rec matches,
// in order: every one, or the first only. The slice is reused by the next
// call.
func (d *Detector) Match(rec any, cands []*rules.Rule) []*rules.Rule {
	d.matched = d.matched[:0]
	for _, r := range cands {
		if r.Eval(rec) {
			d.matched = append(d.matched, r)
			if !d.cfg.All {
				break
			}
		}
	}
	return d.matched
}

// Detect evaluates rec, which happened at t, against cands and calls emit
// with an alert for each matching rule, or for the first only.
func (d *Detector) Detect(rec any, cands []*rules.Rule, t time.Time, emit func(*event.Alert)) {
	for _, m := range d.Match(rec, cands) {
		emit(d.Alert(m, rec, t))
	}
}

// Alert is Falco's alert for a rule matching rec, which happened at t.
// It has no process or container: the actor is in the output fields.
func (d *Detector) Alert(rule *rules.Rule, rec any, t time.Time) *event.Alert {
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
