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
	Dropped      uint64                `json:"ring_buffer_dropped"`
	DecodeErrors uint64                `json:"decode_errors"`
	LastError    string                `json:"last_decode_error,omitempty"`
	Truncated    uint64                `json:"paths_truncated"`
	RingBytes    uint32                `json:"ring_buffer_bytes"`
	RingPending  int                   `json:"ring_buffer_pending"`
	WriteErrors  uint64                `json:"output_errors"`
	Processes    proctree.Stats        `json:"processes"`
	Containers   int                   `json:"containers_cached"`
	RSSBytes     uint64                `json:"rss_bytes"`
	PolicyError  string                `json:"policy_error,omitempty"` // the last failed reload, if the policies in force are older
	// CreationsJudged counts the containers the OCI hook asked about.
	CreationsJudged uint64 `json:"creations_judged"`
	// Console is what the agent sent to the console; absent without one.
	Console *event.PublisherCounts `json:"console,omitempty"`
	// Drift is Drift Prevention's enforcement: its mechanisms, strongest
	// first, and counters; absent when it could not load.
	Drift *DriftStatus `json:"drift_prevention,omitempty"`
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
		Node:         a.cfg.Node,
		Version:      a.cfg.Version,
		PID:          os.Getpid(),
		Started:      a.start,
		ReadyIn:      a.readyIn.Round(time.Microsecond).String(),
		Uptime:       time.Since(a.start).Round(time.Second).String(),
		Kernel:       a.probe,
		Capabilities: a.probe.Capabilities(),
		Events:       st.Events,
		Handled:      a.handled.Load(),
		Alerts:       a.alerts.Load(),
		Dropped:      st.Dropped,
		DecodeErrors: st.DecodeErrors,
		LastError:    st.LastError,
		Truncated:    st.PathTruncated,
		RingBytes:    st.RingBytes,
		RingPending:  st.RingPending,
		WriteErrors:  a.writeErrors.Load(),
		Processes:    a.tree.Stats(),
		Containers:   a.containers.Len(),
		RSSBytes:     rss(),

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
	return s
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
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
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
	one("mamori_alerts_total", "counter", "Alerts raised by rules.", s.Alerts)
	one("mamori_ringbuf_dropped_total", "counter", "Events lost in the kernel because the ring buffer was full.", s.Dropped)
	one("mamori_decode_errors_total", "counter", "Ring-buffer records that did not decode (lost events).", s.DecodeErrors)
	one("mamori_paths_truncated_total", "counter", "Paths or strings cut short in the kernel.", s.Truncated)
	one("mamori_ringbuf_pending_bytes", "gauge", "Bytes waiting in the ring buffer.", s.RingPending)
	one("mamori_ringbuf_size_bytes", "gauge", "Size of the ring buffer.", s.RingBytes)
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
