package sigma

import (
	"encoding/base64"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"

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

// regexCmp is a Sigma regular expression: found anywhere in the value
// (Falco's regex must match the whole value) and case-sensitive unless
// the i modifier says otherwise.
func (t *ruleTranslator) regexCmp(key string, f fieldRef, m modifiers, re string) ([]cmp, *problem) {
	flags := ""
	if m.reFlags != "" {
		flags = "(?" + dedupe(m.reFlags) + ")"
	}
	full := "(?s:.*)(?:" + flags + re + ")(?s:.*)"
	if _, err := regexp.Compile(re); err != nil {
		return nil, fail(ReasonRegex, "%q: %q is not a regular expression RE2 accepts: %v", key, re, err)
	}
	if _, err := regexp.Compile("^(?:" + full + ")$"); err != nil {
		return nil, fail(ReasonRegex, "%q: %q cannot be searched for within a value: %v", key, re, err)
	}
	return []cmp{{field: t.stringField(f), op: "regex", val: full}}, nil
}

func dedupe(flags string) string {
	var out []byte
	for i := 0; i < len(flags); i++ {
		if strings.IndexByte(string(out), flags[i]) < 0 {
			out = append(out, flags[i])
		}
	}
	return string(out)
}

// cidrCmp matches IPv4 addresses of a network with globs, one per value
// of the network's partial octet; the text of an IPv6 address has several
// forms, so IPv6 networks are not translated.
func (t *ruleTranslator) cidrCmp(key string, f fieldRef, s string) ([]cmp, *problem) {
	pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return nil, fail(ReasonInvalid, "%q: %q is not a network: %v", key, s, err)
	}
	if !pfx.Addr().Is4() {
		return nil, fail(ReasonModifier, "%q: %s is an IPv6 network; addresses are matched as text, and IPv6 text has several forms", key, s)
	}
	pfx = pfx.Masked()
	field := t.stringField(f)
	oct := pfx.Addr().As4()
	full, rem := pfx.Bits()/8, pfx.Bits()%8
	prefix := func(n int) string {
		var parts []string
		for i := 0; i < n; i++ {
			parts = append(parts, strconv.Itoa(int(oct[i])))
		}
		return strings.Join(parts, ".")
	}
	tail := func(n int) string { // the glob for octets n+1..4
		return strings.Repeat(".*", 3-n)
	}
	if rem == 0 {
		if full == 0 {
			return []cmp{{field: field, op: "glob", val: "*.*.*.*"}}, nil
		}
		return []cmp{{field: field, op: "glob", val: prefix(full) + tail(full-1)}}, nil
	}
	var cs []cmp
	base := int(oct[full])
	for v := base; v < base+1<<(8-rem); v++ {
		head := strconv.Itoa(v)
		if full > 0 {
			head = prefix(full) + "." + head
		}
		cs = append(cs, cmp{field: field, op: "glob", val: head + tail(full)})
	}
	return cs, nil
}

// base64Cmp matches the base64 encoding of a value (optionally as UTF-16
// first), or with base64offset each of the three encodings a value has
// depending on its offset in the encoded text. Encoded text is compared
// case-sensitively: in base64, case is meaning.
func (t *ruleTranslator) base64Cmp(key string, f fieldRef, m modifiers, s string) ([]cmp, *problem) {
	p := parsePattern(s)
	if p.hasWildcards() {
		return nil, fail(ReasonModifier, "%q: a value with wildcards cannot be base64-encoded", key)
	}
	b := []byte(p.literal())
	switch m.utf16 {
	case "utf16le", "utf16be", "utf16":
		b = encodeUTF16(p.literal(), m.utf16)
	}
	op := "="
	if m.match != "" {
		op = m.match
	}
	field := t.stringField(f)
	if m.base64 == "base64" {
		return []cmp{{field: field, op: op, val: base64.StdEncoding.EncodeToString(b)}}, nil
	}
	var cs []cmp
	for _, v := range base64Offsets(b) {
		cs = append(cs, cmp{field: field, op: op, val: v})
	}
	return cs, nil
}

// base64Offsets are the parts of the base64 encoding of b that do not
// depend on what precedes or follows it, for b at offsets 0, 1 and 2 of a
// 3-byte group.
func base64Offsets(b []byte) []string {
	var out []string
	for i := 0; i < 3; i++ {
		padded := append(make([]byte, i), b...)
		enc := base64.StdEncoding.EncodeToString(padded)
		start := []int{0, 2, 3}[i]
		end := len(enc)
		switch (len(b) + i) % 3 {
		case 1:
			end -= 3
		case 2:
			end -= 2
		}
		if start < end {
			out = append(out, enc[start:end])
		}
	}
	return out
}

func encodeUTF16(s, order string) []byte {
	units := utf16.Encode([]rune(s))
	var b []byte
	if order == "utf16" {
		b = append(b, 0xff, 0xfe)
	}
	for _, u := range units {
		if order == "utf16be" {
			b = append(b, byte(u>>8), byte(u))
		} else {
			b = append(b, byte(u), byte(u>>8))
		}
	}
	return b
}

// windashChars are the dashes Windows programs accept for an option:
// hyphen, slash, en dash, em dash and horizontal bar.
const windashChars = "-/\u2013\u2014\u2015"

// windash returns every variant of s with each option dash (a "-" or "/"
// at the start of a word) replaced by each of windashChars.
func windash(key, s string) ([]string, *problem) {
	var at []int
	for i := 0; i < len(s); i++ {
		if (s[i] == '-' || s[i] == '/') && (i == 0 || !isWordByte(s[i-1])) && i+1 < len(s) && isWordByte(s[i+1]) {
			at = append(at, i)
		}
	}
	if len(at) > 4 {
		return nil, fail(ReasonModifier, "%q: %d option dashes in %q make %d variants", key, len(at), s, pow(5, len(at)))
	}
	out := []string{""}
	prev := 0
	for _, i := range at {
		var next []string
		for _, o := range out {
			for _, d := range windashChars {
				next = append(next, o+s[prev:i]+string(d))
			}
		}
		out, prev = next, i+1
	}
	for i := range out {
		out[i] += s[prev:]
	}
	return out, nil
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

func pow(a, b int) int {
	n := 1
	for ; b > 0; b-- {
		n *= a
	}
	return n
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
