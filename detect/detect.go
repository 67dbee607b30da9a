// Package detect evaluates events against Falco rules and turns matches into
// alerts. It owns the choice of which rules run on an event (Falco's
// "first" or "all" matching) and the shape of the alert; the rule language
// lives in rules, the fields in rules/syscalls, and writing alerts in
// output. It must not capture, enrich or write events.
package detect

import (
	"strings"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/syscalls"
)

// Detector evaluates syscall events against a ruleset. It is not safe for
// concurrent use: the agent calls it from the sensor's goroutine.
type Detector struct {
	rs      *rules.Ruleset
	all     bool
	ev      *syscalls.Event
	num     uint64
	matched []*rules.Rule
}

// Config says how a Detector matches.
type Config struct {
	// All evaluates every rule and raises an alert for each that matches
	// (Falco's rule_matching: all); otherwise only the first matching rule
	// in definition order raises one (Falco's default).
	All bool
	// Users names user and group ids; nil leaves user.name and group.name
	// without values.
	Users *syscalls.Users
	// Names names addresses (fd.sip.name and the like); nil leaves them
	// without values.
	Names syscalls.Names
}

// New returns a Detector for rs, which must have been loaded with the
// syscalls catalogue.
func New(rs *rules.Ruleset, cfg Config) *Detector {
	return &Detector{rs: rs, all: cfg.All, ev: syscalls.NewEvent(cfg.Users, cfg.Names)}
}

// Detect evaluates e and calls emit with an alert for each matching rule.
// It does not allocate for an event no rule matches. The alert holds
// copies: it stays valid after e is reused.
func (d *Detector) Detect(e *event.Event, emit func(*event.Alert)) {
	d.num++
	d.ev.Reset(e, d.num)
	typ := syscalls.EventType(e)
	if d.all {
		d.matched = d.rs.MatchAll(syscalls.Source, typ, d.ev, d.matched[:0])
		for _, r := range d.matched {
			emit(d.alert(r, e))
		}
		return
	}
	if r := d.rs.Match(syscalls.Source, typ, d.ev); r != nil {
		emit(d.alert(r, e))
	}
}

// Match reports the first rule that matches e, or nil, without building an
// alert: the benchmark's path.
func (d *Detector) Match(e *event.Event) *rules.Rule {
	d.num++
	d.ev.Reset(e, d.num)
	return d.rs.Match(syscalls.Source, syscalls.EventType(e), d.ev)
}

func (d *Detector) alert(r *rules.Rule, e *event.Event) *event.Alert {
	fields := r.OutputFields(d.ev)
	for k, v := range fields {
		// Derived strings live in the Event's buffer until the next event.
		if s, ok := v.(string); ok {
			fields[k] = strings.Clone(s)
		}
	}
	if fields == nil {
		fields = map[string]any{}
	}
	p := e.Process
	p.Ancestors = append([]event.Process(nil), e.Process.Ancestors...)
	tags := r.Tags
	if tags == nil {
		tags = []string{}
	}
	return &event.Alert{
		Kind:         "alert",
		Time:         e.Time,
		Rule:         r.Name,
		Priority:     r.Priority.String(),
		Output:       e.Time.Format("15:04:05.000000000") + ": " + r.Priority.String() + " " + r.Format(d.ev),
		OutputFields: fields,
		Source:       r.Source,
		Tags:         tags,
		Hostname:     e.Node,
		Action:       event.Detected,
		Event:        e.Type,
		Process:      &p,
		Container:    e.Container,
	}
}
