package sigma

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
