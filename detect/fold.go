package detect

import (
	"fmt"
	"sync"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// DefaultFoldWindow is how long identical alerts are folded into one.
const DefaultFoldWindow = 10 * time.Second

// Folder folds repeated alerts: the first alert of a kind is passed on at
// once; identical ones (same rule or control, container, executable and
// action) that follow within the window are counted, and when the window
// ends one alert stands for them all, with the exact count and the times
// of the first and last. A loop that trips a rule thousands of times a
// second then costs one alert per window, and no occurrence goes
// uncounted. Its methods are safe for concurrent use.
type Folder struct {
	window time.Duration
	emit   func(*event.Alert)

	mu     sync.Mutex
	open   map[foldKey]*run
	closed bool
}

type foldKey struct {
	rule, control, container, exe, action, source, priority string
}

// run is the repeats of one key since its first alert was passed on.
type run struct {
	last        *event.Alert // the latest repeat
	repeats     int
	first, prev time.Time
	timer       *time.Timer
}

// NewFolder returns a Folder that passes alerts on to emit. A window of 0
// passes every alert on unfolded.
func NewFolder(window time.Duration, emit func(*event.Alert)) *Folder {
	return &Folder{window: window, emit: emit, open: map[foldKey]*run{}}
}

// foldable says whether alerts of a source are folded: the node's own
// (syscall events, container creation), not audit records (CloudTrail,
// Kubernetes audit), where each alert names a different request.
func foldable(source string) bool { return source == "syscall" || source == "runtime" || source == "" }

func keyOf(a *event.Alert) foldKey {
	k := foldKey{rule: a.Rule, control: a.Control, action: a.Action, source: a.Source, priority: a.Priority}
	if a.Container != nil {
		k.container = a.Container.ID
	}
	if a.Process != nil {
		k.exe = a.Process.Exe
	}
	return k
}

// Add passes a on, or counts it as a repeat of an alert passed on less
// than a window ago.
func (f *Folder) Add(a *event.Alert) {
	if f.window <= 0 || a.Count > 0 || !foldable(a.Source) {
		// Off, an alert that already stands for several (its count
		// must reach the reader as it is), or one about an audit record,
		// whose every occurrence is evidence of its own.
		f.emit(a)
		return
	}
	k := keyOf(a)
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		f.emit(a)
		return
	}
	if r := f.open[k]; r != nil {
		r.repeats++
		r.last = a
		if r.repeats == 1 {
			r.first = a.Time
		}
		r.prev = a.Time
		f.mu.Unlock()
		return
	}
	r := &run{}
	f.open[k] = r
	r.timer = time.AfterFunc(f.window, func() { f.close(k, r) })
	f.mu.Unlock()
	f.emit(a)
}

// close ends a run: its repeats, if any, go out as one alert.
func (f *Folder) close(k foldKey, r *run) {
	f.mu.Lock()
	if f.open[k] != r {
		f.mu.Unlock()
		return
	}
	delete(f.open, k)
	f.mu.Unlock()
	if r.repeats > 0 {
		f.emit(summary(r))
	}
}

// summary is the alert that stands for a run's repeats: the latest one,
// with the count and the times of the first and last.
func summary(r *run) *event.Alert {
	s := *r.last
	s.Count = r.repeats
	s.FirstTime, s.LastTime = r.first, r.prev
	s.Output = fmt.Sprintf("%s (×%d since %s)", s.Output, r.repeats, r.first.Format("15:04:05.000"))
	s.OutputFields = make(map[string]any, len(r.last.OutputFields)+1)
	for k, v := range r.last.OutputFields {
		s.OutputFields[k] = v
	}
	s.OutputFields["mamori.count"] = r.repeats
	return &s
}

// Flush sends the repeats of every open run now and stops folding: alerts
// added afterwards pass on at once. The agent calls it when it stops, so
// that no counted repeat is lost.
func (f *Folder) Flush() {
	f.mu.Lock()
	f.closed = true
	runs := f.open
	f.open = map[foldKey]*run{}
	f.mu.Unlock()
	for _, r := range runs {
		r.timer.Stop()
		if r.repeats > 0 {
			f.emit(summary(r))
		}
	}
}
