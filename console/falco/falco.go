// Package falco speaks Falco's alert JSON, the payload Falco's
// http_output posts and falcosidekick receives: the console reads it (so
// that an existing Falco fleet reports into mamori) and writes it (so that
// the agent and the console can forward to falcosidekick).
//
// It knows event.Alert and HTTP; it must not know NATS or the store.
package falco

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// Alert is Falco's JSON output of one alert.
type Alert struct {
	UUID         string         `json:"uuid,omitempty"`
	Time         time.Time      `json:"time"`
	Rule         string         `json:"rule"`
	Priority     string         `json:"priority"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	Source       string         `json:"source,omitempty"`
	Tags         []string       `json:"tags,omitempty"`
	Hostname     string         `json:"hostname,omitempty"`
}

// ToFalco is a's Falco payload.
func ToFalco(a *event.Alert) []byte {
	fa := Alert{UUID: a.UUID, Time: a.Time, Rule: a.Rule, Priority: a.Priority, Output: a.Output, OutputFields: a.OutputFields,
		Source: a.Source, Tags: a.Tags, Hostname: a.Hostname}
	if fa.OutputFields == nil {
		fa.OutputFields = map[string]any{}
	}
	if fa.Tags == nil {
		fa.Tags = []string{}
	}
	b, _ := json.Marshal(&fa)
	return b
}

// FromFalco reads Falco's payload as a mamori alert of cluster. Falco's
// output fields name the container, pod and process; an alert without a
// uuid is given one derived from its content, so that a retried post is
// stored once.
func FromFalco(body []byte, cluster string) (*event.Alert, error) {
	var fa Alert
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&fa); err != nil {
		return nil, fmt.Errorf("not Falco's alert JSON: %w", err)
	}
	if fa.Rule == "" || fa.Time.IsZero() || fa.Priority == "" {
		return nil, errors.New("Falco's alert JSON needs time, rule and priority")
	}
	if fa.UUID == "" {
		s := sha256.Sum256(body)
		h := fmt.Sprintf("%x", s[:16])
		fa.UUID = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	}
	if fa.Hostname == "" {
		fa.Hostname = "falco"
	}
	if fa.Source == "" {
		fa.Source = "syscall"
	}
	a := &event.Alert{Kind: event.KindAlert, UUID: fa.UUID, Cluster: cluster, Time: fa.Time.UTC(), Rule: fa.Rule,
		Priority: canonicalPriority(fa.Priority), Output: fa.Output, OutputFields: fa.OutputFields, Source: fa.Source,
		Tags: fa.Tags, Hostname: fa.Hostname, Action: event.Detected}
	f := func(k string) string {
		v, ok := fa.OutputFields[k]
		if !ok || v == nil {
			return ""
		}
		s := fmt.Sprint(v)
		if s == "<NA>" {
			return ""
		}
		return s
	}
	if id := f("container.id"); id != "" {
		a.Container = &event.Container{ID: id, Name: f("container.name"), Image: f("container.image.repository")}
		if a.Container.Image != "" && f("container.image.tag") != "" {
			a.Container.Image += ":" + f("container.image.tag")
		}
		if id == "host" {
			a.Container = &event.Container{ID: event.HostID}
		} else if ns, pod := f("k8s.ns.name"), f("k8s.pod.name"); pod != "" {
			a.Container.Pod = &event.Pod{Name: pod, Namespace: ns}
		}
	}
	if pid := f("proc.pid"); pid != "" {
		n, _ := strconv.ParseUint(pid, 10, 32)
		pp, _ := strconv.ParseUint(f("proc.ppid"), 10, 32)
		a.Process = &event.Process{PID: uint32(n), PPID: uint32(pp), Name: f("proc.name"), Exe: f("proc.exepath"), LoginUID: -1}
		if cl := f("proc.cmdline"); cl != "" {
			a.Process.Args = strings.Fields(cl)
		}
	}
	return a, nil
}

// canonicalPriority spells Falco's priorities as Falco's JSON does.
func canonicalPriority(p string) string {
	for _, q := range []string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"} {
		if strings.EqualFold(p, q) {
			return q
		}
	}
	if strings.EqualFold(p, "info") {
		return "Informational"
	}
	return p
}

// Post sends one payload to falcosidekick (POST URL, as Falco's
// http_output does).
func Post(ctx context.Context, hc *http.Client, url string, payload []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mamori")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

// Forwarder posts alerts to falcosidekick from a bounded queue, beside
// the agent's event path: a full queue or a post that fails after its
// retries drops the alert, counted and logged.
type Forwarder struct {
	url     string
	log     *slog.Logger
	hc      *http.Client
	queue   chan []byte
	sent    atomic.Uint64
	dropped atomic.Uint64
	lastLog atomic.Int64
}

// NewForwarder forwards to url, keeping at most queue alerts waiting.
func NewForwarder(url string, queue int, log *slog.Logger) *Forwarder {
	return &Forwarder{url: url, log: log, hc: &http.Client{Timeout: 10 * time.Second}, queue: make(chan []byte, queue)}
}

// Alert queues a; it never blocks.
func (f *Forwarder) Alert(a *event.Alert) {
	select {
	case f.queue <- ToFalco(a):
	default:
		f.drop("queue full")
	}
}

func (f *Forwarder) drop(why string) {
	n := f.dropped.Add(1)
	if now := time.Now().UnixNano(); now-f.lastLog.Load() > int64(10*time.Second) {
		f.lastLog.Store(now)
		f.log.Error("alert for falcosidekick dropped", "cause", why, "dropped_total", n, "url", f.url)
	}
}

// Counts are what was sent and dropped.
func (f *Forwarder) Counts() (sent, dropped uint64) { return f.sent.Load(), f.dropped.Load() }

// Run posts until ctx ends, retrying each alert a few times.
func (f *Forwarder) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-f.queue:
			var err error
			for try := 0; try < 5; try++ {
				if err = Post(ctx, f.hc, f.url, p); err == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
			}
			if err != nil {
				f.drop(err.Error())
				continue
			}
			f.sent.Add(1)
		}
	}
}
