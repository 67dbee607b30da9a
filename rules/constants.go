package rules

import "github.com/mamori-dev/mamori/rules/condition"

// Comparison is one check of a rule's condition between a field and
// constants, as written after macros and lists were expanded.
type Comparison struct {
	Field   string // the field's name, without argument
	Op      string // "=", "in", "startswith", "pmatch", ...
	Negated bool   // under an odd number of "not"
	Values  []string
}

// Comparisons returns the checks of the rule's condition that compare one
// of the named fields with constants. Callers use it to tell a sensor what
// to capture, e.g. the path prefixes a rule's fd.name checks need.
func (r *Rule) Comparisons(fields ...string) []Comparison {
	if r.expr == nil {
		return nil
	}
	var out []Comparison
	var walk func(e condition.Expr, neg bool)
	walk = func(e condition.Expr, neg bool) {
		switch e := e.(type) {
		case *condition.AndExpr:
			for _, t := range e.Terms {
				walk(t, neg)
			}
		case *condition.OrExpr:
			for _, t := range e.Terms {
				walk(t, neg)
			}
		case *condition.NotExpr:
			walk(e.X, !neg)
		case *condition.Check:
			f, ok := e.Field.(*condition.Field)
			if !ok || !contains(fields, f.Name) {
				return
			}
			c := Comparison{Field: f.Name, Op: e.Op, Negated: neg}
			switch v := e.Value.(type) {
			case *condition.Literal:
				c.Values = []string{v.Text}
			case *condition.List:
				for _, it := range v.Items {
					c.Values = append(c.Values, it.Text)
				}
			default:
				return
			}
			out = append(out, c)
		}
	}
	walk(r.expr, false)
	return out
}
