package rules

import (
	"encoding/base64"
	"strings"

	"github.com/mamori-dev/mamori/rules/condition"
)

// compileTransform compiles a transformer into an operand whose getter
// reads the transformer's inputs. Transformers that build a new string
// (tolower on a string with upper case, b64, join, concat) allocate; the
// others return slices of their input.
func (c *compiler) compileTransform(t *condition.Transform) (*operand, error) {
	if t.Name == "val" {
		return nil, errorAt(t.Pos, "val() may only be used on the right-hand side of a comparison")
	}
	if t.HasArg && t.Name != "getopt" {
		return nil, errorAt(t.Pos, "transformer %s takes no argument in brackets", t.Name)
	}
	switch t.Name {
	case "tolower", "toupper", "b64", "basename":
		in, err := c.singleStringArg(t)
		if err != nil {
			return nil, err
		}
		return &operand{typ: TypeString, text: t.String(), str: strGetter{fn: stringTransform(t.Name, in)}}, nil
	case "len":
		if len(t.Args) != 1 {
			return nil, errorAt(t.Pos, "len() takes one argument, found %d", len(t.Args))
		}
		in, err := c.compileOperand(t.Args[0])
		if err != nil {
			return nil, err
		}
		o := &operand{typ: TypeNumber, text: t.String()}
		switch {
		case in.typ == TypeStringList:
			g := in.list
			o.num.fn = func(e any, _ Arg) (int64, bool) { l, ok := g.get(e); return int64(len(l)), ok }
		case isStringType(in.typ):
			g := in.str
			o.num.fn = func(e any, _ Arg) (int64, bool) { s, ok := g.get(e); return int64(len(s)), ok }
		default:
			return nil, errorAt(t.Pos, "len() needs a string or list, %s is a %s", in.text, in.typ)
		}
		return o, nil
	case "join":
		return c.compileJoin(t)
	case "concat":
		return c.compileConcat(t)
	case "getopt":
		return c.compileGetopt(t)
	}
	return nil, errorAt(t.Pos, "unknown transformer %q", t.Name)
}

func (c *compiler) singleStringArg(t *condition.Transform) (strGetter, error) {
	if len(t.Args) != 1 {
		return strGetter{}, errorAt(t.Pos, "%s() takes one argument, found %d", t.Name, len(t.Args))
	}
	in, err := c.compileOperand(t.Args[0])
	if err != nil {
		return strGetter{}, err
	}
	if !isStringType(in.typ) {
		return strGetter{}, errorAt(t.Pos, "%s() needs a string, %s is a %s", t.Name, in.text, in.typ)
	}
	return in.str, nil
}

func stringTransform(name string, in strGetter) func(any, Arg) (string, bool) {
	switch name {
	case "tolower":
		return func(e any, _ Arg) (string, bool) {
			s, ok := in.get(e)
			return strings.ToLower(s), ok
		}
	case "toupper":
		return func(e any, _ Arg) (string, bool) {
			s, ok := in.get(e)
			return strings.ToUpper(s), ok
		}
	case "b64":
		return func(e any, _ Arg) (string, bool) {
			s, ok := in.get(e)
			if !ok {
				return "", false
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return "", false
			}
			return string(b), true
		}
	}
	return func(e any, _ Arg) (string, bool) {
		s, ok := in.get(e)
		return s[strings.LastIndexByte(s, '/')+1:], ok
	}
}

// stringPart compiles a concat or join argument: a string operand or a
// quoted literal.
func (c *compiler) stringPart(n condition.Node) (strGetter, error) {
	if l, ok := n.(*condition.Literal); ok {
		s := l.Text
		return strGetter{fn: func(any, Arg) (string, bool) { return s, true }}, nil
	}
	o, err := c.compileOperand(n)
	if err != nil {
		return strGetter{}, err
	}
	if !isStringType(o.typ) {
		return strGetter{}, errorAt(n.Position(), "expected a string, %s is a %s", o.text, o.typ)
	}
	return o.str, nil
}

func (c *compiler) compileJoin(t *condition.Transform) (*operand, error) {
	if len(t.Args) != 2 {
		return nil, errorAt(t.Pos, "join() takes a separator and a list, found %d arguments", len(t.Args))
	}
	sep, err := c.stringPart(t.Args[0])
	if err != nil {
		return nil, err
	}
	list, err := c.compileOperand(t.Args[1])
	if err != nil {
		return nil, err
	}
	if list.typ != TypeStringList {
		return nil, errorAt(t.Pos, "join() needs a list as its second argument, %s is a %s", list.text, list.typ)
	}
	g := list.list
	fn := func(e any, _ Arg) (string, bool) {
		s, ok := sep.get(e)
		if !ok {
			return "", false
		}
		l, ok := g.get(e)
		return strings.Join(l, s), ok
	}
	return &operand{typ: TypeString, text: t.String(), str: strGetter{fn: fn}}, nil
}

func (c *compiler) compileConcat(t *condition.Transform) (*operand, error) {
	if len(t.Args) < 2 {
		return nil, errorAt(t.Pos, "concat() takes at least two arguments, found %d", len(t.Args))
	}
	parts := make([]strGetter, len(t.Args))
	for i, a := range t.Args {
		p, err := c.stringPart(a)
		if err != nil {
			return nil, err
		}
		parts[i] = p
	}
	fn := func(e any, _ Arg) (string, bool) {
		var b strings.Builder
		for _, p := range parts {
			s, ok := p.get(e)
			if !ok {
				return "", false
			}
			b.WriteString(s)
		}
		return b.String(), true
	}
	return &operand{typ: TypeString, text: t.String(), str: strGetter{fn: fn}}, nil
}

// compileGetopt compiles getopt(args, "optstring")[c]: the value of option
// c in the argument list, as POSIX getopt would parse it. An option without
// an argument yields "" when present.
func (c *compiler) compileGetopt(t *condition.Transform) (*operand, error) {
	if len(t.Args) != 2 {
		return nil, errorAt(t.Pos, "getopt() takes an argument list and an option string, found %d arguments", len(t.Args))
	}
	if !t.HasArg || len(t.Arg) != 1 {
		return nil, errorAt(t.Pos, "getopt() needs the option character in brackets, as getopt(args, \"ab:\")[b]")
	}
	list, err := c.compileOperand(t.Args[0])
	if err != nil {
		return nil, err
	}
	if list.typ != TypeStringList {
		return nil, errorAt(t.Pos, "getopt() needs a list, %s is a %s", list.text, list.typ)
	}
	lit, ok := t.Args[1].(*condition.Literal)
	if !ok || lit.Kind != condition.Quoted {
		return nil, errorAt(t.Pos, "getopt() needs a quoted option string as its second argument")
	}
	optstring, want := lit.Text, t.Arg[0]
	g := list.list
	fn := func(e any, _ Arg) (string, bool) {
		l, ok := g.get(e)
		if !ok {
			return "", false
		}
		return getopt(l, optstring, want)
	}
	return &operand{typ: TypeString, text: t.String(), str: strGetter{fn: fn}}, nil
}

// getopt scans args like POSIX getopt(3) and returns the argument of
// option want ("" for an option without one) and whether it was given.
// Scanning stops at the first non-option or at "--".
func getopt(args []string, optstring string, want byte) (string, bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return "", false
		}
		for j := 1; j < len(a); j++ {
			k := strings.IndexByte(optstring, a[j])
			if k < 0 || a[j] == ':' {
				continue
			}
			takesArg := k+1 < len(optstring) && optstring[k+1] == ':'
			var val string
			if takesArg {
				switch {
				case j+1 < len(a):
					val = a[j+1:]
				case i+1 < len(args):
					i++
					val = args[i]
				default:
					return "", false
				}
			}
			if a[j] == want {
				return val, true
			}
			if takesArg {
				break
			}
		}
	}
	return "", false
}
