package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// summary renders the results as Markdown tables plus the targets.
func (b *bench) summary() string {
	var s strings.Builder
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Fprintf(&s, "\n## Results (%s, host %s, kernel %s, %d CPUs)\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), host, strings.TrimSpace(string(kernel)), runtime.NumCPU())
	fmt.Fprintf(&s, "%d rounds of %s; exec storms %d execs, file %d files (in %s), connect %d connections; nice %d.\n\n",
		b.opt.rounds, strings.Join(b.opt.configs, " → "), b.opt.execN, b.opt.fileN, b.opt.fileDir, b.opt.connectN, b.opt.nice)

	var waited float64
	notQuiet := 0
	for _, r := range b.runs {
		waited += r.QuietWait
		if r.NotQuiet {
			notQuiet++
		}
	}
	others := 0
	for _, r := range b.runs {
		if r.OtherSensors > 0 {
			others++
		}
	}
	if others > 0 {
		fmt.Fprintf(&s, "**%d of %d runs had another agent's sensor loaded** (a sys_enter BPF program not ours), so they were not bare.\n\n", others, len(b.runs))
	}
	if b.opt.quietCPU > 0 {
		fmt.Fprintf(&s, "Before each storm the benchmark waited for the machine to be quiet (at most %.2f CPUs busy over half a second): %.0f s of waiting in all; %d of %d runs found no quiet within %s (or the %s budget ran out) and ran anyway.\n\n",
			b.opt.quietCPU, waited, notQuiet, len(b.runs), b.opt.quietWait, b.opt.quietBudget)
	}
	fmt.Fprintln(&s, "### Storms: throughput and overhead vs bare")
	fmt.Fprintln(&s)
	fmt.Fprintln(&s, "Overhead is the median wall time over the bare median, minus one; \"per round\" is the range of the same ratio taken round by round. Background is CPU that neither the storm nor the watcher used during the storm (other work on the VM); a run is counted as noisy when that exceeds a fifth of a CPU over its wall time.")
	fmt.Fprintln(&s)
	fmt.Fprintln(&s, "| storm | config | median ops/s | min–max ops/s | median wall s | overhead | per round | storm sys s | background cpu-s | noisy runs |")
	fmt.Fprintln(&s, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, st := range b.opt.storms {
		bare := b.walls("bare", st)
		for _, c := range b.opt.configs {
			rs := b.select_(c, st)
			if len(rs) == 0 {
				continue
			}
			ops := collect(rs, func(r run) float64 { return r.Result.OpsPerS })
			walls := collect(rs, func(r run) float64 { return r.Result.WallSec })
			over, rng := "–", "–"
			if c != "bare" && len(bare) > 0 {
				over = pct(median(walls)/median(bare) - 1)
				var per []float64
				for _, r := range rs {
					for _, br := range b.select_("bare", st) {
						if br.Round == r.Round {
							per = append(per, r.Result.WallSec/br.Result.WallSec-1)
						}
					}
				}
				if len(per) > 0 {
					rng = pct(slices.Min(per)) + " … " + pct(slices.Max(per))
				}
			}
			noisy := 0
			for _, r := range rs {
				if r.BackgroundCPU > 0.2*r.Result.WallSec {
					noisy++
				}
			}
			fmt.Fprintf(&s, "| %s | %s | %.0f | %.0f–%.0f | %.3f | %s | %s | %.2f | %.2f | %d/%d |\n", st, c, median(ops), slices.Min(ops), slices.Max(ops),
				median(walls), over, rng,
				median(collect(rs, func(r run) float64 { return r.Result.SysSec })),
				median(collect(rs, func(r run) float64 { return r.BackgroundCPU })), noisy, len(rs))
		}
	}

	var mamoriConfigs []string
	for _, c := range b.opt.configs {
		if strings.HasPrefix(c, "mamori") {
			mamoriConfigs = append(mamoriConfigs, c)
		}
	}
	if len(mamoriConfigs) > 0 {
		fmt.Fprintln(&s)
		fmt.Fprintln(&s, "### The agent during each storm")
		fmt.Fprintln(&s)
		fmt.Fprintln(&s, "Medians over rounds, except drops and decode errors (totals) and memory (maximum). Agent CPU is utime+stime from /proc/<pid>/stat, including catching up after the storm; µs/event is that CPU over the events handled. RSS is VmRSS after the storm, peak is VmHWM; anon is smaps_rollup Anonymous; ring is what is resident in mapped BPF maps (anon_inode:bpf-map): the ring buffers, whose pages the kernel fills in when they are mapped, so all of them count in RSS (mamori maps each once; before 2026-12-07 they were mapped twice and counted twice).")
		fmt.Fprintln(&s)
		fmt.Fprintln(&s, "| storm | config | events/s handled | events/op | dropped | decode errors | agent cpu s | cpu % of storm wall | µs/event | catch-up s | RSS MiB | peak MiB | anon MiB | ring MiB |")
		fmt.Fprintln(&s, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
		for _, st := range b.opt.storms {
			for _, c := range mamoriConfigs {
				rs := b.select_(c, st)
				if len(rs) == 0 {
					continue
				}
				w := func(f func(*watcherSample) float64) []float64 {
					return collect(rs, func(r run) float64 { return f(r.Watcher) })
				}
				var dropped, decErr uint64
				for _, r := range rs {
					dropped += r.Watcher.Dropped
					decErr += r.Watcher.DecodeErrors
				}
				lost := ""
				if dropped+decErr > 0 {
					lost = " **LOST**"
				}
				fmt.Fprintf(&s, "| %s | %s | %.0f | %.2f | %d%s | %d | %.2f | %.0f %% | %.1f | %.2f | %.1f | %.1f | %.1f | %.1f |\n", st, c,
					median(w(func(x *watcherSample) float64 { return x.EventsPerSec })),
					median(collect(rs, func(r run) float64 { return float64(r.Watcher.Handled) / float64(r.Result.N) })),
					dropped, lost, decErr,
					median(w(func(x *watcherSample) float64 { return x.CPUSec })),
					100*median(collect(rs, func(r run) float64 { return r.Watcher.CPUSec / r.Result.WallSec })),
					median(collect(rs, func(r run) float64 { return 1e6 * r.Watcher.CPUSec / max(1, float64(r.Watcher.Handled)) })),
					median(w(func(x *watcherSample) float64 { return x.CatchUpSec })),
					mib(uint64(slices.Max(w(func(x *watcherSample) float64 { return float64(x.VmRSS) })))),
					mib(uint64(slices.Max(w(func(x *watcherSample) float64 { return float64(x.VmHWM) })))),
					mib(uint64(slices.Max(w(func(x *watcherSample) float64 { return float64(x.Anon) })))),
					mib(uint64(slices.Max(w(func(x *watcherSample) float64 { return float64(x.RingRSS) })))))
			}
		}
		fmt.Fprintln(&s)
		fmt.Fprintln(&s, "Events by type per storm (first mamori configuration, median round):")
		fmt.Fprintln(&s)
		for _, st := range b.opt.storms {
			rs := b.select_(mamoriConfigs[0], st)
			if len(rs) == 0 {
				continue
			}
			r := rs[len(rs)/2]
			var parts []string
			for t, n := range r.Watcher.ByType {
				parts = append(parts, fmt.Sprintf("%s %d", t, n))
			}
			slices.Sort(parts)
			fmt.Fprintf(&s, "- %s (round %d, %d ops): %s\n", st, r.Round, r.Result.N, strings.Join(parts, ", "))
		}
	}
	for _, c := range b.opt.configs {
		if !strings.HasPrefix(c, "auditd") {
			continue
		}
		fmt.Fprintln(&s)
		fmt.Fprintf(&s, "%s: auditd's own CPU (utime+stime of the auditd process, median; kauditd and the audit work in the storm's syscalls are not in it):\n", c)
		fmt.Fprintln(&s)
		for _, st := range b.opt.storms {
			rs := b.select_(c, st)
			if len(rs) == 0 {
				continue
			}
			fmt.Fprintf(&s, "- %s: %.2f cpu-s\n", st, median(collect(rs, func(r run) float64 { return r.Watcher.CPUSec })))
		}
		fmt.Fprintln(&s)
		fmt.Fprintf(&s, "%s's rules (auditctl):\n\n", c)
		for _, r := range b.opt.audit[c] {
			fmt.Fprintf(&s, "    auditctl %s\n", strings.Join(r, " "))
		}
	}

	if len(b.starts) > 0 {
		toH := make([]float64, len(b.starts))
		ready := make([]float64, len(b.starts))
		for i, st := range b.starts {
			toH[i], ready[i] = st.ToHealthz.Seconds(), st.ReadyIn.Seconds()
		}
		fmt.Fprintln(&s)
		fmt.Fprintln(&s, "### Start-up")
		fmt.Fprintln(&s)
		fmt.Fprintln(&s, "| measure | starts | median ms | min ms | max ms |")
		fmt.Fprintln(&s, "|---|--:|--:|--:|--:|")
		fmt.Fprintf(&s, "| launch to /healthz answering | %d | %.0f | %.0f | %.0f |\n", len(toH), 1e3*median(toH), 1e3*slices.Min(toH), 1e3*slices.Max(toH))
		fmt.Fprintf(&s, "| agent's own ready_in | %d | %.0f | %.0f | %.0f |\n", len(ready), 1e3*median(ready), 1e3*slices.Min(ready), 1e3*slices.Max(ready))
		if b.startFailures > 0 {
			fmt.Fprintf(&s, "\n**%d start(s) failed** (the agent exited before it was ready; see agent.log) and were retried.\n", b.startFailures)
		}
	}
	s.WriteString(b.targets())
	return s.String()
}

// targets checks the targets of docs/benchmarks.md against the results;
// a target whose configurations did not run is not listed.
func (b *bench) targets() string {
	var s strings.Builder
	fmt.Fprintln(&s)
	fmt.Fprintln(&s, "### Targets")
	fmt.Fprintln(&s)
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	over := func(config, storm string) (float64, bool) {
		bare, m := median(b.walls("bare", storm)), median(b.walls(config, storm))
		if bare == 0 || m == 0 {
			return 0, false
		}
		return m/bare - 1, true
	}
	for _, t := range []struct {
		storm, config string
		limit         float64
	}{
		{"exec1", "mamori-noevents", 0.03}, {"exec1", "mamori-falco", 0.03},
		{"file", "mamori-noevents", 0.10}, {"file", "mamori-upstream", 0.20},
		{"connect", "mamori-noevents", 0.03},
	} {
		if o, ok := over(t.config, t.storm); ok {
			fmt.Fprintf(&s, "- %s overhead with %s ≤ %.0f %%: %s (%s)\n", t.storm, t.config, 100*t.limit, verdict(o <= t.limit), pct(o))
		}
	}
	// Side by side with auditd making the same capture.
	for _, pair := range [][2]string{{"mamori-noevents", "auditd-default"}, {"mamori-upstream", "auditd-upstream"}} {
		for _, st := range b.opt.storms {
			m, ok1 := over(pair[0], st)
			a, ok2 := over(pair[1], st)
			if ok1 && ok2 {
				fmt.Fprintf(&s, "- %s: %s (%s) below %s (%s): %s\n", st, pair[0], pct(m), pair[1], pct(a), verdict(m < a))
			}
		}
	}
	var peak float64
	for _, r := range b.runs {
		if r.Watcher != nil && r.Config == "mamori-upstream" {
			peak = max(peak, float64(r.Watcher.VmHWM))
		}
	}
	if peak > 0 {
		fmt.Fprintf(&s, "- peak RSS ≤ 30 MB with the three upstream files (VmHWM over all runs %.1f MiB = %.1f MB): %s\n", mib(uint64(peak)), peak/1e6, verdict(peak <= 30e6))
	}
	// 0 drops at 100,000 events/s: the file storm with every event
	// serialised is the highest event rate the storms reach.
	var rate float64
	var drops uint64
	for _, r := range b.select_("mamori", "file") {
		if r.Watcher != nil {
			rate = max(rate, r.Watcher.EventsPerSec)
			drops += r.Watcher.Dropped + r.Watcher.DecodeErrors
		}
	}
	if rate > 0 {
		fmt.Fprintf(&s, "- 0 drops at 100,000 events/s (file storm with --events: up to %.0f events/s handled, %d dropped or undecoded): %s\n",
			rate, drops, verdict(drops == 0 && rate >= 100000))
	}
	if len(b.starts) > 0 {
		toH := collectStarts(b.starts)
		fmt.Fprintf(&s, "- start-up ≤ 500 ms (median launch to /healthz %.0f ms, max %.0f ms): %s\n", 1e3*median(toH), 1e3*slices.Max(toH), verdict(median(toH) <= 0.5))
	}
	return s.String()
}

func collectStarts(st []startup) []float64 {
	out := make([]float64, len(st))
	for i, x := range st {
		out[i] = x.ToHealthz.Seconds()
	}
	return out
}

func (b *bench) select_(config, storm string) []run {
	var out []run
	for _, r := range b.runs {
		if r.Config == config && r.Storm == storm {
			out = append(out, r)
		}
	}
	return out
}

func (b *bench) walls(config, storm string) []float64 {
	return collect(b.select_(config, storm), func(r run) float64 { return r.Result.WallSec })
}

func collect(rs []run, f func(run) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func pct(x float64) string { return fmt.Sprintf("%+.1f %%", 100*x) }
