package k8saudit

import (
	"crypto/subtle"
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

// DefaultMaxConcurrent bounds the requests a Webhook reads at once unless
// the configuration says otherwise; more are answered 429 Too Many
// Requests, which kube-apiserver's webhook backend retries with backoff.
const DefaultMaxConcurrent = 4

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
	// MaxConcurrent bounds the requests read at once; 0 means
	// DefaultMaxConcurrent. A request beyond it is answered 429.
	MaxConcurrent int
	// Tokens, when set, are the bearer tokens a request must present
	// (Authorization: Bearer TOKEN), as kube-apiserver sends the token
	// of its webhook kubeconfig; others are answered 401.
	Tokens []string
	// Logger receives a line for each refused request; nil discards them.
	Logger *slog.Logger
	// Now gives the time of events that carry none; nil means time.Now.
	Now func() time.Time
}

// Webhook is an http.Handler that takes what kube-apiserver's audit
// webhook backend sends: a POST of an audit.k8s.io/v1 EventList as JSON.
// It reads the body as a stream, one item at a time, and evaluates each
// event as it is read, so that a request holds one event in memory, not
// its body decoded whole (a 31 MB EventList decoded whole took ten times
// that); it answers 200 once all are evaluated. A body that is not an
// EventList is refused with 400 and the reason; an EventList with items
// that are not audit events has the others evaluated and is answered 400
// naming the bad items. A body that announces more than MaxBodyBytes is
// refused before it is read; one that turns out longer has the events
// before the limit evaluated. At most MaxConcurrent requests are read at
// once; more are answered 429. It is safe for concurrent use: events are
// evaluated one at a time.
type Webhook struct {
	cfg WebhookConfig
	log *slog.Logger
	sem chan struct{} // a slot per request being read

	mu    sync.Mutex // serialises detection, numbering and stats
	det   *Detector
	num   uint64
	stats WebhookStats
}

// WebhookStats counts what a Webhook received.
type WebhookStats struct {
	Requests  uint64 // requests answered 200
	Refused   uint64 // requests refused, whatever the reason
	Busy      uint64 // ... of which answered 429 because MaxConcurrent were being read
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
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhook{cfg: cfg, log: log, sem: make(chan struct{}, cfg.MaxConcurrent),
		det: NewDetector(cfg.Rules, DetectorConfig{All: cfg.All, Hostname: cfg.Hostname})}, nil
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
	if !w.authorized(r) {
		rw.Header().Set("WWW-Authenticate", `Bearer realm="mamori k8s audit webhook"`)
		w.refuse(rw, r, http.StatusUnauthorized, "no valid bearer token: give the token of --token-file in the API server's audit webhook kubeconfig (users[].user.token)")
		return
	}
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		w.refuse(rw, r, http.StatusMethodNotAllowed, "method %s not allowed: POST an audit.k8s.io/v1 EventList", r.Method)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		w.refuse(rw, r, http.StatusUnsupportedMediaType, "content type %q: want application/json", r.Header.Get("Content-Type"))
		return
	}
	if r.ContentLength > w.cfg.MaxBodyBytes {
		w.refuse(rw, r, http.StatusRequestEntityTooLarge, "body larger than %d bytes: lower --audit-webhook-batch-max-size on the API server", w.cfg.MaxBodyBytes)
		return
	}
	select {
	case w.sem <- struct{}{}:
		defer func() { <-w.sem }()
	default:
		w.mu.Lock()
		w.stats.Busy++
		w.mu.Unlock()
		rw.Header().Set("Retry-After", "1")
		w.refuse(rw, r, http.StatusTooManyRequests, "%d requests are being read: try again (the API server retries with backoff)", w.cfg.MaxConcurrent)
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(rw, r.Body, w.cfg.MaxBodyBytes))
	dec.UseNumber()
	items, bad, err := w.stream(dec, r.RemoteAddr)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			w.refuse(rw, r, http.StatusRequestEntityTooLarge, "body larger than %d bytes (the events before the limit were evaluated): lower --audit-webhook-batch-max-size on the API server", tooBig.Limit)
			return
		}
		w.refuse(rw, r, http.StatusBadRequest, "%v", err)
		return
	}
	if len(bad) > 0 {
		w.refuse(rw, r, http.StatusBadRequest, "%d of %d items are not audit events (the others were evaluated): %s",
			len(bad), items, strings.Join(bad, "; "))
		return
	}
	w.mu.Lock()
	w.stats.Requests++
	w.mu.Unlock()
	rw.WriteHeader(http.StatusOK)
}

// authorized checks the request's bearer token when tokens are required.
func (w *Webhook) authorized(r *http.Request) bool {
	if len(w.cfg.Tokens) == 0 {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	match := 0
	for _, t := range w.cfg.Tokens {
		match |= subtle.ConstantTimeCompare([]byte(got), []byte(t))
	}
	return match == 1
}

// stream reads an audit.k8s.io EventList from dec, evaluating each item
// as it is read; it returns how many items there were and why those that
// are not audit events are not. The envelope is checked as it comes:
// kube-apiserver writes kind and apiVersion before items, so a body of
// another kind is refused before any item is read.
func (w *Webhook) stream(dec *json.Decoder, client string) (items int, bad []string, err error) {
	tok, err := dec.Token()
	if err != nil {
		return 0, nil, bodyError(err)
	}
	if tok != json.Delim('{') {
		return 0, nil, fmt.Errorf("body is not a JSON object: want an audit.k8s.io/v1 EventList")
	}
	var kind, apiVersion any
	checkKind := func() error {
		if kind != "EventList" {
			return fmt.Errorf("body has kind %v: want an audit.k8s.io/v1 EventList", kind)
		}
		return nil
	}
	checkAPI := func() error {
		if av, _ := apiVersion.(string); av != "audit.k8s.io/v1" && av != "audit.k8s.io/v1beta1" {
			return fmt.Errorf("body has apiVersion %v: want audit.k8s.io/v1", apiVersion)
		}
		return nil
	}
	var kindSeen, apiSeen bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return items, bad, bodyError(err)
		}
		switch key, _ := tok.(string); key {
		case "kind":
			if err := dec.Decode(&kind); err != nil {
				return items, bad, bodyError(err)
			}
			if kindSeen = true; checkKind() != nil {
				return items, bad, checkKind()
			}
		case "apiVersion":
			if err := dec.Decode(&apiVersion); err != nil {
				return items, bad, bodyError(err)
			}
			if apiSeen = true; checkAPI() != nil {
				return items, bad, checkAPI()
			}
		case "items":
			n, b, err := w.items(dec, client)
			items, bad = items+n, append(bad, b...)
			if err != nil {
				return items, bad, err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return items, bad, bodyError(err)
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return items, bad, bodyError(err)
	}
	switch _, err := dec.Token(); {
	case err == nil:
		return items, bad, errors.New("body holds more than one JSON value: want one audit.k8s.io/v1 EventList")
	case err != io.EOF:
		return items, bad, bodyError(err)
	}
	if !kindSeen {
		return items, bad, checkKind()
	}
	if !apiSeen {
		return items, bad, checkAPI()
	}
	return items, bad, nil
}

// items reads and evaluates the items array (or null) one item at a time.
func (w *Webhook) items(dec *json.Decoder, client string) (int, []string, error) {
	tok, err := dec.Token()
	if err != nil {
		return 0, nil, bodyError(err)
	}
	if tok == nil {
		return 0, nil, nil
	}
	if tok != json.Delim('[') {
		if d, ok := tok.(json.Delim); ok && d == '{' {
			var skip json.RawMessage
			dec.Decode(&skip) // the rest of the object, so that the error is the one that matters
		}
		return 0, nil, errors.New("EventList items are not an array")
	}
	var bad []string
	n := 0
	for ; dec.More(); n++ {
		var it any
		if err := dec.Decode(&it); err != nil {
			return n, bad, bodyError(err)
		}
		if err := w.evaluate(it, n, client); err != nil {
			bad = append(bad, fmt.Sprintf("item %d: %v", n, err))
		}
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return n, bad, bodyError(err)
	}
	return n, bad, nil
}

// evaluate runs one item of a request through the rules.
func (w *Webhook) evaluate(it any, i int, client string) error {
	e, err := newEvent(it, w.cfg.Now())
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.stats.BadEvents++
		if w.cfg.Bad != nil {
			w.cfg.Bad(&Error{File: "webhook request from " + client, Record: i, Err: err})
		}
		return err
	}
	w.num++
	e.File, e.Index, e.Num = "webhook", i, w.num
	w.stats.Events++
	w.det.Detect(e, func(a *event.Alert) {
		w.stats.Alerts++
		w.cfg.Alert(a)
	})
	return nil
}

// bodyError words a decoding error: a body cut short by the size limit
// stays a *http.MaxBytesError for the caller to answer 413.
func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("body is not JSON: it ends early")
	}
	return fmt.Errorf("body is not JSON: %v", err)
}
