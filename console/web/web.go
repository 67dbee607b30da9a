// Package web serves the console's pages to browsers: the interface built
// from src/ (Preact, bundled by esbuild; see docs/architecture.md) into
// dist/, which is embedded here so that `go build` needs no node and an
// air-gapped cluster no network. Every page but the login page needs the
// login cookie the API's POST /api/v1/login sets; without it the browser
// is sent to /login, which brings it back afterwards.
//
// It serves files only: the pages read and change everything through
// /api/v1 like any client, so the API's checks (token, role) are the only
// ones that matter. It must not read the store.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
)

//go:embed dist
var dist embed.FS

// CookieName is the login cookie, which holds the API token.
const CookieName = "mamori_token"

// Config is what the pages are served with.
type Config struct {
	// Check says whether a token may log in; nil serves every page
	// without a login (--insecure).
	Check func(token string) bool
}

// pages are the paths the browser may open; each is the one page
// (index.html), which draws the view its path names.
var pages = []string{"/feed", "/overview", "/alerts/", "/incidents", "/nodes", "/policies", "/images", "/cloud", "/profiles", "/map"}

// Handler serves /, /login, the pages and /assets/.
func Handler(cfg Config) http.Handler {
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded at build time
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic(err)
	}
	tags := map[string]string{}
	fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(files, p)
			s := sha256.Sum256(b)
			tags["/"+p] = `"` + hex.EncodeToString(s[:8]) + `"`
		}
		return nil
	})
	assets := http.StripPrefix("/assets", http.FileServerFS(files))
	loggedIn := func(r *http.Request) bool {
		if cfg.Check == nil {
			return true
		}
		c, err := r.Cookie(CookieName)
		return err == nil && cfg.Check(c.Value)
	}
	servePage := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(index)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /assets/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/assets")
		if name == "/index.html" || name == "/" {
			http.NotFound(w, r)
			return
		}
		if tag, ok := tags[name]; ok {
			// No hashes in the names (the build stays byte for byte
			// the same): browsers revalidate, and get 304 until the
			// binary changes.
			w.Header().Set("ETag", tag)
			w.Header().Set("Cache-Control", "no-cache")
		}
		assets.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /login", servePage)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/feed", http.StatusFound)
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		if !isPage(r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		if !loggedIn(r) {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return
		}
		servePage(w, r)
	})
	return secureHeaders(mux)
}

func isPage(p string) bool {
	p = path.Clean(p)
	for _, pg := range pages {
		if p == strings.TrimSuffix(pg, "/") || strings.HasSuffix(pg, "/") && strings.HasPrefix(p, pg) {
			return true
		}
		if strings.HasPrefix(p, pg+"/") {
			return true
		}
	}
	return false
}

// secureHeaders keeps the pages to their own scripts and styles (no inline
// code, nothing from elsewhere) and out of other sites' frames.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
			"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}
