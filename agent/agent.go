// Package agent wires the node agent together: it probes the kernel, loads
// the sensor, and runs each event through enrichment (process tree, container
// attribution) to the outputs, while serving health as Prometheus metrics and
// a status document. It owns the order of the pipeline and nothing else: each
// stage lives in its own package.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mamori-dev/mamori/container"
	"github.com/mamori-dev/mamori/detect"
	"github.com/mamori-dev/mamori/dnscache"
	"github.com/mamori-dev/mamori/enforce"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/guard"
	"github.com/mamori-dev/mamori/internal/kernelbtf"
	"github.com/mamori-dev/mamori/internal/tracefs"
	"github.com/mamori-dev/mamori/learn"
	"github.com/mamori-dev/mamori/output"
	"github.com/mamori-dev/mamori/policy"
	"github.com/mamori-dev/mamori/probe"
	"github.com/mamori-dev/mamori/proctree"
	"github.com/mamori-dev/mamori/runtimehook"
	"github.com/mamori-dev/mamori/sensor"
	"github.com/mamori-dev/mamori/workload"
)

// DefaultHealthAddr is where the agent serves /metrics and /status.
const DefaultHealthAddr = "127.0.0.1:9746"

// hostRefresh is how often the agent reads the node's addresses again for
// host scopes by IP.
const hostRefresh = 30 * time.Second

// Config is everything the agent is told on its command line.
type Config struct {
	Node string
	// Events, when set, receives every event.
	Events *output.Writer
	// Detector, when set, evaluates every event against rules; Alerts
	// receives what it raises (it may be the same Writer as Events).
	Detector *detect.Detector
	Alerts   *output.Writer
	// Policies, when set, are applied to container events (package guard)
	// and watched for changes; their alerts go to Alerts too.
	Policies *policy.Store
	// Net, when set, refuses connections for IP Reputation and Network
	// Egress in containers whose policies enforce them. The agent closes it.
	Net *enforce.Net
	// Drift, when set, refuses drifted executables in containers whose
	// policies enforce Drift Prevention; its verdicts become alerts. The
	// agent closes it when it stops.
	Drift *enforce.Drift
	// Probe, when set, waits for the kernel's capabilities as the caller
	// probed them meanwhile (probe.Start); otherwise New probes.
	Probe func() probe.Report
	// LoadEnforcement, when set, loads Drift and Net (either nil when it
	// cannot enforce, which it reports): New runs it while the sensor's
	// programs load, since the kernel's verifier keeps a core busy for
	// each load, and sets Drift and Net from what it returns.
	LoadEnforcement func() (*enforce.Drift, *enforce.Net)
	// EventTypes limits what the sensor captures; empty means all.
	EventTypes []event.Type
	// SensitivePrefixes replaces the sensor's default list when not nil.
	SensitivePrefixes []string
	// Opens says which read-only and failed opens the sensor reports
	// beyond the sensitive prefixes.
	Opens sensor.OpenFilter
	// IO says which sends and receives on IPv4 and IPv6 sockets it reports.
	IO sensor.IOFilter
	// Connects narrows the connects captured; nil captures every one.
	Connects *sensor.ConnectFilter
	// Names, when set, learns from the DNS responses the node receives the
	// names of addresses (the sensor then reports them); the Detector
	// should be given the same cache.
	Names *dnscache.Cache
	// EnvBytes is how much of each new program's environment exec events
	// carry; 0 leaves it out.
	EnvBytes uint32
	// CaptureAbsentCalls captures attempts at the system calls the kernel
	// was built without (sensor.Config.CaptureAbsentCalls).
	CaptureAbsentCalls bool
	// HealthAddr is where /metrics and /status are served; "" turns it off.
	HealthAddr string
	// RingBufferBytes sizes the ring buffer; 0 means the sensor's default.
	RingBufferBytes uint32
	// RingBufferReserve is the part of the ring buffer kept for exec, fork,
	// exit and cgroup_move records; 0 means the sensor's default.
	RingBufferReserve uint32
	// MaxAncestors is how many ancestors each event carries; 0 means the
	// process tree's default.
	MaxAncestors int
	// Version is reported in status.
	Version string
	// HookSocket, when set with Policies, is the unix socket on which the
	// agent answers `mamori oci-hook run`: containers are judged by the
	// creation controls before their entrypoint runs.
	HookSocket string
	// Images is what the agent knows about images (the registered-images
	// store) for the image controls at creation; nil for none.
	Images workload.Images
	// ImageFiles, when set, tells what a registered image's baseline holds
	// at a path, so that drift alerts say whether the image shipped a
	// program there; the registered-images store is one.
	ImageFiles ImageFiles
	// HostGroups are the node groups the operator assigns this node, for
	// policies scoped by host: {group: ...}.
	HostGroups []string
	// FoldWindow folds identical alerts raised within it into one with
	// their count (detect.Folder); 0 writes every alert.
	FoldWindow time.Duration
	// Containers says where the container runtimes keep their metadata;
	// the zero value is each runtime's default.
	Containers container.Config
	// Console, when set, receives alerts (and events) for the central
	// console (see Console).
	Console Console
	// Learn, when set, learns what each container does for the
	// console's behaviour profiles (package learn); Observations hands
	// it out. The agent fills in the node, DNS names and process peaks.
	Learn *learn.Config
}

// Agent is a running node agent.
type Agent struct {
	cfg         Config
	log         *slog.Logger
	start       time.Time
	readyIn     time.Duration
	probe       probe.Report
	sensor      *sensor.Sensor
	tree        *proctree.Tree
	containers  *container.Resolver
	listener    net.Listener
	guard       *guard.Guard
	forks       forkLimits
	netMu       sync.Mutex
	netRules    map[string]*netState // by container id
	digests     exeDigests
	hookL       net.Listener
	hookJudged  atomic.Uint64
	hostNS      runtimehook.HostNamespaces
	protect     *protection // nil without policies
	folder      *detect.Folder
	escapes     *escapes
	learner     *learn.Learner
	blind       blindWatch
	verdictLoss verdictLoss

	procs   int         // processes found by the start-up scan
	isReady atomic.Bool // announceReady ran

	handled     atomic.Uint64
	lastEvent   atomic.Int64  // Unix ns of the newest event handled
	alerts      atomic.Uint64 // raised
	alertsSent  atomic.Uint64 // written, after folding
	writeErrors atomic.Uint64
	lastWrite   atomic.Pointer[string]
}

// New probes the kernel, loads the sensor and seeds the process tree. The
// agent is ready (events flow into the ring buffer) when it returns.
func New(cfg Config, log *slog.Logger) (*Agent, error) {
	a := &Agent{cfg: cfg, log: log, start: time.Now(), netRules: map[string]*netState{}}
	a.folder = detect.NewFolder(cfg.FoldWindow, a.sendAlert)
	a.escapes = newEscapes()
	if cfg.Node == "" {
		a.cfg.Node, _ = os.Hostname()
	}
	if cfg.Learn != nil {
		lc := *cfg.Learn
		lc.Node = a.cfg.Node
		lc.Peak = processPeak
		if names := cfg.Names; names != nil && lc.Names == nil {
			lc.Names = func(addr netip.Addr, at time.Time) []string { return names.Names(nil, addr, at) }
		}
		a.learner = learn.New(lc, log.With("part", "learn"))
	}
	if cfg.HealthAddr != "" {
		// Bind first: a second agent on the node fails here, before it
		// loads a second copy of the sensor.
		l, err := net.Listen("tcp", cfg.HealthAddr)
		if err != nil {
			return nil, fmt.Errorf("serve health on %s: %w (is another agent running? use --health-addr to move it, or --health-addr '' to turn it off)", cfg.HealthAddr, err)
		}
		a.listener = l
	}
	// Before anything attaches a tracepoint, the probe's included: the
	// sensor's per-call syscall tracepoints need tracefs, and cilium/ebpf
	// would keep "not mounted" from a first look made without it.
	if mounted, err := tracefs.Ensure(); err != nil {
		log.Info("tracefs is not mounted and cannot be: no tracepoint can be attached", "err", err)
	} else if mounted {
		log.Info("mounted tracefs: tracepoints are attached through it", "path", tracefs.Path)
	}
	if cfg.Probe != nil {
		a.probe = cfg.Probe()
	} else {
		a.probe = probe.Run()
	}
	for _, c := range a.probe.Capabilities() {
		level := slog.LevelInfo
		if c.Degraded {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "capability", "name", c.Name, "mechanism", c.Mechanism, "effect", c.Effect)
	}

	var err error
	a.containers, err = container.New(cfg.Containers, log.With("part", "container"))
	if err != nil {
		a.closeListener()
		return nil, fmt.Errorf("container attribution: %w", err)
	}
	a.tree = proctree.New(proctree.Config{MaxAncestors: cfg.MaxAncestors}, log.With("part", "proctree"))
	if cfg.HookSocket != "" && cfg.Policies != nil {
		if a.hookL, err = runtimehook.Listen(cfg.HookSocket); err != nil {
			a.containers.Close()
			a.closeListener()
			return nil, err
		}
	}
	var nsFallback []string
	if a.hostNS, nsFallback, err = runtimehook.ReadHostNamespaces("/proc"); err != nil {
		log.Warn("cannot read the host's namespaces: the OCI hook takes every namespace a container joins by path for the host's", "err", err)
	} else if len(nsFallback) > 0 {
		log.Info("the host's namespaces are the agent's own (init's cannot be read here)", "types", nsFallback)
	}
	if cfg.Policies != nil {
		a.protect = newProtection(a, log.With("part", "enforce"))
		host, err := hostFacts(a.cfg.Node, cfg.HostGroups)
		if err != nil {
			log.Warn("host scopes by IP cannot match until the node's addresses can be read", "err", err)
		}
		log.Info("host facts for policy scopes", "hostname", host.Hostname, "ips", host.IPs, "groups", host.Groups)
		a.guard = guard.New(cfg.Policies, guard.Config{
			Host:          host,
			Facts:         a.containerFacts,
			Enforced:      a.protect.enforced,
			CoolDown:      a.coolDown,
			DriftDetail:   a.driftDetail,
			DriftedScript: a.driftedScript,
			Digest:        a.digests.sum,
		}, log.With("part", "guard"))
	}
	// Load the sensor before scanning /proc, so that a process started in
	// between is seen by one or the other.
	var dnsCgroup string
	if cfg.Names != nil {
		if dnsCgroup, err = container.FindCgroup2Mount("/proc/self/mountinfo"); err != nil {
			log.Warn("DNS responses cannot be seen without the cgroup v2 hierarchy: fd.sip.name and the like have no values", "err", err)
		}
	}
	opens := cfg.Opens
	if c := opens.Changes; c != nil && cfg.Policies != nil {
		// The guard keeps a container's recent events for its
		// forensics: every remove, rename and mkdir there.
		cc := *c
		cc.InContainers = true
		opens.Changes = &cc
	}
	var enforcement chan struct{}
	if cfg.LoadEnforcement != nil {
		enforcement = make(chan struct{})
		go func() {
			defer close(enforcement)
			a.cfg.Drift, a.cfg.Net = cfg.LoadEnforcement()
		}()
	}
	a.sensor, err = sensor.New(sensor.Config{
		DNSCgroup:             dnsCgroup,
		Node:                  a.cfg.Node,
		Events:                cfg.EventTypes,
		SensitivePrefixes:     cfg.SensitivePrefixes,
		EnvBytes:              cfg.EnvBytes,
		CaptureAbsentCalls:    cfg.CaptureAbsentCalls,
		Opens:                 opens,
		IO:                    cfg.IO,
		Connects:              cfg.Connects,
		RingBufferBytes:       cfg.RingBufferBytes,
		LifecycleReserveBytes: cfg.RingBufferReserve,
	}, log.With("part", "sensor"))
	if enforcement != nil {
		<-enforcement
	}
	if err != nil {
		a.containers.Close()
		a.closeListener()
		if a.cfg.Net != nil {
			a.cfg.Net.Close()
		}
		if a.cfg.Drift != nil {
			a.cfg.Drift.Close()
		}
		return nil, err
	}
	if hook := a.sensor.SyscallHook(); hook != "" {
		log.Info("system calls captured", "hook", hook)
	}
	if calls := a.sensor.AbsentCalls(); len(calls) > 0 {
		log.Info("system calls this kernel was built without are not captured: attempts at them fail with ENOSYS; --capture-absent-calls captures them, with a program on every system call of the node",
			"calls", calls)
	}
	n, err := a.tree.Scan()
	if err != nil {
		log.Warn("process scan incomplete", "err", err)
	}
	// Loading parsed the kernel's BTF (tens of MiB) for CO-RE and the probe;
	// nothing needs it any more, so give it back now rather than at the
	// garbage collector's leisure.
	debug.FreeOSMemory()
	a.procs = n
	return a, nil
}

// announceReady logs "agent ready" once the sensor runs and, with
// policies, every container running on the node has its enforcement in
// place: /healthz answers 200 from then on.
func (a *Agent) announceReady(ctx context.Context) {
	if a.protect != nil {
		select {
		case <-a.protect.ready:
		case <-ctx.Done():
			return
		}
	}
	a.readyIn = time.Since(a.start)
	a.isReady.Store(true)
	kernelbtf.Release() // start-up's BPF loads are done
	health := "off"
	if a.listener != nil {
		health = a.listener.Addr().String() // the real port when asked for :0
	}
	args := []any{"node", a.cfg.Node, "processes", a.procs, "ready_in", a.readyIn.Round(time.Millisecond).String(), "health", health}
	if a.protect != nil {
		st := a.protect.status()
		n := map[string]int{}
		for _, c := range st {
			n[c.State]++
		}
		args = append(args, "containers", len(st), "protected", n[Protected], "degraded", n[Degraded], "audit_only", n[AuditOnly])
	}
	a.log.Info("agent ready", args...)
}

func (a *Agent) closeListener() {
	if a.listener != nil {
		a.listener.Close()
	}
	if a.hookL != nil {
		a.hookL.Close()
	}
}

// Run processes events until ctx ends, then drains the ring buffer, flushes
// the outputs and returns.
func (a *Agent) Run(ctx context.Context) error {
	defer a.close()
	var wg sync.WaitGroup
	bg, stopBG := context.WithCancel(context.Background())
	defer func() { stopBG(); wg.Wait() }()

	if a.listener != nil {
		srv := &http.Server{Handler: a.healthHandler(), ReadHeaderTimeout: 5 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(a.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("health server stopped", "err", err)
			}
		}()
		go func() { <-bg.Done(); srv.Close() }()
	}
	if a.hookL != nil {
		srv := &http.Server{Handler: runtimehook.Handler(a.judgeCreate), ReadHeaderTimeout: 5 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(a.hookL); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("hook server stopped: containers are created without the creation controls", "err", err)
			}
		}()
		go func() { <-bg.Done(); srv.Close() }()
		a.log.Info("creation controls: answering the OCI hook", "socket", a.cfg.HookSocket)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.containers.Run(bg)
	}()
	// Exits the sensor missed (a full ring buffer, a process that died
	// before the agent started) would otherwise stay in the tree.
	every(bg, &wg, 30*time.Second, func() { a.tree.Prune() })
	if a.guard != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.forks.watch(bg, a.forksRefused)
		}()
		every(bg, &wg, hostRefresh, a.refreshHost)
	}
	if a.cfg.Drift != nil && a.guard != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.driftVerdicts(a.cfg.Drift)
		}()
	}
	if a.cfg.Net != nil && a.guard != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.bindVerdicts(a.cfg.Net)
		}()
	}
	if a.cfg.Policies != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.cfg.Policies.Watch(bg, 0)
		}()
	}
	if a.protect != nil {
		// Make before break: a policy change places the new enforcement
		// of every container before the old one is lifted.
		cancel := a.cfg.Policies.Subscribe(func(*policy.Set) { a.protect.changed() })
		defer cancel()
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.protect.run(bg)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.announceReady(bg)
	}()
	for _, w := range a.writers() {
		every(bg, &wg, 200*time.Millisecond, func() { w.Flush() })
	}
	every(bg, &wg, blindPoll, func() { a.watchBlind(time.Now(), false) })
	every(bg, &wg, time.Second, func() { a.watchVerdictLoss(time.Now(), false) })

	err := a.sensor.Run(ctx, a.handle)
	a.watchBlind(time.Now(), true) // what was lost since the last report
	if a.cfg.Net != nil {
		a.cfg.Net.Close()
	}
	if a.cfg.Drift != nil {
		// Lifts every mark and closes the verdict channel, which ends
		// driftVerdicts once it has reported what was pending.
		a.cfg.Drift.Close()
	}
	a.watchVerdictLoss(time.Now(), true)
	// Repeats still being counted go out now: none is lost.
	a.flushEscapes()
	a.folder.Flush()
	for _, w := range a.writers() {
		if ferr := w.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("flush output: %w", ferr)
		}
	}
	st := a.sensor.Stats()
	a.log.Info("agent stopped", "events", a.handled.Load(), "alerts", a.alerts.Load(), "dropped", st.Dropped, "decode_errors", st.DecodeErrors)
	return err
}

// every calls fn every d on a goroutine of its own until ctx ends.
func every(ctx context.Context, wg *sync.WaitGroup, d time.Duration, fn func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn()
			}
		}
	}()
}

// handle is the per-event pipeline. It runs on the sensor's goroutine.
func (a *Agent) handle(r sensor.Record) {
	e := r.Event
	switch e.Type {
	case event.Exit:
		// Enrich before the tree forgets the process.
		a.tree.Enrich(e)
		a.tree.Update(e)
	default:
		a.tree.Update(e)
		a.tree.Enrich(e)
	}
	e.Container = a.containers.Lookup(r.CgroupID, e.Process.PID)
	a.handled.Add(1)
	a.lastEvent.Store(e.Time.UnixNano())
	// DNS responses are read for the names of addresses whenever rules,
	// learning or --events want names; they are events of their own only
	// where the types asked for include them (the kernel filters the
	// others by type).
	dns := e.Type == event.DNS
	if dns && a.cfg.Names != nil {
		a.cfg.Names.Add(e.DNS, e.Time)
	}
	if !dns || a.cfg.EventTypes == nil || slices.Contains(a.cfg.EventTypes, event.DNS) {
		if a.cfg.Events != nil {
			a.noteWrite(a.cfg.Events.WriteEvent(e))
		}
		if a.cfg.Console != nil {
			a.cfg.Console.Event(e)
		}
	}
	if a.learner != nil {
		a.learner.Observe(e)
	}
	if dns {
		return
	}
	if a.cfg.Detector != nil {
		a.cfg.Detector.Detect(e, a.writeAlert)
	}
	if a.guard != nil {
		a.guard.Observe(e, a.writeAlert)
	}
	if a.protect != nil {
		switch e.Type {
		case event.CgroupMove:
			a.checkEscape(e)
			// A runtime moving a container's first process into its
			// cgroup: the earliest sign of a new container, before its
			// entrypoint runs.
			if m := e.Cgroup; m != nil && m.ID != 0 {
				if c := a.containers.Lookup(m.ID, m.PID); !c.IsHost() {
					a.protect.seen(c, m.ID, m.PID)
				}
			}
		case event.Mount:
			a.checkEscape(e)
		case event.Exec:
			if e.Container.IsHost() {
				a.checkEscape(e)
			}
		}
	}
	if a.protect != nil && !e.Container.IsHost() {
		switch {
		case e.Type == event.Exec:
			a.protect.seen(e.Container, r.CgroupID, e.Process.PID)
		case e.Type == event.Fork && !e.Process.ChildIsThread:
			a.protect.seen(e.Container, r.CgroupID, e.Process.ChildPID)
		case e.Type == event.Exit && e.Process.VPID == 1:
			// The container's init is gone, and with it the container,
			// unless this was pid 1 of a namespace nested inside it:
			// released once no process is left.
			a.protect.exited(e.Container.ID)
		}
	}
}

// writeAlert raises an alert: counted, folded with its repeats, written.
// Safe for concurrent use.
func (a *Agent) writeAlert(al *event.Alert) {
	a.alerts.Add(1)
	if a.folder == nil { // an Agent not made by New
		a.sendAlert(al)
		return
	}
	a.folder.Add(al)
}

// sendAlert writes an alert that folding passed on.
func (a *Agent) sendAlert(al *event.Alert) {
	a.noteWrite(a.send(al))
}

// send writes an alert to the outputs and hands it to the console.
func (a *Agent) send(al *event.Alert) error {
	a.alertsSent.Add(1)
	if a.cfg.Console != nil {
		a.cfg.Console.Alert(al) // first: it gives the alert its uuid
	}
	if a.cfg.Alerts != nil {
		return a.cfg.Alerts.WriteAlert(al)
	}
	return nil
}

// Raise writes an alert that a source beside the sensor raised (the
// CloudTrail follower, the Kubernetes audit webhook) with the agent's own:
// to its output and to the console. Such alerts are one per record and are
// not folded. The error is the output's, so that the source can hold back
// its checkpoint. Safe for concurrent use.
func (a *Agent) Raise(al *event.Alert) error {
	a.alerts.Add(1)
	err := a.send(al)
	a.noteWrite(err)
	return err
}

func (a *Agent) noteWrite(err error) {
	if err == nil {
		return
	}
	if a.writeErrors.Add(1) == 1 {
		a.log.Error("cannot write output", "err", err)
	}
	msg := err.Error()
	a.lastWrite.Store(&msg)
}

// writers returns the distinct outputs.
func (a *Agent) writers() []*output.Writer {
	var ws []*output.Writer
	if a.cfg.Events != nil {
		ws = append(ws, a.cfg.Events)
	}
	if a.cfg.Alerts != nil && a.cfg.Alerts != a.cfg.Events {
		ws = append(ws, a.cfg.Alerts)
	}
	return ws
}

func (a *Agent) close() {
	a.sensor.Close()
	a.containers.Close()
	if a.guard != nil {
		a.guard.Close()
	}
}
