package output

import (
	"bytes"
	"encoding/json"

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
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a); err != nil {
		return b, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
