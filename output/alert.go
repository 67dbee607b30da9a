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
	if out, ok := appendAlert(b, a, true); ok {
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

// AppendAlertJSON appends a as json.Marshal would, byte for byte
// (TestAlertJSONMatchesMarshal holds it to that), without reflection when
// its output fields are strings, integers, booleans or string lists: an
// agent sends every alert to its console so, and json.Marshal was most of
// the agent's CPU for publishing one.
func AppendAlertJSON(b []byte, a *event.Alert) ([]byte, error) {
	if out, ok := appendAlert(b, a, false); ok {
		return out, nil
	}
	j, err := json.Marshal(a)
	if err != nil {
		return b, err
	}
	return append(b, j...), nil
}

// appendAlert writes a without reflection, byte for byte as encoding/json
// would (raw: as an Encoder with SetEscapeHTML(false)), when its output
// fields are of the kinds written here and, with raw, it has no process,
// container or forensics (whose writers escape as json.Marshal does);
// otherwise it writes nothing, and ok is false. The audit-log detectors'
// alerts take the raw path: a CloudTrail scan writes thousands, and
// encoding/json was a tenth of its time.
func appendAlert(b []byte, a *event.Alert, raw bool) ([]byte, bool) {
	if raw && (a.Process != nil || a.Container != nil || a.Forensics != nil) {
		return b, false
	}
	for _, v := range a.OutputFields {
		switch v.(type) {
		case nil, string, int64, int, uint64, bool, []string:
		default:
			return b, false
		}
	}
	o := obj{b: append(b, '{'), raw: raw}
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
		fo := obj{b: append(o.b, '{'), raw: raw, dataKeys: true}
		for _, k := range keys {
			switch v := a.OutputFields[k].(type) {
			case nil:
				fo.key(k)
				fo.b = append(fo.b, "null"...)
			case string:
				fo.str(k, v, false)
			case int64:
				fo.int(k, v, false)
			case int:
				fo.int(k, int64(v), false)
			case uint64:
				fo.uint(k, v, false)
			case bool:
				fo.bool(k, v, false)
			case []string:
				fo.key(k)
				fo.b = appendStrings(fo.b, v, raw)
			}
		}
		o.b = append(fo.b, '}')
	}
	o.str("source", a.Source, false)
	o.key("tags")
	o.b = appendStrings(o.b, a.Tags, raw)
	o.str("hostname", a.Hostname, false)
	o.str("action", a.Action, false)
	o.str("policy", a.Policy, true)
	o.str("control", a.Control, true)
	o.str("event", string(a.Event), true)
	if a.Process != nil {
		o.key("process")
		o.b = appendProcess(o.b, a.Process, nil, false)
	}
	if a.Container != nil {
		o.key("container")
		o.b = appendContainer(o.b, a.Container)
	}
	if len(a.Forensics) > 0 {
		o.key("forensics")
		o.b = append(o.b, '[')
		for i := range a.Forensics {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			o.b = appendEvent(o.b, &a.Forensics[i], nil)
		}
		o.b = append(o.b, ']')
	}
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
