package sigma

import "strings"

// expr is a Falco condition under construction: checks combined with and,
// or and not, printed with the parentheses Falco's precedence needs
// (not binds tighter than and, and tighter than or).
type expr interface {
	falco() string
}

type (
	check  string // one Falco check, e.g. ct.name iglob "Stop*"
	allOf  []expr // and
	anyOf  []expr // or
	negate struct{ e expr }
)

func (c check) falco() string { return string(c) }

func (a allOf) falco() string {
	return join(a, " and ", func(e expr) bool { _, ok := e.(anyOf); return ok })
}

// An and inside an or is parenthesised too, for the reader's sake.
func (a anyOf) falco() string {
	return join(a, " or ", func(e expr) bool { _, ok := e.(allOf); return ok })
}

func (n negate) falco() string {
	if _, ok := n.e.(check); ok {
		return "not " + n.e.falco()
	}
	return "not (" + n.e.falco() + ")"
}

func join(es []expr, sep string, paren func(expr) bool) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.falco()
		if paren(e) {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, sep)
}

// and combines es, flattening nested ands; one operand is returned as is.
func and(es ...expr) expr { return flatten[allOf](es) }

// or combines es, flattening nested ors; one operand is returned as is.
func or(es ...expr) expr { return flatten[anyOf](es) }

func flatten[T interface {
	~[]expr
	expr
}](es []expr) expr {
	var out T
	for _, e := range es {
		if a, ok := e.(T); ok {
			out = append(out, a...)
		} else {
			out = append(out, e)
		}
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

// not negates e; a double negation cancels.
func not(e expr) expr {
	if n, ok := e.(negate); ok {
		return n.e
	}
	return negate{e}
}
