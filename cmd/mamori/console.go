package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mamori-dev/mamori/console"
	"github.com/mamori-dev/mamori/console/store"
)

// DefaultConsoleDir is where the console keeps its data.
const DefaultConsoleDir = "/var/lib/mamori/console"

func runConsole(args []string, stdout, stderr io.Writer) error {
	cfg, level, err := consoleConfig(args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := console.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mamori console ready\n  API:    http://%s/api/v1/alerts\n  agents: mamori agent --console %s --cluster NAME\n",
		c.APIAddr(), c.NATSURL())
	return c.Run(ctx)
}

// consoleConfig parses `mamori console`'s flags.
func consoleConfig(args []string) (console.Config, slog.Level, error) {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	cfg := console.Config{}
	fs.StringVar(&cfg.DataDir, "data-dir", DefaultConsoleDir, "where the embedded NATS server and the SQLite store keep their data")
	fs.StringVar(&cfg.HTTPListen, "listen", "127.0.0.1:9747", "serve the API (/api/v1) here")
	fs.StringVar(&cfg.NATSListen, "nats-listen", "127.0.0.1:4222", "the embedded NATS server's address, where agents connect (use :4222 for other nodes)")
	natsURLs := fs.String("nats", "", "join this NATS JetStream cluster (nats://a:4222,nats://b:4222,...) instead of embedding a server")
	fs.StringVar(&cfg.Store, "store", "", "the store: a SQLite file (default DATA-DIR/console.db) or a postgres:// URL")
	fs.DurationVar(&cfg.Retention.Alerts, "retention-alerts", store.DefaultRetention.Alerts, "keep alerts this long (0 keeps them forever)")
	fs.DurationVar(&cfg.Retention.Events, "retention-events", store.DefaultRetention.Events, "keep events this long (0 keeps them forever)")
	fs.IntVar(&cfg.Streams.Replicas, "replicas", 0, "copies of each stream in the NATS cluster (default 1 embedded, 3 with --nats)")
	streamBytes := fs.String("stream-size", "1G", "how much JetStream buffers for the store, alerts (events get twice this)")
	level := fs.String("log-level", "info", "debug, info, warn or error (logs go to stderr)")
	if err := parseFlags(fs, args, consoleHelp); err != nil {
		return cfg, 0, err
	}
	if *natsURLs != "" {
		for _, u := range strings.Split(*natsURLs, ",") {
			if u = strings.TrimSpace(u); u != "" {
				cfg.NATS = append(cfg.NATS, u)
			}
		}
		if cfg.Streams.Replicas == 0 {
			cfg.Streams.Replicas = min(3, len(cfg.NATS))
		}
	}
	if cfg.Streams.Replicas < 0 || cfg.Streams.Replicas > 5 {
		return cfg, 0, usageError{"--replicas: 1 to 5"}
	}
	n, err := parseBytes(*streamBytes)
	if err != nil {
		return cfg, 0, usageError{"--stream-size: " + err.Error()}
	}
	cfg.Streams.AlertBytes, cfg.Streams.EventBytes = n, 2*n
	if cfg.Retention.Alerts < 0 || cfg.Retention.Events < 0 || (cfg.Retention.Alerts > 0 && cfg.Retention.Alerts < time.Hour) {
		return cfg, 0, usageError{"--retention-alerts and --retention-events: 1h or more, or 0"}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return cfg, 0, usageError{"--log-level: " + err.Error()}
	}
	return cfg, lvl, nil
}

const consoleHelp = `Usage: mamori console [flags]

Runs the console: the place every node's agent sends its alerts, heartbeats,
container inventory and (with the agent's --console-events) events. On one
machine it embeds a NATS JetStream server (--nats-listen) and stores in SQLite
under --data-dir: nothing else to install. Past one machine, --nats joins an
existing JetStream cluster (streams replicated) and --store postgres://...
stores in PostgreSQL; several consoles started so share the work.

Agents join with:
  mamori agent --console nats://CONSOLE:4222 --cluster NAME

The API (docs/console.md):
  GET /api/v1/alerts          filters: since until cluster node namespace pod container
                              image rule priority (at or above) source action tag q
                              (free text); limit, cursor (the previous page's "next")
  GET /api/v1/alerts/UUID     one alert, its process ancestry, the container's events
                              around it and its network connections
  GET /api/v1/counts          by=rule|priority|node|cluster|namespace|pod|image|source|
                              action|container, bucket=1h, and the alert filters
  GET /api/v1/nodes           each node's last heartbeat: version, kernel, capabilities
  GET /api/v1/containers      each container's protection state
  GET /api/v1/events          container= or process=, since, until
  GET /api/v1/stream          alerts as they are stored (server-sent events), filtered
`
