package condition

import (
	"fmt"
	"runtime"
)

// MaxDepth is the nesting limit Parse applies, the one Falco uses for rule
// conditions.
const MaxDepth = 1000

// Error is a syntax error at a position of the condition.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Parse parses a condition into an expression tree.
func Parse(src string) (Expr, error) {
	return ParseDepth(src, MaxDepth)
}

// ParseDepth is Parse with a custom nesting limit.
func ParseDepth(src string, maxDepth int) (expr Expr, err error) {
	p := &parser{lex: lex(src), maxDepth: maxDepth}
	defer p.recover(&err)
	expr = p.parseExpr()
	if t := p.next(); t.typ != itemEOF {
		p.unexpected(t, `"and", "or" or the end of the condition`)
	}
	return expr, nil
}

// ParseOperand parses a lone field or transformer, such as the text after
// % in an output format.
func ParseOperand(src string) (op Operand, err error) {
	p := &parser{lex: lex(src), maxDepth: MaxDepth}
	defer p.recover(&err)
	op = p.parseOperand(p.next())
	if t := p.next(); t.typ != itemEOF {
		p.unexpected(t, "the end of the field")
	}
	return op, nil
}

type parser struct {
	lex      *lexer
	peekTok  item
	peeked   bool
	depth    int
	maxDepth int
}

func (p *parser) next() item {
	if p.peeked {
		p.peeked = false
	} else {
		p.peekTok = p.lex.nextItem()
	}
	t := p.peekTok
	if t.typ == itemError {
		panic(&Error{Pos: t.pos, Msg: t.val})
	}
	return t
}

func (p *parser) peek() item {
	if !p.peeked {
		p.peekTok = p.lex.nextItem()
		p.peeked = true
		if p.peekTok.typ == itemError {
			panic(&Error{Pos: p.peekTok.pos, Msg: p.peekTok.val})
		}
	}
	return p.peekTok
}

func (p *parser) errorf(pos Pos, format string, args ...any) {
	panic(&Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// unexpected reports t as found where want was expected.
func (p *parser) unexpected(t item, want string) {
	p.errorf(t.pos, "unexpected %s, expected %s", t, want)
}

func (p *parser) expect(typ itemType, want string) item {
	t := p.next()
	if t.typ != typ {
		p.unexpected(t, want)
	}
	return t
}

// recover turns a parse panic into an error; runtime errors are re-panicked.
func (p *parser) recover(errp *error) {
	e := recover()
	if e == nil {
		return
	}
	if _, ok := e.(runtime.Error); ok {
		panic(e)
	}
	*errp = e.(*Error)
}

func (p *parser) enter(pos Pos) {
	p.depth++
	if p.depth > p.maxDepth {
		p.errorf(pos, "nesting exceeds the maximum depth of %d", p.maxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

// parseExpr:
//
//	Expr ::= OrExpr
func (p *parser) parseExpr() Expr {
	return p.parseOr()
}

// parseOr:
//
//	OrExpr ::= AndExpr ('or' AndExpr)*
func (p *parser) parseOr() Expr {
	first := p.parseAnd()
	if p.peek().typ != itemOr {
		return first
	}
	or := &OrExpr{Pos: first.Position(), Terms: []Expr{first}}
	for p.peek().typ == itemOr {
		p.next()
		or.Terms = append(or.Terms, p.parseAnd())
	}
	return or
}

// parseAnd:
//
//	AndExpr ::= NotExpr ('and' NotExpr)*
func (p *parser) parseAnd() Expr {
	first := p.parseNot()
	if p.peek().typ != itemAnd {
		return first
	}
	and := &AndExpr{Pos: first.Position(), Terms: []Expr{first}}
	for p.peek().typ == itemAnd {
		p.next()
		and.Terms = append(and.Terms, p.parseNot())
	}
	return and
}

// parseNot:
//
//	NotExpr ::= ('not')* Check
//
// Each "not" toggles, so "not not x" is x.
func (p *parser) parseNot() Expr {
	negate := false
	var pos Pos
	for p.peek().typ == itemNot {
		t := p.next()
		if !negate {
			pos = t.pos
		}
		negate = !negate
	}
	x := p.parseCheck()
	if negate {
		return &NotExpr{Pos: pos, X: x}
	}
	return x
}

// parseCheck:
//
//	Check ::= Field Condition | FieldTransformer Condition | Identifier | '(' Expr ')'
func (p *parser) parseCheck() Expr {
	t := p.next()
	switch t.typ {
	case itemLeftParen:
		p.enter(t.pos)
		x := p.parseExpr()
		p.expect(itemRightParen, `")" or "and", "or"`)
		p.leave()
		return x
	case itemIdentifier:
		if t.val == "and" || t.val == "or" || t.val == "not" {
			p.errorf(t.pos, "unexpected keyword %q, expected a field, a macro name or \"(\"", t.val)
		}
		return &MacroRef{Pos: t.pos, Name: t.val}
	case itemField, itemTransformer:
		left := p.parseOperand(t)
		return p.parseCondition(left)
	}
	p.unexpected(t, "a field, a macro name, \"not\" or \"(\"")
	return nil
}

// parseOperand:
//
//	Operand ::= Field | FieldTransformer
//	Field   ::= FieldName ('[' FieldArg ']')?
func (p *parser) parseOperand(t item) Operand {
	switch t.typ {
	case itemField:
		f := &Field{Pos: t.pos, Name: t.val}
		if p.peek().typ == itemFieldArg {
			f.Arg, f.HasArg = p.next().val, true
		}
		return f
	case itemTransformer:
		if t.val == "val" {
			p.errorf(t.pos, "val() may only be used on the right-hand side of a comparison")
		}
		return p.parseTransformer(t)
	}
	p.unexpected(t, "a field or a transformer")
	return nil
}

// parseTransformer, with t the already consumed "name(":
//
//	FieldTransformer     ::= FieldTransformerType FieldTransformerTail
//	FieldTransformerTail ::= FieldTransformerArg (',' FieldTransformerArg)* ')' ('[' FieldArg ']')?
//	FieldTransformerArg  ::= FieldTransformer | Field | QuotedStr | NumValue | TransformerList
func (p *parser) parseTransformer(t item) *Transform {
	p.enter(t.pos)
	defer p.leave()
	tr := &Transform{Pos: t.pos, Name: t.val}
	for {
		tr.Args = append(tr.Args, p.parseTransformerArg(tr.Name == "val"))
		if p.peek().typ != itemComma {
			break
		}
		p.next()
	}
	p.expect(itemRightParen, `")" to close `+tr.Name+"(")
	if p.peek().typ == itemFieldArg {
		tr.Arg, tr.HasArg = p.next().val, true
	}
	return tr
}

func (p *parser) parseTransformerArg(fieldOnly bool) Node {
	t := p.next()
	if fieldOnly && t.typ != itemField {
		p.unexpected(t, "a field inside val()")
	}
	switch t.typ {
	case itemField:
		return p.parseOperand(t)
	case itemTransformer:
		if t.val == "val" {
			p.errorf(t.pos, "val() may only be used on the right-hand side of a comparison")
		}
		return p.parseTransformer(t)
	case itemString:
		return &Literal{Pos: t.pos, Text: t.val, Kind: Quoted}
	case itemNumber:
		return &Literal{Pos: t.pos, Text: t.val, Kind: Number}
	case itemLeftParen:
		return p.parseTransformerList(t)
	}
	p.unexpected(t, "a field, transformer, quoted string, number or list")
	return nil
}

// parseTransformerList, with t the already consumed "(":
//
//	TransformerList    ::= '(' ( TransformerListArg (',' TransformerListArg)* )? ')'
//	TransformerListArg ::= Field | FieldTransformer | QuotedStr | NumValue
//
// Only literal items are kept in the tree: the lists transformers take in
// practice (getopt, join) are of constants.
func (p *parser) parseTransformerList(t item) *List {
	return p.listItems(t, itemNumber, Number, "a quoted string or number in the list")
}

// listItems parses the items of a list after its "(": quoted strings, and
// items of the other kind the caller accepts, up to the closing ")".
func (p *parser) listItems(open item, other itemType, otherKind LiteralKind, what string) *List {
	l := &List{Pos: open.pos}
	if p.peek().typ == itemRightParen {
		p.next()
		return l
	}
	for {
		it := p.next()
		switch it.typ {
		case itemString:
			l.Items = append(l.Items, &Literal{Pos: it.pos, Text: it.val, Kind: Quoted})
		case other:
			l.Items = append(l.Items, &Literal{Pos: it.pos, Text: it.val, Kind: otherKind})
		default:
			p.unexpected(it, what)
		}
		sep := p.next()
		if sep.typ == itemRightParen {
			return l
		}
		if sep.typ != itemComma {
			p.unexpected(sep, `"," or ")" in the list`)
		}
	}
}

// parseCondition, with left the already parsed operand:
//
//	Condition ::= UnaryOperator
//	            | NumOperator (NumValue | FieldTransformerOrVal)
//	            | StrOperator (StrValue | FieldTransformerOrVal)
//	            | StrOperator StrOperatorModifier ListValue
//	            | ListOperator (ListValue | FieldTransformerOrVal)
func (p *parser) parseCondition(left Operand) Expr {
	t := p.next()
	switch t.typ {
	case itemUnary:
		return &Check{Pos: left.Position(), Field: left, Op: t.val}
	case itemOperator:
	default:
		p.unexpected(t, "an operator such as \"=\", \"in\", \"contains\" or \"exists\" after "+left.String())
	}
	c := &Check{Pos: left.Position(), Field: left, Op: t.val}
	if c.Op == "==" {
		c.Op = "="
	}
	if p.peek().typ == itemModifier {
		m := p.next()
		if !isStringOperator(c.Op) {
			p.errorf(m.pos, "modifier %q is only allowed after a string operator, not %q", m.val, c.Op)
		}
		c.Modifier = m.val
		c.Value = p.parseListValue(t)
		return c
	}
	v := p.next()
	switch {
	case v.typ == itemTransformer:
		c.Value = p.parseTransformer(v)
	case isListOperator(c.Op):
		p.peeked, p.peekTok = true, v
		c.Value = p.parseListValue(t)
	case v.typ == itemString:
		c.Value = &Literal{Pos: v.pos, Text: v.val, Kind: Quoted}
	case v.typ == itemBare:
		c.Value = &Literal{Pos: v.pos, Text: v.val, Kind: Bare}
	default:
		p.unexpected(v, "a value after "+fmt.Sprintf("%q", c.Op))
	}
	return c
}

// parseListValue, with op the operator it follows:
//
//	ListValue ::= '(' (StrValue (',' StrValue)*)? ')' | Identifier
func (p *parser) parseListValue(op item) *List {
	t := p.next()
	switch t.typ {
	case itemBare:
		if !isIdentifier(t.val) {
			p.unexpected(t, "a list \"(...)\" or a list name after "+fmt.Sprintf("%q", op.val))
		}
		return &List{Pos: t.pos, Items: []*Literal{{Pos: t.pos, Text: t.val, Kind: Bare}}, Ident: true}
	case itemLeftParen:
	default:
		p.unexpected(t, "a list \"(...)\" after "+fmt.Sprintf("%q", op.val))
	}
	return p.listItems(t, itemBare, Bare, "a list item")
}

func isStringOperator(op string) bool {
	switch op {
	case "=", "!=", "contains", "icontains", "bcontains", "startswith", "bstartswith",
		"endswith", "glob", "iglob", "regex":
		return true
	}
	return false
}

func isListOperator(op string) bool {
	return op == "in" || op == "intersects" || op == "pmatch"
}

// isIdentifier reports whether s matches [a-zA-Z][a-zA-Z0-9_]*.
func isIdentifier(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isWordCh(s[i]) {
			return false
		}
	}
	return true
}
