package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Stateful is mamori's extension of the rule language for rules that one
// record cannot decide: a rule with a "stateful" key raises an alert only
// when the records matching its condition, grouped by the values of some
// fields, reach a threshold within a time window, or the first time a
// group is seen. Falco has no such key; mamori's loader reads it, and the
// evaluators that keep a Memory (the audit-log detectors) honour it:
//
//	stateful:
//	  by: [ct.user.arn]   # fields whose values make a group (none: one group)
//	  within: 10m         # the window, counted in the records' own time
//	  count: 10           # records needed in the window (default 1)
//	  distinct: ct.name   # ...or distinct values of this field
//	  all_of: [c1, c2]    # ...or one record matching each condition
//	  first_seen: true    # ...or the first record of each group (within: forget after)
//
// A group that raised an alert starts again from nothing and stays quiet
// for the window after it, so a burst raises one alert, not one per
// record past the threshold.
type Stateful struct {
	By        []string      // field references, as written
	Within    time.Duration // 0 only for first_seen: never forget
	Count     int           // records or distinct values needed; 1 for first_seen
	Distinct  string        // the field whose distinct values are counted, or ""
	AllOf     []string      // conditions each needing a matching record, or nil
	FirstSeen bool

	by       []*outputField
	distinct *outputField
	allOf    []node
	spec     string
}

// statefulDef is a stateful key as read, compiled once the rule's source
// and its catalogue are known.
type statefulDef struct {
	pos   Position
	by    []string
	byPos Position
	// within and distinct are kept as text until compiled.
	within, distinct    string
	withinPos, distPos  Position
	count               int
	countSet            bool
	allOf               []string
	allOfPos            Position
	firstSeen, firstSet bool
}

var statefulKeys = []string{"by", "within", "count", "distinct", "all_of", "first_seen"}

// readStateful reads a rule's stateful mapping.
func (c *collector) readStateful(n *yaml.Node, rule string) (*statefulDef, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	m, err := c.readMapping(n)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("rule %q: stateful", rule)
	for _, k := range m.keys {
		if !contains(statefulKeys, k) {
			return nil, c.errorf(m.keyPos[k], "%s: unknown key %q, expected one of %s", what, k, strings.Join(statefulKeys, ", "))
		}
	}
	d := &statefulDef{pos: nodePos(c.curFile, n)}
	if v, ok := m.vals["by"]; ok {
		if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
			d.by = []string{v.Value} // one field needs no brackets
		} else if d.by, err = c.stringList(v, "stateful: by"); err != nil {
			return nil, err
		}
		d.byPos = nodePos(c.curFile, v)
	}
	if _, ok := m.vals["within"]; ok {
		if d.within, err = c.scalar(m, "within"); err != nil {
			return nil, err
		}
		d.withinPos = nodePos(c.curFile, m.vals["within"])
	}
	if v, ok := m.vals["count"]; ok {
		if v.Kind != yaml.ScalarNode || v.Decode(&d.count) != nil || d.count < 1 {
			return nil, c.errorf(v, "%s: count: found %q, expected a whole number of at least 1", what, v.Value)
		}
		d.countSet = true
	}
	if _, ok := m.vals["distinct"]; ok {
		if d.distinct, err = c.scalar(m, "distinct"); err != nil {
			return nil, err
		}
		d.distPos = nodePos(c.curFile, m.vals["distinct"])
	}
	if v, ok := m.vals["all_of"]; ok {
		if d.allOf, err = c.stringList(v, "stateful: all_of"); err != nil {
			return nil, err
		}
		d.allOfPos = nodePos(c.curFile, v)
	}
	if _, ok := m.vals["first_seen"]; ok {
		if d.firstSeen, err = c.boolean(m, "first_seen"); err != nil {
			return nil, err
		}
		d.firstSet = true
	}
	fail := func(format string, args ...any) error {
		return &Error{Pos: d.pos, Msg: what + ": " + fmt.Sprintf(format, args...)}
	}
	switch {
	case d.firstSeen && (d.countSet || d.distinct != "" || d.allOf != nil):
		return nil, fail("first_seen cannot be combined with count, distinct or all_of")
	case d.allOf != nil && (d.countSet || d.distinct != ""):
		return nil, fail("all_of cannot be combined with count or distinct: it needs one record per condition")
	case d.allOf != nil && len(d.allOf) < 2:
		return nil, fail("all_of needs at least two conditions")
	case len(d.allOf) > 64:
		return nil, fail("all_of has %d conditions, at most 64 are supported", len(d.allOf))
	case !d.firstSeen && d.within == "":
		return nil, fail("within is required (the window, e.g. 10m), unless first_seen is true")
	case !d.firstSeen && d.allOf == nil && !d.countSet:
		return nil, fail("say what to count: count (records, or distinct values with distinct), all_of, or first_seen: true")
	}
	return d, nil
}

// parseWindow reads a window: a Go duration (90s, 10m, 1h30m) or a whole
// number of days (2d), as Sigma writes timeframes.
func parseWindow(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if d, err := strconv.Atoi(n); err == nil && d > 0 && d <= 36500 {
			return time.Duration(d) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("found %q, expected a positive duration such as 90s, 10m, 1h or 2d", s)
	}
	return d, nil
}

// compileStateful compiles d for a rule of the source c compiles for.
func (b *builder) compileStateful(d *statefulDef, what string, c *compiler) (*Stateful, error) {
	s := &Stateful{By: d.by, Count: d.count, Distinct: d.distinct, AllOf: d.allOf, FirstSeen: d.firstSeen}
	if d.firstSeen {
		s.Count = 1
	}
	if d.within != "" {
		w, err := parseWindow(d.within)
		if err != nil {
			return nil, &Error{Pos: d.withinPos, Msg: what + ": stateful: within", Err: err}
		}
		s.Within = w
	}
	field := func(name string, pos Position) (*outputField, error) {
		op, ref, end, err := c.outputOperand(name, 0)
		if err == nil && end != len(name) {
			err = fmt.Errorf("unexpected %q after the field %s", name[end:], ref)
		}
		if err != nil {
			return nil, &Error{Pos: pos, Msg: what + ": stateful", Err: err}
		}
		return &outputField{name: ref, op: op}, nil
	}
	for _, name := range d.by {
		f, err := field(strings.TrimSpace(name), d.byPos)
		if err != nil {
			return nil, err
		}
		s.by = append(s.by, f)
	}
	if d.distinct != "" {
		f, err := field(strings.TrimSpace(d.distinct), d.distPos)
		if err != nil {
			return nil, err
		}
		s.distinct = f
	}
	for i, cond := range d.allOf {
		e, err := b.parseCondition(cond)
		if err == nil {
			e, err = b.resolveMacros(e, nil)
		}
		var n node
		if err == nil {
			n, err = c.compileExpr(e)
		}
		if err != nil {
			return nil, &Error{Pos: d.allOfPos, Msg: fmt.Sprintf("%s: stateful: all_of condition %d", what, i+1), Err: err}
		}
		s.allOf = append(s.allOf, n)
	}
	s.spec = s.makeSpec()
	return s, nil
}

// Group is the group a matching record belongs to: the values of By, as
// an output prints them, joined. Records with no value for a field are
// grouped under "<NA>" there.
func (s *Stateful) Group(evt any) string {
	switch len(s.by) {
	case 0:
		return ""
	case 1:
		return s.by[0].text(evt)
	}
	parts := make([]string, len(s.by))
	for i, f := range s.by {
		parts[i] = f.text(evt)
	}
	return strings.Join(parts, "\x1f")
}

// GroupFields returns By's values for evt, keyed by the field as written,
// for an alert's output fields.
func (s *Stateful) GroupFields(evt any) map[string]any {
	m := make(map[string]any, len(s.by))
	for _, f := range s.by {
		m[f.name] = f.value(evt)
	}
	return m
}

// DistinctValue is the value of Distinct for evt; false when it has none
// (such a record is not counted).
func (s *Stateful) DistinctValue(evt any) (string, bool) {
	if s.distinct == nil {
		return "", false
	}
	v := s.distinct.value(evt)
	if v == nil {
		return "", false
	}
	return s.distinct.text(evt), true
}

// Parts returns which AllOf conditions evt matches, as bits.
func (s *Stateful) Parts(evt any) uint64 {
	var bits uint64
	for i, n := range s.allOf {
		if n.eval(evt) {
			bits |= 1 << i
		}
	}
	return bits
}

// Spec is the stateful key as one line of text: two rules with the same
// spec count alike, so remembered state stays valid across a reload.
func (s *Stateful) Spec() string {
	if s.spec == "" {
		s.spec = s.makeSpec()
	}
	return s.spec
}

func (s *Stateful) makeSpec() string {
	var b strings.Builder
	fmt.Fprintf(&b, "by=%s within=%s", strings.Join(s.By, ","), s.Within)
	switch {
	case s.FirstSeen:
		b.WriteString(" first_seen")
	case s.AllOf != nil:
		fmt.Fprintf(&b, " all_of=%q", s.AllOf)
	case s.Distinct != "":
		fmt.Fprintf(&b, " count=%d distinct=%s", s.Count, s.Distinct)
	default:
		fmt.Fprintf(&b, " count=%d", s.Count)
	}
	return b.String()
}

// A StatefulCatalog's caller evaluates stateful rules (see Stateful):
// it keeps a Memory. Rules with a stateful key of another source load
// inactive.
type StatefulCatalog interface {
	Catalog
	StatefulRules()
}
