package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// Pattern is a glob over a string: '*' matches any run of characters
// except '/', '**' any run including '/', '?' one character except '/',
// '[abc]', '[a-z]' and '[!a-z]' one character of a class, and '\' makes the
// next character literal. A pattern without these is compared exactly.
//
// Globs are translated to anchored regular expressions once, at load time;
// Go's regexp runs in time linear in the input, so no pattern can make a
// match slow.
type Pattern struct {
	src string
	lit bool // no metacharacters: compare exactly
	re  *regexp.Regexp
}

// CompilePattern checks a glob and prepares it for matching.
func CompilePattern(s string) (Pattern, error) {
	if s == "" {
		return Pattern{}, fmt.Errorf("empty pattern; write \"*\" to match anything")
	}
	if !strings.ContainsAny(s, `*?[\`) {
		return Pattern{src: s, lit: true}, nil
	}
	var b strings.Builder
	b.WriteString(`\A`)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*':
			if i+1 < len(s) && s[i+1] == '*' {
				b.WriteString(`.*`)
				i++
			} else {
				b.WriteString(`[^/]*`)
			}
		case '?':
			b.WriteString(`[^/]`)
		case '\\':
			if i+1 == len(s) {
				return Pattern{}, fmt.Errorf("pattern %q ends with a lone '\\'; write '\\\\' for a backslash", s)
			}
			i++
			b.WriteString(regexp.QuoteMeta(s[i : i+1]))
		case '[':
			end := strings.IndexByte(s[i+1:], ']')
			if end == 0 && i+2 < len(s) { // "[]...]": ']' first is literal
				end = strings.IndexByte(s[i+2:], ']') + 1
				if end == 0 {
					end = -1
				}
			}
			if end < 0 {
				return Pattern{}, fmt.Errorf("pattern %q has a '[' at offset %d without a closing ']'; write '\\[' for a literal bracket", s, i)
			}
			class := s[i+1 : i+1+end]
			neg := strings.HasPrefix(class, "!")
			if neg {
				class = class[1:]
			}
			if class == "" {
				return Pattern{}, fmt.Errorf("pattern %q has an empty character class at offset %d", s, i)
			}
			b.WriteByte('[')
			if neg {
				b.WriteByte('^')
			}
			for j := 0; j < len(class); j++ {
				switch class[j] {
				case '\\', '[', ']', '^':
					b.WriteByte('\\')
				}
				b.WriteByte(class[j])
			}
			b.WriteByte(']')
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(s[i : i+1]))
		}
	}
	b.WriteString(`\z`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return Pattern{}, fmt.Errorf("pattern %q: %v", s, err)
	}
	return Pattern{src: s, re: re}, nil
}

// MustPattern is CompilePattern for patterns known to be valid.
func MustPattern(s string) Pattern {
	p, err := CompilePattern(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Match reports whether s matches the whole pattern.
func (p Pattern) Match(s string) bool {
	if p.lit {
		return s == p.src
	}
	return p.re != nil && p.re.MatchString(s)
}

// Literal reports whether the pattern has no metacharacters.
func (p Pattern) Literal() bool { return p.lit }

func (p Pattern) String() string { return p.src }

// literalText is the string a literal pattern matches; for a pattern with
// escapes only, the unescaped text.
func literalText(s string) (string, bool) {
	if !strings.ContainsAny(s, `*?[\`) {
		return s, true
	}
	if strings.ContainsAny(s, `*?[`) {
		return "", false
	}
	return strings.ReplaceAll(s, `\`, ""), true
}

// narrower returns the pattern of a and b that matches only strings the
// other matches too, if one is clearly inside the other: equal patterns,
// or a literal that the other pattern matches. Two different globs are
// not compared (deciding glob inclusion in general is not worth it here),
// so an allow-list intersection drops them: the stricter answer.
func narrower(a, b string) (string, bool) {
	return meetPatterns([]string{a}, []string{b})(0, 0)
}

// meetPatterns is narrower over two lists, compiling each pattern once.
func meetPatterns(a, b []string) func(i, j int) (string, bool) {
	type prepared struct {
		p   Pattern
		lit string
		ok  bool
	}
	prep := func(ss []string) []prepared {
		out := make([]prepared, len(ss))
		for i, s := range ss {
			out[i].p, _ = CompilePattern(s)
			out[i].lit, out[i].ok = literalText(s)
		}
		return out
	}
	pa, pb := prep(a), prep(b)
	return func(i, j int) (string, bool) {
		switch {
		case a[i] == b[j]:
			return a[i], true
		case pa[i].ok && pb[j].p.Match(pa[i].lit):
			return a[i], true
		case pb[j].ok && pa[i].p.Match(pb[j].lit):
			return b[j], true
		}
		return "", false
	}
}
