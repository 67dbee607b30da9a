package auditlog

// A scanner over JSON text that finds where values begin and end without
// decoding them, so that a log of many records is split into the records'
// texts and a record is read only as far as a rule needs. validValue
// accepts exactly what encoding/json accepts in a single value (the
// differential fuzzer checks it); the other functions assume text that
// validValue accepted and never read out of bounds on any other.

// maxDepth is encoding/json's limit on nesting: deeper text is invalid.
const maxDepth = 10000

// strPlain marks the bytes that may stand for themselves inside a JSON
// string: not the quote, not the backslash, no control character.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// isSpace reports JSON whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first byte at or after i that is not
// whitespace.
func skipSpace(d []byte, i int) int {
	for i < len(d) && isSpace(d[i]) {
		i++
	}
	return i
}

// validValue checks the JSON value that starts at d[i] (no whitespace
// before it) and returns the index just after it, or -1 when the text is
// not valid JSON. depth is the nesting of the containers around it.
func validValue(d []byte, i, depth int) int {
	if i >= len(d) {
		return -1
	}
	switch c := d[i]; c {
	case '"':
		return validString(d, i)
	case '{':
		return validObject(d, i, depth+1)
	case '[':
		return validArray(d, i, depth+1)
	case 't':
		return literal(d, i, "true")
	case 'f':
		return literal(d, i, "false")
	case 'n':
		return literal(d, i, "null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			return validNumber(d, i)
		}
	}
	return -1
}

func literal(d []byte, i int, lit string) int {
	if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// validString checks the string that starts at the quote d[i].
func validString(d []byte, i int) int {
	i++
	for {
		for i < len(d) && strPlain[d[i]] {
			i++
		}
		if i >= len(d) {
			return -1
		}
		switch d[i] {
		case '"':
			return i + 1
		case '\\':
			if i+1 >= len(d) {
				return -1
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(d)-i < 6 || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		default: // a control character
			return -1
		}
	}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validNumber checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// starting at d[i].
func validNumber(d []byte, i int) int {
	if d[i] == '-' {
		i++
	}
	switch {
	case i >= len(d):
		return -1
	case d[i] == '0':
		i++
	case isDigit(d[i]):
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	default:
		return -1
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || !isDigit(d[i]) {
			return -1
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			return -1
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	return i
}

// validObject checks the object that starts at the brace d[i].
func validObject(d []byte, i, depth int) int {
	if depth > maxDepth {
		return -1
	}
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return -1
		}
		if i = validString(d, i); i < 0 {
			return -1
		}
		i = skipSpace(d, i)
		if i >= len(d) || d[i] != ':' {
			return -1
		}
		if i = validValue(d, skipSpace(d, i+1), depth); i < 0 {
			return -1
		}
		i = skipSpace(d, i)
		if i >= len(d) {
			return -1
		}
		switch d[i] {
		case '}':
			return i + 1
		case ',':
			i = skipSpace(d, i+1)
		default:
			return -1
		}
	}
}

// validArray checks the array that starts at the bracket d[i].
func validArray(d []byte, i, depth int) int {
	if depth > maxDepth {
		return -1
	}
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == ']' {
		return i + 1
	}
	for {
		if i = validValue(d, i, depth); i < 0 {
			return -1
		}
		i = skipSpace(d, i)
		if i >= len(d) {
			return -1
		}
		switch d[i] {
		case ']':
			return i + 1
		case ',':
			i = skipSpace(d, i+1)
		default:
			return -1
		}
	}
}

// skipValue returns the index just after the value that starts at d[i],
// in text already found valid; it does not check the text again.
func skipValue(d []byte, i int) int {
	if i >= len(d) {
		return len(d)
	}
	switch d[i] {
	case '"':
		return skipString(d, i)
	case '{', '[':
		depth := 0
		for i < len(d) {
			switch d[i] {
			case '"':
				i = skipString(d, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(d)
	}
	// A number or a literal ends at the first byte that cannot be in one.
	for i < len(d) && !isSpace(d[i]) && d[i] != ',' && d[i] != '}' && d[i] != ']' {
		i++
	}
	return i
}

// skipString returns the index just after the string that starts at the
// quote d[i].
func skipString(d []byte, i int) int {
	i++
	for i < len(d) {
		for i < len(d) && strPlain[d[i]] {
			i++
		}
		if i >= len(d) {
			break
		}
		switch d[i] {
		case '"':
			return i + 1
		case '\\':
			i += 2
		default:
			i++
		}
	}
	return len(d)
}

// memberIter walks the members of an object whose text was found valid.
type memberIter struct {
	obj []byte
	i   int
}

// newMembers starts a walk over the object that starts at the brace
// obj[0]; on other text the walk is empty.
func newMembers(obj []byte) memberIter {
	if len(obj) == 0 || obj[0] != '{' {
		return memberIter{i: len(obj), obj: obj}
	}
	return memberIter{obj: obj, i: skipSpace(obj, 1)}
}

// next returns the text of the next member's key (quotes included) and
// value; ok is false after the last.
func (it *memberIter) next() (key, val []byte, ok bool) {
	obj, i := it.obj, it.i
	if i >= len(obj) || obj[i] != '"' {
		it.i = len(obj)
		return nil, nil, false
	}
	ks := i
	i = skipString(obj, i)
	key = obj[ks:i]
	i = skipSpace(obj, i)
	if i >= len(obj) || obj[i] != ':' {
		it.i = len(obj)
		return nil, nil, false
	}
	i = skipSpace(obj, i+1)
	vs := i
	i = skipValue(obj, i)
	val = obj[vs:i]
	i = skipSpace(obj, i)
	if i < len(obj) && obj[i] == ',' {
		i = skipSpace(obj, i+1)
	}
	it.i = i
	return key, val, true
}

// elements calls fn with the text of each element of the array that
// starts at the bracket arr[0], in order, until fn returns false. arr
// must have been found valid.
func elements(arr []byte, fn func(val []byte) bool) {
	if len(arr) == 0 || arr[0] != '[' {
		return
	}
	i := skipSpace(arr, 1)
	for i < len(arr) && arr[i] != ']' {
		vs := i
		i = skipValue(arr, i)
		if i == vs { // not valid after all: do not loop forever
			return
		}
		if !fn(arr[vs:i]) {
			return
		}
		i = skipSpace(arr, i)
		if i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
}
