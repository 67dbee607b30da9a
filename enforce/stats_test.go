package enforce

import (
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// setLost puts n into a per-CPU counter of lost verdicts, as the kernel
// does when its verdict buffer is full.
func setLost(t *testing.T, m *ebpf.Map, n uint64) {
	t.Helper()
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	per := make([]uint64, cpus)
	per[0] = n
	if err := m.Update(uint32(0), per, ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
}

// TestLossCountsOutliveClose: the agent reports lost verdicts once more
// after it closes Net and Drift (its last report), and reads them while
// they close. A count read from a closed map was 0, so the last report
// took the counter as having gone backwards (an alert of 2^64 - n lost
// verdicts); run with -race, the reads during Close are checked too.
func TestLossCountsOutliveClose(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	n, err := NewNet(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDrift(Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	setLost(t, n.objs.BindLost, 7)
	setLost(t, d.k.objs.Lost, 5)
	if lost, _ := n.BindStats(); lost != 7 {
		t.Fatalf("net: %d bind verdicts lost before Close, want 7", lost)
	}
	if st := d.Stats(); st.KernelLost != 5 {
		t.Fatalf("drift: %d verdicts lost before Close, want 5", st.KernelLost)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the agent's once-a-second report, racing Close
		defer wg.Done()
		// Every millisecond, not in a spin: each read is a bpf() call,
		// and a storm of them would blind the agents other packages'
		// tests run meanwhile.
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				n.BindStats()
				d.Stats()
			}
		}
	}()
	n.Close()
	d.Close()
	close(stop)
	wg.Wait()
	if lost, _ := n.BindStats(); lost != 7 {
		t.Errorf("net: %d bind verdicts lost after Close, want 7 as before", lost)
	}
	if st := d.Stats(); st.KernelLost != 5 {
		t.Errorf("drift: %d verdicts lost after Close, want 5 as before", st.KernelLost)
	}
}
