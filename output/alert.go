package output

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/mamori-dev/mamori/event"
)

// WriteAlert writes one alert: a JSON line, or in text form Falco's own
// line (time, priority, output) followed by the rule's name in brackets.
func (w *Writer) WriteAlert(a *event.Alert) error {
	return w.writeLine("alert", func(b []byte) ([]byte, error) {
		if w.format == Text {
			b = append(b, a.Output...)
			b = append(b, " ["...)
			b = append(b, a.Rule...)
			return append(b, ']'), nil
		}
		return appendAlertJSON(b, a)
	})
}

// appendAlertJSON appends the alert's JSON without escaping <, > and &:
// an alert is read by people and log pipelines, not embedded in HTML, and
// Falco's "<NA>" must not read "\u003cNA\u003e".
func appendAlertJSON(b []byte, a *event.Alert) ([]byte, error) {
	if out, ok := appendAuditAlertJSON(b, a); ok {
		return out, nil
	}
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a); err != nil {
		return b, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// appendAuditAlertJSON writes, without reflection, the alerts of the
// audit-log detectors (no process, container or forensics; output fields
// of strings, integers, booleans and string lists), byte for byte as
// appendAlertJSON's Encoder would (TestAuditAlertJSONMatchesEncoder):
// a CloudTrail scan writes thousands, and encoding/json was a tenth of its
// time. Any other alert is not written, and ok is false.
func appendAuditAlertJSON(b []byte, a *event.Alert) ([]byte, bool) {
	if a.Process != nil || a.Container != nil || a.Forensics != nil {
		return b, false
	}
	for _, v := range a.OutputFields {
		switch v.(type) {
		case nil, string, int64, bool, []string:
		default:
			return b, false
		}
	}
	o := obj{b: append(b, '{'), raw: true}
	o.str("kind", a.Kind, false)
	o.str("uuid", a.UUID, true)
	o.str("cluster", a.Cluster, true)
	o.time("time", a.Time, false)
	o.str("rule", a.Rule, false)
	o.str("priority", a.Priority, false)
	o.str("output", a.Output, false)
	o.key("output_fields")
	if a.OutputFields == nil {
		o.b = append(o.b, "null"...)
	} else {
		keys := make([]string, 0, len(a.OutputFields))
		for k := range a.OutputFields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fo := obj{b: append(o.b, '{'), raw: true, dataKeys: true}
		for _, k := range keys {
			switch v := a.OutputFields[k].(type) {
			case nil:
				fo.key(k)
				fo.b = append(fo.b, "null"...)
			case string:
				fo.str(k, v, false)
			case int64:
				fo.int(k, v, false)
			case bool:
				fo.bool(k, v, false)
			case []string:
				fo.key(k)
				fo.b = appendStrings(fo.b, v, true)
			}
		}
		o.b = append(fo.b, '}')
	}
	o.str("source", a.Source, false)
	o.key("tags")
	o.b = appendStrings(o.b, a.Tags, true)
	o.str("hostname", a.Hostname, false)
	o.str("action", a.Action, false)
	o.str("policy", a.Policy, true)
	o.str("control", a.Control, true)
	o.str("event", string(a.Event), true)
	o.int("count", int64(a.Count), true)
	o.time("first_time", a.FirstTime, true)
	o.time("last_time", a.LastTime, true)
	return append(o.b, '}'), true
}

// appendStrings writes a string list, nil as null.
func appendStrings(b []byte, l []string, raw bool) []byte {
	if l == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQuoted(b, s, !raw)
	}
	return append(b, ']')
}
