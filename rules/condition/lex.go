package condition

import (
	"fmt"
	"strings"
)

// Pos is a position in a condition: a byte offset and the 1-based line and
// column (in bytes) it falls on.
type Pos struct {
	Offset int
	Line   int
	Col    int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// itemType identifies the kind of a lexical item.
type itemType int

const (
	itemError       itemType = iota // lexing error; val is the message
	itemEOF                         // end of input
	itemLeftParen                   // (
	itemRightParen                  // )
	itemComma                       // ,
	itemAnd                         // and
	itemOr                          // or
	itemNot                         // not
	itemIdentifier                  // a name without dots: a macro reference
	itemField                       // a name with at least one dot: a field
	itemFieldArg                    // the argument of [...]: val is its unquoted text
	itemTransformer                 // tolower( and friends: val is the name
	itemOperator                    // a binary comparison operator
	itemUnary                       // exists
	itemModifier                    // oneof, anyof, allof
	itemString                      // a quoted string: val is unescaped
	itemBare                        // a bare string value
	itemNumber                      // a number inside transformer arguments
)

var itemNames = [...]string{
	itemError:       "error",
	itemEOF:         "end of condition",
	itemLeftParen:   `"("`,
	itemRightParen:  `")"`,
	itemComma:       `","`,
	itemAnd:         `"and"`,
	itemOr:          `"or"`,
	itemNot:         `"not"`,
	itemIdentifier:  "identifier",
	itemField:       "field",
	itemFieldArg:    "field argument",
	itemTransformer: "transformer",
	itemOperator:    "operator",
	itemUnary:       "operator",
	itemModifier:    "modifier",
	itemString:      "quoted string",
	itemBare:        "value",
	itemNumber:      "number",
}

// item is a token with the position it starts at.
type item struct {
	typ itemType
	pos Pos
	val string
}

func (i item) String() string {
	switch i.typ {
	case itemEOF, itemLeftParen, itemRightParen, itemComma, itemAnd, itemOr, itemNot:
		return itemNames[i.typ]
	case itemTransformer:
		return fmt.Sprintf("%q", i.val+"(")
	}
	return fmt.Sprintf("%s %q", itemNames[i.typ], i.val)
}

// Word operators, longest first where one is a prefix of another, as the
// reference parser tries them in order.
var wordOperators = map[string]bool{
	"contains": true, "icontains": true, "bcontains": true,
	"startswith": true, "bstartswith": true, "endswith": true,
	"glob": true, "iglob": true, "regex": true,
	"in": true, "intersects": true, "pmatch": true,
}

// Transformers recognised when the name is immediately followed by "(".
var transformers = map[string]bool{
	"tolower": true, "toupper": true, "b64": true, "basename": true,
	"len": true, "join": true, "concat": true, "getopt": true, "val": true,
}

// stateFn is one state of the lexer; it returns the next state.
type stateFn func(*lexer) stateFn

// lexer holds the state of the scanner. Like text/template/parse it runs
// its state functions on demand from nextItem rather than in a goroutine.
//
// The condition language is not context free at the lexical level: the text
// after a comparison operator is a value whose bare form may contain dots,
// slashes and operator characters, so the lexer switches into lexValue after
// an operator and into lexList inside a value list.
type lexer struct {
	input   string
	start   int // start of the current item
	pos     int // current position
	item    item
	hasItem bool
	state   stateFn
	// last is the most recently computed position, so that computing the
	// positions of successive items scans the input once.
	last Pos
	// afterOperand is set after a field, field argument or ")", the only
	// places where a word may be an operator such as "contains".
	afterOperand bool
}

func lex(input string) *lexer {
	return &lexer{input: input, state: lexExpr, last: Pos{Line: 1, Col: 1}}
}

// nextItem runs the state machine until it produces an item.
func (l *lexer) nextItem() item {
	for !l.hasItem {
		if l.state == nil {
			return item{typ: itemEOF, pos: l.position(l.pos)}
		}
		l.state = l.state(l)
	}
	l.hasItem = false
	return l.item
}

func (l *lexer) position(off int) Pos {
	from := l.last
	if off < from.Offset {
		from = Pos{Line: 1, Col: 1}
	}
	lineStart := from.Offset - (from.Col - 1)
	line := from.Line
	for i := from.Offset; i < off; i++ {
		if l.input[i] == '\n' {
			line++
			lineStart = i + 1
		}
	}
	l.last = Pos{Offset: off, Line: line, Col: off - lineStart + 1}
	return l.last
}

func (l *lexer) emit(t itemType) { l.emitVal(t, l.input[l.start:l.pos]) }

func (l *lexer) emitVal(t itemType, val string) {
	l.item = item{typ: t, pos: l.position(l.start), val: val}
	l.hasItem = true
	l.start = l.pos
	switch t {
	case itemField, itemFieldArg, itemRightParen:
		l.afterOperand = true
	default:
		l.afterOperand = false
	}
}

func (l *lexer) ignore() { l.start = l.pos }

func (l *lexer) peek() byte {
	if l.pos >= len(l.input) {
		return 0
	}
	return l.input[l.pos]
}

// errorf emits an error item positioned at off and stops the lexer.
func (l *lexer) errorf(off int, format string, args ...any) stateFn {
	l.item = item{typ: itemError, pos: l.position(off), val: fmt.Sprintf(format, args...)}
	l.hasItem = true
	return nil
}

// isBlank reports whether c is one of the blanks of the language.
func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\b' || c == '\r' || c == '\n'
}

func isAlpha(c byte) bool  { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isWordCh(c byte) bool { return isAlpha(c) || isDigit(c) || c == '_' }

// isBareCh reports whether c may appear in a bare string value.
func isBareCh(c byte) bool {
	switch c {
	case '(', ')', '"', '\'', '=', ',', 0:
		return false
	}
	return !isBlank(c)
}

func (l *lexer) skipBlanks() {
	for l.pos < len(l.input) && isBlank(l.input[l.pos]) {
		l.pos++
	}
	l.ignore()
}

// lexExpr scans the boolean structure of a condition: parentheses,
// keywords, macro names, fields, transformers and operators.
func lexExpr(l *lexer) stateFn {
	l.skipBlanks()
	if l.pos >= len(l.input) {
		l.emit(itemEOF)
		return nil
	}
	c := l.input[l.pos]
	switch {
	case c == '(':
		l.pos++
		l.emit(itemLeftParen)
	case c == ')':
		l.pos++
		l.emit(itemRightParen)
	case c == ',':
		l.pos++
		l.emit(itemComma)
	case c == '[':
		return lexFieldArg
	case c == '"' || c == '\'':
		return lexQuote(l, lexExpr)
	case c == '=' || c == '!' || c == '<' || c == '>':
		return lexSymbolOperator
	case isDigit(c) || c == '-' || c == '+':
		return lexNumber
	case isAlpha(c):
		return lexWord
	default:
		return l.errorf(l.pos, "unexpected character %q", c)
	}
	return lexExpr
}

// lexWord scans a name: a keyword, operator, transformer, identifier or
// dotted field name.
func lexWord(l *lexer) stateFn {
	for l.pos < len(l.input) && isWordCh(l.input[l.pos]) {
		l.pos++
	}
	dotted := false
	for l.peek() == '.' {
		l.pos++
		if !isAlpha(l.peek()) {
			return l.errorf(l.pos, "expected a letter after \".\" in field name %q", l.input[l.start:l.pos])
		}
		for l.pos < len(l.input) && isWordCh(l.input[l.pos]) {
			l.pos++
		}
		dotted = true
	}
	word := l.input[l.start:l.pos]
	if dotted {
		l.emit(itemField)
		return lexExpr
	}
	next := l.peek()
	// A keyword needs a blank or "(" after it; the end of input is accepted
	// too so that a dangling "and" is reported as such.
	keyword := isBlank(next) || next == '(' || l.pos == len(l.input)
	switch {
	case word == "and" && keyword:
		l.emit(itemAnd)
	case word == "or" && keyword:
		l.emit(itemOr)
	case word == "not" && keyword:
		l.emit(itemNot)
	case next == '(' && transformers[word]:
		l.pos++
		l.emitVal(itemTransformer, word)
	case l.afterOperand && word == "exists":
		l.emit(itemUnary)
	case l.afterOperand && wordOperators[word]:
		l.emit(itemOperator)
		return lexValue
	default:
		l.emit(itemIdentifier)
	}
	return lexExpr
}

// lexSymbolOperator scans =, ==, !=, <, <=, >, >=.
func lexSymbolOperator(l *lexer) stateFn {
	c := l.input[l.pos]
	l.pos++
	switch {
	case c == '=' && l.peek() == '=':
		l.pos++
	case (c == '!' || c == '<' || c == '>') && l.peek() == '=':
		l.pos++
	case c == '!':
		return l.errorf(l.start, "unexpected character '!', expected \"!=\"")
	}
	l.emit(itemOperator)
	return lexValue
}

// lexNumber scans a number in transformer arguments: decimal, with an
// optional sign, fraction and exponent, or 0x-prefixed hex.
func lexNumber(l *lexer) stateFn {
	if c := l.peek(); c == '-' || c == '+' {
		l.pos++
	}
	if strings.HasPrefix(l.input[l.pos:], "0x") || strings.HasPrefix(l.input[l.pos:], "0X") {
		l.pos += 2
	}
	for l.pos < len(l.input) && (isWordCh(l.input[l.pos]) || l.input[l.pos] == '.') {
		l.pos++
	}
	if l.pos == l.start+1 && !isDigit(l.input[l.start]) {
		return l.errorf(l.start, "unexpected character %q", l.input[l.start])
	}
	l.emit(itemNumber)
	return lexExpr
}

// lexFieldArg scans "[" arg "]" where arg is a quoted string or a run of
// characters other than blanks, brackets and quotes.
func lexFieldArg(l *lexer) stateFn {
	open := l.pos
	l.pos++ // [
	var val string
	if c := l.peek(); c == '"' || c == '\'' {
		s, end, err := unquote(l.input, l.pos)
		if err != nil {
			return l.errorf(err.off, "%s", err.msg)
		}
		val, l.pos = s, end
	} else {
		for l.pos < len(l.input) && !isBlank(l.input[l.pos]) && !strings.ContainsRune("[]\"'", rune(l.input[l.pos])) {
			l.pos++
		}
		val = l.input[open+1 : l.pos]
		if val == "" {
			return l.errorf(l.pos, "expected a field argument after \"[\"")
		}
	}
	if l.peek() != ']' {
		return l.errorf(l.pos, "expected \"]\" to close the field argument opened at %s", l.position(open))
	}
	l.pos++
	l.emitVal(itemFieldArg, val)
	return lexExpr
}

// lexQuote scans a quoted string and continues in next.
func lexQuote(l *lexer, next stateFn) stateFn {
	s, end, err := unquote(l.input, l.pos)
	if err != nil {
		return l.errorf(err.off, "%s", err.msg)
	}
	l.pos = end
	l.emitVal(itemString, s)
	return next
}

// lexValue scans what follows a comparison operator: a list, a quoted or
// bare string, a transformer, or a oneof/anyof/allof modifier.
func lexValue(l *lexer) stateFn {
	l.skipBlanks()
	if l.pos >= len(l.input) {
		return lexExpr
	}
	c := l.input[l.pos]
	switch {
	case c == '(':
		l.pos++
		l.emit(itemLeftParen)
		return lexList
	case c == '"' || c == '\'':
		return lexQuote(l, lexExpr)
	case !isBareCh(c):
		return lexExpr
	}
	end := l.pos
	for end < len(l.input) && isWordCh(l.input[end]) {
		end++
	}
	word := l.input[l.pos:end]
	if end < len(l.input) && l.input[end] == '(' && transformers[word] {
		l.pos = end + 1
		l.emitVal(itemTransformer, word)
		return lexExpr
	}
	if (word == "oneof" || word == "anyof" || word == "allof") && l.modifierFollows(end) {
		l.pos = end
		l.emit(itemModifier)
		return lexValue
	}
	for l.pos < len(l.input) && isBareCh(l.input[l.pos]) {
		l.pos++
	}
	l.emit(itemBare)
	return lexExpr
}

// modifierFollows reports whether the word ending at end is a modifier: it
// must be followed by blanks and then a list or a name other than a keyword.
func (l *lexer) modifierFollows(end int) bool {
	i := end
	for i < len(l.input) && isBlank(l.input[i]) {
		i++
	}
	if i == end || i >= len(l.input) {
		return false
	}
	if l.input[i] == '(' {
		return true
	}
	j := i
	for j < len(l.input) && isWordCh(l.input[j]) {
		j++
	}
	switch w := l.input[i:j]; w {
	case "", "and", "or", "not":
		return false
	}
	return isAlpha(l.input[i])
}

// lexList scans the items of a value list up to the closing parenthesis.
func lexList(l *lexer) stateFn {
	l.skipBlanks()
	if l.pos >= len(l.input) {
		return lexExpr
	}
	switch c := l.input[l.pos]; {
	case c == ')':
		l.pos++
		l.emit(itemRightParen)
		return lexExpr
	case c == ',':
		l.pos++
		l.emit(itemComma)
	case c == '"' || c == '\'':
		return lexQuote(l, lexList)
	case isBareCh(c):
		for l.pos < len(l.input) && isBareCh(l.input[l.pos]) {
			l.pos++
		}
		l.emit(itemBare)
	default:
		return l.errorf(l.pos, "unexpected %q in value list", c)
	}
	return lexList
}
