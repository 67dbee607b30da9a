// Command blindbench measures what the sensor loses in an event storm, and
// whether exec events survive it: it starts `mamori agent --events` with
// each ring buffer size asked for, runs `storm -mode mixed` (a file storm
// on two threads while a third runs /bin/true again and again), and
// reports the events dropped per type and cause, the execs that arrived
// against those that ran, and the agent's "sensor blind" reports.
//
// The agent's events come back through a pipe and only the exec events are
// parsed, so the exec count is exact (the execs whose parent is the storm),
// whichever agent binary is measured: -mamori may name an older build to
// compare with. It is driven by bench/blind.sh; run that rather than this.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	mamori, storm, outDir, addr, fileDir string
	rings, agentArgs                     []string
	rounds, files, workers, execs        int
	execEvery, quietWait                 time.Duration
	quietCPU                             float64
}

func main() {
	var o options
	var rings, agentArgs string
	flag.StringVar(&o.mamori, "mamori", "/tmp/mamori-bench/mamori", "the mamori binary")
	flag.StringVar(&o.storm, "storm", "/tmp/mamori-bench/storm", "the storm binary")
	flag.StringVar(&o.outDir, "out", "/tmp/mamori-bench", "where the agent logs, raw results and the summary go")
	flag.StringVar(&o.addr, "health-addr", "127.0.0.1:19748", "the agent's --health-addr")
	flag.StringVar(&o.fileDir, "file-dir", "/dev/shm", "where the file storm creates its files (tmpfs: no disk in the way)")
	flag.StringVar(&rings, "rings", "4M,256K", "ring buffer sizes to measure, comma-separated (--ring-buffer-size values)")
	flag.StringVar(&agentArgs, "agent-args", "", "more agent flags, space-separated (e.g. --policy none)")
	flag.IntVar(&o.rounds, "rounds", 3, "runs per ring size")
	flag.IntVar(&o.files, "files", 500000, "file operations in the storm (open, write, close, unlink each)")
	flag.IntVar(&o.workers, "workers", 2, "file storm threads")
	flag.IntVar(&o.execs, "execs", 200, "execs of /bin/true during the storm")
	flag.DurationVar(&o.execEvery, "exec-every", 10*time.Millisecond, "pause between two execs")
	flag.Float64Var(&o.quietCPU, "quiet-cpu", 0.5, "before each run, wait until the machine used at most this many CPUs over a second and no other agent's sensor is loaded")
	flag.DurationVar(&o.quietWait, "quiet-wait", time.Minute, "give up waiting for quiet after this long and run anyway (the run says so)")
	flag.Parse()
	o.rings = strings.Split(rings, ",")
	o.agentArgs = strings.Fields(agentArgs)
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		fatalf("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	raw, err := os.Create(filepath.Join(o.outDir, "blind-runs.jsonl"))
	if err != nil {
		fatalf("%v", err)
	}
	defer raw.Close()
	load0 := loadavg()
	var runs []run
	for round := 1; round <= o.rounds; round++ {
		for _, ring := range o.rings {
			r, err := measure(ctx, o, ring, round)
			if err != nil {
				fatalf("ring %s, round %d: %v", ring, round, err)
			}
			json.NewEncoder(raw).Encode(r)
			logf("ring %-5s round %d: %.0f file ops/s, %d events, %d dropped %v; execs %d of %d arrived; exec records lost %s; %d blind reports (before: %.2f CPUs busy, %d other sensors, quiet %v)",
				ring, round, r.Storm.OpsPerS, r.Handled, r.Dropped, r.DroppedByType, r.ExecsSeen, r.Storm.Execs, r.execLost(), r.BlindReports,
				r.BusyCPU, r.OtherSensors, r.Quiet)
			runs = append(runs, r)
		}
	}
	summary := render(o, runs, load0, loadavg())
	fmt.Print(summary)
	os.WriteFile(filepath.Join(o.outDir, "blind-summary.md"), []byte(summary), 0o644)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "blindbench: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// stormResult is what `storm -mode mixed` prints.
type stormResult struct {
	WallSec      float64 `json:"wall_s"`
	OpsPerS      float64 `json:"ops_per_s"`
	Execs        int     `json:"execs"`
	ExecFailures int     `json:"exec_failures"`
	PID          int     `json:"pid"`
}

// drops is a sensor.Drops as /status serialises it.
type drops struct {
	RingFull uint64 `json:"ring_full"`
	Reserve  uint64 `json:"reserve"`
}

// status is the part of the agent's /status read here. An agent from
// before per-type drops has no ring_buffer_dropped_by_type.
type status struct {
	Handled       uint64            `json:"handled"`
	Dropped       uint64            `json:"ring_buffer_dropped"`
	DroppedByType *map[string]drops `json:"ring_buffer_dropped_by_type"`
	ReserveBytes  uint32            `json:"ring_buffer_reserve_bytes"`
	RingPending   int               `json:"ring_buffer_pending"`
	Events        map[string]uint64 `json:"events"`
}

type run struct {
	Ring          string           `json:"ring"`
	Round         int              `json:"round"`
	ReserveBytes  uint32           `json:"reserve_bytes"`
	Storm         stormResult      `json:"storm"`
	Handled       uint64           `json:"handled"`
	Dropped       uint64           `json:"dropped"`
	ByType        bool             `json:"by_type"` // the agent counts drops per type
	DroppedByType map[string]drops `json:"dropped_by_type,omitempty"`
	ExecsSeen     int              `json:"execs_seen"` // exec events whose parent is the storm
	BlindReports  int              `json:"blind_reports"`
	CatchUpSec    float64          `json:"catch_up_s"`
	// What the machine was doing just before the run: busy CPUs over a
	// second, other sensors loaded, and whether that was quiet enough.
	BusyCPU      float64 `json:"busy_cpu"`
	OtherSensors int     `json:"other_sensors"`
	Quiet        bool    `json:"quiet"`
	Load         string  `json:"loadavg"`
}

// execLost is the kernel's own count of lost exec records, or "–" when the
// agent does not count drops per type.
func (r run) execLost() string {
	if !r.ByType {
		return "–"
	}
	return strconv.FormatUint(r.DroppedByType["exec"].RingFull+r.DroppedByType["exec"].Reserve, 10)
}

func measure(ctx context.Context, o options, ring string, round int) (run, error) {
	r := run{Ring: ring, Round: round}
	r.BusyCPU, r.OtherSensors, r.Quiet = waitQuiet(ctx, o.quietCPU, o.quietWait)
	r.Load = loadavg()
	logPath := filepath.Join(o.outDir, "blind-agent.log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return r, err
	}
	defer lf.Close()
	args := append([]string{"agent", "--events", "-o", "json", "--health-addr", o.addr, "--log-level", "warn",
		"--ring-buffer-size", ring}, o.agentArgs...)
	fmt.Fprintf(lf, "--- mamori %s\n", strings.Join(args, " "))
	agent := exec.Command(o.mamori, args...)
	var logs bytes.Buffer
	agent.Stderr = io.MultiWriter(lf, &syncWriter{b: &logs})
	events, err := agent.StdoutPipe()
	if err != nil {
		return r, err
	}
	if err := agent.Start(); err != nil {
		return r, err
	}
	// Count exec events by parent; nothing else is parsed.
	parents := map[uint32]int{}
	var counted sync.WaitGroup
	counted.Add(1)
	go func() {
		defer counted.Done()
		sc := bufio.NewScanner(events)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		for sc.Scan() {
			line := sc.Bytes()
			if !bytes.Contains(line, []byte(`"event":"exec"`)) {
				continue
			}
			var e struct {
				Process struct {
					PPID uint32 `json:"ppid"`
				} `json:"process"`
			}
			if json.Unmarshal(line, &e) == nil {
				parents[e.Process.PPID]++
			}
		}
		io.Copy(io.Discard, events)
	}()
	stopAgent := func() error {
		agent.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- agent.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			agent.Process.Kill()
			return errors.Join(<-done, errors.New("the agent did not stop within 30 s of SIGINT"))
		}
	}
	if err := waitReady(ctx, o.addr, agent); err != nil {
		stopAgent()
		return r, fmt.Errorf("%w; see %s", err, logPath)
	}
	s0, err := getStatus(o.addr)
	if err != nil {
		stopAgent()
		return r, err
	}

	dir, err := os.MkdirTemp(o.fileDir, "blindbench-")
	if err != nil {
		stopAgent()
		return r, err
	}
	defer os.RemoveAll(dir)
	var out bytes.Buffer
	storm := exec.CommandContext(ctx, o.storm, "-mode", "mixed", "-n", strconv.Itoa(o.files), "-workers", strconv.Itoa(o.workers),
		"-execs", strconv.Itoa(o.execs), "-exec-every", o.execEvery.String(), "-dir", dir)
	storm.Stdout, storm.Stderr = &out, os.Stderr
	stormErr := storm.Run()
	end := time.Now()
	if err := json.Unmarshal(out.Bytes(), &r.Storm); err != nil || stormErr != nil {
		stopAgent()
		return r, fmt.Errorf("storm: %v, printed %q (%v)", stormErr, out.String(), err)
	}

	// Wait until the agent has read what the storm produced.
	var s1 status
	last := ^uint64(0)
	for {
		if s1, err = getStatus(o.addr); err != nil {
			stopAgent()
			return r, err
		}
		if s1.RingPending == 0 && s1.Handled == last || time.Since(end) > 30*time.Second {
			break
		}
		last = s1.Handled
		time.Sleep(100 * time.Millisecond)
	}
	r.CatchUpSec = time.Since(end).Seconds()
	if err := stopAgent(); err != nil {
		return r, fmt.Errorf("agent: %w; see %s", err, logPath)
	}
	counted.Wait()

	r.ReserveBytes = s1.ReserveBytes
	r.Handled = s1.Handled - s0.Handled
	r.Dropped = s1.Dropped - s0.Dropped
	if s1.DroppedByType != nil {
		r.ByType = true
		r.DroppedByType = map[string]drops{}
		before := map[string]drops{}
		if s0.DroppedByType != nil {
			before = *s0.DroppedByType
		}
		for t, d := range *s1.DroppedByType {
			b := before[t]
			r.DroppedByType[t] = drops{RingFull: d.RingFull - b.RingFull, Reserve: d.Reserve - b.Reserve}
		}
	}
	r.ExecsSeen = parents[uint32(r.Storm.PID)]
	r.BlindReports = strings.Count(logs.String(), "sensor blind for")
	return r, nil
}

// syncWriter lets the agent's stderr be copied while it runs.
type syncWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

var client = &http.Client{Timeout: 5 * time.Second}

func getStatus(addr string) (status, error) {
	var s status
	resp, err := client.Get("http://" + addr + "/status")
	if err != nil {
		return s, fmt.Errorf("agent status: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return s, fmt.Errorf("agent status: %w", err)
	}
	return s, nil
}

func waitReady(ctx context.Context, addr string, agent *exec.Cmd) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if agent.ProcessState != nil {
			return errors.New("the agent exited before it was ready")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("the agent was not ready after 30 s")
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// render writes the runs as a Markdown table.
func render(o options, runs []run, load0, load1 string) string {
	var s strings.Builder
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Fprintf(&s, "\n## Storm: what is lost (%s, host %s, kernel %s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), host, strings.TrimSpace(string(kernel)))
	fmt.Fprintf(&s, "`%s agent --events -o json --ring-buffer-size RING %s`, events piped to the benchmark; storm: %d file operations (open, 512-byte write, close, unlink) on %d threads in %s, while a third thread runs /bin/true %d times, %s apart. Load average before %s, after %s.\n\n",
		filepath.Base(o.mamori), strings.Join(o.agentArgs, " "), o.files, o.workers, o.fileDir, o.execs, o.execEvery, load0, load1)
	fmt.Fprintln(&s, "| ring | reserve | round | file ops/s | events handled | dropped | dropped by type (ring full + reserve) | execs arrived | exec records lost | blind reports | before the run: busy CPUs, other sensors, load |")
	fmt.Fprintln(&s, "|---|--:|--:|--:|--:|--:|---|--:|--:|--:|---|")
	for _, r := range runs {
		byType := "–"
		if r.ByType {
			var parts []string
			for t, d := range r.DroppedByType {
				if n := d.RingFull + d.Reserve; n > 0 {
					parts = append(parts, fmt.Sprintf("%s %d (%d + %d)", t, n, d.RingFull, d.Reserve))
				}
			}
			sort.Strings(parts)
			byType = strings.Join(parts, ", ")
		}
		reserve := "–"
		if r.ReserveBytes > 0 {
			reserve = fmt.Sprintf("%dK", r.ReserveBytes>>10)
		}
		quiet := ""
		if !r.Quiet {
			quiet = " (not quiet)"
		}
		fmt.Fprintf(&s, "| %s | %s | %d | %.0f | %d | %d | %s | %d of %d | %s | %d | %.2f, %d, %s%s |\n", r.Ring, reserve, r.Round, r.Storm.OpsPerS, r.Handled,
			r.Dropped, byType, r.ExecsSeen, r.Storm.Execs, r.execLost(), r.BlindReports, r.BusyCPU, r.OtherSensors, r.Load, quiet)
	}
	return s.String()
}
