//go:build !agentonly

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // --pprof
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mamori-dev/mamori/console"
	"github.com/mamori-dev/mamori/console/auth"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/imagestore"
	"github.com/mamori-dev/mamori/rules"
)

func newConsoleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "console [flags]",
		Short: "run the console: every node's alerts, heartbeats and containers in one place, with an API",
		Long:  consoleHelp,
		Example: `  mamori console --tls-name console.example --nats-listen :4222
  mamori console agent add --cluster prod --node web-1 --out web-1.creds
  mamori console token add --name grafana --role read`,
		Args: noArgs,
	}
	finish := consoleFlagSet(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		opts, err := finish()
		if err != nil {
			return err
		}
		return runConsole(cmd, opts)
	}
	cmd.AddCommand(newConsoleAgentCmd(), newConsoleTokenCmd())
	return cmd
}

func runConsole(cmd *cobra.Command, opts consoleOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	var err error
	cfg, level := opts.cfg, opts.level
	// The audit sources the console follows itself, with their rules.
	var rs *rules.Ruleset
	if opts.ct.url != "" || opts.ka.listen != "" {
		if rs, err = agentRules(stderr, cmd.InOrStdin(), opts.rules, true, append(opts.ct.builtinRules(), opts.ka.builtinRules()...)...); err != nil {
			return err
		}
		if rs == nil {
			return usageError{"--cloudtrail and --k8s-audit-listen evaluate records with rules: they cannot be used with --rules none"}
		}
		if err := opts.ct.check(rs, stderr); err != nil {
			return err
		}
		if err := opts.ka.check(rs, stderr); err != nil {
			return err
		}
	}
	if cfg.PprofListen != "" {
		go http.ListenAndServe(cfg.PprofListen, nil) // net/http/pprof's handlers
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := console.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	follower, err := opts.ct.open(rs, c.Raise, nil, opts.matchAll, console.RaisedBy, log)
	if err != nil {
		c.Close()
		return err
	}
	webhook, err := opts.ka.open(rs, c.Raise, opts.matchAll, console.RaisedBy, log)
	if err != nil {
		c.Close()
		return err
	}
	stopCloudtrail := follower.start(ctx)
	defer stopCloudtrail()
	stopK8sAudit := startK8sAudit(ctx, webhook, log)
	defer stopK8sAudit()
	scheme := "http"
	if cfg.Secure {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "mamori console ready\n  Web:    %s://%s/ (log in with an API token)\n  API:    %s://%s/api/v1/alerts\n",
		scheme, c.APIAddr(), scheme, c.APIAddr())
	if c.FirstToken != "" {
		fmt.Fprintf(stdout, "  first run: the admin API token is in %s (CA certificate: %s)\n", c.FirstToken, c.CAFile())
	}
	if cfg.Secure {
		fmt.Fprintf(stdout, "  agents: mamori console agent add --cluster NAME --node NODE --out NODE.creds, then on the node\n"+
			"          mamori agent --console %s --console-creds NODE.creds\n", c.NATSURL())
	} else {
		fmt.Fprintf(stdout, "  agents: mamori agent --console %s --cluster NAME   (--insecure: no TLS, no credentials)\n", c.NATSURL())
	}
	return c.Run(ctx)
}

// consoleOptions are `mamori console`'s flags.
type consoleOptions struct {
	cfg      console.Config
	level    slog.Level
	ct       *cloudtrailFlags
	ka       *k8sAuditFlags
	rules    listFlag
	matchAll bool
}

// consoleFlagSet registers `mamori console`'s flags on cmd and returns
// what reads them once they are parsed.
func consoleFlagSet(cmd *cobra.Command) func() (consoleOptions, error) {
	fs := cmd.Flags()
	opts := &consoleOptions{}
	cfg := &opts.cfg
	fs.StringVar(&cfg.DataDir, "data-dir", DefaultConsoleDir, "where the embedded NATS server and the SQLite store keep their data")
	fs.StringVar(&cfg.HTTPListen, "listen", "127.0.0.1:9747", "serve the API (/api/v1) here")
	fs.StringVar(&cfg.NATSListen, "nats-listen", "127.0.0.1:4222", "the embedded NATS server's address, where agents connect (use :4222 for other nodes)")
	natsURLs := fs.String("nats", "", "join this NATS JetStream cluster (nats://a:4222,nats://b:4222,...) instead of embedding a server")
	natsCreds := fs.String("nats-creds", "", "with --nats: the console's NATS credentials file (.creds), as the cluster's operator issued it")
	fs.StringVar(&cfg.Store, "store", "", "the store: a SQLite file (default DATA-DIR/console.db) or a postgres:// URL")
	fs.DurationVar(&cfg.Retention.Alerts, "retention-alerts", store.DefaultRetention.Alerts, "keep alerts this long (0 keeps them forever)")
	fs.DurationVar(&cfg.Retention.Events, "retention-events", store.DefaultRetention.Events, "keep events this long (0 keeps them forever)")
	fs.DurationVar(&cfg.Retention.Flows, "retention-flows", store.DefaultRetention.Flows, "keep the network map's connections (per minute) this long (0 keeps them forever)")
	fs.DurationVar(&cfg.ProfileStableAfter, "profile-stable-after", 24*time.Hour, "a behaviour profile that learnt nothing new for this long is stable: it may be exported\n"+
		"and enforced, and what is new from then on is a deviation, alerted")
	fs.BoolVar(&cfg.ProfileAutoEnforce, "profile-auto-enforce", false, "enforce a stable profile's policy without a person, once it stayed clean (no deviation)\n"+
		"for another --profile-stable-after; otherwise only mamori profile enforce does")
	fs.IntVar(&cfg.Streams.Replicas, "replicas", 0, "copies of each stream in the NATS cluster (default 1 embedded, 3 with --nats)")
	streamBytes := fs.String("stream-size", "1G", "how much JetStream buffers for the store, alerts (events get twice this)")
	level := fs.String("log-level", "info", "debug, info, warn or error (logs go to stderr)")
	fs.StringVar(&cfg.PprofListen, "pprof", "", "serve Go's profiles (/debug/pprof) on this address, e.g. 127.0.0.1:6060; off by default")
	insecure := fs.Bool("insecure", false, "no TLS, no agent credentials, no API tokens: for a lab on a loopback address only")
	var names listFlag
	fs.Var(&names, "tls-name", "a host name or address agents and clients reach the console by, for its certificate (repeatable)")
	fs.StringVar(&cfg.Falcosidekick, "falcosidekick", "", "forward every alert to falcosidekick at this URL (POST, Falco's payload with uuid)")
	fs.IntVar(&cfg.RateLimit, "rate-limit", 50, "API requests per second per token (bursts of twice that)")
	fs.StringVar(&cfg.Images, "image-db", imagestore.DefaultPath, "the image store the web console's images view reads (mamori image register --db)")
	fs.StringVar(&cfg.Cluster, "cluster", "default", "the cluster named by the alerts of the audit sources the console follows itself")
	opts.ct = addCloudtrailFlags(fs)
	opts.ka = addK8sAuditFlags(fs)
	fs.Var(&opts.rules, "rules", "rules for --cloudtrail and --k8s-audit-listen (repeatable: Falco or Sigma files); \"builtin\" names mamori's own, the default")
	fs.BoolVar(&opts.matchAll, "match-all", false, "raise an alert for every matching rule, not only the first")
	return func() (consoleOptions, error) {
		return opts.finish(fs, natsURLs, natsCreds, streamBytes, level, insecure, names)
	}
}

// finish reads the flags that need work once they are parsed.
func (opts *consoleOptions) finish(fs *pflag.FlagSet, natsURLs, natsCreds, streamBytes, level *string, insecure *bool, names listFlag) (consoleOptions, error) {
	cfg := &opts.cfg
	if !fs.Changed("cloudtrail-checkpoint") {
		opts.ct.checkpoint = filepath.Join(cfg.DataDir, "cloudtrail-checkpoint.json")
	}
	cfg.Secure, cfg.TLSNames = !*insecure, names
	if *natsURLs != "" {
		for _, u := range strings.Split(*natsURLs, ",") {
			if u = strings.TrimSpace(u); u != "" {
				cfg.NATS = append(cfg.NATS, u)
			}
		}
		if cfg.Streams.Replicas == 0 {
			cfg.Streams.Replicas = min(3, len(cfg.NATS))
		}
		if *natsCreds != "" {
			cfg.NATSOptions = append(cfg.NATSOptions, nats.UserCredentials(*natsCreds))
		}
	} else if *natsCreds != "" {
		return *opts, usageError{"--nats-creds goes with --nats"}
	}
	if cfg.Streams.Replicas < 0 || cfg.Streams.Replicas > 5 {
		return *opts, usageError{"--replicas: 1 to 5"}
	}
	n, err := parseByteSize(*streamBytes)
	if err != nil {
		return *opts, usageError{"--stream-size: " + err.Error()}
	}
	cfg.Streams.AlertBytes, cfg.Streams.EventBytes = n, 2*n
	if cfg.ProfileStableAfter <= 0 {
		return *opts, usageError{"--profile-stable-after: a duration above 0 (24h by default)"}
	}
	if cfg.Retention.Flows < 0 {
		return *opts, usageError{"--retention-flows: a duration, or 0 to keep them forever"}
	}
	if cfg.Retention.Alerts < 0 || cfg.Retention.Events < 0 || (cfg.Retention.Alerts > 0 && cfg.Retention.Alerts < time.Hour) {
		return *opts, usageError{"--retention-alerts and --retention-events: 1h or more, or 0"}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return *opts, usageError{"--log-level: " + err.Error()}
	}
	opts.level = lvl
	return *opts, nil
}

const consoleHelp = `console runs the console: the place every node's agent sends its alerts, heartbeats,
container inventory and (with the agent's --console-events) events. On one
machine it embeds a NATS JetStream server (--nats-listen) and stores in SQLite
under --data-dir: nothing else to install. Past one machine, --nats joins an
existing JetStream cluster (streams replicated) and --store postgres://...
stores in PostgreSQL; several consoles started so share the work.

One place can watch the account and the cluster: --cloudtrail s3://BUCKET/PREFIX
follows CloudTrail (checkpoint in --data-dir) and --k8s-audit-listen ADDR serves
kube-apiserver's audit webhook, with mamori's built-in rules or --rules files;
their alerts are stored under --cluster and node "console", once each (their
uuid comes from their content, so replicas and replays store them once).
Agents' own --cloudtrail and --k8s-audit-listen alerts reach the console too.

Security is on by default. A first run makes a CA and a server certificate
(--data-dir/pki; TLS on NATS and on the API) and an admin API token, and says
where they are. Each agent needs its own credential (an NKEY that may publish
only as its node, plus the CA): issue it with 'mamori console agent add', then
  mamori agent --console nats://CONSOLE:4222 --console-creds NODE.creds
Every API call needs a token (Authorization: Bearer TOKEN); read tokens read,
admin tokens also change policies, incidents, credentials. Requests are limited
in size and rate.

The web console is on the same address (https://LISTEN/): feed, overview,
alerts, incidents, nodes, policies, images, cloud; log in with an API token.

The API (docs/console.md):
  GET /api/v1/alerts          filters: since until cluster node namespace pod container
                              image rule priority (at or above) source action tag q
                              (free text); limit, cursor (the previous page's "next")
  GET /api/v1/alerts/UUID     one alert, its process ancestry, the container's events
                              around it and its network connections
  GET /api/v1/counts          by=rule|priority|node|cluster|namespace|pod|image|source|
                              action|container|tag, bucket=1h, and the alert filters
  GET /api/v1/nodes           each node's last heartbeat: version, kernel, capabilities
  GET /api/v1/containers      each container's protection state
  GET /api/v1/events          container= or process=, since, until
  GET /api/v1/processes/ID    a process, its ancestors and children, from stored events
  GET /api/v1/incidents       alerts grouped by workload and time: status, cluster, namespace,
                              node, since; GET or POST /api/v1/incidents/ID {"status","note"}
  GET /api/v1/policies        central policies; POST applies (mamori policy apply),
                              /api/v1/policies/status says which node runs what
  GET /api/v1/stream          alerts as they are stored (server-sent events), filtered
  POST /api/v1/falco          Falco's http_output: an alert in Falco's JSON (?cluster=NAME)
`

const consoleClientHelp = `agent and token talk to the console's API (--console URL, --token T,
--ca FILE); on the console's host the first run's admin token and CA are
found by themselves.`

func newConsoleAgentCmd() *cobra.Command {
	sub := func(use, short string, run func(cmd *cobra.Command, c *consoleClient, cluster, node, out string) error) *cobra.Command {
		cmd := &cobra.Command{Use: use, Short: short, Long: short + ".\n\n" + consoleClientHelp, Args: noArgs}
		fs := cmd.Flags()
		c := addConsoleClientFlags(fs)
		cluster := fs.String("cluster", "default", "the node's cluster")
		node := fs.String("node", "", "the node's name (its agent's --node, default its hostname)")
		out := ""
		if use != "list [flags]" {
			fs.StringVar(&out, "out", "", "write the credential here (mode 0600) instead of stdout")
		}
		cmd.RunE = func(cmd *cobra.Command, _ []string) error {
			if use != "list [flags]" && *node == "" {
				return usageError{"--node is needed"}
			}
			return run(cmd, c, *cluster, *node, out)
		}
		return cmd
	}
	add := sub("add [flags]", "issue a node's credential (revokes its earlier one)", func(cmd *cobra.Command, c *consoleClient, cluster, node, out string) error {
		stdout := cmd.OutOrStdout()
		var cred json.RawMessage
		if err := c.do("POST", "/api/v1/agents", map[string]string{"cluster": cluster, "node": node}, &cred); err != nil {
			return err
		}
		if out == "" {
			_, err := fmt.Fprintf(stdout, "%s\n", cred)
			return err
		}
		if err := os.WriteFile(out, append(cred, '\n'), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "credential of %s/%s written to %s: on the node, mamori agent --console-creds %s\n", cluster, node, out, out)
		return nil
	})
	revoke := sub("revoke [flags]", "revoke a node's credential: its agent is disconnected and refused", func(cmd *cobra.Command, c *consoleClient, cluster, node, _ string) error {
		if err := c.do("DELETE", "/api/v1/agents/"+url.PathEscape(cluster)+"/"+url.PathEscape(node), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "revoked %s/%s: its agent is disconnected and refused\n", cluster, node)
		return nil
	})
	var listOut outputFlag
	list := sub("list [flags]", "list the nodes' credentials", func(cmd *cobra.Command, c *consoleClient, _, _, _ string) error {
		var resp struct{ Agents []auth.Agent }
		if err := c.do("GET", "/api/v1/agents", nil, &resp); err != nil {
			return err
		}
		if listOut.format("table") == "json" {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(resp.Agents)
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "CLUSTER\tNODE\tISSUED\tSTATE")
		for _, a := range resp.Agents {
			state := "valid"
			if !a.Revoked.IsZero() {
				state = "revoked " + a.Revoked.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Cluster, a.Node, a.Created.Format(time.RFC3339), state)
		}
		return tw.Flush()
	})
	listOut.add(list, "table", "json")
	return group("agent", "issue, revoke and list the nodes' credentials", consoleClientHelp, add, revoke, list)
}

func newConsoleTokenCmd() *cobra.Command {
	add := &cobra.Command{
		Use:   "add --name NAME [flags]",
		Short: "make an API token (printed once)",
		Long:  "add makes an API token, printed once.\n\n" + consoleClientHelp,
		Args:  noArgs,
	}
	fs := add.Flags()
	c := addConsoleClientFlags(fs)
	name := fs.String("name", "", "who the token is for (shown in the console's log of changes)")
	role := fs.String("role", "read", "read (reads only), admin, or ingest (only posts Falco alerts: for Falco's http_output)")
	add.RunE = func(cmd *cobra.Command, _ []string) error {
		if *name == "" {
			return usageError{"--name is needed"}
		}
		var resp struct{ Token string }
		if err := c.do("POST", "/api/v1/tokens", map[string]string{"name": *name, "role": *role}, &resp); err != nil {
			return err
		}
		_, err := fmt.Fprintln(cmd.OutOrStdout(), resp.Token)
		return err
	}
	return group("token", "make API tokens", consoleClientHelp, add)
}
