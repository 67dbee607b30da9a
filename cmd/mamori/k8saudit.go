package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/mamori-dev/mamori/audit/auditlog"
	"github.com/mamori-dev/mamori/audit/k8saudit"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/progress"
	"github.com/mamori-dev/mamori/output"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
	"github.com/mamori-dev/mamori/rules/sigma"
)

const k8sauditHelp = `Usage:
  mamori k8saudit scan [--rules FILE]... [--no-builtin] [--output FILE] [--all] PATH...
  mamori k8saudit serve --listen ADDR [--tls-cert FILE --tls-key FILE] [--client-ca FILE] [--token-file FILE]
                        [--rules FILE]... [--no-builtin] [--output FILE] [--all] [--max-body BYTES] [--max-concurrent N]

Both evaluate Kubernetes audit events against Falco rules of source
k8s_audit: mamori's own (Exec Into Pod, Attach To Pod), then each --rules
file in order, such as Falco's k8s_audit_rules.yaml, which may add rules
or append to and override the built-in ones. --no-builtin leaves mamori's
rules out.

scan reads audit logs. A PATH is a file or a directory, read recursively
for *.log, *.json, *.jsonl and *.ndjson files, gzipped or not, as the API
server's log backend writes them (one event per line) or as an
audit.k8s.io/v1 EventList. A file or event that cannot be read is reported
on stderr and skipped; the scan goes on, and exits 1 at the end. A summary
by rule and priority goes to stderr.

serve is an audit webhook backend: point the API server's
--audit-webhook-config-file at https://ADDR/k8s-audit (any path works) and
it evaluates each EventList as it arrives, one event at a time as the body
is read, so that memory stays bounded whatever the batch size. With
--tls-cert and --tls-key it speaks TLS; --client-ca requires the API
server's client certificate, --token-file its bearer token (the
client-certificate or token of its webhook kubeconfig). At most
--max-concurrent requests are read at once; more are answered 429, which
the API server retries. It runs until interrupted.

Alerts are written as JSON lines to stdout or, appended, to --output.
`

func runK8saudit(args []string, stdout, stderr io.Writer) error {
	return dispatch(args, stdout, k8sauditHelp,
		subcommand{"scan", func(a []string) error { return runK8sauditScan(a, stdout, stderr) }},
		subcommand{"serve", func(a []string) error { return runK8sauditServe(a, stdout, stderr) }},
	)
}

// k8sRuleFlags are the flags that choose the rules, common to scan and
// serve.
type k8sRuleFlags struct {
	files     listFlag
	noBuiltin *bool
	all       *bool
	output    *string
}

func newK8sRuleFlags(name string) (*k8sRuleFlags, *flag.FlagSet) {
	fs := newFlagSet("k8saudit " + name)
	f := &k8sRuleFlags{}
	fs.Var(&f.files, "rules", "a Falco rules file (e.g. k8s_audit_rules.yaml), or Sigma rules for kubernetes/audit (a file or a directory),\n"+
		"loaded after mamori's own (repeatable; later files append to and override earlier ones)")
	f.noBuiltin = fs.Bool("no-builtin", false, "leave out mamori's built-in k8s audit rules")
	f.all = fs.Bool("all", false, "raise an alert for every matching rule, not only the first (Falco's rule_matching: all)")
	f.output = fs.String("output", "", "append alerts to this file instead of writing them to stdout")
	return f, fs
}

// load loads the rules and says on w how many k8s_audit rules run.
func (f *k8sRuleFlags) load(w io.Writer) (*rules.Ruleset, error) {
	var files []rules.File
	if !*f.noBuiltin {
		files = append(files, defaults.K8sAuditFile())
	}
	fs, untranslated, err := sigma.ReadFiles(sigma.Config{Catalogs: []rules.Catalog{k8saudit.NewCatalog()}}, f.files...)
	if err != nil {
		return nil, err
	}
	for _, u := range untranslated {
		fmt.Fprintln(w, u)
	}
	files = append(files, fs...)
	if len(files) == 0 {
		return nil, usageError{"--no-builtin leaves no rules: name some with --rules"}
	}
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{k8saudit.NewCatalog()}}, files...)
	if err != nil {
		return nil, loadError(err)
	}
	if err := checkRuleSources(f.files, fs, untranslated, rs, k8saudit.Source, "Falco's k8s_audit_rules.yaml"); err != nil {
		return nil, err
	}
	return rs, reportK8sRules(w, rs)
}

// reportK8sRules says how many k8s_audit rules run, and why those that
// cannot do not; with none to run there is nothing to do.
func reportK8sRules(w io.Writer, rs *rules.Ruleset) error {
	return reportSourceRules(w, rs, k8saudit.Source, "")
}

// openAlerts opens where alerts go: --output, else stdout.
func openAlerts(path string, stdout io.Writer) (*output.Writer, error) {
	if path == "" {
		return output.New(stdout, output.JSON), nil
	}
	return output.Open(path, output.JSON)
}

func runK8sauditScan(args []string, stdout, stderr io.Writer) error {
	f, fs := newK8sRuleFlags("scan")
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err, k8sauditHelp)
	}
	if fs.NArg() == 0 {
		return usageError{"name at least one audit log file or directory"}
	}
	rs, err := f.load(stderr)
	if err != nil {
		return err
	}
	out, err := openAlerts(*f.output, stdout)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	det := k8saudit.NewDetector(rs, k8saudit.DetectorConfig{All: *f.all, Hostname: host})
	scan := newAuditScan("Kubernetes audit events", out, stderr)
	files := auditlog.Files(fs.Args(), k8saudit.IsLogName, k8saudit.LogNames, scan.bad)
	bar, sizes := progress.Files(stderr, "k8saudit scan", files)
	scan.bar = bar
	var rd k8saudit.Reader
	for i, p := range files {
		if scan.interrupted() {
			break
		}
		rd.ReadFile(p, func(e *k8saudit.Event) {
			scan.record(e.File, func(emit func(*event.Alert)) { det.Detect(e, emit) })
		}, scan.bad)
		bar.Add(sizes[i])
	}
	bar.Done()
	return scan.finish(fs.Args())
}

func runK8sauditServe(args []string, stdout, stderr io.Writer) error {
	f, fs := newK8sRuleFlags("serve")
	listen := fs.String("listen", "", "the address to listen on, host:port (e.g. :9443)")
	cert := fs.String("tls-cert", "", "the TLS certificate (PEM) to serve with; needs --tls-key")
	key := fs.String("tls-key", "", "the TLS certificate's private key (PEM)")
	maxBody := fs.Int64("max-body", k8saudit.DefaultMaxBodyBytes, "the largest request body accepted, in bytes")
	maxConcurrent := fs.Int("max-concurrent", k8saudit.DefaultMaxConcurrent, "requests read at once; more are answered 429 (the API server retries)")
	clientCA := fs.String("client-ca", "", "require a client certificate signed by this CA (PEM), as the API server's webhook kubeconfig presents; needs --tls-cert")
	tokenFile := fs.String("token-file", "", "require a bearer token listed in this file (one per line), as the API server's webhook kubeconfig sends")
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err, k8sauditHelp)
	}
	switch {
	case *listen == "":
		return usageError{"name the address to listen on with --listen, e.g. --listen :9443"}
	case fs.NArg() > 0:
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Args())}
	case (*cert == "") != (*key == ""):
		return usageError{"--tls-cert and --tls-key go together"}
	case *maxBody <= 0:
		return usageError{"--max-body must be positive"}
	case *maxConcurrent <= 0:
		return usageError{"--max-concurrent must be positive"}
	case *clientCA != "" && *cert == "":
		return usageError{"--client-ca needs TLS: give --tls-cert and --tls-key too"}
	}
	rs, err := f.load(stderr)
	if err != nil {
		return err
	}
	out, err := openAlerts(*f.output, stdout)
	if err != nil {
		return err
	}
	defer out.Close()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	host, _ := os.Hostname()
	srv, err := k8saudit.Listen(k8saudit.ServerConfig{Addr: *listen, CertFile: *cert, KeyFile: *key, ClientCAFile: *clientCA, TokenFile: *tokenFile, Webhook: k8saudit.WebhookConfig{
		Rules: rs, All: *f.all, Hostname: host, MaxBodyBytes: *maxBody, MaxConcurrent: *maxConcurrent, Logger: log,
		Alert: func(a *event.Alert) {
			err := out.WriteAlert(a)
			if err == nil {
				err = out.Flush()
			}
			if err != nil {
				log.Error("write alert", "err", err)
			}
		},
		Bad: func(e *k8saudit.Error) { log.Warn("skipped an item that is not an audit event", "err", e) },
	}})
	if err != nil {
		return err
	}
	scheme := "http"
	if srv.TLS() {
		scheme = "https"
	}
	log.Info("k8s audit webhook listening", "url", scheme+"://"+srv.Addr().String()+"/k8s-audit")
	if !srv.Authenticated() {
		log.Warn("no client authentication: anyone who reaches the address can post audit events; use --client-ca or --token-file")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = srv.Serve(ctx)
	st := srv.Webhook().Stats()
	log.Info("k8s audit webhook stopped", "requests", st.Requests, "refused", st.Refused, "events", st.Events, "bad_events", st.BadEvents, "alerts", st.Alerts)
	return err
}
