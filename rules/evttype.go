package rules

import (
	"sort"
	"strings"

	"github.com/mamori-dev/mamori/rules/condition"
)

// typeSet is the set of event types a condition can match: names, or
// with neg every type except names.
type typeSet struct {
	neg   bool
	names map[string]bool
}

var allTypes = typeSet{neg: true}

func typesOf(names ...string) typeSet {
	s := typeSet{names: make(map[string]bool, len(names))}
	for _, n := range names {
		s.names[n] = true
	}
	return s
}

func (s typeSet) complement() typeSet { return typeSet{neg: !s.neg, names: s.names} }

func (s typeSet) has(name string) bool { return s.names[name] != s.neg }

func (s typeSet) union(t typeSet) typeSet {
	switch {
	case !s.neg && !t.neg:
		return typesOf(append(s.list(), t.list()...)...)
	case s.neg && t.neg: // all but (S ∩ T)
		return typeSet{neg: true, names: intersect(s.names, t.names)}
	case s.neg: // all but (S − T)
		return typeSet{neg: true, names: minus(s.names, t.names)}
	}
	return typeSet{neg: true, names: minus(t.names, s.names)}
}

func (s typeSet) intersect(t typeSet) typeSet {
	switch {
	case !s.neg && !t.neg:
		return typeSet{names: intersect(s.names, t.names)}
	case s.neg && t.neg:
		return typeSet{neg: true, names: typesOf(append(s.list(), t.list()...)...).names}
	case s.neg:
		return typeSet{names: minus(t.names, s.names)}
	}
	return typeSet{names: minus(s.names, t.names)}
}

func intersect(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for n := range a {
		if b[n] {
			out[n] = true
		}
	}
	return out
}

func minus(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for n := range a {
		if !b[n] {
			out[n] = true
		}
	}
	return out
}

func (s typeSet) list() []string {
	out := make([]string, 0, len(s.names))
	for n := range s.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// eventTypes computes, as Falco's evttype resolver does, which values of
// evt.type a macro-free condition can match. Negations are pushed down to
// the checks (De Morgan): "and" intersects and "or" unites, swapped under
// a negation; a check on evt.type gives its set, complemented under a
// negation; any other check, negated or not, can match every type.
func eventTypes(e condition.Expr) typeSet { return valueSet(e, "evt.type", false, false) }

// FieldValues is EventTypes for another field than evt.type: the values
// of field, compared as strings, that the rule's condition can match.
// With all set, it can match any value except those returned. The
// analysis holds for events on which the field has a value; one without
// can match any rule. A source whose events are told apart by another
// field (a CloudTrail record by its event name) indexes its rules by it.
func (r *Rule) FieldValues(field string) (values []string, all bool) {
	s := valueSet(r.expr, field, false, false)
	return s.list(), s.neg
}

// FieldValuesFold is FieldValues with the values folded to lower case
// (ASCII, as iglob folds them), so that checks that compare without
// regard to case can be indexed too: Sigma rules translated onto the
// engine write ct.name iglob "DeleteTrail". An event whose value, folded,
// is not among those returned (with all unset) cannot match. The sets are
// wider than FieldValues': a negated exact check ("not ct.name = A")
// spares no folded value, since "a" is not "A".
func (r *Rule) FieldValuesFold(field string) (values []string, all bool) {
	s := valueSet(r.expr, field, false, true)
	return s.list(), s.neg
}

// valueSet is eventTypes over field: the values of field a condition can
// match, negations pushed down to the checks; folded to lower case with
// fold.
func valueSet(e condition.Expr, field string, neg, fold bool) typeSet {
	switch e := e.(type) {
	case *condition.AndExpr, *condition.OrExpr:
		var terms []condition.Expr
		_, isAnd := e.(*condition.AndExpr)
		if isAnd {
			terms = e.(*condition.AndExpr).Terms
		} else {
			terms = e.(*condition.OrExpr).Terms
		}
		intersecting := isAnd != neg
		s := typesOf()
		if intersecting {
			s = allTypes
		}
		for _, t := range terms {
			if intersecting {
				s = s.intersect(valueSet(t, field, neg, fold))
			} else {
				s = s.union(valueSet(t, field, neg, fold))
			}
		}
		return s
	case *condition.NotExpr:
		return valueSet(e.X, field, !neg, fold)
	case *condition.Check:
		var s, not typeSet
		var ok bool
		if fold {
			s, not, ok = checkFolded(e, field)
		} else {
			s, ok = checkValues(e, field)
			not = s.complement()
		}
		switch {
		case !ok:
			return allTypes
		case neg:
			return not
		}
		return s
	}
	return allTypes
}

// checkFolded returns the folded values a check on field can match, and
// those its negation can: "= A" and "in (A, B)" select {a} and {a, b},
// and their negations every folded value; "iglob A", A without wildcards,
// selects {a}, and its negation every other; "= anyof", "iglob anyof" and
// the like select the folded values listed. ok is false for a check on
// another field, or one whose values cannot be listed.
func checkFolded(e *condition.Check, field string) (s, not typeSet, ok bool) {
	f, isField := e.Field.(*condition.Field)
	if !isField || f.Name != field || f.HasArg {
		return typeSet{}, typeSet{}, false
	}
	var items []string
	switch v := e.Value.(type) {
	case *condition.Literal:
		items = []string{v.Text}
	case *condition.List:
		if v.Ident {
			return typeSet{}, typeSet{}, false
		}
		for _, it := range v.Items {
			items = append(items, it.Text)
		}
	default:
		return typeSet{}, typeSet{}, false
	}
	for i, it := range items {
		if e.Op == "glob" || e.Op == "iglob" {
			if strings.ContainsAny(it, "*?[\\") {
				return typeSet{}, typeSet{}, false
			}
		}
		items[i] = foldASCII(it)
	}
	folded := typesOf(items...)
	_, isLiteral := e.Value.(*condition.Literal)
	switch {
	case e.Modifier == "anyof" || e.Modifier == "oneof" || e.Modifier == "allof":
		if e.Op == "=" || e.Op == "glob" || e.Op == "iglob" {
			return folded, allTypes, true
		}
	case e.Modifier != "":
	case isLiteral && e.Op == "iglob":
		return folded, folded.complement(), true
	case isLiteral && (e.Op == "=" || e.Op == "glob"):
		return folded, allTypes, true
	case isLiteral && e.Op == "!=":
		return allTypes, folded, true
	case !isLiteral && (e.Op == "in" || e.Op == "intersects"):
		return folded, allTypes, true
	}
	return typeSet{}, typeSet{}, false
}

// foldASCII lowers ASCII letters, as iglob compares them.
func foldASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// checkTypes returns the event types a check on evt.type selects.
func checkTypes(e *condition.Check) (typeSet, bool) { return checkValues(e, "evt.type") }

// checkValues returns the values a check on field selects; ok is false
// for a check on another field, or one whose values cannot be listed.
func checkValues(e *condition.Check, field string) (typeSet, bool) {
	f, ok := e.Field.(*condition.Field)
	if !ok || f.Name != field || f.HasArg || e.Modifier != "" {
		return typeSet{}, false
	}
	switch v := e.Value.(type) {
	case *condition.Literal:
		switch e.Op {
		case "=":
			return typesOf(v.Text), true
		case "!=":
			return typesOf(v.Text).complement(), true
		}
	case *condition.List:
		if (e.Op == "in" || e.Op == "intersects") && !v.Ident {
			names := make([]string, len(v.Items))
			for i, it := range v.Items {
				names[i] = it.Text
			}
			return typesOf(names...), true
		}
	}
	return typeSet{}, false
}
