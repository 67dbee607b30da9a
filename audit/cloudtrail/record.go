package cloudtrail

import (
	"time"

	"github.com/mamori-dev/mamori/audit/auditlog"
)

// Record is one CloudTrail record: its JSON object, where it came from,
// and the number the reader gave it. The object is kept as its text and
// decoded only as far as fields are read, so that a scan does not decode
// the many records no rule looks at.
type Record struct {
	File  string // the file it was read from
	Index int    // its position among the file's records, from 0
	Line  int    // its line, for files with one record per line; else 0
	Num   uint64 // evt.num: its position among all records read, from 1

	obj auditlog.Object

	// ct.name, once named is set: eventName as text, whether the record
	// has one (not null), and whether it is a JSON string.
	name                       string
	named, hasName, nameString bool

	// Time's answer, once timed is set.
	time  time.Time
	timed bool
}

// newRecord returns the record whose JSON object has the text text.
func newRecord(text []byte) *Record { return &Record{obj: auditlog.NewObject(text)} }

// Fields returns the record's JSON object decoded, with numbers kept as
// json.Number. The caller must not change it.
func (r *Record) Fields() map[string]any { return r.obj.Map() }

// JSON returns the record's JSON text, as read.
func (r *Record) JSON() []byte { return r.obj.Text() }

// lookup follows keys down nested objects. A JSON null counts as absent:
// CloudTrail writes "responseElements": null for calls with no response.
func (r *Record) lookup(keys ...string) (any, bool) { return r.obj.Lookup(keys...) }

// str returns the value at keys as text (see text).
func (r *Record) str(keys ...string) (string, bool) {
	if s, ok := r.obj.String(keys...); ok {
		return s, true
	}
	v, ok := r.lookup(keys...)
	if !ok {
		return "", false
	}
	return text(v), true
}

// eventName is ct.name: eventName as text. It is read once, for the
// Detector to pick the rules that can match, decoding nothing else.
func (r *Record) eventName() (string, bool) {
	if !r.named {
		r.named = true
		if v, ok := r.obj.Raw("eventName"); ok && string(v) != "null" {
			r.name, r.hasName, r.nameString = auditlog.TextOf(v), true, v[0] == '"'
		}
	}
	return r.name, r.hasName
}

// text renders a JSON value as Falco's json plugin does.
func text(v any) string { return auditlog.Text(v) }

// Time returns the record's eventTime; records shipped through Logstash
// may have only @timestamp. It is zero when neither parses.
func (r *Record) Time() time.Time {
	if !r.timed {
		r.time, r.timed = r.parseTime(), true
	}
	return r.time
}

func (r *Record) parseTime() time.Time {
	for _, k := range []string{"eventTime", "@timestamp"} {
		if s, ok := r.obj.String(k); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

// pointer follows an RFC 6901 JSON pointer from the record; the empty
// pointer is the whole record.
func (r *Record) pointer(p string) (any, bool) { return r.obj.Pointer(p) }
