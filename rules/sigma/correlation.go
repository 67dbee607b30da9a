package sigma

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// translated is a Sigma rule already translated, as a correlation rule
// names it (by its name or its id).
type translated struct {
	rule string // the Falco rule's name
	file string
	ls   *logSource
	cond expr
}

// remember keeps a translated rule for the correlation rules after it.
func (t *Translator) remember(n *yaml.Node, id string, r falcoRule, ls *logSource, e expr) {
	tr := &translated{rule: r.Rule, ls: ls, cond: e}
	for _, key := range []string{strings.TrimSpace(scalarAt(n, "name")), id} {
		if key != "" {
			t.refs[key] = tr
		}
	}
}

// correlation translates a Sigma correlation rule: event_count and
// value_count count the events of the rules it names by group within its
// timespan, temporal waits for each of them to match within it. It
// returns the Falco rules of the named rules that stop alerting alone
// (Sigma's generate, false unless said).
func (t *Translator) correlation(file string, n *yaml.Node) (falcoRule, []string, *problem) {
	c := valueAt(n, "correlation")
	if c == nil || c.Kind != yaml.MappingNode {
		return falcoRule{}, nil, fail(ReasonInvalid, "correlation is not a mapping")
	}
	title := strings.TrimSpace(scalarAt(n, "title"))
	if title == "" {
		return falcoRule{}, nil, fail(ReasonInvalid, "the rule has no title")
	}
	typ := scalarAt(c, "type")
	names := seqAt(c, "rules")
	if len(names) == 0 {
		if one := scalarAt(c, "rules"); one != "" {
			names = []string{one}
		}
	}
	if len(names) == 0 {
		return falcoRule{}, nil, fail(ReasonInvalid, "correlation names no rules")
	}
	var refs []*translated
	var conds []expr
	for _, name := range names {
		r, ok := t.refs[name]
		if !ok {
			return falcoRule{}, nil, fail(ReasonCorrelation, "correlation names rule %q, which was not translated before it: a correlation comes after the rules it names (same file or an earlier one), and they must translate", name)
		}
		if len(refs) > 0 && r.ls.source != refs[0].ls.source {
			return falcoRule{}, nil, fail(ReasonCorrelation, "correlation names rules of two log sources (%s/%s and %s/%s)", refs[0].ls.product, refs[0].ls.service, r.ls.product, r.ls.service)
		}
		refs = append(refs, r)
		conds = append(conds, r.cond)
	}
	ls := refs[0].ls
	span := scalarAt(c, "timespan")
	if span == "" {
		span = scalarAt(c, "timeframe")
	}
	if span == "" {
		return falcoRule{}, nil, fail(ReasonInvalid, "correlation has no timespan")
	}
	within, p := window(span)
	if p != nil {
		return falcoRule{}, nil, p
	}
	rt := &ruleTranslator{ls: ls, fields: t.fields[ls.source]}
	group := seqAt(c, "group-by")
	if len(group) == 0 {
		if one := scalarAt(c, "group-by"); one != "" {
			group = []string{one}
		}
	}
	by, p := rt.groupFields(group)
	if p != nil {
		return falcoRule{}, nil, p
	}
	agg := &aggregation{Within: within, By: by}
	cond := or(conds...)
	switch typ {
	case "event_count", "value_count":
		op, n, field, p := correlationCondition(valueAt(c, "condition"))
		if p != nil {
			return falcoRule{}, nil, p
		}
		if agg.Count, p = threshold(op, n, typ); p != nil {
			return falcoRule{}, nil, p
		}
		if typ == "value_count" {
			if field == "" {
				return falcoRule{}, nil, fail(ReasonInvalid, "value_count correlation has no condition field to count the values of")
			}
			f, p := ls.field(field)
			if p != nil {
				return falcoRule{}, nil, p
			}
			agg.Distinct = rt.stringField(f)
		}
	case "temporal":
		if len(refs) < 2 {
			return falcoRule{}, nil, fail(ReasonInvalid, "temporal correlation names one rule: it relates two or more")
		}
		var a *aggregation
		if cond, a, p = allOfWithin(conds, within); p != nil {
			return falcoRule{}, nil, p
		}
		agg.AllOf = a.AllOf
	case "temporal_ordered":
		return falcoRule{}, nil, fail(ReasonCorrelation, "temporal_ordered correlation: the order of the events is not kept, only that each came within the timespan (use temporal)")
	default:
		return falcoRule{}, nil, fail(ReasonInvalid, "correlation type %q: expected event_count, value_count, temporal or temporal_ordered", typ)
	}
	prio, p := priority(scalarAt(n, "level"))
	if p != nil {
		return falcoRule{}, nil, p
	}
	id := strings.TrimSpace(scalarAt(n, "id"))
	r := falcoRule{
		Rule:      t.name(title, id, file),
		Desc:      describe(n, title, id),
		Condition: cond.falco(),
		Output:    outputText(title) + " (" + ls.output + sigmaID(id) + ")",
		Priority:  prio,
		Source:    ls.source,
		Tags:      falcoTags(ls, seqAt(n, "tags")),
		Stateful:  agg,
	}
	if p := t.tryLoad(file, ls, r); p != nil {
		return falcoRule{}, nil, p
	}
	t.names[r.Rule] = true
	t.remember(n, id, r, ls, cond)
	var quiet []string
	if g := scalarAt(c, "generate"); !strings.EqualFold(g, "true") {
		for _, ref := range refs {
			quiet = append(quiet, ref.rule)
		}
	}
	return r, quiet, nil
}

// correlationCondition reads {gt|gte|lt|lte|eq: N, field: F}.
func correlationCondition(n *yaml.Node) (op string, count int, field string, p *problem) {
	if n == nil || n.Kind != yaml.MappingNode {
		return "", 0, "", fail(ReasonInvalid, "correlation has no condition mapping (such as gte: 10)")
	}
	ops := map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=", "neq": "!="}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k == nil || v == nil {
			continue
		}
		if k.Value == "field" {
			field = v.Value
			continue
		}
		sym, ok := ops[k.Value]
		if !ok {
			return "", 0, "", fail(ReasonInvalid, "correlation condition %q: expected gt, gte, lt, lte, eq or field", k.Value)
		}
		n, err := strconv.Atoi(v.Value)
		if err != nil || n < 0 {
			return "", 0, "", fail(ReasonInvalid, "correlation condition %s: %q is not a count", k.Value, v.Value)
		}
		if op != "" {
			return "", 0, "", fail(ReasonAggregation, "correlation condition with two bounds (%s and %s): only a lower bound can be decided as events arrive", op, sym)
		}
		op, count = sym, n
	}
	if op == "" {
		return "", 0, "", fail(ReasonInvalid, "correlation condition has no bound (such as gte: 10)")
	}
	return op, count, field, nil
}
