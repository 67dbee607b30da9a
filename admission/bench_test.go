package admission

import (
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time (user and system) the test process has used:
// on a shared machine it tells the cost of a request apart from the wait
// for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAdmission measures the webhook as the API server sees it: an
// AdmissionReview for a two-container Deployment (refused by the default
// policy, so the full message is built) posted over HTTPS to the server
// on a real listener, from many concurrent clients over kept-alive
// connections. It reports the latency percentiles of single requests
// (p50-µs, p99-µs) next to the throughput, and the CPU time per request
// of client and server together (cpu-µs/op). bench/admission.sh runs it.
func BenchmarkAdmission(b *testing.B) {
	w := startWebhook(b, staticSource{DefaultPolicies()})
	ps := badPod()
	side := ps.Containers[0]
	side.Name, side.Image = "proxy", pinned
	ps.Containers = append(ps.Containers, side)
	obj, _ := wrap("Deployment", "web", ps, map[string]string{"app": "web"})
	req := request(b, obj, "shop")
	if resp := w.send(b, req); resp.Allowed {
		b.Fatal("the benchmark's Deployment should be refused")
	}

	var mu sync.Mutex
	var lat []time.Duration
	cpu0 := cpuTime()
	b.SetParallelism(8) // 8 × GOMAXPROCS concurrent clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			start := time.Now()
			resp, err := w.post(req)
			if err != nil {
				b.Error(err)
				return
			}
			if resp.Allowed {
				b.Error("allowed")
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchmarkReview is the part of a request that is mamori's own: decode
// the object, evaluate the policies per container and build the answer,
// without HTTP, TLS or the review's JSON.
func BenchmarkReview(b *testing.B) {
	rv := NewReviewer(Config{Policies: staticSource{DefaultPolicies()}})
	ps := badPod()
	side := ps.Containers[0]
	side.Name, side.Image = "proxy", pinned
	ps.Containers = append(ps.Containers, side)
	obj, _ := wrap("Deployment", "web", ps, map[string]string{"app": "web"})
	req := request(b, obj, "shop")
	cpu0 := cpuTime()
	for b.Loop() {
		if rv.Review(req).Allowed {
			b.Fatal("allowed")
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}
