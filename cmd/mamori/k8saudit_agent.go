package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/mamori-dev/mamori/audit/k8saudit"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
)

// k8sAuditFlags are the agent's flags for the Kubernetes audit webhook:
// kube-apiserver's audit webhook backend posts its events to the agent,
// which evaluates them against the k8s_audit rules.
type k8sAuditFlags struct {
	listen, cert, key string
}

func addK8sAuditFlags(fs *flag.FlagSet) *k8sAuditFlags {
	f := &k8sAuditFlags{}
	fs.StringVar(&f.listen, "k8s-audit-listen", "", "serve kube-apiserver's audit webhook backend on this address (host:port): every posted\n"+
		"audit event is evaluated against the k8s_audit rules (mamori's built-in ones with --rules builtin)")
	fs.StringVar(&f.cert, "k8s-audit-tls-cert", "", "TLS certificate (PEM) for --k8s-audit-listen; with --k8s-audit-tls-key")
	fs.StringVar(&f.key, "k8s-audit-tls-key", "", "TLS key (PEM) for --k8s-audit-listen")
	return f
}

// builtinRules are the files "builtin" adds to the agent's rules when the
// webhook is on.
func (f *k8sAuditFlags) builtinRules() []rules.File {
	if f.listen == "" {
		return nil
	}
	return []rules.File{defaults.K8sAuditFile()}
}

// check refuses flags that cannot work and says which rules will run.
func (f *k8sAuditFlags) check(rs *rules.Ruleset, stderr io.Writer) error {
	if f.listen == "" {
		if f.cert != "" || f.key != "" {
			return usageError{"--k8s-audit-tls-cert and --k8s-audit-tls-key need --k8s-audit-listen"}
		}
		return nil
	}
	if rs == nil {
		return usageError{"--k8s-audit-listen evaluates audit events with rules: it cannot be used with --rules none"}
	}
	if (f.cert == "") != (f.key == "") {
		return usageError{"--k8s-audit-tls-cert and --k8s-audit-tls-key go together"}
	}
	if err := reportK8sRules(stderr, rs); err != nil {
		return fmt.Errorf("--k8s-audit-listen: %w", err)
	}
	return nil
}

// open starts listening; nil without --k8s-audit-listen. Alerts go to
// alert, from hostname node.
func (f *k8sAuditFlags) open(rs *rules.Ruleset, alert func(*event.Alert) error, all bool, node string, log *slog.Logger) (*k8saudit.Server, error) {
	if f.listen == "" {
		return nil, nil
	}
	if node == "" {
		node, _ = os.Hostname()
	}
	log = log.With("part", "k8saudit")
	srv, err := k8saudit.Listen(k8saudit.ServerConfig{
		Addr: f.listen, CertFile: f.cert, KeyFile: f.key,
		Webhook: k8saudit.WebhookConfig{
			Rules: rs, All: all, Hostname: node, Logger: log,
			Alert: func(a *event.Alert) {
				if err := alert(a); err != nil {
					log.Error("raise alert", "err", err)
				}
			},
			Bad: func(e *k8saudit.Error) { log.Warn("audit event skipped", "err", e) },
		},
	})
	if err != nil {
		return nil, fmt.Errorf("--k8s-audit-listen: %w", err)
	}
	scheme := "http"
	if srv.TLS() {
		scheme = "https"
	}
	log.Info("serving the Kubernetes audit webhook", "url", scheme+"://"+srv.Addr().String())
	return srv, nil
}

// startK8sAudit serves until ctx ends or the returned stop is called; stop
// waits for requests in flight. A nil server does nothing.
func startK8sAudit(ctx context.Context, srv *k8saudit.Server, log *slog.Logger) (stop func()) {
	if srv == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ctx); err != nil {
			log.Error("the Kubernetes audit webhook stopped", "err", err)
		}
	}()
	return func() { cancel(); wg.Wait() }
}
