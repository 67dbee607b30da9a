package api

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Authenticator checks API tokens.
type Authenticator interface {
	Check(token string) (name, role string, ok bool)
}

// Agents manages agent credentials and API tokens (admin only).
type Agents interface {
	AddAgent(cluster, node string) (any, error)
	RevokeAgent(cluster, node string) (bool, error)
	Agents() any
	AddToken(name, role string) (string, error)
}

type ctxKey struct{}

type caller struct{ name, role string }

// who names the client for the record of what it changed.
func who(r *http.Request) string {
	if c, ok := r.Context().Value(ctxKey{}).(caller); ok {
		return c.name
	}
	return r.RemoteAddr
}

// guard is every /api/v1 request's door: a valid token (Authorization:
// Bearer, or the mamori_token cookie for browsers), the admin role for
// anything but reading, and a rate per token. Failed attempts are limited
// per client address, so tokens cannot be guessed quickly.
func (s *server) guard(next http.Handler) http.Handler {
	if s.cfg.Auth == nil {
		return next
	}
	rate := s.cfg.RateLimit
	if rate <= 0 {
		rate = 50
	}
	perToken := newLimiter(float64(rate), float64(2*rate))
	failures := s.failures
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		tok, fromCookie := "", false
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			tok = strings.TrimPrefix(h, "Bearer ")
		} else if c, err := r.Cookie(CookieName); err == nil {
			tok, fromCookie = c.Value, true
		} else if r.URL.Path == falcoPath {
			// Falco's http_output cannot always set a header: its
			// URL may carry the (ingest) token.
			tok = r.URL.Query().Get("token")
		}
		if tok == "" {
			httpError(w, http.StatusUnauthorized, "this API needs a token: Authorization: Bearer TOKEN (a first run writes the admin's to the console's data directory)")
			return
		}
		name, role, ok := s.cfg.Auth.Check(tok)
		if !ok {
			if !failures.allow(host) {
				httpError(w, http.StatusTooManyRequests, "too many wrong tokens from this address; wait a minute")
				return
			}
			httpError(w, http.StatusUnauthorized, "unknown token")
			return
		}
		if !perToken.allow(name) {
			w.Header().Set("Retry-After", "1")
			httpError(w, http.StatusTooManyRequests, "too many requests for this token")
			return
		}
		if fromCookie && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get(CSRFHeader) == "" {
			// A browser sends the cookie with any site's form; only the
			// console's own pages add this header (another site's
			// script cannot without the API allowing it).
			httpError(w, http.StatusForbidden, "a change made with the login cookie needs the "+CSRFHeader+" header")
			return
		}
		switch {
		case role == "ingest" && !(r.Method == http.MethodPost && r.URL.Path == falcoPath):
			httpError(w, http.StatusForbidden, "an ingest token may only post Falco alerts to "+falcoPath)
			return
		case role == "read" && r.Method != http.MethodGet && r.Method != http.MethodHead && !readOnlyPost(r):
			httpError(w, http.StatusForbidden, "the read role reads only; this needs an admin token")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, caller{name, role})))
	})
}

// limiter is a token bucket per key.
type limiter struct {
	mu      sync.Mutex
	rate    float64 // per second
	burst   float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rate, burst float64) *limiter {
	return &limiter{rate: rate, burst: burst, buckets: map[string]*bucket{}}
}

func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) > 10000 {
			clear(l.buckets) // bounded memory against many addresses
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// agentCreds is POST /api/v1/agents {"cluster","node"}: a node's
// credential, to give to its agent (--console-creds).
func (s *server) addAgent(w http.ResponseWriter, r *http.Request) {
	var body struct{ Cluster, Node string }
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Cluster == "" || body.Node == "" {
		s.fail(w, apiError{`body: {"cluster": "...", "node": "..."}`})
		return
	}
	cred, err := s.cfg.Agents.AddAgent(body.Cluster, body.Node)
	if err != nil {
		s.fail(w, apiError{err.Error()})
		return
	}
	s.log.Info("agent credential issued", "cluster", body.Cluster, "node", body.Node, "by", who(r))
	writeJSON(w, cred)
}

func (s *server) revokeAgent(w http.ResponseWriter, r *http.Request) {
	ok, err := s.cfg.Agents.RevokeAgent(r.PathValue("cluster"), r.PathValue("node"))
	if err != nil {
		s.fail(w, apiError{err.Error()})
		return
	}
	if !ok {
		s.fail(w, errNotFound)
		return
	}
	s.log.Info("agent credential revoked", "cluster", r.PathValue("cluster"), "node", r.PathValue("node"), "by", who(r))
	writeJSON(w, map[string]bool{"revoked": true})
}

func (s *server) listAgents(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"agents": s.cfg.Agents.Agents()})
}

func (s *server) addToken(w http.ResponseWriter, r *http.Request) {
	var body struct{ Name, Role string }
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	if err := dec.Decode(&body); err != nil || body.Name == "" {
		s.fail(w, apiError{`body: {"name": "...", "role": "read|admin"}`})
		return
	}
	tok, err := s.cfg.Agents.AddToken(body.Name, body.Role)
	if err != nil {
		s.fail(w, apiError{err.Error()})
		return
	}
	s.log.Info("API token made", "name", body.Name, "role", body.Role, "by", who(r))
	writeJSON(w, map[string]string{"name": body.Name, "role": body.Role, "token": tok})
}

// readOnlyPost reports the POSTs that only read: a dry run of a policy
// against a profile takes the policy as its body.
func readOnlyPost(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/v1/profiles/") && strings.HasSuffix(r.URL.Path, "/dryrun")
}
