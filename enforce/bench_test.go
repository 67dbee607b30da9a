package enforce

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/mamori-dev/mamori/internal/podmantest"
)

// BenchmarkExecInContainer measures what Drift Prevention adds to an
// allowed exec: drifthelper forks and execs the image's /bin/true b.N times
// inside a container and reports the median and p99 of fork+exec+wait.
//
//	go test -run '^$' -bench ExecInContainer -benchtime 3000x ./enforce
func BenchmarkExecInContainer(b *testing.B) {
	for _, tc := range []struct {
		name string
		mode Mode // "" for no protection
		cfg  Config
	}{
		{"bare", "", Config{}},
		{"sigkill", Enforce, Config{NoFanotify: true}},
		{"fanotify+sigkill", Enforce, Config{}},
		{"audit", Audit, Config{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			podmantest.Require(b)
			d := benchDrift(b, tc.cfg)
			box := startBox(b)
			if tc.mode != "" {
				start := time.Now()
				if err := d.Protect(b.Context(), box.ref(tc.mode)); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(time.Since(start).Microseconds()), "protect-us")
			}
			b.ResetTimer()
			out, err := box.run(helperPath, "bench", fmt.Sprint(max(b.N, 10)), "/bin/true")
			b.StopTimer()
			if err != nil {
				b.Fatalf("drifthelper bench: %v: %s", err, out)
			}
			var r struct {
				Median int64 `json:"median_ns"`
				P99    int64 `json:"p99_ns"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				b.Fatalf("drifthelper bench: %v: %s", err, out)
			}
			b.ReportMetric(float64(r.Median)/1e3, "median-us/exec")
			b.ReportMetric(float64(r.P99)/1e3, "p99-us/exec")
		})
	}
}

// BenchmarkViolationToVerdict measures how long after a drifted program's
// execve the Verdict reaches a reader of Verdicts: b.N drops, each a new
// file executed at once.
//
//	go test -run '^$' -bench ViolationToVerdict -benchtime 1000x ./enforce
func BenchmarkViolationToVerdict(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"fanotify", Config{}}, {"sigkill", Config{NoFanotify: true}}} {
		b.Run(tc.name, func(b *testing.B) {
			podmantest.Require(b)
			d := benchDrift(b, tc.cfg)
			box := startBox(b)
			if err := d.Protect(b.Context(), box.ref(Enforce)); err != nil {
				b.Fatal(err)
			}
			got := map[string]time.Time{} // path → when the reader had it
			kernel := map[string]time.Time{}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for v := range d.Verdicts() {
					got[v.Path] = time.Now()
					kernel[v.Path] = v.Time
				}
			}()
			n := max(b.N, 10)
			b.ResetTimer()
			as := box.drop(b, n)
			b.StopTimer()
			time.Sleep(200 * time.Millisecond)
			d.Close()
			<-done
			// lat: from just before the attacker's fork+execve to the
			// Verdict in the reader's hands (an upper bound: it includes
			// the fork). deliver: from the decision (fanotify) or the
			// kernel's timestamp (sigkill) to the reader.
			var lat, deliver []time.Duration
			for _, a := range as {
				if at, ok := got[a.Path]; ok {
					lat = append(lat, at.Sub(time.Unix(0, a.Start)))
					deliver = append(deliver, at.Sub(kernel[a.Path]))
				}
			}
			if len(lat) != n {
				b.Fatalf("%d verdicts for %d drops", len(lat), n)
			}
			slices.Sort(lat)
			slices.Sort(deliver)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
			b.ReportMetric(float64(deliver[len(deliver)/2].Microseconds()), "deliver-p50-us")
			b.ReportMetric(float64(deliver[len(deliver)*99/100].Microseconds()), "deliver-p99-us")
		})
	}
}

func benchDrift(b *testing.B, cfg Config) *Drift {
	b.Helper()
	d, err := NewDrift(cfg, discardLog())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestMeasureExecCost prints the cost of an allowed exec under each
// mechanism, measured in rounds that alternate the variants so that a
// change in machine load hits them all alike. It takes a minute, so it
// runs only when asked:
//
//	MAMORI_DRIFT_MEASURE=1 go test -run MeasureExecCost -v ./enforce
func TestMeasureExecCost(t *testing.T) {
	if os.Getenv("MAMORI_DRIFT_MEASURE") != "1" {
		t.Skip("set MAMORI_DRIFT_MEASURE=1 to measure")
	}
	podmantest.Require(t)
	const rounds, execs = 7, 1000
	box := startBox(t)
	variants := []struct {
		name string
		mode Mode
		cfg  Config
	}{
		{"bare", "", Config{}},
		{"sigkill", Enforce, Config{NoFanotify: true}},
		{"fanotify+sigkill", Enforce, Config{}},
	}
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		t.Fatalf("enable BPF run-time statistics: %v", err)
	}
	defer stats.Close()
	var progRuns uint64
	var progTime time.Duration
	medians := make([][]time.Duration, len(variants))
	for r := range rounds {
		for i, v := range variants {
			var d *Drift
			if v.mode != "" {
				var err error
				if d, err = NewDrift(v.cfg, discardLog()); err != nil {
					t.Fatal(err)
				}
				if err := d.Protect(t.Context(), box.ref(v.mode)); err != nil {
					t.Fatal(err)
				}
			}
			out, err := box.run(helperPath, "bench", fmt.Sprint(execs), "/bin/true")
			if d != nil {
				if st, err := d.k.objs.Exec.Stats(); err == nil {
					progRuns += st.RunCount
					progTime += st.Runtime
				}
				d.Close()
			}
			if err != nil {
				t.Fatalf("drifthelper bench: %v: %s", err, out)
			}
			var res struct {
				Median int64 `json:"median_ns"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatal(err)
			}
			medians[i] = append(medians[i], time.Duration(res.Median))
			t.Logf("round %d %-17s median %v", r, v.name, time.Duration(res.Median))
		}
	}
	base := medianOf(medians[0])
	for i, v := range variants {
		m := medianOf(medians[i])
		t.Logf("%-17s median of %d medians (%d execs each): %v (%+v over bare)", v.name, rounds, execs, m, m-base)
	}
	if progRuns > 0 {
		t.Logf("tp_btf/sched_process_exec program: %d runs (every exec on the node), %v per run",
			progRuns, progTime/time.Duration(progRuns))
	}
}

// BenchmarkDecide measures the fanotify handler's decision alone, on a
// real container's image file and on a dropped file.
func BenchmarkDecide(b *testing.B) {
	podmantest.Require(b)
	d := benchDrift(b, Config{})
	box := startBox(b)
	if err := d.Protect(b.Context(), box.ref(Enforce)); err != nil {
		b.Fatal(err)
	}
	box.mustRun(b, "cp", "/bin/busybox", "/tmp/dropped")
	d.mu.Lock()
	tg := d.targets[box.ID]
	d.mu.Unlock()
	for _, tc := range []struct {
		name, path string
		want       Reason
	}{{"image", "/bin/busybox", ""}, {"upper", "/tmp/dropped", UpperLayer}} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := os.Open(fmt.Sprintf("/proc/%d/root%s", box.info.Pid, tc.path))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if got := tg.decide(int(f.Fd()), int32(os.Getpid())).reason; got != tc.want {
				b.Fatalf("decide(%s) = %q, want %q", tc.path, got, tc.want)
			}
			for b.Loop() {
				tg.decide(int(f.Fd()), int32(os.Getpid()))
			}
		})
	}
}

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
