package output

import (
	"encoding/json"
	"fmt"

	"github.com/mamori-dev/mamori/event"
)

// WriteAlert writes one alert: a JSON line, or in text form Falco's own
// line (time, priority, output) followed by the rule's name in brackets.
func (w *Writer) WriteAlert(a *event.Alert) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	switch w.format {
	case Text:
		w.buf = append(w.buf[:0], a.Output...)
		w.buf = append(w.buf, " ["...)
		w.buf = append(w.buf, a.Rule...)
		w.buf = append(w.buf, ']')
	default:
		var b []byte
		b, err = json.Marshal(a)
		w.buf = append(w.buf[:0], b...)
	}
	if err == nil {
		w.buf = append(w.buf, '\n')
		_, err = w.w.Write(w.buf)
	}
	if err == nil && w.autoSync {
		err = w.w.Flush()
	}
	if err != nil {
		w.errors++
		return fmt.Errorf("write alert: %w", err)
	}
	w.written++
	return nil
}
