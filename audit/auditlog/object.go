package auditlog

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Value is one JSON value of a log, as Split found it valid: its text,
// and what the scan listed of its structure, so that walking a delivery
// object's records and reading their members scans nothing again.
type Value struct {
	data []byte // the text the value is in
	tape []span // the scan's list of members, shared by the values of data
	sp   span   // where the value is in data, and its members in tape
}

// Text returns the value's JSON text.
func (v Value) Text() []byte { return v.data[v.sp.val0:v.sp.val1] }

// Elements calls fn with each element of the value, an array, in order,
// until fn returns false. On a value that is not an array it does
// nothing.
func (v Value) Elements(fn func(Value) bool) {
	if v.sp.kid0 >= 0 {
		if v.data[v.sp.val0] != '[' {
			return
		}
		for _, k := range v.tape[v.sp.kid0:v.sp.kid1] {
			if !fn(Value{data: v.data, tape: v.tape, sp: k}) {
				return
			}
		}
		return
	}
	elementsOf(v.data[:v.sp.val1], int(v.sp.val0), func(v0, v1 int) bool {
		// Elements found here, not by the scan, are not containers it
		// listed.
		return fn(Value{data: v.data, tape: v.tape, sp: span{val0: int32(v0), val1: int32(v1), kid0: -1, kid1: -1}})
	})
}

// Len returns the number of elements of an array, or of members of an
// object, when the scan listed them; else -1.
func (v Value) Len() int {
	if v.sp.kid0 < 0 {
		return -1
	}
	return int(v.sp.kid1 - v.sp.kid0)
}

// Object returns the value, an object, to be read lazily. A value that is
// not an object reads as an object without members.
func (v Value) Object() Object {
	o := Object{data: v.data, tape: v.tape, s: int(v.sp.val0), e: int(v.sp.val1)}
	if v.sp.kid0 >= 0 {
		o.members, o.indexed = v.tape[v.sp.kid0:v.sp.kid1], true
		if v.data[v.sp.val0] != '{' {
			o.members = nil
		}
	}
	return o
}

// Object is a record's JSON object kept as its text and decoded only as
// far as it is read: a rule that reads three fields of a record decodes
// three values, not the record. It gives the same answers as Lookup,
// Pointer and Text on the object decoded whole (a key given twice counts
// once, the last time, as encoding/json has it). Its members are listed
// by the scan that found it valid, or on first read; the objects inside
// it are scanned when a lookup goes through them, and indexed when one
// does again. Objects and arrays read as values are decoded once.
//
// An Object is not safe for concurrent use; it keeps its text, which the
// caller must not change.
type Object struct {
	data    []byte         // the text the object is in, at data[s:e]
	tape    []span         // the scan's list of members, if any
	s, e    int            //
	members []span         // each member's key and value, in order
	indexed bool           // members is listed
	reads   []memberRead   // what reading each member produced; on first need
	whole   map[string]any // the object decoded whole, on first Map
	eager   bool           // answer from whole: see DecodedObject
	once    uint64         // the members (of the first 64) a lookup went through once
	subs    []subObject    // the members a lookup went through twice, indexed
}

// subObject is a member of an Object, itself an object, indexed.
type subObject struct {
	i int
	o *Object
}

// memberRead is what reading a member, an object or array, produced.
type memberRead struct {
	decoded bool
	v       any // the value decoded, once decoded is set
}

// NewObject returns the Object of text, a JSON object found valid (by
// Split, or encoding/json). Text that is not an object reads as an
// object without members.
func NewObject(text []byte) Object { return Object{data: text, e: len(text)} }

// DecodedObject returns an Object that decodes its text whole on its
// first read and answers every read from the decoded map, through Lookup
// and Pointer, as the readers did before they read lazily: the reference
// the lazy reading is checked against.
func DecodedObject(text []byte) Object { return Object{data: text, e: len(text), eager: true} }

// Text returns the object's JSON text, as read.
func (o *Object) Text() []byte { return o.data[o.s:o.e] }

// index lists the object's members, once.
func (o *Object) index() {
	if o.indexed {
		return
	}
	o.indexed = true
	var buf [48]span // most records have fewer members: one allocation, of the right size
	ms := buf[:0]
	it := membersOf(o.data[:o.e], o.s)
	for {
		k0, k1, v0, v1, ok := it.next()
		if !ok {
			break
		}
		ms = append(ms, span{int32(k0), int32(k1), int32(v0), int32(v1), -1, -1, isPlain(o.data[k0+1 : k1-1])})
	}
	if len(ms) > 0 {
		o.members = append([]span(nil), ms...)
	}
}

// Keys returns the object's keys in order, each once, for messages about
// what an object that is not the expected one holds.
func (o *Object) Keys() []string {
	o.index()
	var out []string
	seen := map[string]bool{}
	for _, m := range o.members {
		k := unquote(o.data[m.key0:m.key1])
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// find returns the index of the last member whose key is k, or -1.
func (o *Object) find(k string) int {
	o.index()
	for i := len(o.members) - 1; i >= 0; i-- {
		m := &o.members[i]
		if m.plain {
			if int(m.key1-m.key0) == len(k)+2 && string(o.data[m.key0+1:m.key1-1]) == k {
				return i
			}
		} else if unquote(o.data[m.key0:m.key1]) == k {
			return i
		}
	}
	return -1
}

// val is the text of member i's value.
func (o *Object) val(i int) []byte {
	m := o.members[i]
	return o.data[m.val0:m.val1]
}

// read is what reading member i produced so far.
func (o *Object) read(i int) *memberRead {
	if o.reads == nil {
		o.reads = make([]memberRead, len(o.members))
	}
	return &o.reads[i]
}

// value returns member i's value decoded. Objects and arrays are decoded
// once; strings, numbers and literals, cheap to decode, each time, so
// that reading a record's scalars allocates nothing to remember them.
func (o *Object) value(i int) any {
	if v := o.val(i); v[0] != '{' && v[0] != '[' {
		return decodeText(v)
	}
	r := o.read(i)
	if !r.decoded {
		r.v, r.decoded = decodeText(o.val(i)), true
	}
	return r.v
}

// Lookup follows keys down nested objects, as Lookup does on the object
// decoded: a JSON null counts as absent. With no keys it is the whole
// object, decoded.
func (o *Object) Lookup(keys ...string) (any, bool) {
	if len(keys) == 0 {
		return o.Map(), true
	}
	if o.eager {
		return Lookup(o.Map(), keys...)
	}
	var v any
	if len(keys) == 1 {
		i := o.find(keys[0])
		if i < 0 {
			return nil, false
		}
		v = o.value(i)
	} else {
		text := o.text(keys)
		if text == nil {
			return nil, false
		}
		v = decodeText(text)
	}
	return v, v != nil
}

// text returns the text of the value at keys (at least one), nil when
// there is none: the member from the index, and below it the members of
// the objects on the way. Those are scanned (a key given twice counting
// the last time) the first time a lookup goes through them, which
// allocates nothing: a rule reading userIdentity.type on every record
// costs no memory. The second time, the object is indexed for the lookups
// after it (an alert's output reads several fields of userIdentity).
func (o *Object) text(keys []string) []byte {
	i := o.find(keys[0])
	if i < 0 {
		return nil
	}
	val := o.val(i)
	if len(keys) == 1 {
		return val
	}
	if val[0] != '{' {
		return nil
	}
	if sub := o.sub(i); sub != nil {
		return sub.text(keys[1:])
	}
	for _, k := range keys[1:] {
		if val[0] != '{' {
			return nil
		}
		if val = child(val, k); val == nil {
			return nil
		}
	}
	return val
}

// sub returns member i, an object, indexed, once a lookup went through it
// before; else nil.
func (o *Object) sub(i int) *Object {
	for _, s := range o.subs {
		if s.i == i {
			return s.o
		}
	}
	if i >= 64 {
		return nil
	}
	if o.once&(1<<i) == 0 {
		o.once |= 1 << i
		return nil
	}
	sub := Value{data: o.data, tape: o.tape, sp: o.members[i]}.Object()
	o.subs = append(o.subs, subObject{i, &sub})
	return &sub
}

// String returns the string at keys: ok is false when the value is
// absent, null or not a string.
func (o *Object) String(keys ...string) (string, bool) {
	if o.eager {
		v, _ := Lookup(o.Map(), keys...)
		s, ok := v.(string)
		return s, ok
	}
	if len(keys) == 0 {
		return "", false
	}
	v := o.text(keys)
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	return unquote(v), true
}

// Raw returns the text of the member k, null included, without decoding
// it.
func (o *Object) Raw(k string) ([]byte, bool) {
	if o.eager {
		v, ok := o.Map()[k]
		return encode(v), ok
	}
	i := o.find(k)
	if i < 0 {
		return nil, false
	}
	return o.val(i), true
}

// Member returns the member k as a Value, null included.
func (o *Object) Member(k string) (Value, bool) {
	if o.eager {
		raw, ok := o.Raw(k)
		return Value{data: raw, sp: span{val1: int32(len(raw)), kid0: -1, kid1: -1}}, ok
	}
	i := o.find(k)
	if i < 0 {
		return Value{}, false
	}
	return Value{data: o.data, tape: o.tape, sp: o.members[i]}, true
}

// Map returns the object decoded whole, with numbers as json.Number. The
// caller must not change it.
func (o *Object) Map() map[string]any {
	if o.whole == nil {
		o.whole, _ = decodeText(o.Text()).(map[string]any)
		if o.whole == nil {
			o.whole = map[string]any{}
		}
	}
	return o.whole
}

// Pointer follows an RFC 6901 JSON pointer as Pointer does on the object
// decoded; the empty pointer is the whole object. A null found is present.
func (o *Object) Pointer(p string) (any, bool) {
	if p == "" || o.eager {
		return Pointer(o.Map(), p)
	}
	if p[0] != '/' {
		return nil, false
	}
	toks := strings.Split(p[1:], "/")
	for i, tok := range toks {
		if strings.IndexByte(tok, '~') >= 0 {
			toks[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		}
	}
	i := o.find(toks[0])
	if i < 0 {
		return nil, false
	}
	if len(toks) == 1 {
		return o.value(i), true
	}
	val := o.val(i)
	for _, tok := range toks[1:] {
		if val = child(val, tok); val == nil {
			return nil, false
		}
	}
	return decodeText(val), true
}

// child is the text of the member tok of an object, or of the element
// numbered tok of an array; nil when there is none.
func child(val []byte, tok string) []byte {
	if len(val) == 0 {
		return nil
	}
	switch val[0] {
	case '{':
		var found []byte
		it := membersOf(val, 0)
		for {
			k0, k1, v0, v1, ok := it.next()
			if !ok {
				return found
			}
			if keyIs(val[k0:k1], tok) {
				found = val[v0:v1]
			}
		}
	case '[':
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || (len(tok) > 1 && tok[0] == '0') {
			return nil
		}
		var found []byte
		elementsOf(val, 0, func(v0, v1 int) bool {
			if n == 0 {
				found = val[v0:v1]
				return false
			}
			n--
			return true
		})
		return found
	}
	return nil
}

// keyIs reports whether a key's text (quotes included) decodes to k.
func keyIs(key []byte, k string) bool {
	if len(key) < 2 {
		return false
	}
	s := key[1 : len(key)-1]
	if isPlain(s) {
		return string(s) == k
	}
	return unquote(key) == k
}

// isPlain reports whether a string's contents are ASCII without escapes:
// their text is their value.
func isPlain(s []byte) bool {
	for _, c := range s {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// unquote decodes a JSON string's text (quotes included) as encoding/json
// does, invalid UTF-8 becoming U+FFFD.
func unquote(text []byte) string {
	if len(text) < 2 {
		return ""
	}
	s := text[1 : len(text)-1]
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return string(s)
	}
	var out string
	if json.Unmarshal(text, &out) != nil {
		return ""
	}
	return out
}

// TextOf renders a value's JSON text as Text renders it decoded: a
// string as itself, anything else as JSON (objects with keys sorted).
func TextOf(text []byte) string {
	if len(text) > 0 && text[0] == '"' {
		return unquote(text)
	}
	return Text(decodeText(text))
}

// decodeText decodes a JSON value's text as Decode does: strings,
// json.Number, bool, nil, map[string]any and []any.
func decodeText(text []byte) any {
	if len(text) == 0 {
		return nil
	}
	switch text[0] {
	case '"':
		return unquote(text)
	case 't':
		return true
	case 'f':
		return false
	case 'n':
		return nil
	case '{', '[':
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return nil
		}
		return v
	}
	return json.Number(text)
}
