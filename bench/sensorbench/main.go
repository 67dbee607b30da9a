// Command sensorbench runs the node agent's overhead benchmark: the same
// exec, file and connect storms (bench/storm) bare, under the node agent (mamori-agent),
// and under Debian's auditd with an execve rule, in alternating rounds. It
// measures the storms' wall time, the agent's event rate, drops, memory and
// CPU, and the agent's start-up time, and prints a Markdown summary.
//
// It is driven by bench/sensor.sh, which installs auditd, builds the
// binaries and cleans up after it; run that rather than this.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	agent, storm, outDir, healthAddr string
	fileDir                          string
	quietCPU                         float64
	quietWait, quietBudget           time.Duration
	rounds, starts, nice             int
	execN, fileN, connectN           int
	configs, storms                  []string
	upstream                         string // the folder of Falco's upstream rules files
	audit                            map[string][][]string
}

func main() {
	var o options
	var configs, storms string
	flag.StringVar(&o.agent, "agent", "/tmp/mamori-bench/mamori-agent", "the node agent's command: the lean mamori-agent, or \"PATH/mamori agent\" (the full binary)")
	flag.StringVar(&o.storm, "storm", "/tmp/mamori-bench/storm", "the storm binary")
	flag.StringVar(&o.outDir, "out", "/tmp/mamori-bench", "where raw results, agent logs and the summary go")
	flag.StringVar(&o.healthAddr, "health-addr", "127.0.0.1:19746", "the agent's --health-addr (not the default, so that a running agent does not clash)")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds; each runs every configuration once, in order")
	flag.IntVar(&o.nice, "nice", -10, "nice value for the benchmark and all it starts (storms, agent, auditd), so that other work on a shared machine disturbs the runs less; 0 leaves it")
	flag.IntVar(&o.starts, "starts", 5, "extra agent starts to time start-up (on top of one per mamori round)")
	flag.StringVar(&o.fileDir, "file-dir", "/dev/shm", "where the file storm creates its files; tmpfs keeps disk and journal noise out (sensor.sh mounts one of its own)")
	flag.Float64Var(&o.quietCPU, "quiet-cpu", 0.3, "before each storm, wait until the machine's busy CPU (in CPUs, over half a second) is at most this and no other agent's sensor is loaded; 0 turns the wait off")
	flag.DurationVar(&o.quietWait, "quiet-wait", 30*time.Second, "give up waiting for quiet after this long and run anyway (the run is then marked not quiet)")
	flag.DurationVar(&o.quietBudget, "quiet-budget", 5*time.Minute, "wait for quiet at most this long over the whole benchmark")
	flag.IntVar(&o.execN, "exec-n", 800, "execs per exec storm")
	flag.IntVar(&o.fileN, "file-n", 20000, "files per file storm")
	flag.IntVar(&o.connectN, "connect-n", 10000, "connections per connect storm")
	flag.StringVar(&configs, "configs", "bare,mamori,mamori-noevents,mamori-falco,mamori-upstream,auditd-default,auditd-upstream",
		"configurations, run in this order each round: bare; mamori (--events), mamori-noevents (default flags), mamori-falco (--rules falco_rules.yaml), mamori-upstream (--rules with the three upstream syscall files), mamori-norules (--rules none), mamori-lifecycle (--rules none --event-types exec,fork,exit), mamori-absent (default flags and --capture-absent-calls: what catching attempts at calls the kernel lacks costs); auditd (an execve rule), auditd-default (the capture mamori makes for its built-in rules), auditd-upstream (for the three upstream files)")
	flag.StringVar(&o.upstream, "upstream", "../shared/corpora/falco", "the folder holding Falco's falco_rules.yaml, falco-incubating_rules.yaml and falco-sandbox_rules.yaml")
	flag.StringVar(&storms, "storms", "exec1,exec2,file,connect", "storms; execK runs K parallel exec workers")
	flag.Parse()
	o.configs = strings.Split(configs, ",")
	o.storms = strings.Split(storms, ",")
	o.audit = map[string][][]string{}
	for _, c := range o.configs {
		switch {
		case c == "bare":
		case strings.HasPrefix(c, "auditd"):
			args, skipped, err := o.auditArgs(c)
			if err != nil {
				fatalf("configuration %s: %v", c, err)
			}
			o.audit[c] = args
			if len(skipped) > 0 {
				logf("%s: left out, auditd cannot express them: %s", c, strings.Join(skipped, ", "))
			}
		default:
			if _, err := o.agentArgs(c); err != nil {
				fatalf("%v", err)
			}
		}
	}
	if o.nice != 0 {
		// Children inherit it: storms, agents and auditd compete on equal terms.
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, 0, o.nice); err != nil {
			fatalf("setpriority %d: %v", o.nice, err)
		}
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		fatalf("%v", err)
	}

	b := &bench{opt: o}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := b.run(ctx)
	stop()
	b.cleanup()
	if err != nil {
		fatalf("%v", err)
	}
	summary := b.summary()
	fmt.Print(summary)
	os.WriteFile(filepath.Join(o.outDir, "summary.md"), []byte(summary), 0o644)
	if b.lost > 0 {
		fmt.Fprintf(os.Stderr, "\n!!! EVENTS LOST: %d ring-buffer drops or decode errors; see the table above !!!\n", b.lost)
		os.Exit(3)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sensorbench: "+format+"\n", args...)
	os.Exit(1)
}

// upstreamFiles are Falco's three syscall rules files.
var upstreamFiles = []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"}

// agentArgs are the agent's arguments per mamori configuration. The agent
// detects with its built-in rules unless told --rules; with neither
// --events nor --event-types it then captures only what the rules need.
func (o options) agentArgs(config string) ([]string, error) {
	switch config {
	case "mamori": // every event serialised, rules on
		return []string{"--events", "--events-output", "/dev/null"}, nil
	case "mamori-noevents": // the default agent: rules on, rule-needed capture
		return []string{}, nil
	case "mamori-absent": // the default agent, also catching attempts at calls the kernel lacks
		return []string{"--capture-absent-calls"}, nil
	case "mamori-falco", "mamori-upstream":
		files := upstreamFiles
		if config == "mamori-falco" {
			files = files[:1]
		}
		var args []string
		for _, f := range files {
			p := filepath.Join(o.upstream, f)
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("configuration %s needs %s: %v (give -upstream)", config, f, err)
			}
			args = append(args, "--rules", p)
		}
		return args, nil
	case "mamori-norules": // sensor and enrichment of every type, no output
		return []string{"--rules", "none"}, nil
	case "mamori-lifecycle": // process lifecycle only
		return []string{"--rules", "none", "--event-types", "exec,fork,exit"}, nil
	}
	return nil, fmt.Errorf("unknown configuration %q", config)
}

// auditArgs are auditctl's arguments, one rule each, per auditd
// configuration.
func (o options) auditArgs(config string) (args [][]string, skipped []string, err error) {
	switch config {
	case "auditd":
		return [][]string{{"-a", "always,exit", "-F", "arch=b64", "-S", "execve", "-k", "bench"}}, nil, nil
	case "auditd-default":
		return auditCapture(nil)
	case "auditd-upstream":
		var files []string
		for _, f := range upstreamFiles {
			files = append(files, filepath.Join(o.upstream, f))
		}
		return auditCapture(files)
	}
	return nil, nil, fmt.Errorf("unknown configuration %q", config)
}

// run is one storm in one configuration.
type run struct {
	Round  int         `json:"round"`
	Config string      `json:"config"`
	Storm  string      `json:"storm"`
	Result stormResult `json:"result"`
	// BackgroundCPU is CPU time that neither the storm nor the watcher
	// (agent or auditd) spent during the storm: noise from elsewhere.
	BackgroundCPU float64 `json:"background_cpu_s"`
	// QuietWait is how long the run waited for the machine to be quiet;
	// NotQuiet says it gave up.
	QuietWait float64 `json:"quiet_wait_s"`
	NotQuiet  bool    `json:"not_quiet,omitempty"`
	// OtherSensors counts sys_enter BPF programs not ours: other agents.
	OtherSensors int            `json:"other_sensors,omitempty"`
	Watcher      *watcherSample `json:"watcher,omitempty"`
}

type stormResult struct {
	Mode     string  `json:"mode"`
	Workers  int     `json:"workers"`
	N        int     `json:"n"`
	WallSec  float64 `json:"wall_s"`
	OpsPerS  float64 `json:"ops_per_s"`
	UserSec  float64 `json:"user_s"`
	SysSec   float64 `json:"sys_s"`
	Failures int     `json:"failures"`
}

// watcherSample is what the agent (or auditd) did during one storm.
type watcherSample struct {
	CPUSec       float64           `json:"cpu_s"` // utime+stime delta, including catching up after the storm
	Handled      uint64            `json:"handled"`
	EventsPerSec float64           `json:"events_per_s"` // handled / storm wall time
	Dropped      uint64            `json:"dropped"`
	DecodeErrors uint64            `json:"decode_errors"`
	ByType       map[string]uint64 `json:"by_type,omitempty"`
	CatchUpSec   float64           `json:"catch_up_s"` // from the storm's end until the agent had read everything
	StatusRSS    uint64            `json:"status_rss_bytes"`
	VmRSS        uint64            `json:"vmrss_bytes"`
	VmHWM        uint64            `json:"vmhwm_bytes"`
	Anon         uint64            `json:"anon_bytes"`    // smaps_rollup Anonymous
	RingRSS      uint64            `json:"bpf_map_bytes"` // resident in mapped BPF maps, i.e. the ring buffer
}

type startup struct {
	ToHealthz time.Duration
	ReadyIn   time.Duration
}

type bench struct {
	opt       options
	runs      []run
	starts    []startup
	agent     *exec.Cmd
	agentExit chan error
	auditPID  int
	auditOn   bool
	lost      uint64
	waitedAll time.Duration // for quiet, so far
	// startFailures counts agents that exited before they were ready.
	startFailures int
	raw           *os.File
}

func (b *bench) run(ctx context.Context) error {
	var err error
	b.raw, err = os.Create(filepath.Join(b.opt.outDir, "runs.jsonl"))
	if err != nil {
		return err
	}
	defer b.raw.Close()
	logf("%d rounds of %v, storms %v", b.opt.rounds, b.opt.configs, b.opt.storms)
	for r := 1; r <= b.opt.rounds; r++ {
		for _, c := range b.opt.configs {
			if err := b.runConfig(ctx, r, c); err != nil {
				return fmt.Errorf("round %d, %s: %w", r, c, err)
			}
		}
	}
	for i := 0; i < b.opt.starts; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := b.startAgent(ctx, nil); err != nil {
			return err
		}
		if err := b.stopAgent(); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (b *bench) runConfig(ctx context.Context, round int, config string) error {
	switch {
	case strings.HasPrefix(config, "auditd"):
		if err := b.startAuditd(b.opt.audit[config]); err != nil {
			return err
		}
	case config != "bare":
		args, _ := b.opt.agentArgs(config)
		if err := b.startAgent(ctx, args); err != nil {
			if ctx.Err() != nil {
				return err
			}
			logf("WARNING: %v; starting it again", err)
			b.startFailures++
			if err := b.startAgent(ctx, args); err != nil {
				return err
			}
		}
	}
	for _, s := range b.opt.storms {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r, err := b.runStorm(ctx, round, config, s)
		if err != nil {
			return err
		}
		b.runs = append(b.runs, r)
		json.NewEncoder(b.raw).Encode(r)
		line := fmt.Sprintf("round %d %-16s %-8s %8.0f ops/s  wall %.3fs  background %.2f cpu-s  waited %.0fs", round, config, s, r.Result.OpsPerS, r.Result.WallSec, r.BackgroundCPU, r.QuietWait)
		if r.NotQuiet {
			line += " (not quiet)"
		}
		if r.OtherSensors > 0 {
			line += fmt.Sprintf(" (%d other sensors loaded)", r.OtherSensors)
		}
		if w := r.Watcher; w != nil {
			line += fmt.Sprintf("  | watcher cpu %.2fs", w.CPUSec)
			if b.agent != nil {
				line += fmt.Sprintf(" events %d (%.0f/s) dropped %d decode_errors %d rss %.1f MiB", w.Handled, w.EventsPerSec, w.Dropped, w.DecodeErrors, mib(w.VmRSS))
			}
			if w.Dropped+w.DecodeErrors > 0 {
				line += "  !!! EVENTS LOST !!!"
				b.lost += w.Dropped + w.DecodeErrors
			}
		}
		logf("%s", line)
	}
	switch {
	case strings.HasPrefix(config, "auditd"):
		return b.stopAuditd()
	case config != "bare":
		return b.stopAgent()
	}
	return nil
}

func (b *bench) runStorm(ctx context.Context, round int, config, storm string) (run, error) {
	args := []string{}
	switch {
	case strings.HasPrefix(storm, "exec"):
		k, err := strconv.Atoi(strings.TrimPrefix(storm, "exec"))
		if err != nil || k < 1 {
			return run{}, fmt.Errorf("storm %q: want execK with K >= 1", storm)
		}
		args = append(args, "-mode", "exec", "-n", strconv.Itoa(b.opt.execN), "-workers", strconv.Itoa(k))
	case storm == "file":
		args = append(args, "-mode", "file", "-n", strconv.Itoa(b.opt.fileN))
		if b.opt.fileDir != "" {
			dir, err := os.MkdirTemp(b.opt.fileDir, "storm-file-")
			if err != nil {
				return run{}, err
			}
			defer os.RemoveAll(dir)
			args = append(args, "-dir", dir)
		}
	case storm == "connect":
		args = append(args, "-mode", "connect", "-n", strconv.Itoa(b.opt.connectN))
	default:
		return run{}, fmt.Errorf("unknown storm %q", storm)
	}
	// Let the previous storm's stragglers (exits, writes) settle.
	time.Sleep(300 * time.Millisecond)
	waited, quiet := b.waitQuiet(ctx)

	watcher := 0
	var st0 status
	if b.agent != nil {
		watcher = b.agent.Process.Pid
		var err error
		if st0, err = b.status(); err != nil {
			return run{}, err
		}
	} else if b.auditPID != 0 {
		watcher = b.auditPID
	}
	cpu0 := procCPU(watcher)
	busy0 := systemBusy()

	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, b.opt.storm, args...)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return run{}, fmt.Errorf("storm %s: %w", storm, err)
	}
	end := time.Now()
	r := run{Round: round, Config: config, Storm: storm, QuietWait: waited.Seconds(), NotQuiet: !quiet}
	r.OtherSensors = sensorPrograms()
	if b.agent != nil {
		r.OtherSensors--
	}
	if err := json.Unmarshal(out.Bytes(), &r.Result); err != nil {
		return run{}, fmt.Errorf("storm %s printed %q: %w", storm, out.String(), err)
	}

	var w *watcherSample
	var st1 status
	if b.agent != nil {
		// Wait until the agent has read what the storm produced.
		var err error
		last := ^uint64(0)
		for {
			if st1, err = b.status(); err != nil {
				return run{}, err
			}
			if st1.RingPending == 0 && st1.Handled == last || time.Since(end) > 5*time.Second {
				break
			}
			last = st1.Handled
			time.Sleep(50 * time.Millisecond)
		}
		w = &watcherSample{
			CatchUpSec:   time.Since(end).Seconds(),
			Handled:      st1.Handled - st0.Handled,
			Dropped:      st1.Dropped - st0.Dropped,
			DecodeErrors: st1.DecodeErrors - st0.DecodeErrors,
			StatusRSS:    st1.RSSBytes,
			ByType:       map[string]uint64{},
		}
		for t, n := range st1.Events {
			if d := n - st0.Events[t]; d > 0 {
				w.ByType[t] = d
			}
		}
		w.EventsPerSec = float64(w.Handled) / r.Result.WallSec
		w.VmRSS, w.VmHWM = vmRSS(watcher)
		w.Anon, w.RingRSS = smaps(watcher)
	} else if watcher != 0 {
		time.Sleep(200 * time.Millisecond) // auditd writes behind
		w = &watcherSample{}
		w.VmRSS, w.VmHWM = vmRSS(watcher)
	}
	cpu1 := procCPU(watcher)
	busy1 := systemBusy()
	r.BackgroundCPU = busy1 - busy0 - r.Result.UserSec - r.Result.SysSec
	if w != nil {
		w.CPUSec = cpu1 - cpu0
		r.BackgroundCPU -= w.CPUSec
		r.Watcher = w
	}
	return r, nil
}

// waitQuiet waits until the machine's busy CPU over half a second is at
// most -quiet-cpu, for at most -quiet-wait. On a shared machine other work
// comes in bursts; a storm run during one measures the burst.
func (b *bench) waitQuiet(ctx context.Context) (time.Duration, bool) {
	if b.opt.quietCPU <= 0 {
		return 0, true
	}
	start := time.Now()
	ours := 0
	if b.agent != nil {
		ours = 1
	}
	for {
		b0 := systemBusy()
		time.Sleep(500 * time.Millisecond)
		busy := (systemBusy() - b0) / 0.5
		foreign := sensorPrograms() - ours
		if busy <= b.opt.quietCPU && foreign <= 0 {
			b.waitedAll += time.Since(start)
			return time.Since(start), true
		}
		if ctx.Err() != nil || time.Since(start) > b.opt.quietWait || b.waitedAll+time.Since(start) > b.opt.quietBudget {
			logf("the machine is busy (%.2f CPUs, %d other sensors loaded) after waiting %s for quiet; running anyway", busy, foreign, time.Since(start).Round(time.Second))
			b.waitedAll += time.Since(start)
			return time.Since(start), false
		}
	}
}

// status is the part of the agent's /status that the benchmark reads.
type status struct {
	ReadyIn      string            `json:"ready_in"`
	Handled      uint64            `json:"handled"`
	Dropped      uint64            `json:"ring_buffer_dropped"`
	DecodeErrors uint64            `json:"decode_errors"`
	RingPending  int               `json:"ring_buffer_pending"`
	RSSBytes     uint64            `json:"rss_bytes"`
	Events       map[string]uint64 `json:"events"`
}

var client = &http.Client{Timeout: 5 * time.Second}

func (b *bench) status() (status, error) {
	var s status
	resp, err := client.Get("http://" + b.opt.healthAddr + "/status")
	if err != nil {
		return s, fmt.Errorf("agent status: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return s, fmt.Errorf("agent status: %w", err)
	}
	return s, nil
}

func (b *bench) startAgent(ctx context.Context, extra []string) error {
	command := strings.Fields(b.opt.agent)
	args := append(append(command[1:], "--health-addr", b.opt.healthAddr, "--log-level", "warn"), extra...)
	logPath := filepath.Join(b.opt.outDir, "agent.log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(lf, "--- %s %s\n", command[0], strings.Join(args, " "))
	cmd := exec.Command(command[0], args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return err
	}
	lf.Close()
	b.agent = cmd
	b.agentExit = make(chan error, 1)
	os.WriteFile(filepath.Join(b.opt.outDir, "agent.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	exited := make(chan error, 1)
	go func() {
		st, err := cmd.Process.Wait()
		if err == nil && !st.Success() {
			err = errors.New(st.String())
		}
		exited <- err
	}()
	for {
		resp, err := client.Get("http://" + b.opt.healthAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			b.agent = nil
			return fmt.Errorf("the agent exited before it was ready (%v); see %s", err, logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Since(start) > 30*time.Second {
			return fmt.Errorf("the agent was not ready after 30 s; see %s", logPath)
		}
	}
	toHealthz := time.Since(start)
	st, err := b.status()
	if err != nil {
		return err
	}
	readyIn, _ := time.ParseDuration(st.ReadyIn)
	b.starts = append(b.starts, startup{ToHealthz: toHealthz, ReadyIn: readyIn})
	// Hand the Wait back to stopAgent.
	go func() { b.agentExit <- <-exited }()
	return nil
}

func (b *bench) stopAgent() error {
	if b.agent == nil {
		return nil
	}
	b.agent.Process.Signal(os.Interrupt)
	var err error
	select {
	case err = <-b.agentExit:
	case <-time.After(15 * time.Second):
		b.agent.Process.Kill()
		err = <-b.agentExit
		err = errors.Join(err, errors.New("the agent did not exit within 15 s of SIGINT"))
	}
	b.agent = nil
	os.Remove(filepath.Join(b.opt.outDir, "agent.pid"))
	return err
}

// startAuditd starts Debian's auditd as shipped (logging to
// /var/log/audit/audit.log) and adds the rules, auditctl's arguments each.
func (b *bench) startAuditd(rules [][]string) error {
	if out, err := exec.Command("auditd").CombinedOutput(); err != nil {
		return fmt.Errorf("start auditd: %v: %s", err, out)
	}
	b.auditOn = true
	deadline := time.Now().Add(10 * time.Second)
	for b.auditPID == 0 {
		if pid := auditdPID(); pid != 0 {
			b.auditPID = pid
			break
		}
		if time.Now().After(deadline) {
			return errors.New("auditd did not register with the kernel within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, r := range rules {
		for {
			out, err := exec.Command("auditctl", r...).CombinedOutput()
			if err == nil {
				break
			}
			// An auditctl older than the kernel knows fewer system
			// calls (Debian 12's has no fchmodat2): leave out those
			// it names, and say so.
			name, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "Syscall name unknown: ")
			i := slices.Index(r, name)
			if !ok || i < 1 || r[i-1] != "-S" {
				return fmt.Errorf("auditctl %s: %v: %s", strings.Join(r, " "), err, out)
			}
			logf("auditctl does not know the system call %s: left out of the rule", name)
			r = slices.Delete(slices.Clone(r), i-1, i+1)
		}
	}
	return nil
}

// auditdPID is the pid the kernel's audit status reports, 0 for none.
func auditdPID() int {
	out, err := exec.Command("auditctl", "-s").Output()
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "pid" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func (b *bench) stopAuditd() error {
	if !b.auditOn {
		return nil
	}
	var errs []error
	if out, err := exec.Command("auditctl", "-D").CombinedOutput(); err != nil {
		errs = append(errs, fmt.Errorf("auditctl -D: %v: %s", err, out))
	}
	if b.auditPID != 0 {
		syscall.Kill(b.auditPID, syscall.SIGTERM)
		for i := 0; i < 500 && syscall.Kill(b.auditPID, 0) == nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// auditd leaves the kernel's audit switched on; put it back as found.
	if out, err := exec.Command("auditctl", "-e", "0").CombinedOutput(); err != nil {
		errs = append(errs, fmt.Errorf("auditctl -e 0: %v: %s", err, out))
	}
	b.auditPID, b.auditOn = 0, false
	return errors.Join(errs...)
}

func (b *bench) cleanup() {
	if b.agent != nil {
		b.agent.Process.Signal(os.Interrupt)
		select {
		case <-b.agentExit:
		case <-time.After(10 * time.Second):
			b.agent.Process.Kill()
		}
		b.agent = nil
	}
	if b.auditOn {
		if err := b.stopAuditd(); err != nil {
			fmt.Fprintln(os.Stderr, "sensorbench: cleanup:", err)
		}
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// procCPU is a process's user+system CPU seconds; 0 for pid 0.
func procCPU(pid int) float64 {
	if pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command: state is field 3, utime 14, stime 15.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clkTck
}

const clkTck = 100 // USER_HZ on Linux x86-64

// systemBusy is the machine's non-idle CPU seconds since boot.
func systemBusy() float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)[1:]
	var busy float64
	for i, v := range f {
		n, _ := strconv.ParseFloat(v, 64)
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		busy += n
	}
	return busy / clkTck
}

func vmRSS(pid int) (rss, hwm uint64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			rss = kb(v)
		}
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			hwm = kb(v)
		}
	}
	return rss, hwm
}

func kb(v string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n << 10
}

// smaps returns the anonymous memory (smaps_rollup) and what is resident in
// mapped BPF maps (anon_inode:bpf-map): almost all of it is the ring buffer,
// whose data pages the kernel maps twice, back to back, so that a record
// that wraps reads as one piece. It counts twice in RSS but not in RAM.
func smaps(pid int) (anon, ring uint64) {
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "Anonymous:"); ok {
				anon = kb(v)
			}
		}
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return anon, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	inRing := false
	for sc.Scan() {
		l := sc.Text()
		fields := strings.Fields(l)
		if len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			inRing = strings.Contains(l, "anon_inode:bpf-map") || strings.Contains(l, "ringbuf")
			continue
		}
		if v, ok := strings.CutPrefix(l, "Rss:"); ok && inRing {
			ring += kb(v)
		}
	}
	return anon, ring
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
