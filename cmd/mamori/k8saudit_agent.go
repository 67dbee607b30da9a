package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/spf13/pflag"

	"github.com/mamori-dev/mamori/audit/k8saudit"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
)

// k8sAuditFlags are the agent's flags for the Kubernetes audit webhook:
// kube-apiserver's audit webhook backend posts its events to the agent,
// which evaluates them against the k8s_audit rules.
type k8sAuditFlags struct {
	listen, cert, key, clientCA, tokenFile string
}

func addK8sAuditFlags(fs *pflag.FlagSet) *k8sAuditFlags {
	f := &k8sAuditFlags{}
	fs.StringVar(&f.listen, "k8s-audit-listen", "", "serve kube-apiserver's audit webhook backend on this address (host:port): every posted\n"+
		"audit event is evaluated against the k8s_audit rules (mamori's built-in ones with --rules builtin)")
	fs.StringVar(&f.cert, "k8s-audit-tls-cert", "", "TLS certificate (PEM) for --k8s-audit-listen; with --k8s-audit-tls-key")
	fs.StringVar(&f.key, "k8s-audit-tls-key", "", "TLS key (PEM) for --k8s-audit-listen")
	fs.StringVar(&f.clientCA, "k8s-audit-client-ca", "", "for --k8s-audit-listen: require a client certificate signed by this CA (PEM); needs --k8s-audit-tls-cert")
	fs.StringVar(&f.tokenFile, "k8s-audit-token-file", "", "for --k8s-audit-listen: require a bearer token listed in this file (one per line)")
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
		if f.cert != "" || f.key != "" || f.clientCA != "" || f.tokenFile != "" {
			return usageError{"--k8s-audit-tls-cert, --k8s-audit-tls-key, --k8s-audit-client-ca and --k8s-audit-token-file need --k8s-audit-listen"}
		}
		return nil
	}
	if f.clientCA != "" && f.cert == "" {
		return usageError{"--k8s-audit-client-ca needs TLS: give --k8s-audit-tls-cert and --k8s-audit-tls-key too"}
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
		Addr: f.listen, CertFile: f.cert, KeyFile: f.key, ClientCAFile: f.clientCA, TokenFile: f.tokenFile,
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
	if !srv.Authenticated() {
		log.Warn("the Kubernetes audit webhook has no client authentication: anyone who reaches it can post audit events; use --k8s-audit-client-ca or --k8s-audit-token-file")
	}
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

// reportK8sRules says how many k8s_audit rules run, and why those that
// cannot do not; with none to run there is nothing to do.
func reportK8sRules(w io.Writer, rs *rules.Ruleset) error {
	return reportSourceRules(w, rs, k8saudit.Source, "")
}
