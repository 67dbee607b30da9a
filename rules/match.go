package rules

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// A stringMatcher tests one extracted string against a compiled constant.
// Constants are prepared once at compile time (lowered, unhexed, compiled)
// so that matching does not allocate.
type stringMatcher interface {
	match(s string) bool
}

type (
	eqMatcher        struct{ c string }
	prefixMatcher    struct{ c string }
	suffixMatcher    struct{ c string }
	containsMatcher  struct{ c string }
	icontainsMatcher struct{ c string }
	globMatcher      struct {
		pattern string
		fold    bool
	}
	regexMatcher struct{ re *regexp.Regexp }
	orderMatcher struct {
		op string
		c  string
	}
)

func (m eqMatcher) match(s string) bool        { return s == m.c }
func (m prefixMatcher) match(s string) bool    { return strings.HasPrefix(s, m.c) }
func (m suffixMatcher) match(s string) bool    { return strings.HasSuffix(s, m.c) }
func (m containsMatcher) match(s string) bool  { return strings.Contains(s, m.c) }
func (m icontainsMatcher) match(s string) bool { return containsFold(s, m.c) }
func (m globMatcher) match(s string) bool      { return globMatch(m.pattern, s, m.fold) }
func (m regexMatcher) match(s string) bool {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return m.re.MatchString(s)
}

func (m orderMatcher) match(s string) bool {
	return compareOrder(m.op, strings.Compare(s, m.c))
}

// compareOrder applies <, <=, > or >= to the result of a three-way compare.
func compareOrder(op string, c int) bool {
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

// containsFold reports whether sub, already lower-cased, is within s
// ignoring case, without allocating.
func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	n := len(sub)
	first := sub[0]
	for i := 0; i+n <= len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != first && c < utf8.RuneSelf {
			continue
		}
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}

// setMatcher is membership in a set of strings. Small sets are scanned,
// which beats hashing for the handful of items most rules list.
type setMatcher struct {
	small []string
	large map[string]struct{}
}

func newSetMatcher(items []string) *setMatcher {
	if len(items) <= 8 {
		return &setMatcher{small: items}
	}
	m := &setMatcher{large: make(map[string]struct{}, len(items))}
	for _, it := range items {
		m.large[it] = struct{}{}
	}
	return m
}

func (m *setMatcher) match(s string) bool {
	if m.large != nil {
		_, ok := m.large[s]
		return ok
	}
	for _, it := range m.small {
		if it == s {
			return true
		}
	}
	return false
}

// globMatch reports whether name matches the whole of pattern, as
// fnmatch(3) without flags: "*" matches any run of bytes including "/",
// "?" one byte, "[...]" a class ("!" or "^" negates, "a-z" ranges) and "\"
// escapes the next byte. fold compares ASCII letters without case.
func globMatch(pattern, name string, fold bool) bool {
	px, nx := 0, 0
	// Backtracking point for the last "*": the pattern after it and the
	// name position it currently absorbs up to.
	starPx, starNx := -1, 0
	for px < len(pattern) || nx < len(name) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx, starNx = px, nx
				px++
				continue
			case '?':
				if nx < len(name) {
					px++
					nx++
					continue
				}
			case '[':
				if nx < len(name) {
					if ok, width := matchClass(pattern[px:], name[nx], fold); width > 0 {
						if ok {
							px += width
							nx++
							continue
						}
					} else if eqByte('[', name[nx], fold) {
						px++
						nx++
						continue
					}
				}
			case '\\':
				if px+1 < len(pattern) {
					if nx < len(name) && eqByte(pattern[px+1], name[nx], fold) {
						px += 2
						nx++
						continue
					}
				} else if nx < len(name) && name[nx] == '\\' {
					px++
					nx++
					continue
				}
			default:
				if nx < len(name) && eqByte(c, name[nx], fold) {
					px++
					nx++
					continue
				}
			}
		}
		if starPx >= 0 && starNx < len(name) {
			starNx++
			px, nx = starPx+1, starNx
			continue
		}
		return false
	}
	return true
}

func eqByte(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	if !fold {
		return false
	}
	return lowerByte(a) == lowerByte(b)
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// matchClass matches c against the class at the start of p ("[...]"). It
// returns the width of the class, 0 if p holds no complete class.
func matchClass(p string, c byte, fold bool) (matched bool, width int) {
	i := 1
	negate := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		negate = true
		i++
	}
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			return matched != negate, i + 1
		}
		first = false
		lo := p[i]
		if lo == '\\' && i+1 < len(p) {
			i++
			lo = p[i]
		}
		i++
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			hi = p[i+1]
			if hi == '\\' && i+2 < len(p) {
				hi = p[i+2]
				i++
			}
			i += 2
		}
		if lo <= c && c <= hi || fold && lo <= lowerByte(c) && lowerByte(c) <= hi ||
			fold && lowerByte(lo) <= lowerByte(c) && lowerByte(c) <= lowerByte(hi) {
			matched = true
		}
	}
	return false, 0
}

// pathMatcher implements pmatch: a value matches when one of the paths is
// a component-wise prefix of it. Path components may hold glob patterns.
type pathMatcher struct {
	paths [][]string // each path split on "/", empty components dropped
}

func newPathMatcher(paths []string) *pathMatcher {
	m := &pathMatcher{}
	for _, p := range paths {
		m.paths = append(m.paths, splitPath(p))
	}
	return m
}

func splitPath(p string) []string {
	var parts []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return parts
}

func (m *pathMatcher) match(s string) bool {
	for _, p := range m.paths {
		if pathHasPrefix(s, p) {
			return true
		}
	}
	return false
}

// pathHasPrefix walks the components of s without splitting it.
func pathHasPrefix(s string, prefix []string) bool {
	i := 0
	for _, want := range prefix {
		for i < len(s) && s[i] == '/' {
			i++
		}
		if i >= len(s) {
			return false
		}
		j := strings.IndexByte(s[i:], '/')
		if j < 0 {
			j = len(s) - i
		}
		comp := s[i : i+j]
		if comp != want && !globMatch(want, comp, false) {
			return false
		}
		i += j
	}
	return true
}

// Glob reports whether name matches the whole of pattern as the glob
// operator does (fnmatch(3) without flags: "*" crosses "/"), for catalogues
// whose fields take a glob in their argument.
func Glob(pattern, name string) bool { return globMatch(pattern, name, false) }
