package sigma

import (
	"regexp"
	"strings"
)

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
