package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/enforce"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
	"github.com/mamori-dev/mamori/probe"
	"github.com/mamori-dev/mamori/proctree"
	"github.com/mamori-dev/mamori/sensor"
)

// Status is the document served at /status and printed by `mamori status`.
type Status struct {
	Node         string                `json:"node"`
	Version      string                `json:"version"`
	PID          int                   `json:"pid"`
	Started      time.Time             `json:"started"`
	ReadyIn      string                `json:"ready_in"`
	Uptime       string                `json:"uptime"`
	Kernel       probe.Report          `json:"kernel"`
	Capabilities []probe.Capability    `json:"capabilities"`
	Events       map[event.Type]uint64 `json:"events"`
	Handled      uint64                `json:"handled"`
	Alerts       uint64                `json:"alerts"`
	// AlertsWritten counts alerts after folding: a folded run of repeats
	// is one alert with its count.
	AlertsWritten uint64 `json:"alerts_written"`
	Dropped       uint64 `json:"ring_buffer_dropped"`
	// DroppedByType splits Dropped by event type and cause; types that
	// lost nothing are left out.
	DroppedByType map[event.Type]sensor.Drops `json:"ring_buffer_dropped_by_type"`
	LastDrop      time.Time                   `json:"ring_buffer_last_drop,omitzero"`
	DecodeErrors  uint64                      `json:"decode_errors"`
	LastError     string                      `json:"last_decode_error,omitempty"`
	Truncated     uint64                      `json:"paths_truncated"`
	RingBytes     uint32                      `json:"ring_buffer_bytes"`
	ReserveBytes  uint32                      `json:"ring_buffer_reserve_bytes"` // kept for exec, fork, exit, cgroup_move
	RingPending   int                         `json:"ring_buffer_pending"`
	// SyscallHook says how system calls are captured; CallsNotCaptured
	// are the wanted ones this kernel was built without, left out
	// (--capture-absent-calls captures them).
	SyscallHook      string         `json:"syscall_hook,omitempty"`
	CallsNotCaptured []string       `json:"calls_not_captured,omitempty"`
	WriteErrors      uint64         `json:"output_errors"`
	Processes        proctree.Stats `json:"processes"`
	Containers       int            `json:"containers_cached"`
	RSSBytes         uint64         `json:"rss_bytes"`
	PolicyError      string         `json:"policy_error,omitempty"` // the last failed reload, if the policies in force are older
	// CreationsJudged counts the containers the OCI hook asked about.
	CreationsJudged uint64 `json:"creations_judged"`
	// Console is what the agent sent to the console; absent without one.
	Console *event.PublisherCounts `json:"console,omitempty"`
	// Drift is Drift Prevention's enforcement: its mechanisms, strongest
	// first, and counters; absent when it could not load.
	Drift *DriftStatus `json:"drift_prevention,omitempty"`
	// Ready says that the agent runs and every container it knows has its
	// enforcement in place (or declared not enforceable, with an alert);
	// NotReady says why not. /healthz answers 200 exactly when Ready.
	Ready    bool   `json:"ready"`
	NotReady string `json:"not_ready,omitempty"`
	// Enforcement lists each container with the state of each runtime
	// control: enforced (and by what), audited, or not enforced (why).
	// Absent without policies.
	Enforcement []ContainerProtection `json:"containers,omitempty"`
}

// DriftStatus is Drift Prevention's part of Status.
type DriftStatus struct {
	Mechanisms []enforce.Mechanism `json:"mechanisms"`
	enforce.Stats
}

// Explanation is what /policy/explain serves: a container's effective
// controls, with where each setting came from.
type Explanation struct {
	Container *event.Container `json:"container"`
	// Target is what the policies' scopes were matched against: the
	// container's facts (environment variable names, image labels, OS
	// and architecture, pod) and the node's.
	Target    *policy.Target    `json:"target"`
	Effective *policy.Effective `json:"effective"`
	Text      string            `json:"text"`
}

// Status returns the agent's current status.
func (a *Agent) Status() Status {
	st := a.sensor.Stats()
	s := Status{
		Node:             a.cfg.Node,
		Version:          a.cfg.Version,
		PID:              os.Getpid(),
		Started:          a.start,
		ReadyIn:          a.readyIn.Round(time.Microsecond).String(),
		Uptime:           time.Since(a.start).Round(time.Second).String(),
		Kernel:           a.probe,
		Capabilities:     a.probe.Capabilities(),
		Events:           st.Events,
		Handled:          a.handled.Load(),
		Alerts:           a.alerts.Load(),
		AlertsWritten:    a.alertsSent.Load(),
		Dropped:          st.Dropped,
		DroppedByType:    st.DroppedByType,
		LastDrop:         st.LastDrop,
		ReserveBytes:     st.ReserveBytes,
		DecodeErrors:     st.DecodeErrors,
		LastError:        st.LastError,
		Truncated:        st.PathTruncated,
		RingBytes:        st.RingBytes,
		RingPending:      st.RingPending,
		SyscallHook:      a.sensor.SyscallHook(),
		CallsNotCaptured: a.sensor.AbsentCalls(),
		WriteErrors:      a.writeErrors.Load(),
		Processes:        a.tree.Stats(),
		Containers:       a.containers.Len(),
		RSSBytes:         rss(),

		CreationsJudged: a.hookJudged.Load(),
	}
	if a.cfg.Console != nil {
		c := a.cfg.Console.Counts()
		s.Console = &c
	}
	if a.cfg.Drift != nil {
		s.Drift = &DriftStatus{Mechanisms: a.cfg.Drift.Mechanisms(), Stats: a.cfg.Drift.Stats()}
	}
	if a.cfg.Policies != nil {
		if err := a.cfg.Policies.Err(); err != nil {
			s.PolicyError = err.Error()
		}
	}
	s.Ready, s.NotReady = a.Ready()
	if a.protect != nil {
		s.Enforcement = a.protect.status()
	}
	return s
}

// Ready reports whether the agent is ready: its sensor runs and, with
// policies, every container it knows has its enforcement in place or
// declared not enforceable. Otherwise it says why not.
func (a *Agent) Ready() (bool, string) {
	if a.protect != nil {
		if ok, why := a.protect.Ready(); !ok {
			return false, why
		}
	}
	if !a.isReady.Load() {
		return false, "starting"
	}
	return true, ""
}

func (a *Agent) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(a.Status())
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Write(a.metrics())
	})
	mux.HandleFunc("GET /policy/explain", func(w http.ResponseWriter, r *http.Request) {
		ref := r.URL.Query().Get("container")
		if a.guard == nil {
			http.Error(w, "this agent runs without policies (--policy none)", http.StatusNotFound)
			return
		}
		c, eff, ok := a.guard.Explain(ref)
		if !ok {
			http.Error(w, fmt.Sprintf("no container %q has been seen by this agent (use its id, a 12+ character id prefix, or its name)", ref), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(Explanation{Container: c, Target: a.guard.Target(c), Effective: eff, Text: eff.String()})
	})
	// /healthz is readiness: 200 only when every known container has its
	// enforcement in place; 503 with the reason otherwise (starting up, a
	// container whose enforcement is being placed). /livez only says the
	// agent answers, for a liveness probe that must not restart it while
	// it places enforcement.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := a.Ready(); !ok {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// metrics renders the Prometheus text exposition format. It is small enough
// that the client library's weight is not worth it.
func (a *Agent) metrics() []byte {
	s := a.Status()
	var b strings.Builder
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	metric("mamori_events_total", "counter", "Events decoded from the kernel, by type.")
	types := make([]string, 0, len(s.Events))
	for t := range s.Events {
		types = append(types, string(t))
	}
	sort.Strings(types)
	for _, t := range types {
		fmt.Fprintf(&b, "mamori_events_total{type=%q} %d\n", t, s.Events[event.Type(t)])
	}
	one := func(name, typ, help string, v any) {
		metric(name, typ, help)
		fmt.Fprintf(&b, "%s %v\n", name, v)
	}
	one("mamori_events_handled_total", "counter", "Events that went through the pipeline.", s.Handled)
	one("mamori_alerts_total", "counter", "Alerts raised by rules and policies.", s.Alerts)
	one("mamori_alerts_written_total", "counter", "Alerts written after folding repeats into one with their count.", s.AlertsWritten)
	metric("mamori_ringbuf_dropped_total", "counter", "Events lost in the kernel, by type and cause: ring_full (no room in the ring buffer) or reserve (a syscall event turned away to keep room for exec, fork, exit and cgroup_move). Their sum is the status's ring_buffer_dropped.")
	for _, t := range event.Types {
		d := s.DroppedByType[t]
		fmt.Fprintf(&b, "mamori_ringbuf_dropped_total{type=%q,cause=\"ring_full\"} %d\n", t, d.RingFull)
		if !sensor.Lifecycle(t) {
			fmt.Fprintf(&b, "mamori_ringbuf_dropped_total{type=%q,cause=\"reserve\"} %d\n", t, d.Reserve)
		}
	}
	last := 0.0
	if !s.LastDrop.IsZero() {
		last = float64(s.LastDrop.UnixNano()) / 1e9
	}
	one("mamori_ringbuf_last_drop_timestamp_seconds", "gauge", "When the kernel last lost an event (Unix time); 0 for never.", strconv.FormatFloat(last, 'f', 3, 64))
	one("mamori_decode_errors_total", "counter", "Ring-buffer records that did not decode (lost events).", s.DecodeErrors)
	one("mamori_paths_truncated_total", "counter", "Paths or strings cut short in the kernel.", s.Truncated)
	one("mamori_ringbuf_pending_bytes", "gauge", "Bytes waiting in the ring buffer.", s.RingPending)
	one("mamori_ringbuf_size_bytes", "gauge", "Size of the ring buffer.", s.RingBytes)
	one("mamori_ringbuf_reserve_bytes", "gauge", "Part of the ring buffer that only exec, fork, exit and cgroup_move events may fill.", s.ReserveBytes)
	one("mamori_output_errors_total", "counter", "Events that could not be written.", s.WriteErrors)
	one("mamori_processes_live", "gauge", "Processes in the process tree.", s.Processes.Live)
	one("mamori_containers_cached", "gauge", "Cgroups with cached container attribution.", s.Containers)
	one("mamori_ready_seconds", "gauge", "Time from start to ready.", strconv.FormatFloat(a.readyIn.Seconds(), 'f', 6, 64))
	one("mamori_resident_memory_bytes", "gauge", "Resident memory of the agent.", s.RSSBytes)
	one("mamori_creations_judged_total", "counter", "Containers the OCI hook asked the agent about before they started.", s.CreationsJudged)
	if d := s.Drift; d != nil {
		one("mamori_drift_protected_containers", "gauge", "Containers whose drift is refused.", d.Protected)
		one("mamori_drift_verdicts_dropped_total", "counter", "Drift verdicts lost because nobody read them in time.", d.VerdictsDropped)
		one("mamori_drift_late_decisions_total", "counter", "Exec decisions answered by the fail policy.", d.LateDecisions)
	}
	if s.Enforcement != nil || a.protect != nil {
		n := map[string]int{}
		for _, c := range s.Enforcement {
			n[c.State]++
		}
		metric("mamori_containers", "gauge", "Containers the agent knows, by the state of their enforcement.")
		for _, st := range []string{Protected, Pending, Degraded, AuditOnly} {
			fmt.Fprintf(&b, "mamori_containers{state=%q} %d\n", st, n[st])
		}
	}
	ready := 0
	if s.Ready {
		ready = 1
	}
	one("mamori_ready", "gauge", "1 when every known container has its enforcement in place (or declared not enforceable).", ready)
	a.consoleMetrics(&b)
	metric("mamori_kernel_mechanism_available", "gauge", "Whether a kernel mechanism loads on this node (1) or not (0).")
	for _, r := range s.Kernel.Results {
		v := 0
		if r.Available {
			v = 1
		}
		fmt.Fprintf(&b, "mamori_kernel_mechanism_available{mechanism=%q} %d\n", r.Mechanism, v)
	}
	return []byte(b.String())
}

// rss returns the agent's resident set size from /proc/self/statm.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}
