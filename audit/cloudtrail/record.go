package cloudtrail

import (
	"time"

	"github.com/mamori-dev/mamori/audit/auditlog"
)

// Record is one CloudTrail record: its JSON object as parsed, where it came
// from, and the number the reader gave it.
type Record struct {
	File  string // the file it was read from
	Index int    // its position among the file's records, from 0
	Line  int    // its line, for files with one record per line; else 0
	Num   uint64 // evt.num: its position among all records read, from 1

	// Fields is the record's JSON object, with numbers kept as
	// json.Number.
	Fields map[string]any
}

// lookup follows keys down nested objects. A JSON null counts as absent:
// CloudTrail writes "responseElements": null for calls with no response.
func (r *Record) lookup(keys ...string) (any, bool) { return auditlog.Lookup(r.Fields, keys...) }

// str returns the value at keys as text (see text).
func (r *Record) str(keys ...string) (string, bool) {
	v, ok := r.lookup(keys...)
	if !ok {
		return "", false
	}
	return text(v), true
}

// text renders a JSON value as Falco's json plugin does.
func text(v any) string { return auditlog.Text(v) }

// Time returns the record's eventTime; records shipped through Logstash
// may have only @timestamp. It is zero when neither parses.
func (r *Record) Time() time.Time {
	for _, k := range []string{"eventTime", "@timestamp"} {
		if s, ok := r.lookup(k); ok {
			if s, ok := s.(string); ok {
				if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
					return t
				}
			}
		}
	}
	return time.Time{}
}

// pointer follows an RFC 6901 JSON pointer from the record; the empty
// pointer is the whole record.
func (r *Record) pointer(p string) (any, bool) { return auditlog.Pointer(r.Fields, p) }
