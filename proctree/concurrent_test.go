package proctree

import (
	"sync"
	"testing"
)

// TestConcurrentReaders runs the event path in one goroutine and the
// status-side calls in another; run it with -race.
func TestConcurrentReaders(t *testing.T) {
	tr := New(Config{MaxEntries: 500, ProcRoot: "testdata/proc"}, nil)
	for _, e := range boot {
		tr.Update(e)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range uint32(20000) {
			pid := 1000 + i%700
			tr.Update(forkEv(20, 10, pid))
			e := openEv(pid, 20)
			tr.Update(e)
			tr.Enrich(e)
			tr.Update(exitEv(pid))
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			tr.Stats()
			tr.Lookup(20)
			tr.Len()
			tr.Prune()
		}
	})
	wg.Wait()
	if n := tr.Len(); n > 500 {
		t.Errorf("len %d over the cap", n)
	}
}
