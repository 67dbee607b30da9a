package sigma

import "strings"

// pattern is a Sigma string value: literal text and the wildcards "*" (any
// run of characters) and "?" (one character). In Sigma, "\" escapes a
// following "*", "?" or "\"; before anything else it is itself.
type pattern []piece

// piece is literal text, or a wildcard when wild is '*' or '?'.
type piece struct {
	lit  string
	wild byte
}

func parsePattern(s string) pattern {
	var p pattern
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p = append(p, piece{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) && strings.IndexByte(`*?\`, s[i+1]) >= 0 {
				lit.WriteByte(s[i+1])
				i++
				continue
			}
			lit.WriteByte(c)
		case '*', '?':
			flush()
			p = append(p, piece{wild: c})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return p
}

// hasWildcards reports whether p holds a "*" or "?".
func (p pattern) hasWildcards() bool {
	for _, pc := range p {
		if pc.wild != 0 {
			return true
		}
	}
	return false
}

// literal is p's text without its wildcards.
func (p pattern) literal() string {
	var b strings.Builder
	for _, pc := range p {
		b.WriteString(pc.lit)
	}
	return b.String()
}

// glob is p as an fnmatch pattern, as Falco's glob and iglob take it:
// literal "*", "?", "[" and "\" escaped with "\".
func (p pattern) glob() string {
	var b strings.Builder
	for _, pc := range p {
		if pc.wild != 0 {
			b.WriteByte(pc.wild)
			continue
		}
		for i := 0; i < len(pc.lit); i++ {
			if c := pc.lit[i]; strings.IndexByte(`*?[\`, c) >= 0 {
				b.WriteByte('\\')
			}
			b.WriteByte(pc.lit[i])
		}
	}
	return b.String()
}

// onlyStars reports whether p is one or more "*" and nothing else: it
// matches any value, so it means that the field is present.
func (p pattern) onlyStars() bool {
	if len(p) == 0 {
		return false
	}
	for _, pc := range p {
		if pc.wild != '*' {
			return false
		}
	}
	return true
}

// hasLetters reports whether s holds an ASCII letter, where matching with
// and without case differ.
func hasLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}
