package auditlog

import (
	"encoding/binary"
	"math/bits"
)

// A scanner over JSON text that finds where values begin and end without
// decoding them, so that a log of many records is split into the records'
// texts and a record is read only as far as a rule needs. It accepts
// exactly what encoding/json accepts in a single value (the differential
// fuzzer checks it). While it checks a log it lists the members of the
// containers near the top (a delivery object, its Records array, each
// record) in a tape, so that finding a record's event name afterwards
// scans nothing. The functions that walk text without checking it assume
// text the scanner accepted, and never read out of bounds on any other.

// maxDepth is encoding/json's limit on nesting: deeper text is invalid.
const maxDepth = 10000

// indexDepth is how deep the containers are whose members the scan lists:
// a record inside the Records array of a delivery object is at depth 3.
// The scan lists the members of the top-level value, of the objects and
// arrays inside arrays (the records of an array, the elements of
// Records), and of the arrays inside the top-level object (Records):
// where records are, not what is inside them.
const indexDepth = 3

// span locates one member of an object, or one element of an array, in a
// text: its key at [key0:key1], quotes included (empty for an element),
// its value at [val0:val1], and when the value is a container the scan
// listed, its own members at [kid0:kid1] of the tape; kid0 is -1 when
// they were not listed. Offsets fit in 32 bits: a log file is at most
// MaxFileSize bytes. plain says the key's text is its value (ASCII, no
// escapes), so that it compares as bytes.
type span struct {
	key0, key1 int32
	val0, val1 int32
	kid0, kid1 int32
	plain      bool
}

// scanner checks JSON text and lists into tape the members of the
// containers at most indexDepth deep; scratch holds a container's
// members while its nested ones are listed.
type scanner struct {
	d       []byte
	tape    []span
	scratch [indexDepth + 1][]span
}

// value checks the value that starts at s.d[i], inside depth containers
// (the innermost an array when inArray), and returns the index just after
// it (-1 when the text is invalid) and where the tape lists its members
// (-1, -1 when it does not).
func (s *scanner) value(i, depth int, inArray bool) (end int, kid0, kid1 int32) {
	if depth < indexDepth && i < len(s.d) && (depth == 0 || inArray || depth == 1 && s.d[i] == '[') {
		switch s.d[i] {
		case '{':
			return s.container(i, depth+1, '}')
		case '[':
			return s.container(i, depth+1, ']')
		}
	}
	return validValue(s.d, i, depth), -1, -1
}

// container checks the object or array that starts at s.d[i] (closed by
// closer), at depth, and lists its members in the tape.
func (s *scanner) container(i, depth int, closer byte) (int, int32, int32) {
	d := s.d
	// The members of a container none of whose members the scan lists
	// (a record) go straight to the tape: nothing comes between them.
	direct := depth >= indexDepth || depth >= 2 && closer == '}'
	kids, start := s.scratch[depth][:0], len(s.tape)
	if direct {
		kids = s.tape
	}
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == closer {
		return s.list(depth, kids, start, direct, i+1)
	}
	for {
		var sp span
		if closer == '}' {
			if i >= len(d) || d[i] != '"' {
				return -1, -1, -1
			}
			sp.key0 = int32(i)
			if i, sp.plain = validKey(d, i); i < 0 {
				return -1, -1, -1
			}
			sp.key1 = int32(i)
			i = skipSpace(d, i)
			if i >= len(d) || d[i] != ':' {
				return -1, -1, -1
			}
			i = skipSpace(d, i+1)
		}
		end, k0, k1 := s.value(i, depth, closer == ']')
		if end < 0 {
			return -1, -1, -1
		}
		sp.val0, sp.val1, sp.kid0, sp.kid1 = int32(i), int32(end), k0, k1
		kids = append(kids, sp)
		i = skipSpace(d, end)
		if i >= len(d) {
			return -1, -1, -1
		}
		switch d[i] {
		case closer:
			return s.list(depth, kids, start, direct, i+1)
		case ',':
			i = skipSpace(d, i+1)
		default:
			return -1, -1, -1
		}
	}
}

// list puts the members of a container at depth in the tape (they are
// there already, from start, when direct), and keeps the scratch space
// they took for the next container at that depth.
func (s *scanner) list(depth int, kids []span, start int, direct bool, end int) (int, int32, int32) {
	if direct {
		s.tape = kids
	} else {
		start = len(s.tape)
		s.tape = append(s.tape, kids...)
		s.scratch[depth] = kids[:0]
	}
	return end, int32(start), int32(len(s.tape))
}

// strPlain marks the bytes that may stand for themselves inside a JSON
// string: not the quote, not the backslash, no control character.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Eight bytes at a time: the masks have a byte's top bit set where that
// byte may be a quote, a backslash or a control character (false alarms
// only above a true one, which the byte loop then finds).
const (
	ones   = 0x0101010101010101
	highs  = 0x8080808080808080
	quotes = '"' * ones
	backs  = '\\' * ones
	spaces = 0x20 * ones
)

func hasZero(x uint64) uint64 { return (x - ones) &^ x & highs }

// plainRun returns the index of the first byte at or after i that may
// end a run of plain string bytes (see strPlain), eight bytes at a time.
func plainRun(d []byte, i int) int {
	for ; i+8 <= len(d); i += 8 {
		x := binary.LittleEndian.Uint64(d[i:])
		if m := hasZero(x^quotes) | hasZero(x^backs) | (x-spaces)&^x&highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	return i
}

// quoteRun is plainRun for text already checked: only quotes and
// backslashes end the run.
func quoteRun(d []byte, i int) int {
	for ; i+8 <= len(d); i += 8 {
		x := binary.LittleEndian.Uint64(d[i:])
		if m := hasZero(x^quotes) | hasZero(x^backs); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	return i
}

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
		i = plainRun(d, i)
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

// validKey is validString for an object's key, which is short and
// mostly plain (see isPlain): it also says whether it is.
func validKey(d []byte, i int) (end int, plain bool) {
	for j := i + 1; j < len(d); j++ {
		switch c := d[j]; {
		case c == '"':
			return j + 1, true
		case c < 0x20 || c == '\\' || c >= 0x80:
			return validString(d, i), false
		}
	}
	return -1, false
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

// structural marks the bytes skipValue stops at inside a container.
var structural = func() (t [256]bool) {
	for _, c := range `"{}[]` {
		t[c] = true
	}
	return t
}()

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
			for i < len(d) && !structural[d[i]] {
				i++
			}
			if i >= len(d) {
				break
			}
			switch d[i] {
			case '"':
				i = skipString(d, i)
				continue
			case '{', '[':
				depth++
			default:
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
		i = quoteRun(d, i)
		for i < len(d) && d[i] != '"' && d[i] != '\\' {
			i++
		}
		if i >= len(d) {
			break
		}
		if d[i] == '"' {
			return i + 1
		}
		i += 2
	}
	return len(d)
}

// memberIter walks the members of an object in text found valid.
type memberIter struct {
	d []byte
	i int
}

// membersOf starts a walk over the object that starts at the brace d[s];
// the offsets it returns index d. On other text the walk is empty.
func membersOf(d []byte, s int) memberIter {
	if s >= len(d) || d[s] != '{' {
		return memberIter{d: d, i: len(d)}
	}
	return memberIter{d: d, i: skipSpace(d, s+1)}
}

// next returns where the next member's key (quotes included) and value
// are: d[k0:k1] and d[v0:v1]; ok is false after the last.
func (it *memberIter) next() (k0, k1, v0, v1 int, ok bool) {
	d, i := it.d, it.i
	if i >= len(d) || d[i] != '"' {
		it.i = len(d)
		return 0, 0, 0, 0, false
	}
	k0 = i
	i = skipString(d, i)
	k1 = i
	i = skipSpace(d, i)
	if i >= len(d) || d[i] != ':' {
		it.i = len(d)
		return 0, 0, 0, 0, false
	}
	v0 = skipSpace(d, i+1)
	i = skipValue(d, v0)
	v1 = i
	i = skipSpace(d, i)
	if i < len(d) && d[i] == ',' {
		i = skipSpace(d, i+1)
	}
	it.i = i
	return k0, k1, v0, v1, true
}

// elementsOf calls fn with where each element of the array that starts
// at the bracket d[s] is, d[v0:v1], in order, until fn returns false.
// The array must have been found valid.
func elementsOf(d []byte, s int, fn func(v0, v1 int) bool) {
	if s >= len(d) || d[s] != '[' {
		return
	}
	i := skipSpace(d, s+1)
	for i < len(d) && d[i] != ']' {
		v0 := i
		i = skipValue(d, i)
		if i == v0 { // not valid after all: do not loop forever
			return
		}
		if !fn(v0, i) {
			return
		}
		i = skipSpace(d, i)
		if i < len(d) && d[i] == ',' {
			i = skipSpace(d, i+1)
		}
	}
}
