package condition

import (
	"strings"
)

// An Expr is a boolean expression: *AndExpr, *OrExpr, *NotExpr, *MacroRef
// or *Check. String prints it back as a condition that parses to the same
// tree, with every and/or group in parentheses and every value quoted.
type Expr interface {
	Position() Pos
	String() string
	exprNode()
}

// An Operand is what a check compares: a *Field or a *Transform.
type Operand interface {
	Position() Pos
	String() string
	operandNode()
}

// A Value is the right-hand side of a comparison: *Literal, *List or, for
// field-to-field comparisons and transformed values, *Transform.
type Value interface {
	Position() Pos
	String() string
	valueNode()
}

// AndExpr is "a and b and ...".
type AndExpr struct {
	Pos   Pos
	Terms []Expr
}

// OrExpr is "a or b or ...".
type OrExpr struct {
	Pos   Pos
	Terms []Expr
}

// NotExpr is "not x".
type NotExpr struct {
	Pos Pos
	X   Expr
}

// MacroRef is a bare identifier in check position: the name of a macro.
type MacroRef struct {
	Pos  Pos
	Name string
}

// Check is a comparison: Field Op [Modifier] Value, or Field exists.
type Check struct {
	Pos      Pos
	Field    Operand
	Op       string // normalised: "==" is stored as "="
	Modifier string // "", "oneof", "anyof" or "allof"
	Value    Value  // nil for "exists"
}

// Field is a field reference such as proc.name or proc.aname[2].
type Field struct {
	Pos    Pos
	Name   string
	Arg    string
	HasArg bool
}

// Transform applies a transformer such as tolower or val to its arguments,
// which are operands, literals or lists.
type Transform struct {
	Pos    Pos
	Name   string
	Args   []Node
	Arg    string
	HasArg bool
}

// Node is any element of the tree; Transform arguments use it because they
// may be operands, literals or lists.
type Node interface {
	Position() Pos
	String() string
}

// LiteralKind tells how a literal was written.
type LiteralKind int

const (
	Bare   LiteralKind = iota // a bare word such as /etc/ or bash
	Quoted                    // a quoted string
	Number                    // a number among transformer arguments
)

// Literal is a constant value.
type Literal struct {
	Pos  Pos
	Text string // unescaped
	Kind LiteralKind
}

// List is a parenthesised list of literals, or a single list name that the
// loader did not expand (Ident set).
type List struct {
	Pos   Pos
	Items []*Literal
	Ident bool
}

func (e *AndExpr) Position() Pos   { return e.Pos }
func (e *OrExpr) Position() Pos    { return e.Pos }
func (e *NotExpr) Position() Pos   { return e.Pos }
func (e *MacroRef) Position() Pos  { return e.Pos }
func (e *Check) Position() Pos     { return e.Pos }
func (e *Field) Position() Pos     { return e.Pos }
func (e *Transform) Position() Pos { return e.Pos }
func (e *Literal) Position() Pos   { return e.Pos }
func (e *List) Position() Pos      { return e.Pos }

func (*AndExpr) exprNode()  {}
func (*OrExpr) exprNode()   {}
func (*NotExpr) exprNode()  {}
func (*MacroRef) exprNode() {}
func (*Check) exprNode()    {}

func (*Field) operandNode()     {}
func (*Transform) operandNode() {}

func (*Literal) valueNode()   {}
func (*List) valueNode()      {}
func (*Transform) valueNode() {}

func (e *AndExpr) String() string { return joinTerms(e.Terms, " and ") }
func (e *OrExpr) String() string  { return joinTerms(e.Terms, " or ") }

func joinTerms(terms []Expr, sep string) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, t := range terms {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(t.String())
	}
	b.WriteByte(')')
	return b.String()
}

// String keeps a negated negation in parentheses: "not not A" would parse
// back as A, since the parser folds a run of nots.
func (e *NotExpr) String() string {
	if _, ok := e.X.(*NotExpr); ok {
		return "not (" + e.X.String() + ")"
	}
	return "not " + e.X.String()
}

func (e *MacroRef) String() string { return e.Name }

func (e *Check) String() string {
	var b strings.Builder
	b.WriteString(e.Field.String())
	b.WriteByte(' ')
	b.WriteString(e.Op)
	if e.Modifier != "" {
		b.WriteByte(' ')
		b.WriteString(e.Modifier)
	}
	if e.Value != nil {
		b.WriteByte(' ')
		b.WriteString(e.Value.String())
	}
	return b.String()
}

func (e *Field) String() string {
	if !e.HasArg {
		return e.Name
	}
	return e.Name + formatArg(e.Arg)
}

func (e *Transform) String() string {
	var b strings.Builder
	b.WriteString(e.Name)
	b.WriteByte('(')
	for i, a := range e.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.String())
	}
	b.WriteByte(')')
	if e.HasArg {
		b.WriteString(formatArg(e.Arg))
	}
	return b.String()
}

// formatArg prints a field argument bare when the lexer would read it back
// unchanged, quoted otherwise.
func formatArg(arg string) string {
	bare := arg != ""
	for i := 0; i < len(arg); i++ {
		if c := arg[i]; isBlank(c) || strings.IndexByte("[]\"'", c) >= 0 {
			bare = false
			break
		}
	}
	if bare {
		return "[" + arg + "]"
	}
	return "[" + Quote(arg) + "]"
}

func (e *Literal) String() string {
	if e.Kind == Number {
		return e.Text
	}
	return Quote(e.Text)
}

func (e *List) String() string {
	if e.Ident && len(e.Items) == 1 {
		return e.Items[0].Text
	}
	var b strings.Builder
	b.WriteByte('(')
	for i, it := range e.Items {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(it.String())
	}
	b.WriteByte(')')
	return b.String()
}

// Walk calls fn for e and, if fn returns true, for each sub-expression in
// depth-first order. Checks are leaves.
func Walk(e Expr, fn func(Expr) bool) {
	if !fn(e) {
		return
	}
	switch e := e.(type) {
	case *AndExpr:
		for _, t := range e.Terms {
			Walk(t, fn)
		}
	case *OrExpr:
		for _, t := range e.Terms {
			Walk(t, fn)
		}
	case *NotExpr:
		Walk(e.X, fn)
	}
}
