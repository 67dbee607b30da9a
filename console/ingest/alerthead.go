package ingest

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/mamori-dev/mamori/event"
)

// readAlertHead reads an alert's alertHead and checks that the whole
// record is JSON. Most of an alert is what ingest only checks (the output
// fields, the process and its ancestors, the forensics): encoding/json
// decoding it all cost as much as storing it. So a scanner reads alerts
// as agents write them in one pass, and leaves anything else (escapes in
// a field ingest reads, a key spelled in another case, a duplicate, a
// null, a wrong type, an error) to json.Unmarshal, whose answer is then
// the answer: FuzzAlertHead holds the two to the same results.
func readAlertHead(data []byte) (alertHead, error) {
	if h, ok := scanAlertHead(data); ok {
		return h, nil
	}
	var h alertHead
	err := json.Unmarshal(data, &h)
	return h, err
}

// maxDepth is encoding/json's nesting limit: deeper, json.Unmarshal
// refuses, and so the scanner leaves it to it.
const maxDepth = 10000

type scanner struct {
	b []byte
	i int
}

// alertKeys are alertHead's JSON keys.
var alertKeys = []string{"kind", "uuid", "cluster", "time", "rule", "priority", "output", "source", "tags",
	"hostname", "action", "policy", "control", "event", "process", "container"}

// scanAlertHead is readAlertHead's fast path; ok is false when it leaves
// the record to json.Unmarshal.
func scanAlertHead(data []byte) (h alertHead, ok bool) {
	s := scanner{b: data}
	s.ws()
	ok = s.object(alertKeys, 1, func(key string) bool { return s.field(&h, key) })
	s.ws()
	return h, ok && s.i == len(s.b)
}

func (s *scanner) field(h *alertHead, key string) bool {
	var dst *string
	switch key {
	case "kind":
		dst = &h.Kind
	case "uuid":
		dst = &h.UUID
	case "cluster":
		dst = &h.Cluster
	case "rule":
		dst = &h.Rule
	case "priority":
		dst = &h.Priority
	case "output":
		dst = &h.Output
	case "source":
		dst = &h.Source
	case "hostname":
		dst = &h.Hostname
	case "action":
		dst = &h.Action
	case "policy":
		dst = &h.Policy
	case "control":
		dst = &h.Control
	case "event":
		dst = &h.Event
	case "time":
		return s.time(&h.Time)
	case "tags":
		return s.strings(&h.Tags)
	case "process":
		return s.process(h)
	case "container":
		h.Container = &event.Container{}
		return s.container(h.Container)
	}
	v, ok := s.str()
	*dst = v
	return ok
}

var containerKeys = []string{"id", "name", "image", "image_id", "image_digest", "runtime", "privileged", "created", "labels", "pod"}

var podKeys = []string{"name", "namespace", "container", "uid"}

// container reads an event.Container.
func (s *scanner) container(c *event.Container) bool {
	return s.object(containerKeys, 2, func(key string) bool {
		switch key {
		case "id":
			return s.strTo(&c.ID)
		case "name":
			return s.strTo(&c.Name)
		case "image":
			return s.strTo(&c.Image)
		case "image_id":
			return s.strTo(&c.ImageID)
		case "image_digest":
			return s.strTo(&c.ImageDigest)
		case "runtime":
			return s.strTo(&c.Runtime)
		case "privileged":
			if s.word("true") {
				c.Privileged = true
				return true
			}
			return s.word("false")
		case "created":
			return s.time(&c.Created)
		case "labels":
			c.Labels = map[string]string{}
			return s.object(nil, 3, func(key string) bool {
				if _, dup := c.Labels[key]; dup {
					return false
				}
				v, ok := s.str()
				c.Labels[key] = v
				return ok
			})
		case "pod":
			c.Pod = &event.Pod{}
			return s.object(podKeys, 3, func(key string) bool {
				switch key {
				case "name":
					return s.strTo(&c.Pod.Name)
				case "namespace":
					return s.strTo(&c.Pod.Namespace)
				case "container":
					return s.strTo(&c.Pod.Container)
				}
				return s.strTo(&c.Pod.UID)
			})
		}
		return false
	})
}

// object reads an object whose members of keys (or every member, when
// keys is nil) member reads, once each; others are checked and skipped
// (depth is the object's own). Keys that fold to one of keys are left to
// encoding/json.
func (s *scanner) object(keys []string, depth int, member func(key string) bool) bool {
	if !s.byte('{') {
		return false
	}
	var seen uint32
	s.ws()
	if s.byte('}') {
		return true
	}
	for {
		key, ok := s.key()
		if !ok || !s.colon() {
			return false
		}
		switch k := keyIndex(keys, key); {
		case keys == nil:
			if !member(string(key)) {
				return false
			}
		case k >= 0:
			if seen&(1<<k) != 0 || !member(keys[k]) {
				return false
			}
			seen |= 1 << k
		case foldsTo(keys, key):
			return false
		default:
			if !s.skip(depth) {
				return false
			}
		}
		s.ws()
		if s.byte(',') {
			s.ws()
			continue
		}
		return s.byte('}')
	}
}

// time reads a string as time.Time's UnmarshalJSON reads it.
func (s *scanner) time(dst *time.Time) bool {
	start := s.i
	if _, ok := s.str(); !ok {
		return false
	}
	return dst.UnmarshalJSON(s.b[start:s.i]) == nil
}

func (s *scanner) strTo(dst *string) bool {
	v, ok := s.str()
	*dst = v
	return ok
}

// process reads the process's id and checks the rest.
func (s *scanner) process(h *alertHead) bool {
	h.Process = &struct {
		ID string `json:"id"`
	}{}
	return s.object(processKeys, 2, func(string) bool { return s.strTo(&h.Process.ID) })
}

var processKeys = []string{"id"}

// strings reads an array of strings.
func (s *scanner) strings(dst *[]string) bool {
	if !s.byte('[') {
		return false
	}
	out := []string{}
	s.ws()
	if !s.byte(']') {
		for {
			v, ok := s.str()
			if !ok {
				return false
			}
			out = append(out, v)
			s.ws()
			if s.byte(',') {
				s.ws()
				continue
			}
			if s.byte(']') {
				break
			}
			return false
		}
	}
	*dst = out
	return true
}

// key reads an object's key: one without escapes, in ASCII (others may
// fold to a field's name the way encoding/json folds them). It is s.b's
// own bytes.
func (s *scanner) key() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	b, start := s.b, s.i
	i := plainRun(b, start)
	if i == len(b) || b[i] != '"' {
		return nil, false // an escape, a control character, not ASCII, or the end
	}
	s.i = i + 1
	return b[start:i], true
}

// plain marks the bytes a JSON string holds as they are, in ASCII: not
// the quote, the backslash, control characters or the bytes of UTF-8
// sequences. The scanner's loops run over them a local index at a time
// (a loop on s.i itself stores it at every byte).
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainRun returns the index of the first byte from i on that is not
// plain, or len(b).
func plainRun(b []byte, i int) int {
	for i < len(b) && plain[b[i]] {
		i++
	}
	return i
}

func (s *scanner) colon() bool {
	s.ws()
	if !s.byte(':') {
		return false
	}
	s.ws()
	return true
}

// str reads a string that needs no unescaping and is valid UTF-8.
func (s *scanner) str() (string, bool) {
	if !s.byte('"') {
		return "", false
	}
	b, start := s.b, s.i
	ascii := true
	for i := start; ; {
		i = plainRun(b, i)
		switch {
		case i == len(b):
			return "", false
		case b[i] == '"':
			v := b[start:i]
			s.i = i + 1
			if !ascii && !utf8.Valid(v) {
				return "", false // encoding/json replaces what is not UTF-8
			}
			return string(v), true
		case b[i] >= 0x80:
			ascii = false
			i++
		default: // a backslash or a control character
			return "", false
		}
	}
}

// skip checks and steps over one JSON value of any kind, without
// recursion; depth is how deep in the record the value is.
func (s *scanner) skip(depth int) bool {
	var stack []byte // the open objects and arrays
	for {
		// A value.
		if s.i >= len(s.b) {
			return false
		}
		switch c := s.b[s.i]; c {
		case '{', '[':
			if depth+len(stack) >= maxDepth {
				return false // encoding/json refuses it, and says why
			}
			s.i++
			s.ws()
			if s.byte(c + 2) { // '}' or ']'
				break
			}
			stack = append(stack, c)
			if c == '{' && !s.member() {
				return false
			}
			continue
		case '"':
			if !s.skipString() {
				return false
			}
		case 't':
			if !s.word("true") {
				return false
			}
		case 'f':
			if !s.word("false") {
				return false
			}
		case 'n':
			if !s.word("null") {
				return false
			}
		default:
			if !s.number() {
				return false
			}
		}
		// What follows a value: the end of its containers, or the next.
		for {
			if len(stack) == 0 {
				return true
			}
			s.ws()
			top := stack[len(stack)-1]
			if s.byte(',') {
				s.ws()
				if top == '{' && !s.member() {
					return false
				}
				break
			}
			if !s.byte(top + 2) {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
}

// member reads an object member's key and colon.
func (s *scanner) member() bool {
	if !s.skipString() {
		return false
	}
	return s.colon()
}

// skipString checks a string, escapes and all.
func (s *scanner) skipString() bool {
	if !s.byte('"') {
		return false
	}
	b := s.b
	for i := s.i; ; {
		i = plainRun(b, i)
		if i == len(b) {
			return false
		}
		c := b[i]
		i++
		switch {
		case c == '"':
			s.i = i
			return true
		case c >= 0x80:
		case c < 0x20:
			return false
		default: // a backslash
			if i >= len(b) {
				return false
			}
			e := b[i]
			i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for range 4 {
					if i >= len(b) || !isHex(b[i]) {
						return false
					}
					i++
				}
			default:
				return false
			}
		}
	}
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// number checks a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	s.byte('-')
	if s.byte('0') {
	} else if s.digits() == 0 {
		return false
	}
	if s.byte('.') && s.digits() == 0 {
		return false
	}
	if s.byte('e') || s.byte('E') {
		if !s.byte('+') {
			s.byte('-')
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *scanner) digits() int {
	b, i := s.b, s.i
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	n := i - s.i
	s.i = i
	return n
}

func (s *scanner) word(w string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(w)) {
		return false
	}
	s.i += len(w)
	return true
}

func (s *scanner) ws() {
	b, i := s.b, s.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	s.i = i
}

func (s *scanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) peek(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

func keyIndex(keys []string, k []byte) int {
	for i, x := range keys {
		if x == string(k) {
			return i
		}
	}
	return -1
}

// foldsTo says whether k is one of keys in another case, which
// encoding/json takes for it.
func foldsTo(keys []string, k []byte) bool {
	for _, x := range keys {
		if len(x) == len(k) && bytes.EqualFold([]byte(x), k) {
			return true
		}
	}
	return false
}
