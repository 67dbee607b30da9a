package sigma

import "strings"

// modifiers are the value modifiers of one detection field ("field|m1|m2").
type modifiers struct {
	match    string // "", "contains", "startswith" or "endswith"
	all      bool   // every value must match, not one of them
	cased    bool   // match case-sensitively
	re       bool   // values are regular expressions
	reFlags  string // of i, m and s
	cidr     bool
	exists   bool
	fieldref bool
	neq      bool
	compare  string // "", ">", ">=", "<" or "<="
	base64   string // "", "base64" or "base64offset"
	utf16    string // "", "utf16le", "utf16be" or "utf16" (with a byte-order mark)
	windash  bool
	names    []string // as written, for messages
}

// parseKey splits a detection key into its field and modifiers, and
// checks the modifiers' combination.
func parseKey(key string) (string, modifiers, *problem) {
	parts := strings.Split(key, "|")
	m := modifiers{names: parts[1:]}
	for _, raw := range parts[1:] {
		switch name := strings.ToLower(raw); name {
		case "contains", "startswith", "endswith":
			if m.match != "" {
				return "", m, fail(ReasonInvalid, "%q: modifiers %s and %s exclude each other", key, m.match, name)
			}
			m.match = name
		case "all":
			m.all = true
		case "cased":
			m.cased = true
		case "re":
			m.re = true
		case "i", "m", "s":
			m.reFlags += name
		case "cidr":
			m.cidr = true
		case "exists":
			m.exists = true
		case "fieldref":
			m.fieldref = true
		case "neq":
			m.neq = true
		case "gt", "gte", "lt", "lte":
			if m.compare != "" {
				return "", m, fail(ReasonInvalid, "%q: more than one comparison modifier", key)
			}
			m.compare = map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[name]
		case "base64", "base64offset":
			m.base64 = name
		case "utf16le", "wide":
			m.utf16 = "utf16le"
		case "utf16be", "utf16":
			m.utf16 = name
		case "windash":
			m.windash = true
		case "expand":
			return "", m, fail(ReasonPlaceholder, "%q: the expand modifier names a placeholder that must be replaced by values before use", key)
		case "minute", "hour", "day", "week", "month", "year":
			return "", m, fail(ReasonModifier, "%q: the %s modifier reads a part of a timestamp, which Falco's condition language cannot take apart", key, name)
		default:
			return "", m, fail(ReasonInvalid, "%q: unknown modifier %q", key, raw)
		}
	}
	return parts[0], m, m.check(key)
}

// check rejects combinations Sigma gives no meaning.
func (m *modifiers) check(key string) *problem {
	kinds := 0
	for _, b := range []bool{m.re, m.cidr, m.exists, m.fieldref, m.compare != ""} {
		if b {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return fail(ReasonInvalid, "%q: re, cidr, exists, fieldref and gt/gte/lt/lte exclude each other", key)
	case m.reFlags != "" && !m.re:
		return fail(ReasonInvalid, "%q: the i, m and s modifiers apply to re only", key)
	case kinds == 1 && (m.base64 != "" || m.windash || m.utf16 != ""):
		return fail(ReasonInvalid, "%q: encoding modifiers cannot be combined with re, cidr, exists, fieldref or comparisons", key)
	case (m.re || m.cidr || m.exists || m.compare != "") && m.match != "":
		return fail(ReasonInvalid, "%q: %s cannot be combined with re, cidr, exists or comparisons", key, m.match)
	case m.exists && (m.all || m.neq || m.cased):
		return fail(ReasonInvalid, "%q: exists takes no other modifier", key)
	case m.base64 == "base64offset" && m.match != "contains":
		return fail(ReasonInvalid, "%q: base64offset needs contains: the encoded text is found inside a longer one", key)
	case m.utf16 != "" && m.base64 == "":
		return fail(ReasonModifier, "%q: utf16 and wide without base64 would match text holding NUL bytes, which JSON audit records do not carry", key)
	}
	return nil
}
