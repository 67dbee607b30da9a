package falco

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
)

func TestRoundTrip(t *testing.T) {
	a := &event.Alert{UUID: "u-1", Time: time.Date(2026, 12, 4, 1, 2, 3, 4, time.UTC), Rule: "R", Priority: "Critical",
		Output: "o", OutputFields: map[string]any{"container.id": "abc", "container.name": "web", "proc.pid": 42},
		Source: "syscall", Tags: []string{"T1"}, Hostname: "h"}
	b, err := FromFalco(ToFalco(a), "c")
	if err != nil {
		t.Fatal(err)
	}
	if b.UUID != "u-1" || b.Rule != "R" || b.Priority != "Critical" || b.Container.ID != "abc" || b.Process.PID != 42 || b.Cluster != "c" {
		t.Errorf("round trip: %+v", b)
	}
	var m map[string]any
	json.Unmarshal(ToFalco(a), &m)
	for _, k := range []string{"time", "rule", "priority", "output", "output_fields", "source", "tags", "hostname", "uuid"} {
		if _, ok := m[k]; !ok {
			t.Errorf("Falco's payload lacks %q", k)
		}
	}
}

func FuzzFromFalco(f *testing.F) {
	f.Add([]byte(`{"time":"2026-12-04T14:20:01Z","rule":"r","priority":"Warning","output":"o","output_fields":{"proc.pid":1,"container.id":"host"}}`))
	f.Add([]byte(`{"rule":"r"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := FromFalco(b, "c")
		if err == nil && (a.UUID == "" || a.Rule == "" || a.Time.IsZero()) {
			t.Fatalf("accepted an alert without uuid, rule or time: %+v", a)
		}
	})
}
