package admission

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// ServerConfig is what Serve needs.
type ServerConfig struct {
	// CertFile and KeyFile are the serving certificate and key (PEM). They
	// are read again when they change, so a rotated certificate (a
	// cert-manager Secret update) takes effect without a restart.
	CertFile, KeyFile string
	Reviewer          *Reviewer
	// Health answers GET /healthz; nil answers "ok".
	Health http.HandlerFunc
	Log    *slog.Logger
	// Serving, if set, is called once the certificate and key are read
	// and requests are about to be answered: where a caller says that it
	// serves, so that a missing key is not preceded by "serving".
	Serving func()
}

// ValidatePath is where the webhook answers AdmissionReviews.
const ValidatePath = "/validate"

// Serve answers AdmissionReviews over HTTPS on ln until ctx ends, then
// shuts down gracefully.
func Serve(ctx context.Context, ln net.Listener, cfg ServerConfig) error {
	certs, err := newCertLoader(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(ValidatePath, cfg.Reviewer)
	health := cfg.Health
	if health == nil {
		health = func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }
	}
	mux.HandleFunc("GET /healthz", health)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get},
	}
	if cfg.Log != nil {
		srv.ErrorLog = slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug)
	}
	if cfg.Serving != nil {
		cfg.Serving()
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// certLoader serves a key pair from files, re-reading them when their
// modification time or size changes (checked at most once a second).
type certLoader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string
	checked time.Time
}

func newCertLoader(certFile, keyFile string) (*certLoader, error) {
	l := &certLoader{certFile: certFile, keyFile: keyFile}
	if err := l.load(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *certLoader) load() error {
	stamp := fileStamp(l.certFile) + fileStamp(l.keyFile)
	c, err := tls.LoadX509KeyPair(l.certFile, l.keyFile)
	if err != nil {
		return fmt.Errorf("load the serving certificate %s and key %s: %w", l.certFile, l.keyFile, err)
	}
	l.cert, l.stamp = &c, stamp
	return nil
}

func (l *certLoader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := time.Now(); now.Sub(l.checked) >= time.Second {
		l.checked = now
		if fileStamp(l.certFile)+fileStamp(l.keyFile) != l.stamp {
			l.load() // a pair caught half-written keeps the old one until the next look
		}
	}
	return l.cert, nil
}

func fileStamp(name string) string {
	fi, err := os.Stat(name)
	if err != nil {
		return "missing;"
	}
	return fmt.Sprintf("%d.%d;", fi.ModTime().UnixNano(), fi.Size())
}
