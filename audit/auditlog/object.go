package auditlog

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Object is a record's JSON object kept as its text and decoded only as
// far as it is read: a rule that reads three fields of a record decodes
// three values, not the record. It gives the same answers as Lookup,
// Pointer and Text on the object decoded whole (a key given twice counts
// once, the last time, as encoding/json has it). The members of the
// object and of the objects inside it that a lookup went through are
// indexed on the way, so the next lookup does not scan them again.
//
// An Object is not safe for concurrent use; it keeps its text, which the
// caller must not change.
type Object struct {
	text    []byte
	members []objMember    // the members, in order; indexed on first use
	indexed bool           // members is built
	whole   map[string]any // the object decoded whole, on first Map
	eager   bool           // answer from whole: see DecodedObject
}

// objMember is one member of an Object: its key's text (quotes
// included), its value's text, and what reading it produced.
type objMember struct {
	key, val []byte
	decoded  bool
	v        any     // val decoded, once decoded is set
	sub      *Object // val as an Object, once a lookup went into it
}

// NewObject returns the Object of text, a JSON object that Split found
// valid. Text that is not an object reads as an object without members.
func NewObject(text []byte) Object { return Object{text: text} }

// DecodedObject returns an Object that decodes its text whole on its
// first read and answers every read from the decoded map, through Lookup
// and Pointer, as the readers did before they read lazily: the reference
// the lazy reading is checked against.
func DecodedObject(text []byte) Object { return Object{text: text, eager: true} }

// Text returns the object's JSON text, as read.
func (o *Object) Text() []byte { return o.text }

// index lists the object's members, once.
func (o *Object) index() {
	if o.indexed {
		return
	}
	o.indexed = true
	it := newMembers(o.text)
	for {
		k, v, ok := it.next()
		if !ok {
			return
		}
		o.members = append(o.members, objMember{key: k, val: v})
	}
}

// find returns the last member whose key is k, or nil.
func (o *Object) find(k string) *objMember {
	o.index()
	for i := len(o.members) - 1; i >= 0; i-- {
		if keyIs(o.members[i].key, k) {
			return &o.members[i]
		}
	}
	return nil
}

// value returns m's value decoded.
func (m *objMember) value() any {
	if !m.decoded {
		m.v, m.decoded = decodeText(m.val), true
	}
	return m.v
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
	m := o.member(keys)
	if m == nil {
		return nil, false
	}
	v := m.value()
	return v, v != nil
}

// member returns the member at keys (at least one), or nil.
func (o *Object) member(keys []string) *objMember {
	for i, k := range keys {
		m := o.find(k)
		if m == nil || i == len(keys)-1 {
			return m
		}
		if len(m.val) == 0 || m.val[0] != '{' {
			return nil
		}
		if m.sub == nil {
			m.sub = &Object{text: m.val}
		}
		o = m.sub
	}
	return nil
}

// String returns the string at keys: ok is false when the value is
// absent, null or not a string.
func (o *Object) String(keys ...string) (string, bool) {
	if o.eager {
		v, _ := Lookup(o.Map(), keys...)
		s, ok := v.(string)
		return s, ok
	}
	m := o.member(keys)
	if m == nil || len(m.val) == 0 || m.val[0] != '"' {
		return "", false
	}
	s, _ := m.value().(string)
	return s, true
}

// Scan returns the text of the top-level member k, null included, in one
// pass over the object that builds no index: the cheap way to read the
// one key every record is first looked at for, such as its event name.
func (o *Object) Scan(k string) ([]byte, bool) {
	if o.eager {
		v, ok := o.Map()[k]
		return encode(v), ok
	}
	if o.indexed {
		if m := o.find(k); m != nil {
			return m.val, true
		}
		return nil, false
	}
	var last []byte
	found := false
	it := newMembers(o.text)
	for {
		key, v, ok := it.next()
		if !ok {
			return last, found
		}
		if keyIs(key, k) {
			last, found = v, true
		}
	}
}

// Map returns the object decoded whole, with numbers as json.Number. The
// caller must not change it.
func (o *Object) Map() map[string]any {
	if o.whole == nil {
		o.whole, _ = decodeText(o.text).(map[string]any)
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
	m := o.find(toks[0])
	if m == nil {
		return nil, false
	}
	if len(toks) == 1 {
		return m.value(), true
	}
	val := m.val
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
		it := newMembers(val)
		for {
			k, v, ok := it.next()
			if !ok {
				return found
			}
			if keyIs(k, tok) {
				found = v
			}
		}
	case '[':
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || (len(tok) > 1 && tok[0] == '0') {
			return nil
		}
		var found []byte
		elements(val, func(v []byte) bool {
			if n == 0 {
				found = v
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

// ScanEach is Scan for several keys in one pass: found[i] gets the text
// of the member keys[i], nil when there is none.
func (o *Object) ScanEach(keys []string, found [][]byte) {
	for i, k := range keys {
		found[i] = nil
		if o.eager {
			if v, ok := o.Map()[k]; ok {
				found[i] = encode(v)
			}
		}
	}
	if o.eager {
		return
	}
	it := newMembers(o.text)
	for {
		key, v, ok := it.next()
		if !ok {
			return
		}
		for i, k := range keys {
			if keyIs(key, k) {
				found[i] = v
			}
		}
	}
}

// Elements calls fn with the text of each element of a JSON array's text,
// as found valid by Split, in order, until fn returns false.
func Elements(text []byte, fn func(elem []byte) bool) { elements(text, fn) }

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
