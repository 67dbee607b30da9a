package sigma

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mamori-dev/mamori/rules"
)

// ruleTranslator translates the detection of one Sigma rule.
type ruleTranslator struct {
	ls     *logSource
	fields map[string]rules.Field // the Falco source's catalogue
	defs   map[string]*yaml.Node  // detection name -> definition
	names  []string               // detection names in document order
	done   map[string]expr
}

// typeOf is the type of a provided field, 0 for one not provided.
func (t *ruleTranslator) typeOf(name string) rules.FieldType {
	if !t.provided(name) {
		return 0
	}
	return t.fields[name].Type
}

// provided reports whether the catalogue provides field name.
func (t *ruleTranslator) provided(name string) bool {
	f, ok := t.fields[name]
	return ok && (f.ExtractString != nil || f.ExtractNumber != nil || f.ExtractBool != nil ||
		f.ExtractIP != nil || f.ExtractStrings != nil)
}

// detection translates a rule's detection into a Falco condition and,
// for a rule about several events (an aggregation after "|", or a
// timeframe), the stateful key that relates them.
func (t *ruleTranslator) detection(n *yaml.Node) (expr, *aggregation, *problem) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil, fail(ReasonInvalid, "detection is not a mapping")
	}
	t.defs = map[string]*yaml.Node{}
	t.done = map[string]expr{}
	var cond, timeframe *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "condition":
			cond = resolve(v)
		case "timeframe":
			timeframe = resolve(v)
		default:
			if _, dup := t.defs[k.Value]; !dup {
				t.names = append(t.names, k.Value)
			}
			t.defs[k.Value] = v
		}
	}
	if cond == nil {
		return nil, nil, fail(ReasonInvalid, "detection has no condition")
	}
	var conds []string
	switch cond.Kind {
	case yaml.ScalarNode:
		conds = []string{cond.Value}
	case yaml.SequenceNode:
		// A list of conditions, an older form: any of them.
		for _, c := range cond.Content {
			if c = resolve(c); c == nil || c.Kind != yaml.ScalarNode {
				return nil, nil, fail(ReasonInvalid, "condition list holds something other than text")
			}
			conds = append(conds, c.Value)
		}
	default:
		return nil, nil, fail(ReasonInvalid, "condition is not text")
	}
	if len(conds) == 0 {
		return nil, nil, fail(ReasonInvalid, "condition list is empty")
	}
	within := ""
	if timeframe != nil {
		var p *problem
		if within, p = window(timeframe.Value); p != nil {
			return nil, nil, p
		}
	}
	for _, c := range conds {
		i := strings.IndexByte(c, '|')
		if i < 0 {
			continue
		}
		if len(conds) > 1 {
			return nil, nil, fail(ReasonAggregation, "condition %q aggregates events in a list of conditions: only a single aggregated condition translates", c)
		}
		p := &condParser{names: t.names, sel: t.selection}
		base, pr := p.parse(c[:i])
		if pr != nil {
			return nil, nil, pr
		}
		return t.pipe(base, c[i+1:], within)
	}
	var es []expr
	for _, c := range conds {
		p := &condParser{names: t.names, sel: t.selection}
		e, pr := p.parse(c)
		if pr != nil {
			return nil, nil, pr
		}
		es = append(es, e)
	}
	if within != "" {
		return overTimeframe(or(es...), within)
	}
	return or(es...), nil, nil
}

// selection translates the named detection.
func (t *ruleTranslator) selection(name string) (expr, *problem) {
	if e, ok := t.done[name]; ok {
		return e, nil
	}
	n, ok := t.defs[name]
	if !ok {
		return nil, fail(ReasonInvalid, "the condition names %q, which the detection does not define", name)
	}
	n = resolve(n)
	var e expr
	var p *problem
	switch {
	case n == nil:
		p = fail(ReasonInvalid, "detection %q is an alias loop", name)
	case n.Kind == yaml.MappingNode:
		e, p = t.fieldMap(name, n)
	case n.Kind == yaml.SequenceNode:
		e, p = t.mapList(name, n)
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		p = fail(ReasonInvalid, "detection %q is empty", name)
	default:
		p = fail(ReasonKeywords, "detection %q searches the whole event for %q, not a field", name, n.Value)
	}
	if p != nil {
		return nil, p
	}
	t.done[name] = e
	return e, nil
}

// fieldMap is a mapping of fields to values: all must match.
func (t *ruleTranslator) fieldMap(name string, n *yaml.Node) (expr, *problem) {
	if len(n.Content) == 0 {
		return nil, fail(ReasonInvalid, "detection %q is an empty mapping", name)
	}
	var es []expr
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			return nil, fail(ReasonInvalid, "detection %q has a key that is not text", name)
		}
		if k.Value == "" || strings.HasPrefix(k.Value, "|") {
			return nil, fail(ReasonKeywords, "detection %q searches the whole event (no field before %q)", name, k.Value)
		}
		vals, p := values(k.Value, n.Content[i+1])
		if p != nil {
			return nil, p
		}
		e, p := t.entry(k.Value, vals)
		if p != nil {
			return nil, p
		}
		es = append(es, e)
	}
	return and(es...), nil
}

// mapList is a list of field mappings: one must match. A list of plain
// values is a keyword search.
func (t *ruleTranslator) mapList(name string, n *yaml.Node) (expr, *problem) {
	if len(n.Content) == 0 {
		return nil, fail(ReasonInvalid, "detection %q is an empty list", name)
	}
	var es []expr
	for _, item := range n.Content {
		item = resolve(item)
		switch {
		case item == nil:
			return nil, fail(ReasonInvalid, "detection %q is an alias loop", name)
		case item.Kind == yaml.MappingNode:
			e, p := t.fieldMap(name, item)
			if p != nil {
				return nil, p
			}
			es = append(es, e)
		case item.Kind == yaml.ScalarNode:
			return nil, fail(ReasonKeywords, "detection %q searches the whole event for keywords, not a field", name)
		default:
			return nil, fail(ReasonInvalid, "detection %q nests a list in a list", name)
		}
	}
	return or(es...), nil
}

// values reads the value or list of values of a field.
func values(key string, n *yaml.Node) ([]value, *problem) {
	n = resolve(n)
	switch {
	case n == nil:
		return nil, fail(ReasonInvalid, "%q: alias loop", key)
	case n.Kind == yaml.ScalarNode:
		return []value{scalar(n)}, nil
	case n.Kind == yaml.SequenceNode:
		var vs []value
		for _, c := range n.Content {
			if c = resolve(c); c == nil || c.Kind != yaml.ScalarNode {
				return nil, fail(ReasonInvalid, "%q: a value list may only hold plain values", key)
			}
			vs = append(vs, scalar(c))
		}
		return vs, nil
	}
	return nil, fail(ReasonInvalid, "%q: a value cannot be a mapping", key)
}

// scalar reads a YAML scalar as a Sigma value.
func scalar(n *yaml.Node) value {
	switch n.Tag {
	case "!!null":
		return value{null: true}
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return value{number: true, text: strconv.FormatInt(i, 10)}
		}
		return value{number: true, text: n.Value}
	case "!!float":
		return value{number: true, text: n.Value}
	case "!!bool":
		return value{text: strings.ToLower(n.Value)}
	}
	return value{text: n.Value}
}
