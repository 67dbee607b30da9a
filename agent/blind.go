package agent

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/sensor"
)

// The agent looks at the sensor's drop counters every blindPoll, and
// reports lost records (a log line and a "Sensor Blind" alert) at most once
// per blindReport: what is lost in between is added up into the next
// report, so that a long storm is one line every ten seconds, not a flood.
const (
	blindPoll   = 500 * time.Millisecond
	blindReport = 10 * time.Second
)

// blindWatch is what the agent knows of records lost in the kernel that it
// has not reported yet.
type blindWatch struct {
	mu       sync.Mutex
	seen     map[event.Type]sensor.Drops // the counters at the last look
	pending  map[event.Type]sensor.Drops // lost since the last report
	window   sensor.Blindness            // when the pending records were lost
	reported time.Time                   // the last report; zero for none yet
}

// watchBlind reads the sensor's drop counters and reports what was lost
// since the last report: at once when the last report is blindReport old
// (or there was none), and in any case when final, as the agent stops.
func (a *Agent) watchBlind(now time.Time, final bool) {
	w := &a.blind
	w.mu.Lock()
	defer w.mu.Unlock()
	// The window first: the kernel counts a loss before it notes its time,
	// so every loss in the window is in the counters read after it.
	if b, ok, err := a.sensor.Blindness(); err != nil {
		a.log.Debug("cannot read when the sensor lost records", "err", err)
	} else if ok {
		w.widen(b)
	}
	lost := a.sensor.Stats().DroppedByType
	for t, d := range lost {
		before := w.seen[t]
		if d.Total() == before.Total() {
			continue
		}
		if w.pending == nil {
			w.pending = map[event.Type]sensor.Drops{}
		}
		p := w.pending[t]
		p.RingFull += d.RingFull - before.RingFull
		p.Reserve += d.Reserve - before.Reserve
		w.pending[t] = p
	}
	w.seen = lost
	if len(w.pending) == 0 || !final && !w.reported.IsZero() && now.Sub(w.reported) < blindReport {
		return
	}
	if w.window.To.IsZero() {
		// Counted after the window was read: its time is there by now.
		if b, ok, _ := a.sensor.Blindness(); ok {
			w.widen(b)
		}
	}
	a.reportBlind(now, w.pending, w.window)
	w.pending, w.window, w.reported = nil, sensor.Blindness{}, now
}

func (w *blindWatch) widen(b sensor.Blindness) {
	if w.window.From.IsZero() || b.From.Before(w.window.From) {
		w.window.From = b.From
	}
	if b.To.After(w.window.To) {
		w.window.To = b.To
	}
}

// reportBlind logs lost records and raises the "Sensor Blind" alert: Critical
// when lifecycle records (exec, fork, exit, cgroup_move) were lost, since
// the process tree, drift and escape detection rest on them; Warning when
// only syscall records were.
func (a *Agent) reportBlind(now time.Time, lost map[event.Type]sensor.Drops, window sensor.Blindness) {
	var total, full, reserve uint64
	critical := false
	counts := []string{}
	fields := map[string]any{}
	logArgs := []any{}
	for _, t := range event.Types {
		d, ok := lost[t]
		if !ok && t != event.Exec {
			continue // exec is always named, lost or not: it is what a reader looks for
		}
		total += d.Total()
		full += d.RingFull
		reserve += d.Reserve
		critical = critical || d.Total() > 0 && sensor.Lifecycle(t)
		counts = append(counts, thousands(d.Total())+" "+string(t))
		fields["sensor.lost."+string(t)] = d.Total()
		logArgs = append(logArgs, string(t), d.Total())
	}
	var causes []string
	if full > 0 {
		causes = append(causes, "ring buffer full")
	}
	if reserve > 0 {
		causes = append(causes, "syscall records held back for the lifecycle reserve")
	}
	blind := "<1 ms"
	if ms := window.Duration().Milliseconds(); ms > 0 {
		blind = thousands(uint64(ms)) + " ms"
	}
	msg := fmt.Sprintf("sensor blind for %s: %s events lost (%s)", blind, strings.Join(counts, ", "), strings.Join(causes, "; "))

	fields["sensor.lost"] = total
	fields["sensor.lost_ring_full"] = full
	fields["sensor.lost_reserve"] = reserve
	fields["sensor.blind_ms"] = window.Duration().Milliseconds()
	if !window.From.IsZero() {
		fields["sensor.blind_from"] = window.From.UTC().Format(time.RFC3339Nano)
		fields["sensor.blind_to"] = window.To.UTC().Format(time.RFC3339Nano)
	}
	priority := "Warning"
	level := a.log.Warn
	if critical {
		priority, level = "Critical", a.log.Error
	}
	level(msg, append([]any{"lost", total, "blind_ms", window.Duration().Milliseconds()}, logArgs...)...)
	a.writeAlert(&event.Alert{
		Kind:         "alert",
		Time:         now,
		Rule:         "Sensor Blind",
		Priority:     priority,
		Output:       now.Format("15:04:05.000000000") + ": " + priority + " " + msg,
		OutputFields: fields,
		Source:       "syscall",
		Tags:         []string{"sensor", "mamori"},
		Hostname:     a.cfg.Node,
		Action:       event.Detected,
	})
}

// thousands writes n with commas between groups of three digits: 12,345.
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
