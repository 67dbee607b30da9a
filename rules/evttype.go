package rules

import (
	"sort"

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
// evt.type a macro-free condition can match: "and" intersects, "or"
// unites, "not" complements, and a check on any other field matches every
// type.
func eventTypes(e condition.Expr) typeSet {
	switch e := e.(type) {
	case *condition.AndExpr:
		s := allTypes
		for _, t := range e.Terms {
			s = s.intersect(eventTypes(t))
		}
		return s
	case *condition.OrExpr:
		s := typesOf()
		for _, t := range e.Terms {
			s = s.union(eventTypes(t))
		}
		return s
	case *condition.NotExpr:
		return eventTypes(e.X).complement()
	case *condition.Check:
		f, ok := e.Field.(*condition.Field)
		if !ok || f.Name != "evt.type" || f.HasArg || e.Modifier != "" {
			return allTypes
		}
		switch v := e.Value.(type) {
		case *condition.Literal:
			switch e.Op {
			case "=":
				return typesOf(v.Text)
			case "!=":
				return typesOf(v.Text).complement()
			}
		case *condition.List:
			if (e.Op == "in" || e.Op == "intersects") && !v.Ident {
				names := make([]string, len(v.Items))
				for i, it := range v.Items {
					names[i] = it.Text
				}
				return typesOf(names...)
			}
		}
	}
	return allTypes
}
