// Package api serves the console's HTTP API under /api/v1: alerts with
// filters and stable pagination, counts over time buckets, one alert with
// its context, nodes, containers, events, and a live stream of alerts as
// server-sent events. docs/console.md has an example of every call.
//
// It reads the store and a live feed of stored alerts; it must not write
// to the store nor know NATS.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
)

// Config is what the API serves from.
type Config struct {
	Store store.Store
	// Live receives each stored alert's JSON; the API fans it out to the
	// open streams.
	Live *Hub
	// Policies are the central runtime policies; nil turns the calls off.
	Policies Policies
	// Auth checks tokens; nil serves without (tests, --insecure).
	Auth Authenticator
	// Agents issues and revokes agent credentials and tokens; nil turns
	// the calls off.
	Agents Agents
	// Ingest stores an alert that came in over HTTP (Falco's http_output)
	// the way agents' alerts are stored; nil turns POST /api/v1/falco off.
	Ingest func(a *event.Alert, raw []byte) error
	// RateLimit is requests per second per token (50 when 0).
	RateLimit int
	// Status returns the console's own counters for /api/v1/status.
	Status func() any
	// Images lists the registered images (the image store); nil turns
	// GET /api/v1/images off.
	Images Images
	// Profiles configures the behaviour profiles' calls.
	Profiles Profiles
}

// Handler returns the API's handler.
func Handler(cfg Config, log *slog.Logger) http.Handler {
	s := &server{cfg: cfg, log: log, failures: newLimiter(10.0/60, 10)} // ten wrong tokens a minute per address
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/alerts", only(s.alerts, filters("cursor", "limit")...))
	mux.HandleFunc("GET /api/v1/alerts/{uuid}", only(s.alert))
	mux.HandleFunc("GET /api/v1/counts", only(s.counts, filters("by", "bucket")...))
	mux.HandleFunc("GET /api/v1/nodes", only(s.nodes))
	mux.HandleFunc("GET /api/v1/containers", only(s.containers, "cluster", "node", "running"))
	mux.HandleFunc("GET /api/v1/events", only(s.events, "cluster", "node", "container", "process", "since", "until", "limit"))
	mux.HandleFunc("GET /api/v1/processes/{id}", only(s.process))
	mux.HandleFunc("GET /api/v1/incidents", only(s.incidents, "status", "cluster", "namespace", "node", "since", "limit", "cursor"))
	mux.HandleFunc("GET /api/v1/incidents/{id}", only(s.incident))
	mux.HandleFunc("POST /api/v1/incidents/{id}", s.setIncident)
	if cfg.Policies != nil {
		mux.HandleFunc("GET /api/v1/policies", only(s.policies))
		mux.HandleFunc("POST /api/v1/policies", s.applyPolicies)
		mux.HandleFunc("GET /api/v1/policies/status", only(s.policyStatus))
	}
	mux.HandleFunc("GET /api/v1/stream", only(s.stream, filters()...))
	mux.HandleFunc("GET /api/v1/status", only(func(w http.ResponseWriter, r *http.Request) {
		if cfg.Status == nil {
			writeJSON(w, map[string]any{})
			return
		}
		writeJSON(w, cfg.Status())
	}))
	if cfg.Ingest != nil {
		mux.HandleFunc("POST "+falcoPath, s.falco)
	}
	if cfg.Agents != nil {
		mux.HandleFunc("GET /api/v1/agents", only(s.listAgents))
		mux.HandleFunc("POST /api/v1/agents", s.addAgent)
		mux.HandleFunc("DELETE /api/v1/agents/{cluster}/{node}", only(s.revokeAgent))
		mux.HandleFunc("POST /api/v1/tokens", s.addToken)
	}
	mux.HandleFunc("GET /api/v1/profiles", only(s.profiles, "cluster", "namespace", "state"))
	mux.HandleFunc("GET /api/v1/profiles/{id}", only(s.profile))
	mux.HandleFunc("POST /api/v1/profiles/{id}", s.profileAction)
	mux.HandleFunc("GET /api/v1/profiles/{id}/export", only(s.exportProfile, "mode", "force"))
	mux.HandleFunc("POST /api/v1/profiles/{id}/dryrun", s.dryRun)
	mux.HandleFunc("DELETE /api/v1/profiles/{id}/items", only(s.deleteProfileItem, "kind", "key"))
	mux.HandleFunc("GET /api/v1/netmap", only(s.networkMap, "cluster", "namespace", "workload", "since", "until", "limit"))
	mux.HandleFunc("GET /api/v1/whoami", only(s.whoami))
	mux.HandleFunc("GET /api/v1/cloud", only(s.cloud, filters()...))
	if cfg.Images != nil {
		mux.HandleFunc("GET /api/v1/images", only(s.images))
	}
	if cfg.Policies != nil {
		mux.HandleFunc("GET /api/v1/policies/{file}/containers", only(s.policyContainers))
	}
	top := http.NewServeMux()
	top.Handle("/api/", sameOrigin(s.guard(mux)))
	// Logging in and out needs no token yet: they are the door.
	top.Handle("POST /api/v1/login", sameOrigin(http.HandlerFunc(s.login)))
	top.Handle("POST /api/v1/logout", sameOrigin(http.HandlerFunc(s.logout)))
	top.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	return top
}

var errNotFound = store.ErrNotFound

type server struct {
	cfg      Config
	log      *slog.Logger
	failures *limiter // wrong tokens per client address
}

// apiError is a client's mistake, answered 400 with its message.
type apiError struct{ msg string }

func (e apiError) Error() string { return e.msg }

func (s *server) fail(w http.ResponseWriter, err error) {
	var ae apiError
	switch {
	case errors.As(err, &ae):
		httpError(w, http.StatusBadRequest, ae.msg)
	case errors.Is(err, store.ErrNotFound):
		httpError(w, http.StatusNotFound, "not found")
	case errors.Is(err, context.Canceled):
	default:
		// Filter mistakes found by the store (a priority, a field)
		// read like this too; the store wraps only its own failures.
		if strings.HasPrefix(err.Error(), "store") {
			s.log.Error("api", "err", err)
			httpError(w, http.StatusInternalServerError, "the store failed; see the console's log")
			return
		}
		httpError(w, http.StatusBadRequest, err.Error())
	}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// filterParams are the alert filter's query parameters (filterOf).
var filterParams = []string{"since", "until", "cluster", "node", "namespace", "pod", "container", "image", "rule",
	"priority", "source", "action", "tag", "q"}

// filters is the alert filter's parameters and a call's own.
func filters(own ...string) []string { return append(own, filterParams...) }

// only serves h if every query parameter of the request is one of params,
// else answers 400 naming it and those the call takes: a misspelt one
// would otherwise widen the answer without a word (?field=node counted by
// rule, ?namespaces=shop every namespace).
func only(h http.HandlerFunc, params ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !slices.Contains(params, k) {
				takes := "none"
				if len(params) > 0 {
					takes = strings.Join(params, ", ")
				}
				httpError(w, http.StatusBadRequest, fmt.Sprintf("unknown parameter %q: this call takes %s", k, takes))
				return
			}
		}
		h(w, r)
	}
}

// filterOf reads the alert filter from the query string.
func filterOf(r *http.Request) (store.Filter, error) {
	q := r.URL.Query()
	f := store.Filter{
		Cluster: q.Get("cluster"), Node: q.Get("node"), Namespace: q.Get("namespace"), Pod: q.Get("pod"),
		Container: q.Get("container"), Image: q.Get("image"), Rule: q.Get("rule"), MinPriority: q.Get("priority"),
		Source: q.Get("source"), Action: q.Get("action"), Tag: q.Get("tag"), Text: q.Get("q"),
	}
	var err error
	if f.Since, f.Until, err = rangeParams(q); err != nil {
		return f, err
	}
	if f.MinPriority != "" && store.PriorityRank(f.MinPriority) < 0 {
		return f, apiError{fmt.Sprintf("priority %q: use one of %s", f.MinPriority, strings.Join(store.Priorities, ", "))}
	}
	return f, nil
}

// rangeParams reads since and until (timeParam), and refuses a since
// after the until: a range that holds nothing is a mistake, not a query.
func rangeParams(q url.Values) (since, until time.Time, err error) {
	if since, err = timeParam(q.Get("since")); err != nil {
		return since, until, apiError{"since: " + err.Error()}
	}
	if until, err = timeParam(q.Get("until")); err != nil {
		return since, until, apiError{"until: " + err.Error()}
	}
	if !since.IsZero() && !until.IsZero() && since.After(until) {
		return since, until, apiError{fmt.Sprintf("since (%s) is after until (%s): the range holds nothing",
			since.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))}
	}
	return since, until, nil
}

// timeParam reads RFC 3339, or a duration meaning that long ago ("1h").
func timeParam(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor a duration such as 1h", s)
	}
	return t, nil
}

func (s *server) alerts(w http.ResponseWriter, r *http.Request) {
	f, err := filterOf(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	q := store.AlertQuery{Filter: f, Cursor: r.URL.Query().Get("cursor")}
	if l := r.URL.Query().Get("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 1 || q.Limit > 1000 {
			s.fail(w, apiError{"limit: a number from 1 to 1000"})
			return
		}
	}
	page, err := s.cfg.Store.Alerts(r.Context(), q)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, page)
}

func (s *server) alert(w http.ResponseWriter, r *http.Request) {
	d, err := s.cfg.Store.Alert(r.Context(), r.PathValue("uuid"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, d)
}

func (s *server) counts(w http.ResponseWriter, r *http.Request) {
	f, err := filterOf(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	q := store.CountQuery{Filter: f, Field: r.URL.Query().Get("by")}
	if q.Field == "" {
		q.Field = "rule"
	}
	if b := r.URL.Query().Get("bucket"); b != "" {
		if q.Bucket, err = time.ParseDuration(b); err != nil || q.Bucket < time.Second {
			s.fail(w, apiError{"bucket: a duration of 1s or more, such as 1h"})
			return
		}
	}
	counts, err := s.cfg.Store.Counts(r.Context(), q)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, map[string]any{"by": q.Field, "bucket": q.Bucket.String(), "counts": counts})
}

func (s *server) nodes(w http.ResponseWriter, r *http.Request) {
	nodes, err := s.cfg.Store.Nodes(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, map[string]any{"nodes": nodes})
}

func (s *server) containers(w http.ResponseWriter, r *http.Request) {
	q := store.ContainerQuery{Cluster: r.URL.Query().Get("cluster"), Node: r.URL.Query().Get("node")}
	if v := r.URL.Query().Get("running"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.fail(w, apiError{"running: true or false"})
			return
		}
		q.Running = &b
	}
	cs, err := s.cfg.Store.Containers(r.Context(), q)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, map[string]any{"containers": cs})
}

func (s *server) events(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := store.EventQuery{Cluster: v.Get("cluster"), Node: v.Get("node"), Container: v.Get("container"), ProcessID: v.Get("process")}
	var err error
	if q.Since, q.Until, err = rangeParams(v); err != nil {
		s.fail(w, err)
		return
	}
	if q.Container == "" && q.ProcessID == "" {
		s.fail(w, apiError{"name a container or a process"})
		return
	}
	if l := v.Get("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil {
			s.fail(w, apiError{"limit: a number"})
			return
		}
	}
	evs, err := s.cfg.Store.Events(r.Context(), q)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, map[string]any{"events": evs})
}
