package k8saudit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// ServerConfig says where a Server listens and what its Webhook does.
type ServerConfig struct {
	// Addr is the address to listen on, host:port; port 0 picks one.
	Addr string
	// CertFile and KeyFile, both or neither, make the server speak TLS
	// with that certificate and key (PEM).
	CertFile, KeyFile string
	// ClientCAFile, with TLS, requires every client to present a
	// certificate signed by one of these CAs (PEM): kube-apiserver
	// presents the client-certificate of its webhook kubeconfig.
	ClientCAFile string
	// TokenFile, when set, names the bearer tokens a client must
	// present, one per line ("#" starts a comment; a line of
	// kube-apiserver's token CSV, "token,user,uid", counts by its first
	// field). It is read once, by Listen.
	TokenFile string
	Webhook   WebhookConfig
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
	if cfg.ClientCAFile != "" && cfg.CertFile == "" {
		return nil, errors.New("k8s audit webhook: client certificates need TLS: give a certificate and key too")
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("k8s audit webhook: TLS certificate %s and key %s: %w", cfg.CertFile, cfg.KeyFile, err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if cfg.ClientCAFile != "" {
			pem, err := os.ReadFile(cfg.ClientCAFile)
			if err != nil {
				return nil, fmt.Errorf("k8s audit webhook: client CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("k8s audit webhook: client CA %s holds no PEM certificate", cfg.ClientCAFile)
			}
			srv.TLSConfig.ClientCAs, srv.TLSConfig.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
	}
	if cfg.TokenFile != "" {
		tokens, err := readTokens(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("k8s audit webhook: %w", err)
		}
		hook.cfg.Tokens = tokens
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

// readTokens reads a token file (see ServerConfig.TokenFile).
func readTokens(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	var tokens []string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		tok, _, _ := strings.Cut(line, ",")
		if tok = strings.Trim(strings.TrimSpace(tok), `"`); tok != "" {
			tokens = append(tokens, tok)
		}
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("token file %s holds no token: one per line", path)
	}
	return tokens, nil
}

// Authenticated reports whether clients must present a certificate or a
// token.
func (s *Server) Authenticated() bool {
	return len(s.hook.cfg.Tokens) > 0 || s.srv.TLSConfig != nil && s.srv.TLSConfig.ClientAuth == tls.RequireAndVerifyClientCert
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
