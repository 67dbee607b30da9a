package k8saudit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ServerConfig says where a Server listens and what its Webhook does.
type ServerConfig struct {
	// Addr is the address to listen on, host:port; port 0 picks one.
	Addr string
	// CertFile and KeyFile, both or neither, make the server speak TLS
	// with that certificate and key (PEM).
	CertFile, KeyFile string
	Webhook           WebhookConfig
}

// Server serves the Webhook at every path of an address, so that the
// API server's webhook kubeconfig can name any URL on it
// (https://mamori.example:9443/k8s-audit).
type Server struct {
	ln   net.Listener
	srv  *http.Server
	hook *Webhook
}

// shutdownGrace is how long Serve waits for requests in flight when its
// context ends.
const shutdownGrace = 5 * time.Second

// Listen checks cfg, loads the certificate if there is one and starts
// listening; Serve then answers requests.
func Listen(cfg ServerConfig) (*Server, error) {
	hook, err := NewWebhook(cfg.Webhook)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           hook,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(hook.log.Handler(), slog.LevelWarn),
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("k8s audit webhook: TLS needs both a certificate and a key file")
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("k8s audit webhook: TLS certificate %s and key %s: %w", cfg.CertFile, cfg.KeyFile, err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("k8s audit webhook: %w", err)
	}
	if srv.TLSConfig != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	return &Server{ln: ln, srv: srv, hook: hook}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// TLS reports whether the server speaks TLS.
func (s *Server) TLS() bool { return s.srv.TLSConfig != nil }

// Webhook is the server's handler, for its Stats.
func (s *Server) Webhook() *Webhook { return s.hook }

// Serve answers requests until ctx ends, then lets requests in flight
// finish for a few seconds and returns nil; it returns an error if the
// listener fails first.
func (s *Server) Serve(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.srv.Serve(s.ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("k8s audit webhook: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
