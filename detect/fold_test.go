package detect

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
)

type sink struct {
	mu sync.Mutex
	as []*event.Alert
}

func (s *sink) emit(a *event.Alert) {
	s.mu.Lock()
	s.as = append(s.as, a)
	s.mu.Unlock()
}

func (s *sink) got() []*event.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*event.Alert(nil), s.as...)
}

var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func alert(rule, ctr, exe, action string, at time.Duration) *event.Alert {
	return &event.Alert{Kind: "alert", Time: t0.Add(at), Rule: rule, Priority: "Critical", Output: rule + " " + exe,
		Source: "syscall", Action: action, Container: &event.Container{ID: ctr}, Process: &event.Process{Exe: exe},
		OutputFields: map[string]any{"proc.exepath": exe}}
}

// TestFolderCountsRepeats: the first alert of a kind goes out at once;
// identical ones within the window become one alert with their exact
// count and first and last times; alerts that differ in rule, container,
// executable or action are kinds of their own.
func TestFolderCountsRepeats(t *testing.T) {
	var s sink
	f := NewFolder(time.Hour, s.emit)
	f.Add(alert("Drift Prevention", "c1", "/tmp/x", "blocked", 0))
	if n := len(s.got()); n != 1 {
		t.Fatalf("the first alert is not sent at once: %d sent", n)
	}
	for i := 1; i <= 499; i++ {
		f.Add(alert("Drift Prevention", "c1", "/tmp/x", "blocked", time.Duration(i)*time.Millisecond))
	}
	for _, other := range []*event.Alert{
		alert("Drift Prevention", "c2", "/tmp/x", "blocked", 0),
		alert("Drift Prevention", "c1", "/tmp/y", "blocked", 0),
		alert("Drift Prevention", "c1", "/tmp/x", "audited", 0),
		alert("Executable Blocklist", "c1", "/tmp/x", "blocked", 0),
	} {
		f.Add(other)
	}
	if n := len(s.got()); n != 5 {
		t.Fatalf("%d alerts sent before the window ends, want 5 (one per kind)", n)
	}
	f.Flush()
	got := s.got()
	if len(got) != 6 {
		t.Fatalf("%d alerts after Flush, want 6", len(got))
	}
	sum := got[5]
	if sum.Count != 499 || !sum.FirstTime.Equal(t0.Add(time.Millisecond)) || !sum.LastTime.Equal(t0.Add(499*time.Millisecond)) ||
		!strings.Contains(sum.Output, "×499") || sum.OutputFields["mamori.count"] != 499 || sum.Container.ID != "c1" {
		t.Errorf("summary: count %d, first %v, last %v, output %q, fields %v", sum.Count, sum.FirstTime, sum.LastTime, sum.Output, sum.OutputFields)
	}
	total := 0
	for _, a := range got {
		total += max(a.Count, 1)
	}
	if total != 504 {
		t.Errorf("counts add up to %d, want the 504 alerts added", total)
	}
	// After Flush, alerts pass unfolded (the agent is stopping).
	f.Add(alert("Drift Prevention", "c1", "/tmp/x", "blocked", time.Second))
	if n := len(s.got()); n != 7 {
		t.Errorf("after Flush an alert was held: %d sent", n)
	}
}

// TestFolderWindowEnds: when the window ends, the repeats go out as one
// alert, and the next alert of that kind is sent at once again.
func TestFolderWindowEnds(t *testing.T) {
	var s sink
	f := NewFolder(30*time.Millisecond, s.emit)
	for i := range 3 {
		f.Add(alert("R", "c", "/x", "detected", time.Duration(i)))
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.got()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got := s.got()
	if len(got) != 2 || got[1].Count != 2 {
		t.Fatalf("after the window: %d alerts, want the first and a summary of 2", len(got))
	}
	f.Add(alert("R", "c", "/x", "detected", time.Second))
	if n := len(s.got()); n != 3 {
		t.Errorf("the first alert of a new window was held: %d sent", n)
	}
	// A run without repeats ends without a summary.
	time.Sleep(100 * time.Millisecond)
	if n := len(s.got()); n != 3 {
		t.Errorf("a run without repeats sent a summary: %d alerts", n)
	}
}

// TestFolderPassesAggregates: an alert that already stands for several
// (Count set) passes unfolded, its count intact.
func TestFolderPassesAggregates(t *testing.T) {
	var s sink
	f := NewFolder(time.Hour, s.emit)
	f.Add(alert("R", "c", "/x", "detected", 0))
	agg := alert("R", "c", "/x", "detected", time.Second)
	agg.Count = 7
	f.Add(agg)
	f.Flush()
	got := s.got()
	if len(got) != 2 || got[1].Count != 7 {
		t.Errorf("an aggregate was folded: %d alerts, last count %d", len(got), got[len(got)-1].Count)
	}
}

// TestFolderLeavesAuditRecords: alerts about audit records (each names
// another request) are never folded.
func TestFolderLeavesAuditRecords(t *testing.T) {
	var s sink
	f := NewFolder(time.Hour, s.emit)
	for _, src := range []string{"aws_cloudtrail", "k8s_audit", "aws_cloudtrail"} {
		a := alert("R", "c", "", "detected", 0)
		a.Source = src
		f.Add(a)
	}
	if n := len(s.got()); n != 3 {
		t.Errorf("%d of 3 audit alerts passed", n)
	}
}

func TestFolderOff(t *testing.T) {
	var s sink
	f := NewFolder(0, s.emit)
	for range 10 {
		f.Add(alert("R", "c", "/x", "detected", 0))
	}
	if n := len(s.got()); n != 10 {
		t.Errorf("window 0 folded: %d of 10 sent", n)
	}
}
