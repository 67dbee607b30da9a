package rules

import (
	"fmt"
	"strings"

	"github.com/mamori-dev/mamori/rules/condition"
	"gopkg.in/yaml.v3"
)

// exceptionCondition turns a rule's exceptions into the text Falco appends
// to its condition: " and not <exc1> and not <exc2> ...". An exception with
// no values contributes nothing.
func exceptionCondition(r *ruleDef) (string, error) {
	var b strings.Builder
	for _, e := range r.exceptions {
		clause, err := e.clause()
		if err != nil {
			return "", err
		}
		if clause != "" {
			b.WriteString(" and not ")
			b.WriteString(clause)
		}
	}
	return b.String(), nil
}

func (e *exceptionDef) errorf(n *yaml.Node, format string, args ...any) error {
	pos := e.pos
	if n != nil {
		pos = nodePos(pos.File, n)
	}
	return &Error{Pos: pos, Msg: fmt.Sprintf("exception %q: ", e.name) + fmt.Sprintf(format, args...)}
}

func (e *exceptionDef) clause() (string, error) {
	if e.fields.Kind == yaml.ScalarNode {
		return e.singleFieldClause()
	}
	if e.fields.Kind != yaml.SequenceNode {
		return "", e.errorf(e.fields, "fields: found %s, expected a field or a list of fields", kindName(e.fields))
	}
	fields, err := scalarItems(e.fields)
	if err != nil {
		return "", e.errorf(e.fields, "fields: %v", err)
	}
	comps := make([]string, len(fields))
	for i := range comps {
		comps[i] = "="
	}
	if e.comps != nil {
		if e.comps.Kind != yaml.SequenceNode {
			return "", e.errorf(e.comps, "comps: found %s, expected a list as long as fields", kindName(e.comps))
		}
		cs, err := scalarItems(e.comps)
		if err != nil {
			return "", e.errorf(e.comps, "comps: %v", err)
		}
		if len(cs) != len(fields) {
			return "", e.errorf(e.comps, "found %d comps for %d fields, expected as many comps as fields", len(cs), len(fields))
		}
		comps = cs
	}
	for i, c := range comps {
		if !validComparison(c) {
			return "", e.errorf(e.comps, "comps[%d]: found %q, expected an operator such as =, in, startswith or pmatch", i, c)
		}
	}
	var tuples []string
	for _, vals := range e.values {
		if vals.Kind == yaml.ScalarNode && vals.Tag == "!!null" {
			continue
		}
		if vals.Kind != yaml.SequenceNode {
			return "", e.errorf(vals, "values: found %s, expected a list of tuples", kindName(vals))
		}
		for _, tuple := range vals.Content {
			if tuple.Kind != yaml.SequenceNode {
				return "", e.errorf(tuple, "values: found %s, expected a tuple (a list of %d values)", kindName(tuple), len(fields))
			}
			if len(tuple.Content) != len(fields) {
				return "", e.errorf(tuple, "found a tuple of %d values for %d fields, expected one value per field", len(tuple.Content), len(fields))
			}
			var terms []string
			for i, v := range tuple.Content {
				val, err := e.formatValue(v, isListComparison(comps[i]))
				if err != nil {
					return "", err
				}
				terms = append(terms, fields[i]+" "+comps[i]+" "+val)
			}
			tuples = append(tuples, "("+strings.Join(terms, " and ")+")")
		}
	}
	if len(tuples) == 0 {
		return "", nil
	}
	return "(" + strings.Join(tuples, " or ") + ")", nil
}

// singleFieldClause handles "fields: f, comps: in, values: [a, b]".
func (e *exceptionDef) singleFieldClause() (string, error) {
	field := e.fields.Value
	comp := "in"
	if e.comps != nil {
		if e.comps.Kind != yaml.ScalarNode {
			return "", e.errorf(e.comps, "comps: found %s, expected one operator for a single field", kindName(e.comps))
		}
		comp = e.comps.Value
	}
	if !isListComparison(comp) {
		return "", e.errorf(e.comps, "comps: found %q, expected in, pmatch, intersects or a oneof/anyof/allof form for a single field", comp)
	}
	var items []string
	for _, vals := range e.values {
		if vals.Kind == yaml.ScalarNode && vals.Tag == "!!null" {
			continue
		}
		if vals.Kind != yaml.SequenceNode {
			return "", e.errorf(vals, "values: found %s, expected a list of values", kindName(vals))
		}
		for _, v := range vals.Content {
			if v.Kind != yaml.ScalarNode {
				return "", e.errorf(v, "values: found %s, expected a value", kindName(v))
			}
			items = append(items, quoteItem(v.Value))
		}
	}
	if len(items) == 0 {
		return "", nil
	}
	return "(" + field + " " + comp + " (" + strings.Join(items, ", ") + "))", nil
}

// formatValue prints one tuple value: a YAML list as "(a, b)", a scalar
// for a list operator in parentheses (it may name a list), otherwise
// quoted when it is not a plain word.
func (e *exceptionDef) formatValue(v *yaml.Node, listOp bool) (string, error) {
	switch v.Kind {
	case yaml.SequenceNode:
		items, err := scalarItems(v)
		if err != nil {
			return "", e.errorf(v, "%v", err)
		}
		for i := range items {
			items[i] = quoteItem(items[i])
		}
		return "(" + strings.Join(items, ", ") + ")", nil
	case yaml.ScalarNode:
		if listOp {
			return "(" + quoteItem(v.Value) + ")", nil
		}
		return quoteItem(v.Value), nil
	}
	return "", e.errorf(v, "found %s, expected a value or a list of values", kindName(v))
}

func scalarItems(n *yaml.Node) ([]string, error) {
	out := make([]string, 0, len(n.Content))
	for _, it := range n.Content {
		if it.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("found %s, expected a string", kindName(it))
		}
		out = append(out, it.Value)
	}
	return out, nil
}

// quoteItem quotes s unless it is already quoted or a bare word.
func quoteItem(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s
	}
	bare := s != ""
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r', '\b', '(', ')', '"', '\'', '=', ',':
			bare = false
		}
	}
	if bare {
		return s
	}
	return condition.Quote(s)
}

var comparisonOperators = map[string]bool{
	"=": true, "==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true,
	"contains": true, "icontains": true, "bcontains": true, "startswith": true,
	"bstartswith": true, "endswith": true, "glob": true, "iglob": true, "regex": true,
	"in": true, "intersects": true, "pmatch": true,
}

var stringOperators = map[string]bool{
	"=": true, "==": true, "!=": true, "contains": true, "icontains": true, "bcontains": true,
	"startswith": true, "bstartswith": true, "endswith": true, "glob": true, "iglob": true, "regex": true,
}

// validComparison accepts an operator or "<string operator> oneof|anyof|allof".
func validComparison(c string) bool {
	f := strings.Fields(c)
	switch len(f) {
	case 1:
		return comparisonOperators[f[0]]
	case 2:
		return stringOperators[f[0]] && (f[1] == "oneof" || f[1] == "anyof" || f[1] == "allof")
	}
	return false
}

func isListComparison(c string) bool {
	f := strings.Fields(c)
	return len(f) == 2 && validComparison(c) || len(f) == 1 && (f[0] == "in" || f[0] == "intersects" || f[0] == "pmatch")
}
