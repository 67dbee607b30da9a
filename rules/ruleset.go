package rules

import "github.com/mamori-dev/mamori/rules/condition"

// Rule is a compiled rule.
type Rule struct {
	Name      string
	Desc      string
	Condition string // as evaluated: appends applied, exceptions added, lists not expanded
	Output    string
	Priority  Priority
	Source    string
	Tags      []string
	Enabled   bool
	// Stateful is mamori's extension: when set, a record matching the
	// condition raises an alert only as Stateful says, under a Memory.
	Stateful *Stateful
	Pos      Position // where the rule was first defined

	// Inactive says why the rule cannot be evaluated with the loaded
	// catalogues; it is empty for an active rule. MissingFields lists the
	// fields the catalogue knows but does not provide.
	Inactive      string
	MissingFields []string
	// MissingOutputFields are fields only the output uses that the
	// catalogue does not provide: the rule runs and prints them as <NA>.
	MissingOutputFields []string
	// Fields lists every field the rule's condition and output read, by
	// name without argument, in order of first use; branches the loaded
	// catalogue decides statically are left out.
	Fields []string
	// MissingEventTypes are evt.type values the rule names that the
	// catalogue cannot deliver; the rule runs on the others.
	MissingEventTypes []string

	expr   condition.Expr // macro-free condition, lists expanded
	prog   node
	output *format
	types  typeSet
}

// Expr returns the rule's condition as evaluated, macros replaced and
// lists expanded, exceptions included; nil for a rule that did not compile.
// Callers may read it, not change it.
func (r *Rule) Expr() condition.Expr { return r.expr }

// Active reports whether the rule can be evaluated.
func (r *Rule) Active() bool { return r.Inactive == "" }

// Eval reports whether evt, an event of the rule's source, matches the
// rule's condition. An inactive rule matches nothing.
func (r *Rule) Eval(evt any) bool {
	if r.prog == nil || r.Inactive != "" {
		return false
	}
	return r.prog.eval(evt)
}

// EventTypes returns the evt.type values the rule's condition can match.
// With all set, the rule can match any event type except those returned.
func (r *Rule) EventTypes() (types []string, all bool) {
	return r.types.list(), r.types.neg
}

// List is a list as loaded: appends applied, earlier lists inlined.
type List struct {
	Name  string
	Items []string
	Pos   Position
}

// Macro is a macro as loaded: appends applied, lists not expanded.
type Macro struct {
	Name      string
	Condition string
	Pos       Position
}

// Ruleset is the result of loading rules files.
type Ruleset struct {
	lists    []List
	macros   []Macro
	rules    []*Rule
	warnings []Warning
	sources  map[string]*dispatch
}

// dispatch indexes the runnable rules of one source by event type, each
// list in definition order.
type dispatch struct {
	all    []*Rule            // every runnable rule
	byType map[string][]*Rule // rules that can match the type
	others []*Rule            // rules that can match a type no rule names
}

func (rs *Ruleset) index() {
	rs.sources = map[string]*dispatch{}
	for _, r := range rs.rules {
		if !r.Enabled || !r.Active() {
			continue
		}
		d := rs.sources[r.Source]
		if d == nil {
			d = &dispatch{byType: map[string][]*Rule{}}
			rs.sources[r.Source] = d
		}
		d.all = append(d.all, r)
		for n := range r.types.names {
			d.byType[n] = nil
		}
	}
	for _, d := range rs.sources {
		for _, r := range d.all {
			for n := range d.byType {
				if r.types.has(n) {
					d.byType[n] = append(d.byType[n], r)
				}
			}
			if r.types.neg {
				d.others = append(d.others, r)
			}
		}
	}
}

// Rules returns every rule in definition order, including disabled and
// inactive ones.
func (rs *Ruleset) Rules() []*Rule { return rs.rules }

// Lists returns the loaded lists in definition order.
func (rs *Ruleset) Lists() []List { return rs.lists }

// Macros returns the loaded macros in definition order.
func (rs *Ruleset) Macros() []Macro { return rs.macros }

// Macro returns the macro with the given name.
func (rs *Ruleset) Macro(name string) (Macro, bool) {
	for _, m := range rs.macros {
		if m.Name == name {
			return m, true
		}
	}
	return Macro{}, false
}

// List returns the list with the given name.
func (rs *Ruleset) List(name string) (List, bool) {
	for _, l := range rs.lists {
		if l.Name == name {
			return l, true
		}
	}
	return List{}, false
}

// Rule returns the rule with the given name, or nil.
func (rs *Ruleset) Rule(name string) *Rule {
	for _, r := range rs.rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Warnings returns what the load reported without failing.
func (rs *Ruleset) Warnings() []Warning { return rs.warnings }

// candidates returns the enabled, active rules of source that can match
// events of type evtType; an empty evtType means any type.
func (rs *Ruleset) candidates(source, evtType string) []*Rule {
	d := rs.sources[source]
	if d == nil {
		return nil
	}
	if evtType == "" {
		return d.all
	}
	if l, ok := d.byType[evtType]; ok {
		return l
	}
	return d.others
}

// Match returns the first enabled, active rule of source, in definition
// order, that matches evt, or nil: Falco's rule_matching "first". evtType
// is the event's evt.type, used to skip rules that cannot match it; pass
// "" when the source has no event types.
func (rs *Ruleset) Match(source, evtType string, evt any) *Rule {
	for _, r := range rs.candidates(source, evtType) {
		if r.prog.eval(evt) {
			return r
		}
	}
	return nil
}

// MatchAll appends to dst every enabled, active rule of source that
// matches evt, in definition order: Falco's rule_matching "all".
func (rs *Ruleset) MatchAll(source, evtType string, evt any, dst []*Rule) []*Rule {
	for _, r := range rs.candidates(source, evtType) {
		if r.prog.eval(evt) {
			dst = append(dst, r)
		}
	}
	return dst
}

// EventTypes returns the evt.type values the enabled, active rules of
// source need. With all set, some rule can match any event type, so every
// event must be delivered; types then lists the named types.
func (rs *Ruleset) EventTypes(source string) (types []string, all bool) {
	d := rs.sources[source]
	if d == nil {
		return nil, false
	}
	for n, l := range d.byType {
		if len(l) > 0 {
			types = append(types, n)
		}
	}
	return typesOf(types...).list(), len(d.others) > 0
}
