package api

import (
	"encoding/json"
	"net"
	"net/http"
	"time"
)

// CookieName is the browser's login cookie: it holds the API token, is
// invisible to scripts (HttpOnly) and sent only to the console itself
// (SameSite=Strict).
const CookieName = "mamori_token"

// CSRFHeader must come with every change made with the login cookie; the
// console's pages add it.
const CSRFHeader = "X-Mamori-Console"

// sessionTTL is how long a browser keeps its login.
const sessionTTL = 12 * time.Hour

// login is POST /api/v1/login {"token": "..."}: it checks the token as
// the API would, and sets the login cookie.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&body); err != nil || body.Token == "" {
		s.fail(w, apiError{`body: {"token": "..."}`})
		return
	}
	name, role := "anonymous", "admin"
	if s.cfg.Auth != nil {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		var ok bool
		if name, role, ok = s.cfg.Auth.Check(body.Token); !ok {
			if !s.failures.allow(host) {
				httpError(w, http.StatusTooManyRequests, "too many wrong tokens from this address; wait a minute")
				return
			}
			httpError(w, http.StatusUnauthorized, "unknown token")
			return
		}
		if role == "ingest" {
			httpError(w, http.StatusForbidden, "an ingest token may only post Falco alerts; log in with a read or admin token")
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: body.Token, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second)})
	s.log.Info("logged in", "name", name, "role", role, "from", r.RemoteAddr)
	writeJSON(w, map[string]string{"name": name, "role": role})
}

// logout is POST /api/v1/logout: the cookie is dropped.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, map[string]bool{"logged_out": true})
}

// whoami is GET /api/v1/whoami: the caller's name and role, so that the
// pages offer only what the role may do (the API refuses the rest anyway).
func (s *server) whoami(w http.ResponseWriter, r *http.Request) {
	c, ok := r.Context().Value(ctxKey{}).(caller)
	if !ok {
		c = caller{"anonymous", "admin"} // no tokens (--insecure)
	}
	writeJSON(w, map[string]string{"name": c.name, "role": c.role})
}

// sameOrigin refuses a change that a browser says another site's page
// asked for (Sec-Fetch-Site: cross-site or same-site), whatever the
// credentials: with --insecure there are none, and a page elsewhere could
// otherwise post to a console on the analyst's loopback. Clients that are
// not browsers send no such header.
func sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
				httpError(w, http.StatusForbidden, "a change asked for by another site's page is refused")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
