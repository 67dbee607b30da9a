package rules

import (
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mamori-dev/mamori/rules/condition"
)

// compileError is an error at a position of a condition.
type compileError struct {
	Pos condition.Pos
	Msg string
}

func (e *compileError) Error() string { return e.Pos.String() + ": " + e.Msg }

func errorAt(pos condition.Pos, format string, args ...any) error {
	return &compileError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// compiler turns a macro-free expression tree into nodes for one source.
type compiler struct {
	// fields also says which event types the caller delivers.
	fields   *fieldTable
	missing  []string // known fields the catalogue does not provide, in order of use
	used     []string // every field compiled, in order of first use
	warnings []string
}

func (c *compiler) noteMissing(name string) {
	for _, m := range c.missing {
		if m == name {
			return
		}
	}
	c.missing = append(c.missing, name)
}

func (c *compiler) compileExpr(e condition.Expr) (node, error) {
	if v, ok := c.static(e); ok {
		return constNode(v), nil
	}
	switch e := e.(type) {
	case *condition.AndExpr:
		n := make(andNode, 0, len(e.Terms))
		for _, t := range e.Terms {
			x, err := c.compileExpr(t)
			if err != nil {
				return nil, err
			}
			n = append(n, x)
		}
		return n, nil
	case *condition.OrExpr:
		n := make(orNode, 0, len(e.Terms))
		for _, t := range e.Terms {
			x, err := c.compileExpr(t)
			if err != nil {
				return nil, err
			}
			n = append(n, x)
		}
		return n, nil
	case *condition.NotExpr:
		x, err := c.compileExpr(e.X)
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case *condition.Check:
		return c.compileCheck(e)
	case *condition.MacroRef:
		return nil, errorAt(e.Pos, "unexpected identifier %q: no macro of that name", e.Name)
	}
	return nil, fmt.Errorf("unexpected expression %T", e)
}

// static reports the value of e when the evt.type values the catalogue
// delivers decide it: "evt.type in (sendto, sendmsg) and ..." is false for
// a caller that cannot deliver sendto or sendmsg. Branches decided this way
// are not compiled, so the fields only they use are not needed.
func (c *compiler) static(e condition.Expr) (value, known bool) {
	if c.fields.evtTypes == nil {
		return false, false
	}
	switch e := e.(type) {
	case *condition.AndExpr, *condition.OrExpr:
		terms, isAnd := andOrTerms(e)
		all := true
		for _, t := range terms {
			v, ok := c.static(t)
			if ok && v != isAnd {
				return v, true
			}
			all = all && ok
		}
		return isAnd, all
	case *condition.NotExpr:
		v, ok := c.static(e.X)
		return !v, ok
	case *condition.Check:
		s, ok := checkTypes(e)
		if !ok {
			return false, false
		}
		for t := range c.fields.evtTypes {
			if s.has(t) {
				return false, false
			}
		}
		return false, true
	}
	return false, false
}

func andOrTerms(e condition.Expr) ([]condition.Expr, bool) {
	if a, ok := e.(*condition.AndExpr); ok {
		return a.Terms, true
	}
	return e.(*condition.OrExpr).Terms, false
}

// operand is a compiled field or transformer: one getter, set by type.
type operand struct {
	typ      FieldType
	text     string
	field    *Field // nil for a transformer
	anyIndex bool   // an AnyIndex field used without an argument
	str      strGetter
	num      numGetter
	b        boolGetter
	ip       ipGetter
	list     listGetter
}

// present reports whether the operand extracts a value.
func (o *operand) present() func(any) bool {
	switch o.typ {
	case TypeNumber:
		g := o.num
		return func(e any) bool { _, ok := g.get(e); return ok }
	case TypeBool:
		g := o.b
		return func(e any) bool { _, ok := g.get(e); return ok }
	case TypeIP:
		g := o.ip
		return func(e any) bool { _, ok := g.get(e); return ok }
	case TypeStringList:
		g := o.list
		return func(e any) bool { _, ok := g.get(e); return ok }
	}
	g := o.str
	return func(e any) bool { _, ok := g.get(e); return ok }
}

// Extractors for fields the catalogue does not provide; rules using them
// are inactive and never evaluated.
func noString(any, Arg) (string, bool)    { return "", false }
func noNumber(any, Arg) (int64, bool)     { return 0, false }
func noBool(any, Arg) (bool, bool)        { return false, false }
func noIP(any, Arg) (netip.Addr, bool)    { return netip.Addr{}, false }
func noStrings(any, Arg) ([]string, bool) { return nil, false }

func (c *compiler) compileOperand(n condition.Node) (*operand, error) {
	switch n := n.(type) {
	case *condition.Field:
		return c.compileField(n)
	case *condition.Transform:
		return c.compileTransform(n)
	}
	return nil, errorAt(n.Position(), "expected a field or transformer, found %s", n)
}

func (c *compiler) compileField(n *condition.Field) (*operand, error) {
	f, ok := c.fields.byName[n.Name]
	if !ok {
		msg := fmt.Sprintf("unknown field %q for source %q", n.Name, c.fields.source)
		if s := c.fields.suggest(n.Name); len(s) > 0 {
			msg += "; did you mean " + strings.Join(quoteAll(s), " or ") + "?"
		}
		return nil, errorAt(n.Pos, "%s", msg)
	}
	arg := Arg{Key: n.Arg, Set: n.HasArg}
	switch {
	case n.HasArg && f.Arg == NoArg:
		return nil, errorAt(n.Pos, "field %s takes no argument, found [%s]", f.Name, n.Arg)
	case !n.HasArg && f.ArgRequired:
		return nil, errorAt(n.Pos, "field %s requires an argument in brackets", f.Name)
	case n.HasArg && f.Arg == IndexArg:
		i, err := strconv.Atoi(n.Arg)
		if err != nil || i < 0 {
			return nil, errorAt(n.Pos, "field %s needs a non-negative index, found [%s]", f.Name, n.Arg)
		}
		arg.Index = i
	}
	o, err := c.fieldOperand(f, arg, n.String())
	if err != nil {
		return nil, errorAt(n.Pos, "%v", err)
	}
	o.anyIndex = f.AnyIndex && f.Arg == IndexArg && !n.HasArg
	return o, nil
}

// fieldOperand binds a catalogue field to an argument.
func (c *compiler) fieldOperand(f *Field, arg Arg, text string) (*operand, error) {
	o := &operand{typ: f.Type, text: text, field: f}
	if !slices.Contains(c.used, f.Name) {
		c.used = append(c.used, f.Name)
	}
	provided := f.provided()
	if !provided {
		c.noteMissing(f.Name)
	}
	switch f.Type {
	case TypeString, TypeBytes:
		o.str = strGetter{f.ExtractString, arg}
		if !provided {
			o.str.fn = noString
		}
	case TypeNumber:
		o.num = numGetter{f.ExtractNumber, arg}
		if !provided {
			o.num.fn = noNumber
		}
	case TypeBool:
		o.b = boolGetter{f.ExtractBool, arg}
		if !provided {
			o.b.fn = noBool
		}
	case TypeIP:
		o.ip = ipGetter{f.ExtractIP, arg}
		if !provided {
			o.ip.fn = noIP
		}
	case TypeStringList:
		o.list = listGetter{f.ExtractStrings, arg}
		if !provided {
			o.list.fn = noStrings
		}
	default:
		return nil, fmt.Errorf("field %s has an invalid type in the catalogue", f.Name)
	}
	return o, nil
}

// maxAnyIndex bounds the indexes an AnyIndex field is tried at.
const maxAnyIndex = 16

// compileAnyIndex compiles a check on an AnyIndex field without an
// argument into one check per index, true when any holds.
func (c *compiler) compileAnyIndex(e *condition.Check, left *operand) (node, error) {
	n := &anyIndexNode{}
	for i := 1; i <= maxAnyIndex; i++ {
		o, err := c.fieldOperand(left.field, Arg{Key: strconv.Itoa(i), Index: i, Set: true}, left.text)
		if err != nil {
			return nil, errorAt(e.Pos, "%v", err)
		}
		x, err := c.checkWith(e, o)
		if err != nil {
			return nil, err
		}
		n.present = append(n.present, o.present())
		n.checks = append(n.checks, x)
	}
	return n, nil
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return q
}

func isStringType(t FieldType) bool { return t == TypeString || t == TypeBytes }

func (c *compiler) compileCheck(e *condition.Check) (node, error) {
	left, err := c.compileOperand(e.Field)
	if err != nil {
		return nil, err
	}
	if left.anyIndex {
		return c.compileAnyIndex(e, left)
	}
	return c.checkWith(e, left)
}

// checkWith compiles a check whose left operand is compiled.
func (c *compiler) checkWith(e *condition.Check, left *operand) (node, error) {
	if e.Op == "exists" {
		return &existsNode{left.present()}, nil
	}
	if !operatorAllowed(left.typ, e.Op) {
		return nil, errorAt(e.Pos, "operator %q cannot be used on %s, a %s field", e.Op, left.text, left.typ)
	}
	if tr, ok := e.Value.(*condition.Transform); ok {
		return c.compileFieldCompare(e, left, tr)
	}
	items, err := c.constants(e)
	if err != nil {
		return nil, err
	}
	if e.Modifier != "" {
		if !isStringType(left.typ) {
			return nil, errorAt(e.Pos, "modifier %s needs a string field, %s is a %s", e.Modifier, left.text, left.typ)
		}
		n := &modifierCheck{get: left.str, neg: e.Op == "!=", mode: e.Modifier}
		op := e.Op
		if op == "!=" {
			op = "="
		}
		for _, it := range items {
			m, err := stringMatcherFor(op, left.typ, []string{it})
			if err != nil {
				return nil, errorAt(e.Value.Position(), "%v", err)
			}
			n.ms = append(n.ms, m)
		}
		return n, nil
	}
	switch left.typ {
	case TypeString, TypeBytes:
		op, neg := e.Op, false
		if op == "!=" {
			op, neg = "=", true
		}
		m, err := stringMatcherFor(op, left.typ, items)
		if err != nil {
			return nil, errorAt(e.Value.Position(), "%v", err)
		}
		return &strCheck{get: left.str, m: m, neg: neg}, nil
	case TypeNumber:
		nums := make([]int64, len(items))
		for i, it := range items {
			v, err := parseNumber(it)
			if err != nil {
				return nil, errorAt(e.Value.Position(), "%s is a number field: %v", left.text, err)
			}
			nums[i] = v
		}
		if e.Op == "in" || e.Op == "intersects" {
			return &numSetCheck{get: left.num, set: nums}, nil
		}
		return &numCheck{get: left.num, op: e.Op, c: nums[0]}, nil
	case TypeBool:
		n := &boolSetCheck{get: left.b}
		for _, it := range items {
			v, err := strconv.ParseBool(it)
			if err != nil {
				return nil, errorAt(e.Value.Position(), "%s is a bool field: %q is not true or false", left.text, it)
			}
			n.set[boolIndex(v)] = true
		}
		if e.Op == "!=" {
			n.set[0], n.set[1] = !n.set[0], !n.set[1]
		}
		return n, nil
	case TypeIP:
		n := &ipCheck{get: left.ip, neg: e.Op == "!="}
		for _, it := range items {
			if p, err := netip.ParsePrefix(it); err == nil {
				n.prefixes = append(n.prefixes, p.Masked())
			} else if a, err := netip.ParseAddr(it); err == nil {
				n.addrs = append(n.addrs, a.Unmap())
			} else {
				return nil, errorAt(e.Value.Position(), "%s is an IP field: %q is neither an address nor a network", left.text, it)
			}
		}
		return n, nil
	case TypeStringList:
		return &listCheck{get: left.list, set: newSetMatcher(items), every: e.Op == "in"}, nil
	}
	return nil, errorAt(e.Pos, "field %s has an invalid type", left.text)
}

// constants returns the literal values of a check's right-hand side.
func (c *compiler) constants(e *condition.Check) ([]string, error) {
	switch v := e.Value.(type) {
	case *condition.Literal:
		if v.Kind == condition.Bare {
			if _, ok := c.fields.byName[v.Text]; ok {
				c.warnings = append(c.warnings, fmt.Sprintf("%s: %q may be a valid field misused as a const string value", v.Pos, v.Text))
			}
		}
		return []string{v.Text}, nil
	case *condition.List:
		if v.Ident {
			return nil, errorAt(v.Pos, "%q is not a defined list", v.Items[0].Text)
		}
		items := make([]string, len(v.Items))
		for i, it := range v.Items {
			items[i] = it.Text
		}
		return items, nil
	}
	return nil, errorAt(e.Pos, "expected a value after %q", e.Op)
}

// operatorAllowed encodes libsinsp's flt_is_comparable.
func operatorAllowed(t FieldType, op string) bool {
	switch t {
	case TypeString:
		return op != "bcontains" && op != "bstartswith"
	case TypeBytes:
		switch op {
		case "=", "!=", "contains", "in", "startswith", "endswith", "intersects", "bcontains", "bstartswith":
			return true
		}
	case TypeNumber:
		switch op {
		case "=", "!=", "<", "<=", ">", ">=", "in", "intersects":
			return true
		}
	case TypeBool, TypeIP:
		return op == "=" || op == "!=" || op == "in" || op == "intersects"
	case TypeStringList:
		return op == "in" || op == "intersects"
	}
	return false
}

// stringMatcherFor compiles a string operator against its constants.
func stringMatcherFor(op string, t FieldType, items []string) (stringMatcher, error) {
	if len(items) == 0 && op != "in" && op != "intersects" && op != "pmatch" {
		return nil, fmt.Errorf("operator %q needs a value", op)
	}
	switch op {
	case "=":
		return eqMatcher{items[0]}, nil
	case "contains":
		return containsMatcher{items[0]}, nil
	case "icontains":
		return icontainsMatcher{strings.ToLower(items[0])}, nil
	case "startswith":
		return prefixMatcher{items[0]}, nil
	case "endswith":
		return suffixMatcher{items[0]}, nil
	case "glob":
		return globMatcher{items[0], false}, nil
	case "iglob":
		return globMatcher{items[0], true}, nil
	case "regex":
		re, err := regexp.Compile(`^(?:` + items[0] + `)$`)
		if err != nil {
			return nil, fmt.Errorf("invalid regular expression %q: %v", items[0], err)
		}
		return regexMatcher{re}, nil
	case "<", "<=", ">", ">=":
		return orderMatcher{op, items[0]}, nil
	case "in", "intersects":
		return newSetMatcher(items), nil
	case "pmatch":
		return newPathMatcher(items), nil
	case "bcontains", "bstartswith":
		b, err := hex.DecodeString(items[0])
		if err != nil {
			return nil, fmt.Errorf("%s needs a hex string such as CAFEBABE, found %q", op, items[0])
		}
		if op == "bcontains" {
			return containsMatcher{string(b)}, nil
		}
		return prefixMatcher{string(b)}, nil
	}
	return nil, fmt.Errorf("unknown operator %q", op)
}

// parseNumber parses a decimal or 0x-hex integer, or a float with no
// fractional part, as libsinsp does for numeric constants.
func parseNumber(s string) (int64, error) {
	if v, err := strconv.ParseInt(s, 0, 64); err == nil {
		return v, nil
	}
	if u, err := strconv.ParseUint(s, 0, 64); err == nil {
		return int64(u), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return int64(f), nil
}

// compileFieldCompare compiles a comparison whose right-hand side is
// val(field) or a transformer.
func (c *compiler) compileFieldCompare(e *condition.Check, left *operand, tr *condition.Transform) (node, error) {
	if e.Op == "regex" || e.Op == "pmatch" || e.Modifier != "" {
		return nil, errorAt(tr.Pos, "operator %q cannot compare with a field", e.Op)
	}
	var right *operand
	var err error
	if tr.Name == "val" {
		if len(tr.Args) != 1 || tr.HasArg {
			return nil, errorAt(tr.Pos, "val() takes exactly one field")
		}
		right, err = c.compileOperand(tr.Args[0])
	} else {
		right, err = c.compileTransform(tr)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case isStringType(left.typ) && isStringType(right.typ):
		return &strFieldCheck{left: left.str, right: right.str, op: e.Op}, nil
	case left.typ == TypeNumber && right.typ == TypeNumber:
		op := e.Op
		if op == "in" || op == "intersects" {
			op = "="
		}
		return &numFieldCheck{left: left.num, right: right.num, op: op}, nil
	}
	return nil, errorAt(tr.Pos, "cannot compare %s (%s) with %s (%s)", left.text, left.typ, right.text, right.typ)
}
