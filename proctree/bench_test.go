package proctree

import (
	"testing"

	"github.com/mamori-dev/mamori/event"
)

// benchTree is a tree of 10,000 processes where the acting process is 8
// levels below init, like a command in a shell in a container.
func benchTree(b *testing.B) *Tree {
	tr := New(Config{}, nil)
	tr.Update(execEv(1, 0, "/sbin/init"))
	parent := uint32(1)
	for pid := uint32(2); pid <= 9; pid++ {
		tr.Update(forkEv(parent, 0, pid))
		tr.Update(execEv(pid, parent, "/usr/bin/level", "level", "--depth"))
		parent = pid
	}
	for pid := uint32(100); pid < 10100; pid++ {
		tr.Update(forkEv(1, 0, pid))
	}
	return tr
}

// BenchmarkEnrich enriches a fresh event each time: one allocation, the
// ancestors.
func BenchmarkEnrich(b *testing.B) {
	tr := benchTree(b)
	b.ReportAllocs()
	for b.Loop() {
		e := event.Event{Type: event.Open, Process: event.Process{PID: 9, TID: 9, PPID: 8, Name: "level"}}
		tr.Enrich(&e)
		if len(e.Process.Ancestors) != 8 {
			b.Fatalf("%d ancestors", len(e.Process.Ancestors))
		}
	}
}

// BenchmarkEnrichReuse enriches a recycled event whose Ancestors has room:
// no allocation.
func BenchmarkEnrichReuse(b *testing.B) {
	tr := benchTree(b)
	b.ReportAllocs()
	var e event.Event
	for b.Loop() {
		anc := e.Process.Ancestors
		e = event.Event{Type: event.Open, Process: event.Process{PID: 9, TID: 9, PPID: 8, Name: "level", Ancestors: anc}}
		tr.Enrich(&e)
	}
}

// BenchmarkUpdateOther is the common case: an event that is not exec, fork
// or exit, for a known process.
func BenchmarkUpdateOther(b *testing.B) {
	tr := benchTree(b)
	b.ReportAllocs()
	e := openEv(9, 8)
	for b.Loop() {
		tr.Update(e)
	}
}

// BenchmarkForkExecExit is process churn: fork, exec, exit of a short-lived
// command, as a shell loop produces.
func BenchmarkForkExecExit(b *testing.B) {
	tr := benchTree(b)
	b.ReportAllocs()
	fork, exec, exit := forkEv(9, 8, 20000), execEv(20000, 9, "/bin/true", "true"), exitEv(20000)
	pid := uint32(20000)
	for b.Loop() {
		pid++
		fork.Process.ChildPID, exec.Process.PID, exit.Process.PID, exit.Process.TID = pid, pid, pid, pid
		tr.Update(fork)
		tr.Update(exec)
		tr.Update(exit)
	}
}
