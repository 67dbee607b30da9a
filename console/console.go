// Package console is mamori's centre: it receives what every node's agent
// publishes (alerts, events, heartbeats, the container inventory) through
// NATS JetStream, stores it (SQLite on one machine, PostgreSQL at scale)
// and serves it over an HTTP API. On one machine it embeds its own NATS
// server; past one it joins an existing JetStream cluster, and several
// replicas share the work through durable consumers.
//
// The parts live in subpackages: wire (the protocol agents speak), link
// (the agent's side), ingest (streams to store), store, api. This package
// only wires them; it must not reach into the agent.
package console

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mamori-dev/mamori/console/api"
	"github.com/mamori-dev/mamori/console/auth"
	"github.com/mamori-dev/mamori/console/ingest"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/console/web"
	"github.com/mamori-dev/mamori/imagestore"
)

// Config is what `mamori console` is told.
type Config struct {
	// DataDir holds the embedded NATS server's JetStream store and the
	// SQLite database.
	DataDir string
	// NATSListen is where the embedded server listens for agents
	// (host:port); ignored with NATS.
	NATSListen string
	// NATS, when set, are the URLs of an existing JetStream cluster to
	// join instead of embedding a server.
	NATS []string
	// Store is "" (SQLite in DataDir), a SQLite file path, or a
	// postgres:// URL.
	Store string
	// HTTPListen is where the API is served.
	HTTPListen string
	Retention  store.Retention
	Streams    StreamLimits
	// NATSOptions are added to the console's own NATS connection.
	NATSOptions []nats.Option
	// Secure turns on TLS (the console's own CA under DataDir/pki), each
	// agent's own credential and the API's tokens. Only tests and
	// --insecure turn it off.
	Secure bool
	// TLSNames are the host names and addresses agents and browsers
	// reach the console by, for its certificate.
	TLSNames []string
	// Falcosidekick, when set, is where every alert is forwarded in
	// Falco's payload (POST), as falcosidekick receives Falco's.
	Falcosidekick string
	// PprofListen is where `mamori console --pprof` serves profiles; the
	// console itself does not read it.
	PprofListen string
	// RateLimit is how many API requests per second one token may make
	// (burst twice that); 50 when 0.
	RateLimit int
	// Images is the registered-images database the images view reads
	// (what `mamori image register` writes on this host); imagestore's
	// default path when "". A missing file means no image is registered.
	Images string
	// ProfileStableAfter is how long a behaviour profile learns nothing
	// new before it is stable (24 h when 0).
	ProfileStableAfter time.Duration
	// ProfileAutoEnforce enforces a stable profile's policy on its own
	// once it has stayed clean for another ProfileStableAfter; otherwise
	// only a person does (mamori profile enforce).
	ProfileAutoEnforce bool
	// Cluster names the cluster of the alerts the console raises itself
	// (its CloudTrail follower, its Kubernetes audit webhook); "default"
	// when empty.
	Cluster string
}

// Console is a running console.
type Console struct {
	cfg       Config
	log       *slog.Logger
	ns        *server.Server
	nc        *nats.Conn
	js        jetstream.JetStream
	store     store.Store
	ingest    *ingest.Ingest
	hub       *api.Hub
	httpL     net.Listener
	sub       *nats.Subscription
	pol       *policyStore
	url       string
	nsOpts    *server.Options
	reg       *auth.Registry
	pki       *auth.PKI
	images    *imagestore.Store
	lock      *os.File      // the data directory's, with the embedded NATS server
	forwarded atomic.Uint64 // alerts falcosidekick took
	// FirstToken is where a first run wrote the admin token; "" after.
	FirstToken string
}

// Open starts the embedded NATS server (or connects to the cluster),
// creates the streams, opens the store and binds the API's address. Run
// serves.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (_ *Console, err error) {
	c := &Console{cfg: cfg, log: log, hub: api.NewHub()}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if len(cfg.NATS) == 0 {
		// Before anything in the directory is read or written (a first
		// run writes the admin token and the CA there).
		if c.lock, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	var secure func(*server.Options) error
	if cfg.Secure {
		if err := c.openAuth(); err != nil {
			return nil, err
		}
		secure = c.secureServer
		kp, err := c.reg.ConsoleKey()
		if err != nil {
			return nil, err
		}
		pub, _ := kp.PublicKey()
		if len(cfg.NATS) == 0 {
			// Its own user on its own server; a cluster's operator
			// gives it one (--nats-creds).
			cfg.NATSOptions = append(cfg.NATSOptions, nats.Nkey(pub, kp.Sign))
		}
	}
	if len(cfg.NATS) == 0 {
		if c.ns, c.nsOpts, err = embedded(cfg.NATSListen, cfg.DataDir, secure, log); err != nil {
			return nil, err
		}
		c.nc, err = nats.Connect("", append([]nats.Option{nats.InProcessServer(c.ns), nats.Name("mamori console")}, cfg.NATSOptions...)...)
	} else {
		c.nc, err = nats.Connect(strings.Join(cfg.NATS, ","), append([]nats.Option{
			nats.Name("mamori console"), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second), nats.RetryOnFailedConnect(true),
		}, cfg.NATSOptions...)...)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	if c.ns != nil {
		c.url = c.ns.ClientURL()
	} else {
		c.url = cfg.NATS[0]
	}
	if c.js, err = jetstream.New(c.nc); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err = ensureStreamsRetrying(sctx, c.js, cfg.Streams); err != nil {
		return nil, err
	}
	if c.pol, err = ensurePolicyBucket(sctx, c.js, cfg.Streams.Replicas); err != nil {
		return nil, err
	}
	if err = ensureForwarder(sctx, c.js, cfg.Falcosidekick); err != nil {
		return nil, fmt.Errorf("falcosidekick forwarder: %w", err)
	}
	if c.store, err = openStore(cfg); err != nil {
		return nil, err
	}
	imgPath := cfg.Images
	if imgPath == "" {
		imgPath = imagestore.DefaultPath
	}
	if c.images, err = imagestore.Open(imgPath, imagestore.Options{ReadOnly: true, Log: log.With("part", "images")}); err != nil {
		return nil, fmt.Errorf("registered images: %w", err)
	}
	if c.httpL, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
		return nil, fmt.Errorf("serve the API on %s: %w", cfg.HTTPListen, err)
	}
	if c.pki != nil {
		// HTTP/2 for browsers: every open page holds a live stream,
		// and HTTP/1.1 allows a browser six connections to one host.
		tc := c.pki.ServerTLS()
		tc.NextProtos = []string{"h2", "http/1.1"}
		c.httpL = tls.NewListener(c.httpL, tc)
	}
	// SQLite has one writer: concurrent batches would only wait for
	// each other's locks. PostgreSQL takes several at once, and larger
	// ones: each batch ends in a short section that batches take one at
	// a time (store/pgput.go), which costs the same for 500 alerts as for
	// 2,000.
	workers, batch := 1, 500
	if isPostgres(cfg.Store) {
		workers, batch = 8, 2000
	}
	c.ingest = ingest.New(ingest.Config{NC: c.nc, JS: c.js, Store: c.store, Durable: Durable, Workers: workers, Batch: batch}, log.With("part", "ingest"))
	if c.sub, err = c.nc.Subscribe(ingest.StoredSubject, func(m *nats.Msg) {
		if c.hub.Listening() {
			for _, raw := range ingest.Announced(m.Data) {
				c.hub.Publish(raw)
			}
		}
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// ensureStreamsRetrying waits for a JetStream cluster that is still
// electing its leaders.
func ensureStreamsRetrying(ctx context.Context, js jetstream.JetStream, l StreamLimits) error {
	for {
		// Each attempt on its own clock: a request made before the
		// cluster has a leader is never answered.
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := ensureStreams(actx, js, l)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("jetstream: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func openStore(cfg Config) (store.Store, error) {
	switch {
	case isPostgres(cfg.Store):
		return store.OpenPostgres(context.Background(), cfg.Store)
	case cfg.Store == "":
		return store.OpenSQLite(filepath.Join(cfg.DataDir, "console.db"))
	default:
		return store.OpenSQLite(strings.TrimPrefix(cfg.Store, "sqlite://"))
	}
}

// NATSURL is where agents connect: the embedded server's address, or the
// cluster's first URL.
func (c *Console) NATSURL() string { return c.url }

// APIAddr is the API's bound address.
func (c *Console) APIAddr() string { return c.httpL.Addr().String() }

// Status is the console's own counters.
type Status struct {
	Ingest ingest.Stats `json:"ingest"`
	Live   struct {
		Dropped uint64 `json:"dropped"`
	} `json:"live"`
	// Forwarded counts alerts falcosidekick took (--falcosidekick).
	Forwarded uint64 `json:"forwarded_to_falcosidekick"`
}

// Run serves until ctx ends.
func (c *Console) Run(ctx context.Context) error {
	defer c.Close()
	var wg sync.WaitGroup
	apiH := api.Handler(api.Config{Store: c.store, Live: c.hub, Policies: c.pol, Auth: c.authenticator(), Agents: c.agents(),
		Ingest: c.publishAlert, Images: c.images, Profiles: api.Profiles{StableAfter: c.stableAfter()},
		RateLimit: c.cfg.RateLimit, Status: func() any {
			return Status{Ingest: c.ingest.Stats(), Forwarded: c.forwarded.Load()}
		}}, c.log.With("part", "api"))
	var check func(string) bool
	if c.reg != nil {
		check = func(tok string) bool {
			_, role, ok := c.reg.Check(tok)
			return ok && role != auth.Ingest
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", apiH)
	mux.Handle("/healthz", apiH)
	mux.Handle("/", web.Handler(web.Config{Check: check}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(c.log.With("part", "api").Handler(), slog.LevelDebug),
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(c.httpL); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("api server stopped", "err", err)
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.ingest.Run(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.prune(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.keepCounts(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.promoteProfiles(ctx)
	}()
	if c.cfg.Falcosidekick != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.forward(ctx)
		}()
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	srv.Shutdown(sctx)
	cancel()
	srv.Close()
	wg.Wait()
	return nil
}

// prune applies the retention every hour (and once at start), in the
// background: the stores delete in small steps or drop whole partitions,
// so ingest does not wait.
func (c *Console) prune(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		p, err := c.store.Prune(ctx, time.Now(), c.cfg.Retention)
		if err != nil && ctx.Err() == nil {
			c.log.Error("retention: prune failed", "err", err)
		} else if p.Alerts+p.Events > 0 {
			c.log.Info("retention: pruned", "alerts", p.Alerts, "events", p.Events)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// keepCounts counts each hour of alerts as it ends (Store.KeepCounts), every
// ten minutes and once at start, in the background.
func (c *Console) keepCounts(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		if err := c.store.KeepCounts(ctx, time.Now()); err != nil && ctx.Err() == nil {
			// Counts are then made at their first ask, as before.
			c.log.Warn("counts: keeping the hours that ended failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close stops everything Open started.
func (c *Console) Close() {
	if c.sub != nil {
		c.sub.Unsubscribe()
		c.sub = nil
	}
	if c.httpL != nil {
		c.httpL.Close()
	}
	if c.nc != nil {
		c.nc.Drain()
		c.nc.Close()
		c.nc = nil
	}
	if c.store != nil {
		c.store.Close()
		c.store = nil
	}
	if c.images != nil {
		c.images.Close()
		c.images = nil
	}
	if c.ns != nil {
		c.ns.Shutdown()
		c.ns.WaitForShutdown()
		c.ns = nil
	}
	if c.lock != nil {
		c.lock.Close() // and its lock
		c.lock = nil
	}
}
