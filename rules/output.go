package rules

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mamori-dev/mamori/rules/condition"
)

// format is a compiled output string: literal text and %field references.
type format struct {
	segments []segment
	fields   []*outputField // distinct references, in order of first use
}

type segment struct {
	text  string
	field *outputField // nil for literal text
	width int          // from %<N>field: pad or truncate to N; 0 for none
}

type outputField struct {
	name string // as written, e.g. proc.aname[2] or tolower(ct.user)
	op   *operand
}

// missingValue is what Falco prints for a field with no value.
const missingValue = "<NA>"

// compileFormat parses an output string. A % starts a reference: an
// optional width, then the longest field or transformer that compiles.
func compileFormat(s string, c *compiler) (*format, error) {
	f := &format{}
	byName := map[string]*outputField{}
	var text strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '%' {
			text.WriteByte(s[i])
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isDigitByte(s[j]) {
			j++
		}
		width := 0
		if j > i+1 {
			width, _ = strconv.Atoi(s[i+1 : j])
		}
		if j >= len(s) {
			return nil, fmt.Errorf("column %d: the format ends with %q, expected a field name after it", i+1, s[i:])
		}
		op, name, end, err := c.outputOperand(s, j)
		if err != nil {
			return nil, fmt.Errorf("column %d: %w", j+1, err)
		}
		if text.Len() > 0 {
			f.segments = append(f.segments, segment{text: text.String()})
			text.Reset()
		}
		of := byName[name]
		if of == nil {
			of = &outputField{name: name, op: op}
			byName[name] = of
			f.fields = append(f.fields, of)
		}
		f.segments = append(f.segments, segment{field: of, width: width})
		i = end
	}
	if text.Len() > 0 {
		f.segments = append(f.segments, segment{text: text.String()})
	}
	return f, nil
}

func isDigitByte(c byte) bool { return '0' <= c && c <= '9' }

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigitByte(c) || c == '_'
}

// outputOperand compiles the reference starting at s[i] and returns it, its
// text and the offset just past it.
func (c *compiler) outputOperand(s string, i int) (*operand, string, int, error) {
	// Candidate ends: after each dot-separated segment of the name.
	var ends []int
	j := i
	for j < len(s) && isNameByte(s[j]) {
		j++
	}
	if j == i {
		return nil, "", 0, fmt.Errorf("found %q after %%, expected a field name", s[i:min(i+10, len(s))])
	}
	if j < len(s) && s[j] == '(' {
		return c.outputTransform(s, i, j)
	}
	ends = append(ends, j)
	for j < len(s) && s[j] == '.' {
		k := j + 1
		for k < len(s) && isNameByte(s[k]) {
			k++
		}
		if k == j+1 {
			break
		}
		j = k
		ends = append(ends, j)
	}
	// Take the longest known name; with none, the whole name, so that the
	// error names it.
	end := ends[len(ends)-1]
	for k := len(ends) - 1; k >= 0; k-- {
		if _, ok := c.fields.byName[s[i:ends[k]]]; ok {
			end = ends[k]
			break
		}
	}
	{
		if end < len(s) && s[end] == '[' {
			if close := strings.IndexByte(s[end:], ']'); close > 0 {
				end += close + 1
			}
		}
		ref, err := condition.ParseOperand(s[i:end])
		if err == nil {
			var op *operand
			op, err = c.compileOperand(ref)
			if err == nil {
				return op, ref.String(), end, nil
			}
		}
		return nil, "", 0, err
	}
}

// outputTransform compiles %name(...)[arg], finding the closing parenthesis
// outside quoted strings.
func (c *compiler) outputTransform(s string, start, paren int) (*operand, string, int, error) {
	depth := 0
	var quote byte
	end := -1
	for k := paren; k < len(s) && end < 0; k++ {
		switch ch := s[k]; {
		case quote != 0:
			if ch == '\\' {
				k++
			} else if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'':
			quote = ch
		case ch == '(':
			depth++
		case ch == ')':
			depth--
			if depth == 0 {
				end = k + 1
			}
		}
	}
	if end < 0 {
		return nil, "", 0, fmt.Errorf("unclosed %q in output field", s[start:paren+1])
	}
	if end < len(s) && s[end] == '[' {
		if close := strings.IndexByte(s[end:], ']'); close > 0 {
			end += close + 1
		}
	}
	ref, err := condition.ParseOperand(s[start:end])
	if err != nil {
		return nil, "", 0, err
	}
	op, err := c.compileOperand(ref)
	if err != nil {
		return nil, "", 0, err
	}
	return op, ref.String(), end, nil
}

// Format renders the rule's output for a matching event, with "<NA>" for
// fields that have no value.
func (r *Rule) Format(evt any) string {
	if r.output == nil {
		return r.Output
	}
	var b strings.Builder
	for _, seg := range r.output.segments {
		if seg.field == nil {
			b.WriteString(seg.text)
			continue
		}
		v := seg.field.text(evt)
		if seg.width > 0 {
			if len(v) > seg.width {
				v = v[:seg.width]
			}
			for len(v) < seg.width {
				v += " "
			}
		}
		b.WriteString(v)
	}
	return b.String()
}

// OutputFields returns the value of each %field of the rule's output, keyed
// by the field as written, as Falco's JSON output_fields: a string, int64,
// bool or []string, or nil when the event has no value.
func (r *Rule) OutputFields(evt any) map[string]any {
	if r.output == nil {
		return nil
	}
	m := make(map[string]any, len(r.output.fields))
	for _, f := range r.output.fields {
		m[f.name] = f.value(evt)
	}
	return m
}

func (f *outputField) value(evt any) any {
	o := f.op
	switch o.typ {
	case TypeNumber:
		if v, ok := o.num.get(evt); ok {
			return v
		}
	case TypeBool:
		if v, ok := o.b.get(evt); ok {
			return v
		}
	case TypeIP:
		if v, ok := o.ip.get(evt); ok {
			return v.String()
		}
	case TypeStringList:
		if v, ok := o.list.get(evt); ok {
			return append([]string(nil), v...)
		}
	default:
		if v, ok := o.str.get(evt); ok {
			return v
		}
	}
	return nil
}

// Render returns what Format and OutputFields return, reading each field
// of the output once: an alert needs both.
func (r *Rule) Render(evt any) (string, map[string]any) {
	if r.output == nil {
		return r.Output, nil
	}
	m := make(map[string]any, len(r.output.fields))
	for _, f := range r.output.fields {
		m[f.name] = f.value(evt)
	}
	var b strings.Builder
	for _, seg := range r.output.segments {
		if seg.field == nil {
			b.WriteString(seg.text)
			continue
		}
		v := valueText(m[seg.field.name])
		if seg.width > 0 {
			if len(v) > seg.width {
				v = v[:seg.width]
			}
			for len(v) < seg.width {
				v += " "
			}
		}
		b.WriteString(v)
	}
	return b.String(), m
}

func (f *outputField) text(evt any) string { return valueText(f.value(evt)) }

// valueText prints a field's value as an output does.
func valueText(v any) string {
	switch v := v.(type) {
	case nil:
		return missingValue
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	case []string:
		return "(" + strings.Join(v, ",") + ")"
	}
	return missingValue
}
