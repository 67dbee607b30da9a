package agent

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/output"
	"github.com/mamori-dev/mamori/sensor"
)

func TestThousands(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 12345: "12,345", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestReportBlind checks the alert and the log line a report makes: exec is
// always named, counts are summed per type and cause, and a lost lifecycle
// event makes it Critical.
func TestReportBlind(t *testing.T) {
	from := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	window := sensor.Blindness{From: from, To: from.Add(230 * time.Millisecond)}
	for _, tc := range []struct {
		lost     map[event.Type]sensor.Drops
		priority string
		output   string
	}{
		{map[event.Type]sensor.Drops{event.Open: {Reserve: 12345}, event.Unlink: {RingFull: 1, Reserve: 2}}, "Warning",
			"sensor blind for 230 ms: 0 exec, 12,345 open, 3 unlink events lost (ring buffer full; syscall records held back for the lifecycle reserve)"},
		{map[event.Type]sensor.Drops{event.Exec: {RingFull: 2}, event.Open: {RingFull: 1000}}, "Critical",
			"sensor blind for 230 ms: 2 exec, 1,000 open events lost (ring buffer full)"},
		{map[event.Type]sensor.Drops{event.Exit: {RingFull: 1}}, "Critical",
			"sensor blind for 230 ms: 0 exec, 1 exit events lost (ring buffer full)"},
	} {
		path := filepath.Join(t.TempDir(), "alerts.json")
		w, err := output.Open(path, output.JSON)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		a := &Agent{cfg: Config{Node: "n", Alerts: w}, log: slog.New(slog.NewTextHandler(&logs, nil))}
		a.reportBlind(from.Add(time.Second), tc.lost, window)
		w.Close()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var al event.Alert
		if err := json.Unmarshal(data, &al); err != nil {
			t.Fatalf("%v: %s", err, data)
		}
		if al.Rule != "Sensor Blind" || al.Priority != tc.priority || al.Source != "syscall" || al.Action != event.Detected ||
			!strings.HasSuffix(al.Output, ": "+tc.priority+" "+tc.output) || al.Hostname != "n" {
			t.Errorf("alert %s %s %s %q, want %s %q", al.Rule, al.Priority, al.Source, al.Output, tc.priority, tc.output)
		}
		var total uint64
		for _, d := range tc.lost {
			total += d.Total()
		}
		if al.OutputFields["sensor.lost"] != float64(total) || al.OutputFields["sensor.lost.exec"] != float64(tc.lost[event.Exec].Total()) ||
			al.OutputFields["sensor.blind_ms"] != float64(230) {
			t.Errorf("output_fields %v", al.OutputFields)
		}
		if !strings.Contains(logs.String(), tc.output) {
			t.Errorf("log %q lacks %q", logs.String(), tc.output)
		}
	}
}
