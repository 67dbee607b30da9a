package detect

import (
	"slices"

	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/condition"
)

// The kernel filters some kinds of event before they cross to user space:
// opens that only read or that failed, sends and receives. It can test a
// few things cheaply (a path prefix, a port, whether a socket's peer
// changed), and must let through every event a loaded rule can match. For
// each rule and each such class of events, the rule's condition is
// analysed for the keys an event of the class must match for the
// condition to hold on it; the union over the rules is what the kernel
// tests.

// A class is a kind of event the kernel filters. Some checks have a known
// value on every event of the class (evt.is_open_read = true on a
// read-only open, fd.num = -1 on a failed one); keys gives the keys a
// check narrows events to, or nil when it narrows nothing the kernel can
// test.
type class struct {
	types map[string]bool // the evt.type values of the class
	fact  func(field, op, v string) tri
	keys  func(field, op string, values []string) keySet
	// container is the key of "the process is in a container", nil where
	// the kernel cannot test it for the class.
	container keySet
	// absent, when set, says which fields are never there on the
	// class's events: every check on one is false.
	absent func(field string) bool
}

// A keySet is a set of keys the kernel tests, one matching being enough.
type keySet interface {
	union(keySet) keySet
	// breadth estimates how many events the keys let through, to pick
	// among the terms of an "and" the one the kernel can test most
	// narrowly.
	breadth() int
}

type tri int8

const (
	maybe tri = iota
	yes
	no
)

func (t tri) not() tri {
	switch t {
	case yes:
		return no
	case no:
		return yes
	}
	return maybe
}

func triOf(b bool) tri {
	if b {
		return yes
	}
	return no
}

// coverage is what a condition needs of a class: value is its value where
// the class decides it; keys (with value maybe) the keys an event must
// match for it to hold, nil where no key bounds it.
type coverage struct {
	value tri
	keys  keySet
}

// cover works out the coverage of e, negated with neg: the union of an
// "or"'s branches, and for an "and" the narrowest of its terms' keys.
func cover(e condition.Expr, neg bool, c class) coverage {
	switch e := e.(type) {
	case *condition.NotExpr:
		return cover(e.X, !neg, c)
	case *condition.AndExpr:
		return junction(e.Terms, !neg, neg, c)
	case *condition.OrExpr:
		return junction(e.Terms, neg, neg, c)
	case *condition.Check:
		return checkCover(e, neg, c)
	}
	return coverage{value: maybe}
}

// junction covers an "and" (all) or an "or" (!all), its terms under neg.
func junction(terms []condition.Expr, all, neg bool, c class) coverage {
	var parts []coverage
	value := yes
	if !all {
		value = no
	}
	for _, t := range terms {
		p := cover(t, neg, c)
		switch {
		case all && p.value == no:
			return coverage{value: no}
		case !all && p.value == yes:
			return coverage{value: yes}
		case all && p.value == yes, !all && p.value == no:
			continue
		}
		value = maybe
		parts = append(parts, p)
	}
	if value != maybe {
		return coverage{value: value}
	}
	if all {
		var best keySet
		for _, p := range parts {
			if p.keys != nil && (best == nil || p.keys.breadth() < best.breadth()) {
				best = p.keys
			}
		}
		return coverage{value: maybe, keys: best}
	}
	var union keySet
	for _, p := range parts {
		if p.keys == nil {
			return coverage{value: maybe}
		}
		if union == nil {
			union = p.keys
		} else {
			union = union.union(p.keys)
		}
	}
	return coverage{value: maybe, keys: union}
}

func checkCover(e *condition.Check, neg bool, c class) coverage {
	f, ok := e.Field.(*condition.Field)
	if !ok {
		return coverage{value: maybe}
	}
	if c.absent != nil && !f.HasArg && c.absent(f.Name) {
		// A check on a field the event lacks is false, whatever its
		// operator, and true under a "not".
		return coverage{value: triOf(neg)}
	}
	values, ok := literalValues(e)
	if f.Name == "container.id" && ok && len(values) == 1 && values[0] == "host" && !f.HasArg && e.Modifier == "" && c.container != nil {
		// container.id != host (Falco's container macro), or not
		// container.id = host: a process in a container.
		if (e.Op == "!=" && !neg) || (e.Op == "=" && neg) {
			return coverage{value: maybe, keys: c.container}
		}
	}
	if f.Name == "evt.type" && ok && !f.HasArg {
		v := typeFact(e.Op, values, c.types)
		if neg {
			v = v.not()
		}
		return coverage{value: v}
	}
	if ok && len(values) == 1 && !f.HasArg {
		if v := c.fact(f.Name, e.Op, values[0]); v != maybe {
			if neg {
				v = v.not()
			}
			return coverage{value: v}
		}
	}
	if neg || !ok || e.Modifier != "" || f.HasArg {
		return coverage{value: maybe}
	}
	return coverage{value: maybe, keys: c.keys(f.Name, e.Op, values)}
}

// typeFact is the value of a check on evt.type over a class's types:
// known when the check holds for all of them or for none.
func typeFact(op string, values []string, types map[string]bool) tri {
	in := 0
	for t := range types {
		if slices.Contains(values, t) {
			in++
		}
	}
	var hit tri
	switch in {
	case 0:
		hit = no
	case len(types):
		hit = yes
	default:
		return maybe
	}
	switch op {
	case "=", "in", "intersects":
		return hit
	case "!=":
		return hit.not()
	}
	return maybe
}

func literalValues(e *condition.Check) ([]string, bool) {
	switch v := e.Value.(type) {
	case *condition.Literal:
		return []string{v.Text}, true
	case *condition.List:
		if v.Ident {
			return nil, false
		}
		out := make([]string, len(v.Items))
		for i, it := range v.Items {
			out[i] = it.Text
		}
		return out, true
	}
	return nil, false
}

// coverOf is what rule r needs of class c: needed is false when it cannot
// match an event of the class; keys is nil when it needs every one.
func coverOf(r *rules.Rule, c class) (keys keySet, needed bool) {
	types, all := r.EventTypes()
	if !all {
		hit := false
		for _, t := range types {
			if c.types[t] {
				hit = true
			}
		}
		if !hit {
			return nil, false
		}
	}
	cv := cover(r.Expr(), false, c)
	if cv.value == no {
		return nil, false
	}
	return cv.keys, true
}
