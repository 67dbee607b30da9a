package k8saudit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// DefaultMaxBodyBytes bounds a webhook request's body unless the
// configuration says otherwise. kube-apiserver sends at most 400 events a
// batch by default; at the RequestResponse level an event carries whole
// objects, so this leaves room for large ConfigMaps and Secrets.
const DefaultMaxBodyBytes = 32 << 20

// WebhookConfig says how a Webhook evaluates what it receives and where
// alerts and bad events go.
type WebhookConfig struct {
	// Rules holds the k8s_audit rules, loaded with this package's Catalog.
	Rules *rules.Ruleset
	// All raises an alert for every matching rule, not only the first.
	All bool
	// Hostname is the alerts' hostname.
	Hostname string
	// Alert receives each alert. Calls are never concurrent.
	Alert func(*event.Alert)
	// Bad, if set, receives each item of a request that is not an audit
	// event. Calls are never concurrent.
	Bad func(*Error)
	// MaxBodyBytes bounds a request's body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives a line for each refused request; nil discards them.
	Logger *slog.Logger
	// Now gives the time of events that carry none; nil means time.Now.
	Now func() time.Time
}

// Webhook is an http.Handler that takes what kube-apiserver's audit
// webhook backend sends: a POST of an audit.k8s.io/v1 EventList as JSON.
// It evaluates each event as it arrives and answers 200 once all are
// evaluated. A body that is not an EventList is refused with 400 and the
// reason; an EventList with items that are not audit events has the
// others evaluated and is answered 400 naming the bad items. It is safe
// for concurrent use: events are evaluated one at a time.
type Webhook struct {
	cfg WebhookConfig
	log *slog.Logger

	mu    sync.Mutex // serialises detection, numbering and stats
	det   *Detector
	num   uint64
	stats WebhookStats
}

// WebhookStats counts what a Webhook received.
type WebhookStats struct {
	Requests  uint64 // requests answered 200
	Refused   uint64 // requests refused, whatever the reason
	Events    uint64 // events evaluated
	BadEvents uint64 // items of an EventList that were not audit events
	Alerts    uint64 // alerts raised
}

// NewWebhook returns a Webhook for cfg.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if cfg.Rules == nil || cfg.Alert == nil {
		return nil, errors.New("k8s audit webhook: rules and an alert callback are needed")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhook{cfg: cfg, log: log, det: NewDetector(cfg.Rules, DetectorConfig{All: cfg.All, Hostname: cfg.Hostname})}, nil
}

// Stats returns the counts so far.
func (w *Webhook) Stats() WebhookStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// refuse answers a request with an error status and its reason.
func (w *Webhook) refuse(rw http.ResponseWriter, r *http.Request, code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.mu.Lock()
	w.stats.Refused++
	w.mu.Unlock()
	w.log.Warn("k8s audit webhook refused a request", "client", r.RemoteAddr, "status", code, "reason", msg)
	http.Error(rw, msg, code)
}

func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		w.refuse(rw, r, http.StatusMethodNotAllowed, "method %s not allowed: POST an audit.k8s.io/v1 EventList", r.Method)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		w.refuse(rw, r, http.StatusUnsupportedMediaType, "content type %q: want application/json", r.Header.Get("Content-Type"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, w.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			w.refuse(rw, r, http.StatusRequestEntityTooLarge, "body larger than %d bytes: lower --audit-webhook-batch-max-size on the API server", tooBig.Limit)
			return
		}
		w.refuse(rw, r, http.StatusBadRequest, "reading the body: %v", err)
		return
	}
	items, err := eventList(body)
	if err != nil {
		w.refuse(rw, r, http.StatusBadRequest, "%v", err)
		return
	}
	now := w.cfg.Now()
	var bad []string
	w.mu.Lock()
	for i, it := range items {
		e, err := newEvent(it, now)
		if err != nil {
			w.stats.BadEvents++
			bad = append(bad, fmt.Sprintf("item %d: %v", i, err))
			if w.cfg.Bad != nil {
				w.cfg.Bad(&Error{File: "webhook request from " + r.RemoteAddr, Record: i, Err: err})
			}
			continue
		}
		w.num++
		e.File, e.Index, e.Num = "webhook", i, w.num
		w.stats.Events++
		w.det.Detect(e, func(a *event.Alert) {
			w.stats.Alerts++
			w.cfg.Alert(a)
		})
	}
	if len(bad) == 0 {
		w.stats.Requests++
	}
	w.mu.Unlock()
	if len(bad) > 0 {
		w.refuse(rw, r, http.StatusBadRequest, "%d of %d items are not audit events (the others were evaluated): %s",
			len(bad), len(items), strings.Join(bad, "; "))
		return
	}
	rw.WriteHeader(http.StatusOK)
}

// eventList decodes an audit.k8s.io EventList and returns its items.
func eventList(body []byte) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("body is not JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("body holds more than one JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("body is not a JSON object: want an audit.k8s.io/v1 EventList")
	}
	if m["kind"] != "EventList" {
		return nil, fmt.Errorf("body has kind %v: want an audit.k8s.io/v1 EventList", m["kind"])
	}
	if av, _ := m["apiVersion"].(string); av != "audit.k8s.io/v1" && av != "audit.k8s.io/v1beta1" {
		return nil, fmt.Errorf("body has apiVersion %v: want audit.k8s.io/v1", m["apiVersion"])
	}
	items, ok := m["items"].([]any)
	if !ok && m["items"] != nil {
		return nil, fmt.Errorf("EventList items are not an array")
	}
	return items, nil
}
