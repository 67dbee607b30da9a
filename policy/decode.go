package policy

import (
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder fills Go values from a YAML node tree strictly: every key must
// name a field, every scalar must have the field's type, and every value's
// position is recorded under its dotted path so that validation errors and
// provenance can point at it. It does the work yaml.v3's KnownFields does,
// but with columns and a suggestion for a misspelt key.
type decoder struct {
	file   string
	errs   *errorList
	pos    map[string]Position
	budget int // nodes left to visit; bounds alias expansion
}

// Limits on what one document may hold; a policy is a page of YAML, not a
// data set, and aliases could otherwise expand it exponentially.
const (
	maxNodes = 1 << 16
	maxDepth = 48
	// maxList bounds a list in a document: merging intersects allow lists
	// pairwise. Long lists belong in list files (ipReputation.lists).
	maxList = 1024
)

// nodeDecoder is implemented by types that decode themselves, such as a
// pattern list that accepts one string or a sequence of them.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string) bool
}

var nodeDecoderType = reflect.TypeFor[nodeDecoder]()

func (d *decoder) at(n *yaml.Node) Position { return nodePos(d.file, n) }

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs.addf(d.at(n), format, args...)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// resolve follows aliases and counts the node against the budget.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.budget--
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

// decode fills v (addressable) from n. It reports false if it reported an
// error, so callers can skip checks that would only repeat it.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, depth int) bool {
	n = d.resolve(n)
	if n == nil {
		return true
	}
	if d.budget < 0 {
		if d.budget == -1 {
			d.errorf(n, "document too large (more than %d YAML nodes after expanding aliases); split it into several policies", maxNodes)
		}
		return false
	}
	if depth > maxDepth {
		d.errorf(n, "nested more than %d levels deep; flatten the scope with all/any lists", maxDepth)
		return false
	}
	// Scalars are pointed at by their value, lists and mappings by their
	// key (set by decodeStruct) or, as list items, by themselves.
	if _, set := d.pos[path]; n.Kind == yaml.ScalarNode || !set {
		d.pos[path] = d.at(n)
	}
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		return v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.SetZero()
			return true
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(n, v.Elem(), path, depth)
	case reflect.Struct:
		return d.decodeStruct(n, v, path, depth)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "%s must be a list, found %s", lastKey(path), kindName(n))
			return false
		}
		if len(n.Content) > maxList {
			d.errorf(n, "%s has %d entries, more than %d; put long lists in a list file", lastKey(path), len(n.Content), maxList)
			return false
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		ok := true
		for i, c := range n.Content {
			ok = d.decode(c, s.Index(i), path+"["+strconv.Itoa(i)+"]", depth+1) && ok
		}
		v.Set(s)
		return ok
	case reflect.Map:
		return d.decodeMap(n, v, path, depth)
	case reflect.String:
		s, ok := d.scalar(n, path, "a string")
		if ok && s == "" && n.Tag == "!!null" {
			d.errorf(n, "%s is null; give it a value or remove the key", lastKey(path))
			return false
		}
		v.SetString(s)
		return ok
	case reflect.Int, reflect.Int64:
		s, ok := d.scalar(n, path, "a whole number")
		if !ok {
			return false
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
		if err != nil || n.Tag != "!!int" {
			d.errorf(n, "%s must be a whole number, found %s", lastKey(path), kindName(n))
			return false
		}
		v.SetInt(i)
		return true
	case reflect.Bool:
		s, ok := d.scalar(n, path, "true or false")
		if !ok {
			return false
		}
		if n.Tag != "!!bool" {
			d.errorf(n, "%s must be true or false, found %s", lastKey(path), kindName(n))
			return false
		}
		b, _ := strconv.ParseBool(strings.ToLower(s))
		v.SetBool(b)
		return true
	}
	d.errorf(n, "internal error: cannot decode into %s", v.Type())
	return false
}

func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s must be %s, found %s", lastKey(path), want, kindName(n))
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return n.Value, true
}

func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	if path == "" {
		return "the document"
	}
	return path
}

type field struct {
	name  string
	index []int
}

// fieldsOf lists the YAML keys of a struct type, flattening ",inline"
// fields, in declaration order.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" {
			for _, sub := range fieldsOf(f.Type) {
				out = append(out, field{sub.name, append([]int{i}, sub.index...)})
			}
			continue
		}
		if name == "" {
			continue
		}
		out = append(out, field{name, []int{i}})
	}
	return out
}

func keyNames(fs []field) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return names
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, depth int) bool {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping of keys to values, found %s", lastKey(path), kindName(n))
		return false
	}
	fs := fieldsOf(v.Type())
	ok := true
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := d.resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "a key must be a plain name, found %s", kindName(k))
			ok = false
			continue
		}
		var f *field
		for j := range fs {
			if fs[j].name == k.Value {
				f = &fs[j]
				break
			}
		}
		where := lastKey(path)
		if path == "" {
			where = "a RuntimePolicy"
		}
		if f == nil {
			d.errorf(k, "unknown key %q in %s; %s", k.Value, where, didYouMean(k.Value, keyNames(fs)))
			ok = false
			continue
		}
		if prev := seen[k.Value]; prev != nil {
			d.errorf(k, "key %q repeated (first at line %d); keep one", k.Value, prev.Line)
			ok = false
			continue
		}
		seen[k.Value] = k
		p := join(path, k.Value)
		d.pos[p] = d.at(k)
		ok = d.decode(val, v.FieldByIndex(f.index), p, depth+1) && ok
	}
	return ok
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string, depth int) bool {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping, found %s", lastKey(path), kindName(n))
		return false
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.resolve(n.Content[i])
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
			d.errorf(k, "a key in %s must be a string, found %s", lastKey(path), kindName(k))
			ok = false
			continue
		}
		if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			d.errorf(k, "key %q repeated in %s; keep one", k.Value, lastKey(path))
			ok = false
			continue
		}
		p := path + "[" + k.Value + "]"
		d.pos[p] = d.at(k)
		e := reflect.New(v.Type().Elem()).Elem()
		ok = d.decode(n.Content[i+1], e, p, depth+1) && ok
		m.SetMapIndex(reflect.ValueOf(k.Value), e)
	}
	v.Set(m)
	return ok
}
