package k8saudit

import (
	"errors"
	"fmt"
	"time"

	"github.com/mamori-dev/mamori/audit/auditlog"
)

// Event is one Kubernetes audit event: its JSON object as parsed, where it
// came from, and the number the reader gave it.
type Event struct {
	File  string // the file it was read from, or the webhook's client
	Index int    // its position among the file's or request's events, from 0
	Line  int    // its line, for files with one event per line; else 0
	Num   uint64 // evt.num: its position among all events read, from 1

	// Time is the event's stageTimestamp (requestReceivedTimestamp when
	// it has none): Falco's event time. An event with neither, as some
	// exporters and hand-written tests make them, gets the time it was
	// read, where Falco's plugin would drop it.
	Time time.Time

	// Fields is the event's JSON object, with numbers kept as
	// json.Number.
	Fields map[string]any
}

// get follows keys down the event's nested objects; a JSON null counts as
// absent.
func (e *Event) get(keys ...string) (any, bool) { return auditlog.Lookup(e.Fields, keys...) }

// str returns the value at keys as text: a string as itself, anything
// else as its JSON text.
func (e *Event) str(keys ...string) (string, bool) {
	v, ok := e.get(keys...)
	if !ok {
		return "", false
	}
	return auditlog.Text(v), true
}

// ErrNotEvent is the error of a JSON object that is not an audit event.
var ErrNotEvent = errors.New("not a Kubernetes audit event")

// timeLayouts are the forms an audit timestamp takes: RFC 3339 from the
// API server, and the space-separated UTC form of log stores that
// re-export events (Panther, Athena).
var timeLayouts = [...]string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999"}

// newEvent checks that v is an audit event and returns it. An event is a
// JSON object of kind "Event" (or with no kind but an auditID, as some
// exporters write it); its time is its stageTimestamp or
// requestReceivedTimestamp, else now.
func newEvent(v any, now time.Time) (*Event, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	switch k, has := m["kind"]; {
	case has && k != "Event":
		return nil, fmt.Errorf("kind is %s, not \"Event\": %w", auditlog.Text(k), ErrNotEvent)
	case !has && m["auditID"] == nil:
		return nil, fmt.Errorf("neither kind \"Event\" nor an auditID: %w", ErrNotEvent)
	}
	e := &Event{Fields: m}
	for _, key := range []string{"stageTimestamp", "requestReceivedTimestamp"} {
		s, ok := m[key].(string)
		if !ok {
			continue
		}
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				e.Time = t
				return e, nil
			}
		}
		return nil, fmt.Errorf("%s %q is not an RFC 3339 time", key, s)
	}
	e.Time = now
	return e, nil
}
