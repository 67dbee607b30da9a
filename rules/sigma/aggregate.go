package sigma

import (
	"regexp"
	"strconv"
	"strings"
)

// aggregation is what a Sigma rule asks of several events: a "| count()"
// or "| near" after its condition, a timeframe over a conjunction of
// selections, or a correlation rule. It translates onto mamori's stateful
// rules (see rules.Stateful): the Falco condition picks the events, the
// stateful key counts them.
type aggregation struct {
	Within   string   `yaml:"within"`
	By       []string `yaml:"by,omitempty,flow"`
	Count    int      `yaml:"count,omitempty"`
	Distinct string   `yaml:"distinct,omitempty"`
	AllOf    []string `yaml:"all_of,omitempty"`
}

// defaultWindow is the window of an aggregation with no timeframe: Sigma
// leaves it to the search that runs the rule, a stream needs one.
const defaultWindow = "1h"

var (
	sigmaWindow = regexp.MustCompile(`^\d+[smhd]$`)
	// count() [by f] op n; count(field) [by f] op n
	countAgg = regexp.MustCompile(`(?i)^count\(\s*([^)]*?)\s*\)\s*(?:by\s+(.+?)\s*)?(>=|>|<=|<|==|=|!=)\s*(\d+)$`)
	nearAgg  = regexp.MustCompile(`(?i)^near\s+(.+)$`)
	andWord  = regexp.MustCompile(`(?i)\s+and\s+`)
)

// window checks a Sigma timeframe or timespan: a number and s, m, h or d.
func window(s string) (string, *problem) {
	s = strings.TrimSpace(s)
	if !sigmaWindow.MatchString(s) {
		return "", fail(ReasonInvalid, "timeframe %q: expected a number followed by s, m, h or d (30s, 5m, 1h, 2d)", s)
	}
	return s, nil
}

// threshold turns a comparison with n into the count that reaches it; a
// "fewer than" or "exactly" cannot be decided when an event arrives, only
// when a window closes.
func threshold(op string, n int, what string) (int, *problem) {
	switch op {
	case ">":
		return n + 1, nil
	case ">=":
		if n < 1 {
			n = 1
		}
		return n, nil
	}
	return 0, fail(ReasonAggregation, "%s %s %d: only a lower bound (> or >=) can be decided as events arrive; mamori raises an alert when the count is reached, not when a window closes", what, op, n)
}

// groupFields maps Sigma group-by fields onto Falco fields.
func (t *ruleTranslator) groupFields(names []string) ([]string, *problem) {
	var out []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		f, p := t.ls.field(n)
		if p != nil {
			return nil, p
		}
		out = append(out, t.stringField(f))
	}
	return out, nil
}

// pipe translates the aggregation after a condition's "|", for the
// events base matches.
func (t *ruleTranslator) pipe(base expr, agg, within string) (expr, *aggregation, *problem) {
	agg = strings.TrimSpace(agg)
	if within == "" {
		within = defaultWindow
	}
	if m := countAgg.FindStringSubmatch(agg); m != nil {
		n, _ := strconv.Atoi(m[4])
		count, p := threshold(m[3], n, "count()")
		if p != nil {
			return nil, nil, p
		}
		a := &aggregation{Within: within, Count: count}
		if m[2] != "" {
			if a.By, p = t.groupFields(strings.Split(m[2], ",")); p != nil {
				return nil, nil, p
			}
		}
		if m[1] != "" {
			f, p := t.ls.field(m[1])
			if p != nil {
				return nil, nil, p
			}
			a.Distinct = t.stringField(f)
		}
		return base, a, nil
	}
	if m := nearAgg.FindStringSubmatch(agg); m != nil {
		parts := []expr{base}
		for _, term := range andWord.Split(strings.TrimSpace(m[1]), -1) {
			term = strings.TrimSpace(term)
			if strings.HasPrefix(strings.ToLower(term), "not ") {
				return nil, nil, fail(ReasonAggregation, "near ... and not %s: an event that must not come near cannot be ruled out as events arrive", strings.TrimSpace(term[4:]))
			}
			e, p := t.selection(term)
			if p != nil {
				return nil, nil, p
			}
			parts = append(parts, e)
		}
		return allOfWithin(parts, within)
	}
	return nil, nil, fail(ReasonAggregation, "aggregation %q: mamori translates count() with > or >=, optionally by a field, and near", agg)
}

// allOfWithin is a condition matching any of parts, and the aggregation
// that waits for each part to be met within the window.
func allOfWithin(parts []expr, within string) (expr, *aggregation, *problem) {
	if len(parts) > 64 {
		return nil, nil, fail(ReasonAggregation, "%d conditions to meet together: at most 64 are supported", len(parts))
	}
	a := &aggregation{Within: within}
	for _, p := range parts {
		a.AllOf = append(a.AllOf, p.falco())
	}
	return or(parts...), a, nil
}

// overTimeframe translates a condition with a timeframe and no "|": a
// conjunction whose terms are met by different events within it (the
// negated terms apply to every one of them); anything else relates one
// event, and the timeframe changes nothing.
func overTimeframe(e expr, within string) (expr, *aggregation, *problem) {
	terms, ok := e.(allOf)
	if !ok {
		return e, nil, nil
	}
	var pos, neg []expr
	for _, term := range terms {
		if _, isNot := term.(negate); isNot {
			neg = append(neg, term)
		} else {
			pos = append(pos, term)
		}
	}
	if len(pos) < 2 {
		return e, nil, nil
	}
	parts := make([]expr, len(pos))
	for i, p := range pos {
		parts[i] = and(append([]expr{p}, neg...)...)
	}
	return allOfWithin(parts, within)
}
