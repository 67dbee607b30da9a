//go:build !agentonly

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/audit/auditlog"
	"github.com/mamori-dev/mamori/audit/k8saudit"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/progress"
	"github.com/mamori-dev/mamori/output"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
	"github.com/mamori-dev/mamori/rules/sigma"
)

const k8sauditHelp = `Both scan and serve evaluate Kubernetes audit events against Falco rules of
source k8s_audit: mamori's own (Exec Into Pod, Attach To Pod), then each
--rules file in order, such as Falco's k8s_audit_rules.yaml, which may add
rules or append to and override the built-in ones. --no-builtin leaves
mamori's rules out. A rules file with no rule of source k8s_audit is
refused.

Alerts are written as JSON lines (-o text: Falco's text lines) to stdout
or, appended, to --alerts-output.`

const k8sauditScanHelp = `scan reads audit logs. A PATH is a file, - for standard input, or a
directory, read recursively for *.log, *.json, *.jsonl and *.ndjson files,
gzipped or not, as the API server's log backend writes them (one event per
line) or as an audit.k8s.io/v1 EventList. A file or event that cannot be
read is reported on stderr and skipped; the scan goes on, and exits 1 at
the end. Input that holds no audit event (CloudTrail logs, an empty
directory) is an error that says so. A summary by rule and priority goes
to stderr. Ctrl-C (or SIGTERM) stops the scan: the alerts found so far are
written, the summary printed, and the exit status is 130.

` + k8sauditHelp

const k8sauditServeHelp = `serve is an audit webhook backend: point the API server's
--audit-webhook-config-file at https://ADDR/k8s-audit (any path works) and
it evaluates each EventList as it arrives, one event at a time as the body
is read, so that memory stays bounded whatever the batch size. With
--tls-cert and --tls-key it speaks TLS; --client-ca requires the API
server's client certificate, --token-file its bearer token (the
client-certificate or token of its webhook kubeconfig). At most
--max-concurrent requests are read at once; more are answered 429, which
the API server retries. It runs until interrupted.

` + k8sauditHelp

func newK8sauditCmd() *cobra.Command {
	return group("k8saudit", "scan Kubernetes audit logs, or serve as the audit webhook, with k8s_audit rules", k8sauditHelp,
		newK8sauditScanCmd(), newK8sauditServeCmd())
}

// k8sRuleFlags are the flags that choose the rules and where alerts go,
// common to scan and serve.
type k8sRuleFlags struct {
	files     listFlag
	noBuiltin bool
	all       bool
	alerts    string
	out       outputFlag
}

func addK8sRuleFlags(cmd *cobra.Command) *k8sRuleFlags {
	f := &k8sRuleFlags{}
	fs := cmd.Flags()
	fs.Var(&f.files, "rules", "a Falco rules file (e.g. k8s_audit_rules.yaml), or Sigma rules for kubernetes/audit (a file or a directory;\n"+
		"- for standard input), loaded after mamori's own (repeatable; later files append to and override earlier ones)")
	fs.BoolVar(&f.noBuiltin, "no-builtin", false, "leave out mamori's built-in k8s audit rules")
	renamed(fs, "no-default-rules", "no-builtin")
	fs.BoolVar(&f.all, "match-all", false, "raise an alert for every matching rule, not only the first (Falco's rule_matching: all)")
	renamed(fs, "all", "match-all")
	fs.StringVar(&f.alerts, "alerts-output", "", "append alerts to this file instead of writing them to stdout")
	f.out.add(cmd, "json", "text")
	f.out.addLegacyFile("--alerts-output", &f.alerts)
	return f
}

// load loads the rules and says on w how many k8s_audit rules run.
func (f *k8sRuleFlags) load(stdin io.Reader, w io.Writer) (*rules.Ruleset, error) {
	var files []rules.File
	if !f.noBuiltin {
		files = append(files, defaults.K8sAuditFile())
	}
	fs, untranslated, err := sigma.ReadFiles(sigma.Config{Catalogs: []rules.Catalog{k8saudit.NewCatalog()}, Stdin: stdin}, f.files...)
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

// openAlerts opens where alerts go: the file path, else stdout.
func openAlerts(path string, format output.Format, stdout io.Writer) (*output.Writer, error) {
	if path == "" || path == "-" {
		return output.New(stdout, format), nil
	}
	return output.Open(path, format)
}

func newK8sauditScanCmd() *cobra.Command {
	var f *k8sRuleFlags
	cmd := &cobra.Command{
		Use:   "scan [flags] PATH...",
		Short: "evaluate Kubernetes audit logs (files, -) against k8s_audit rules",
		Long:  k8sauditScanHelp,
		Example: `  mamori k8saudit scan --rules k8s_audit_rules.yaml /var/log/kubernetes/audit/
  kubectl logs -n kube-system kube-apiserver-node1 | mamori k8saudit scan -`,
		Args: needArgs("name at least one audit log file or directory (or - for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error { return runK8sauditScan(cmd, f, args) },
	}
	f = addK8sRuleFlags(cmd)
	return cmd
}

func runK8sauditScan(cmd *cobra.Command, f *k8sRuleFlags, paths []string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	f.out.sayNote(stderr)
	if err := oneStdin(f.files, paths); err != nil {
		return err
	}
	format := f.out.format("json")
	rs, err := f.load(cmd.InOrStdin(), stderr)
	if err != nil {
		return err
	}
	out, err := openAlerts(f.alerts, output.Format(format), stdout)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	det := k8saudit.NewDetector(rs, k8saudit.DetectorConfig{All: f.all, Hostname: host})
	scan := newAuditScan("Kubernetes audit events", out, stderr)
	files := auditlog.Files(paths, k8saudit.IsLogName, k8saudit.LogNames, scan.bad)
	bar, sizes := progress.Files(stderr, "k8saudit scan", files)
	scan.bar = bar
	rd := k8saudit.Reader{Stdin: cmd.InOrStdin()}
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
	return scan.finish(paths)
}

// k8sServeFlags are serve's own flags.
type k8sServeFlags struct {
	listen, cert, key, clientCA, tokenFile string
	maxBody                                int64
	maxConcurrent                          int
}

func newK8sauditServeCmd() *cobra.Command {
	var f *k8sRuleFlags
	s := &k8sServeFlags{}
	cmd := &cobra.Command{
		Use:     "serve --listen ADDR [flags]",
		Short:   "serve kube-apiserver's audit webhook backend, evaluating every event posted",
		Long:    k8sauditServeHelp,
		Example: `  mamori k8saudit serve --listen :9443 --tls-cert tls.crt --tls-key tls.key --client-ca apiserver-ca.crt`,
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runK8sauditServe(cmd, f, s) },
	}
	f = addK8sRuleFlags(cmd)
	fs := cmd.Flags()
	fs.StringVar(&s.listen, "listen", "", "the address to listen on, host:port (e.g. :9443)")
	fs.StringVar(&s.cert, "tls-cert", "", "the TLS certificate (PEM) to serve with; needs --tls-key")
	fs.StringVar(&s.key, "tls-key", "", "the TLS certificate's private key (PEM)")
	fs.Int64Var(&s.maxBody, "max-body", k8saudit.DefaultMaxBodyBytes, "the largest request body accepted, in bytes")
	fs.IntVar(&s.maxConcurrent, "max-concurrent", k8saudit.DefaultMaxConcurrent, "requests read at once; more are answered 429 (the API server retries)")
	fs.StringVar(&s.clientCA, "client-ca", "", "require a client certificate signed by this CA (PEM), as the API server's webhook kubeconfig presents; needs --tls-cert")
	fs.StringVar(&s.tokenFile, "token-file", "", "require a bearer token listed in this file (one per line), as the API server's webhook kubeconfig sends")
	return cmd
}

func runK8sauditServe(cmd *cobra.Command, f *k8sRuleFlags, s *k8sServeFlags) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	f.out.sayNote(stderr)
	switch {
	case s.listen == "":
		return usageError{"name the address to listen on with --listen, e.g. --listen :9443"}
	case (s.cert == "") != (s.key == ""):
		return usageError{"--tls-cert and --tls-key go together"}
	case s.maxBody <= 0:
		return usageError{"--max-body must be positive"}
	case s.maxConcurrent <= 0:
		return usageError{"--max-concurrent must be positive"}
	case s.clientCA != "" && s.cert == "":
		return usageError{"--client-ca needs TLS: give --tls-cert and --tls-key too"}
	}
	format := f.out.format("json")
	rs, err := f.load(cmd.InOrStdin(), stderr)
	if err != nil {
		return err
	}
	out, err := openAlerts(f.alerts, output.Format(format), stdout)
	if err != nil {
		return err
	}
	defer out.Close()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	host, _ := os.Hostname()
	srv, err := k8saudit.Listen(k8saudit.ServerConfig{Addr: s.listen, CertFile: s.cert, KeyFile: s.key, ClientCAFile: s.clientCA, TokenFile: s.tokenFile,
		Webhook: k8saudit.WebhookConfig{
			Rules: rs, All: f.all, Hostname: host, MaxBodyBytes: s.maxBody, MaxConcurrent: s.maxConcurrent, Logger: log,
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
