package condition

import (
	"strings"
)

// quoteError is an error at a byte offset of the input.
type quoteError struct {
	off int
	msg string
}

// unquote decodes the quoted string starting at input[start], which is
// either ' or ", and returns its value and the offset just past the closing
// quote. The escapes are those of libsinsp: \b \f \n \r \t \\ \/, the
// enclosing quote, \xHH, and "\ " which legacy rules use for a literal
// backslash followed by a blank.
func unquote(input string, start int) (string, int, *quoteError) {
	q := input[start]
	i := start + 1
	// Fast path: no escapes.
	if j := strings.IndexByte(input[i:], q); j >= 0 && strings.IndexByte(input[i:i+j], '\\') < 0 {
		return input[i : i+j], i + j + 1, nil
	}
	var b strings.Builder
	for i < len(input) {
		c := input[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c != '\\':
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(input) {
			break
		}
		e := input[i+1]
		switch e {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '\\', '/':
			b.WriteByte(e)
		case ' ':
			b.WriteString(`\ `)
		case 'x':
			if i+3 >= len(input) || !isHex(input[i+2]) || !isHex(input[i+3]) {
				return "", 0, &quoteError{i, `invalid escape "\x": expected two hex digits`}
			}
			b.WriteByte(unhex(input[i+2])<<4 | unhex(input[i+3]))
			i += 2
		default:
			if e != q {
				return "", 0, &quoteError{i, "invalid escape sequence \"\\" + string(e) + "\" in quoted string"}
			}
			b.WriteByte(e)
		}
		i += 2
	}
	return "", 0, &quoteError{start, "unterminated quoted string"}
}

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// Quote returns s as a double-quoted string that unquote decodes back to s.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if c < 0x20 || c == 0x7f {
				const hex = "0123456789abcdef"
				b.WriteString(`\x`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
				continue
			}
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
