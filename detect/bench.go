package detect

import (
	"runtime"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// BenchResult is the outcome of replaying events through a ruleset.
type BenchResult struct {
	Rounds        int
	Evaluations   int
	Matched       int // evaluations whose event matched a rule
	Elapsed       time.Duration
	Allocs        uint64  // heap allocations during the replay
	NoMatchAllocs float64 // allocations per event over the events no rule matches
}

func (r BenchResult) PerSecond() float64 { return float64(r.Evaluations) / r.Elapsed.Seconds() }
func (r BenchResult) NsPerEvent() float64 {
	return float64(r.Elapsed.Nanoseconds()) / float64(r.Evaluations)
}
func (r BenchResult) AllocsPerEvent() float64 {
	return float64(r.Allocs) / float64(r.Evaluations)
}

// Bench replays evs through rs on the calling goroutine, first-match as the
// agent does, for at least d, and measures the matching path alone (no
// alert is built or written).
func Bench(rs *rules.Ruleset, evs []event.Event, d time.Duration) BenchResult {
	det := New(rs, Config{})
	var noMatch []*event.Event
	for i := range evs {
		if det.Match(&evs[i]) == nil {
			noMatch = append(noMatch, &evs[i])
		}
	}
	var res BenchResult
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for time.Since(start) < d {
		for i := range evs {
			if det.Match(&evs[i]) != nil {
				res.Matched++
			}
		}
		res.Rounds++
		res.Evaluations += len(evs)
	}
	res.Elapsed = time.Since(start)
	runtime.ReadMemStats(&after)
	res.Allocs = after.Mallocs - before.Mallocs
	if len(noMatch) > 0 {
		const rounds = 5
		runtime.ReadMemStats(&before)
		for range rounds {
			for _, e := range noMatch {
				det.Match(e)
			}
		}
		runtime.ReadMemStats(&after)
		res.NoMatchAllocs = float64(after.Mallocs-before.Mallocs) / float64(rounds*len(noMatch))
	}
	return res
}
