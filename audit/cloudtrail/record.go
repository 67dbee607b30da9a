package cloudtrail

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
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
func (r *Record) lookup(keys ...string) (any, bool) {
	var v any = r.Fields
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, v != nil
}

// str returns the value at keys as text (see text).
func (r *Record) str(keys ...string) (string, bool) {
	v, ok := r.lookup(keys...)
	if !ok {
		return "", false
	}
	return text(v), true
}

// text renders a JSON value as Falco's json plugin does: a string as
// itself, anything else as its JSON text.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

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

// pointer follows an RFC 6901 JSON pointer ("/a/b/0", with ~1 for "/" and
// ~0 for "~"). The empty pointer is the whole record.
func (r *Record) pointer(p string) (any, bool) {
	var v any = r.Fields
	if p == "" {
		return v, true
	}
	if p[0] != '/' {
		return nil, false
	}
	for _, tok := range strings.Split(p[1:], "/") {
		if strings.IndexByte(tok, '~') >= 0 {
			tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		}
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) || (len(tok) > 1 && tok[0] == '0') {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}
