package auditlog

import (
	"fmt"
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
	matched []Hit
	memory  *rules.Memory
}

// Hit is a rule that raises an alert for a record: its condition matched
// and, for a stateful rule, its Memory says the record completes what it
// waits for (Agg says what).
type Hit struct {
	Rule *rules.Rule
	Agg  rules.Aggregate
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
	d := &Detector{cfg: cfg, byKey: map[string][]*rules.Rule{}, memory: rules.NewMemory()}
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

// Match returns the rules of cands (from Candidates) that raise an alert
// for rec, which happened at at() (asked only when a stateful rule needs
// it: parsing a time is dearer than most conditions), in order: every one, or the first only. A
// stateful rule whose condition matches is asked of the Detector's
// Memory, which remembers the record; when it does not raise, the next
// rule is tried, as if its condition had not matched. The slice is reused
// by the next call.
func (d *Detector) Match(rec any, cands []*rules.Rule, at func() time.Time) []Hit {
	d.matched = d.matched[:0]
	for _, r := range cands {
		if !r.Eval(rec) {
			continue
		}
		var agg rules.Aggregate
		ok := true
		if r.Stateful != nil {
			agg, ok = d.memory.Admit(r, rec, at())
		}
		if !ok {
			continue
		}
		d.matched = append(d.matched, Hit{Rule: r, Agg: agg})
		if !d.cfg.All {
			break
		}
	}
	return d.matched
}

// Memory is what the Detector's stateful rules remember, to be saved
// with the caller's progress and given back to a new Detector.
func (d *Detector) Memory() *rules.Memory { return d.memory }

// Detect evaluates rec, which happened at t, against cands and calls emit
// with an alert for each matching rule, or for the first only.
func (d *Detector) Detect(rec any, cands []*rules.Rule, t time.Time, emit func(*event.Alert)) {
	for _, h := range d.Match(rec, cands, func() time.Time { return t }) {
		emit(d.Alert(h, rec, t))
	}
}

// Alert is Falco's alert for a rule raised by rec, which happened at t.
// It has no process or container: the actor is in the output fields. A
// stateful rule's alert also carries, in its output and output fields,
// how many records (or values, or conditions) completed it, since when,
// and the group's values.
func (d *Detector) Alert(h Hit, rec any, t time.Time) *event.Alert {
	rule := h.Rule
	text, fields := rule.Render(rec)
	if fields == nil {
		fields = map[string]any{}
	}
	if s := rule.Stateful; s != nil {
		text += statefulSuffix(s, h.Agg)
		fields["mamori.stateful.count"] = int64(h.Agg.Count)
		fields["mamori.stateful.since"] = h.Agg.Since.UTC().Format(time.RFC3339Nano)
		for k, v := range h.Agg.Group {
			if _, ok := fields[k]; !ok {
				fields[k] = v
			}
		}
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
		Output:       t.UTC().Format("15:04:05.000000000") + ": " + rule.Priority.String() + " " + text,
		OutputFields: fields,
		Source:       d.cfg.Source,
		Tags:         tags,
		Hostname:     d.cfg.Hostname,
		Action:       event.Detected,
	}
}

// statefulSuffix tells, after a stateful rule's output, what completed it.
func statefulSuffix(s *rules.Stateful, a rules.Aggregate) string {
	switch {
	case s.FirstSeen:
		return " [first seen]"
	case s.AllOf != nil:
		return fmt.Sprintf(" [all %d conditions met within %s since %s]", a.Count, s.Within, a.Since.UTC().Format(time.RFC3339))
	case s.Distinct != "":
		return fmt.Sprintf(" [%d distinct %s within %s since %s]", a.Count, s.Distinct, s.Within, a.Since.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf(" [%d records within %s since %s]", a.Count, s.Within, a.Since.UTC().Format(time.RFC3339))
}
