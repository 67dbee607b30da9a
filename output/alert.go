package output

import (
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
		j, err := json.Marshal(a)
		return append(b, j...), err
	})
}
