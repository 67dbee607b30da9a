package sigma

import (
	"strconv"
	"strings"

	"github.com/mamori-dev/mamori/rules"
)

// value is one value of a detection field, as YAML typed it.
type value struct {
	null   bool
	number bool // an integer or float in YAML
	text   string
}

// cmp is one Falco comparison. Comparisons of one field with the same
// string operator are joined into one check with a list.
type cmp struct {
	field string
	op    string // a Falco operator, or "null" or "exists"
	val   string // the operand, as Falco text for "val(...)", else raw
	raw   bool   // val is written as is, not quoted
	num   bool   // field is a number
	// jsonNull: for "null" on a JSON pointer, which reads a JSON null as
	// the text null rather than as no value.
	jsonNull bool
}

// stringOp reports whether comparisons with op join into one check.
func stringOp(op string) bool {
	switch op {
	case "=", "iglob", "glob", "icontains", "contains", "startswith", "endswith", "regex":
		return true
	}
	return false
}

func (c cmp) falco() expr {
	switch c.op {
	case "exists":
		return check(c.field + " exists")
	case "null":
		e := not(check(c.field + " exists"))
		if c.jsonNull {
			e = or(e, check(c.field+" = "+quote("null")))
		}
		return e
	}
	v := c.val
	if !c.raw {
		v = quote(v)
	}
	return check(c.field + " " + c.op + " " + v)
}

// entry translates one field of a selection: "field|modifiers: values".
func (t *ruleTranslator) entry(key string, vals []value) (expr, *problem) {
	name, m, p := parseKey(key)
	if p != nil {
		return nil, p
	}
	f, p := t.ls.field(name)
	if p != nil {
		return nil, p
	}
	if len(vals) == 0 {
		return nil, fail(ReasonInvalid, "%q has an empty list of values", key)
	}
	var e expr
	switch {
	case m.exists:
		e, p = t.existsCheck(key, f, vals)
	case f.list != "" && t.provided(f.list):
		e, p = t.listCheck(key, f, m, vals)
	case m.fieldref:
		e, p = t.fieldrefCheck(key, f, m, vals)
	case m.compare != "":
		e, p = t.compareCheck(key, f, m, vals)
	default:
		e, p = t.matchCheck(key, f, m, vals)
	}
	if p != nil {
		return nil, p
	}
	if m.neq {
		e = not(e)
	}
	return e, nil
}

// stringField is the Falco field reading f as text: the exact field when
// it is a provided string field, else the JSON pointer.
func (t *ruleTranslator) stringField(f fieldRef) string {
	if f.exact != "" && t.typeOf(f.exact) == rules.TypeString {
		return f.exact
	}
	return f.pointer
}

func (t *ruleTranslator) existsCheck(key string, f fieldRef, vals []value) (expr, *problem) {
	if len(vals) != 1 || vals[0].null || vals[0].number || (vals[0].text != "true" && vals[0].text != "false") {
		return nil, fail(ReasonInvalid, "%q: exists takes one value, true or false", key)
	}
	field := f.pointer
	if f.list != "" && t.provided(f.list) {
		field = f.list
	} else if f.exact != "" && t.provided(f.exact) {
		field = f.exact
	}
	e := check(field + " exists")
	if vals[0].text == "false" {
		return not(e), nil
	}
	return e, nil
}

// listCheck compares a field that holds an array: Sigma matches when one
// element matches. Falco's list fields compare elements exactly, so only
// plain values translate.
func (t *ruleTranslator) listCheck(key string, f fieldRef, m modifiers, vals []value) (expr, *problem) {
	if m.match != "" || m.re || m.cidr || m.fieldref || m.compare != "" || m.base64 != "" || m.windash {
		return nil, fail(ReasonModifier, "%q: %s holds a list, whose elements Falco compares only for equality", key, f.sigma)
	}
	var items []string
	var es []expr
	for _, v := range vals {
		if v.null {
			es = append(es, not(check(f.list+" exists")))
			continue
		}
		p := parsePattern(v.text)
		if p.onlyStars() {
			es = append(es, check(f.list+" exists"))
			continue
		}
		if p.hasWildcards() {
			return nil, fail(ReasonModifier, "%q: %s holds a list, whose elements Falco compares only for equality, not with wildcards", key, f.sigma)
		}
		if m.all {
			es = append(es, check(f.list+" intersects ("+quote(p.literal())+")"))
		} else {
			items = append(items, quote(p.literal()))
		}
	}
	if len(items) > 0 {
		es = append(es, check(f.list+" intersects ("+strings.Join(items, ", ")+")"))
	}
	if m.all {
		return and(es...), nil
	}
	return or(es...), nil
}

// fieldrefCheck compares f with the value of other fields, exactly.
func (t *ruleTranslator) fieldrefCheck(key string, f fieldRef, m modifiers, vals []value) (expr, *problem) {
	if m.base64 != "" || m.windash {
		return nil, fail(ReasonModifier, "%q: fieldref cannot be encoded", key)
	}
	op := "="
	if m.match != "" {
		op = m.match
	}
	var cs []cmp
	for _, v := range vals {
		if v.null || v.number {
			return nil, fail(ReasonInvalid, "%q: fieldref takes field names", key)
		}
		g, p := t.ls.field(v.text)
		if p != nil {
			return nil, p
		}
		cs = append(cs, cmp{field: t.stringField(f), op: op, val: "val(" + t.stringField(g) + ")", raw: true})
	}
	return combine(cs, m.all), nil
}

// compareCheck is gt, gte, lt and lte, which need a number field.
func (t *ruleTranslator) compareCheck(key string, f fieldRef, m modifiers, vals []value) (expr, *problem) {
	if f.exact == "" || t.typeOf(f.exact) != rules.TypeNumber {
		return nil, fail(ReasonModifier, "%q: %s reads as text here, and Falco compares text by byte order, not as numbers", key, f.sigma)
	}
	var cs []cmp
	for _, v := range vals {
		if _, err := strconv.ParseInt(v.text, 10, 64); v.null || err != nil {
			return nil, fail(ReasonInvalid, "%q: %q is not an integer", key, v.text)
		}
		cs = append(cs, cmp{field: f.exact, op: m.compare, val: v.text, raw: true, num: true})
	}
	return combine(cs, m.all), nil
}

// matchCheck is the default: values compared as strings, ignoring case
// unless cased, with wildcards, or as regular expressions or networks.
func (t *ruleTranslator) matchCheck(key string, f fieldRef, m modifiers, vals []value) (expr, *problem) {
	var groups [][]cmp // one per value: its alternatives
	for _, v := range vals {
		var alts []cmp
		var p *problem
		switch {
		case v.null:
			if m.match != "" || m.re || m.cidr || m.base64 != "" || m.windash {
				return nil, fail(ReasonInvalid, "%q: null takes no modifier", key)
			}
			c := cmp{field: f.pointer, op: "null", jsonNull: true}
			if f.exact != "" && t.provided(f.exact) {
				c = cmp{field: f.exact, op: "null"}
			}
			alts = []cmp{c}
		case v.number && !m.re && !m.cidr && m.match == "" && m.base64 == "" && f.exact != "" && t.typeOf(f.exact) == rules.TypeNumber:
			if _, err := strconv.ParseInt(v.text, 10, 64); err != nil {
				return nil, fail(ReasonModifier, "%q: %s is an integer field, and %s is not an integer", key, f.sigma, v.text)
			}
			alts = []cmp{{field: f.exact, op: "=", val: v.text, raw: true, num: true}}
		case m.re:
			alts, p = t.regexCmp(key, f, m, v.text)
		case m.cidr:
			alts, p = t.cidrCmp(key, f, v.text)
		case m.base64 != "":
			alts, p = t.base64Cmp(key, f, m, v.text)
		default:
			texts := []string{v.text}
			if m.windash {
				if texts, p = windash(key, v.text); p != nil {
					return nil, p
				}
			}
			for _, s := range texts {
				alts = append(alts, t.stringCmp(f, m, parsePattern(s)))
			}
		}
		if p != nil {
			return nil, p
		}
		groups = append(groups, alts)
	}
	if !m.all {
		var cs []cmp
		for _, g := range groups {
			cs = append(cs, g...)
		}
		return combine(cs, false), nil
	}
	var es []expr
	for _, g := range groups {
		es = append(es, combine(g, false))
	}
	return and(es...), nil
}

// stringCmp compares the text of f with a Sigma pattern.
func (t *ruleTranslator) stringCmp(f fieldRef, m modifiers, p pattern) cmp {
	field := t.stringField(f)
	star := pattern{{wild: '*'}}
	g := p
	if m.match == "contains" || m.match == "endswith" {
		g = append(append(pattern{}, star...), g...)
	}
	if m.match == "contains" || m.match == "startswith" {
		g = append(append(pattern{}, g...), star...)
	}
	if g.onlyStars() {
		if f.exact != "" && t.provided(f.exact) {
			field = f.exact
		}
		return cmp{field: field, op: "exists"}
	}
	if !p.hasWildcards() {
		lit := p.literal()
		cased := m.cased || !hasLetters(lit)
		switch {
		case m.match == "" && cased:
			return cmp{field: field, op: "=", val: lit}
		case m.match == "contains" && cased:
			return cmp{field: field, op: "contains", val: lit}
		case m.match == "contains":
			return cmp{field: field, op: "icontains", val: lit}
		case m.match == "startswith" && cased, m.match == "endswith" && cased:
			return cmp{field: field, op: m.match, val: lit}
		}
	}
	if m.cased {
		return cmp{field: field, op: "glob", val: g.glob()}
	}
	return cmp{field: field, op: "iglob", val: g.glob()}
}

// combine joins comparisons with or (with and when all): those of one
// field with the same string operator become one check over a list.
func combine(cs []cmp, all bool) expr {
	type group struct {
		first cmp
		vals  []string
	}
	var order []*group
	byKey := map[string]*group{}
	for _, c := range cs {
		k := c.field + "\x00" + c.op
		g := byKey[k]
		if g == nil || !stringOp(c.op) || c.num || c.raw {
			g = &group{first: c}
			order = append(order, g)
			if stringOp(c.op) && !c.num && !c.raw {
				byKey[k] = g
			}
		}
		g.vals = append(g.vals, c.val)
	}
	var es []expr
	for _, g := range order {
		if len(g.vals) == 1 {
			es = append(es, g.first.falco())
			continue
		}
		items := make([]string, len(g.vals))
		for i, v := range g.vals {
			items[i] = quote(v)
		}
		list := "(" + strings.Join(items, ", ") + ")"
		switch {
		case g.first.op == "=" && !all:
			es = append(es, check(g.first.field+" in "+list))
		case all:
			es = append(es, check(g.first.field+" "+g.first.op+" allof "+list))
		default:
			es = append(es, check(g.first.field+" "+g.first.op+" anyof "+list))
		}
	}
	if all {
		return and(es...)
	}
	return or(es...)
}
