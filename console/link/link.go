// Package link is the agent's side of the console: it publishes alerts,
// events, heartbeats and the container inventory to the console's NATS
// JetStream (the protocol is package wire). It runs beside the agent's
// event path and never blocks it: records are serialised and put on a
// bounded queue; one goroutine publishes them, spools them to a bounded
// directory on disk while the console is away, and replays the spool in
// order when it is back. What cannot be queued or spooled is dropped,
// counted, logged and reported in the next heartbeat.
//
// It must not import the agent or anything of the console but wire.
package link

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/mamori-dev/mamori/console/wire"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/output"
)

// Config says where the console is and how much the agent keeps while it is
// away.
type Config struct {
	// URL is the console's NATS server, or several, comma-separated.
	URL     string
	Cluster string
	Node    string
	// SpoolDir holds records while the console is unreachable, across
	// restarts; SpoolBytes bounds it (256 MiB when 0).
	SpoolDir   string
	SpoolBytes int64
	// QueueLen bounds the records waiting in memory (10,000 when 0).
	QueueLen int
	// Events sends every event too, not only alerts.
	Events bool
	// HeartbeatEvery is how often the agent reports (10 s when 0).
	HeartbeatEvery time.Duration
	// LearnEvery is how often what the agent learnt of its workloads
	// (a Source with Observations) is sent (10 s when 0).
	LearnEvery time.Duration
	// PolicyDir, when set, receives the console's central policies (see
	// PolicyPath); the agent loads PolicyPath(PolicyDir) as a policy path.
	PolicyDir string
	// Creds, when set, is the node's credential: its NKEY, and the
	// console's CA to verify the server by (TLS).
	Creds *wire.Credential
	// Options are added to the NATS connection's.
	Options []nats.Option
}

// Source is what the agent tells about itself for heartbeats and the
// inventory.
type Source interface {
	Heartbeat() event.Heartbeat
	Containers() []event.ContainerState
}

// Learner is a Source that also learns its workloads' behaviour: what it
// learnt since the last call, one record per workload.
type Learner interface {
	Observations() []*event.Observation
}

// Link publishes to the console. Alert and Event may be called from any
// goroutine; they never block.
type Link struct {
	cfg    Config
	log    *slog.Logger
	bootID string
	epoch  string
	queue  chan record
	seq    atomic.Uint64

	published atomic.Uint64
	spooled   atomic.Uint64
	replayed  atomic.Uint64
	dropped   atomic.Uint64
	spoolSize atomic.Int64
	connected atomic.Bool

	dropMu    sync.Mutex
	drops     map[string]uint64 // since the last heartbeat, by cause
	lastDropL time.Time

	sp *spool

	// beatAt, when set (Unix ns), asks for a heartbeat at that time: soon
	// after new central policies, so that the console sees them applied.
	beatAt atomic.Int64
}

// New opens the spool (replaying what a previous run left in it once
// connected). Nothing is sent before Run.
func New(cfg Config, log *slog.Logger) (*Link, error) {
	if cfg.URL == "" {
		return nil, errors.New("console link: no console URL")
	}
	if cfg.SpoolBytes <= 0 {
		cfg.SpoolBytes = 256 << 20
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 10000
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = 10 * time.Second
	}
	if cfg.LearnEvery <= 0 {
		cfg.LearnEvery = 10 * time.Second
	}
	l := &Link{cfg: cfg, log: log, bootID: BootID(), queue: make(chan record, cfg.QueueLen), drops: map[string]uint64{}}
	l.epoch = strconv.FormatInt(time.Now().UnixNano(), 36)
	if cfg.SpoolDir != "" {
		sp, err := openSpool(cfg.SpoolDir, cfg.SpoolBytes)
		if err != nil {
			return nil, fmt.Errorf("console link: %w", err)
		}
		l.sp = sp
		l.spoolSize.Store(sp.bytes())
		if sp.bytes() > 0 {
			log.Info("records spooled by a previous run wait for the console", "bytes", sp.bytes(), "dir", cfg.SpoolDir)
		}
	}
	return l, nil
}

// BootID returns this boot's id, which process ids are derived from.
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Alert sends a: it gives it a uuid (unless it has one), the cluster and
// process ids first, so that the agent's own output shows the same.
func (l *Link) Alert(a *event.Alert) {
	if a.UUID == "" {
		a.UUID = event.NewUUID()
	}
	a.Cluster = l.cfg.Cluster
	if a.Process != nil {
		event.SetProcessIDs(l.bootID, a.Process)
	}
	for i := range a.Forensics {
		a.Forensics[i].Cluster = l.cfg.Cluster
		event.SetProcessIDs(l.bootID, &a.Forensics[i].Process)
	}
	data, err := output.AppendAlertJSON(make([]byte, 0, 2048), a)
	if err != nil {
		l.drop("alert not serialisable: " + err.Error())
		return
	}
	l.enqueue(record{subject: wire.Subject(wire.Alert, l.cfg.Cluster, a.Hostname), id: a.UUID, data: data})
}

// Event sends e when the link was configured with Events.
func (l *Link) Event(e *event.Event) {
	if !l.cfg.Events {
		return
	}
	e.Cluster = l.cfg.Cluster
	event.SetProcessIDs(l.bootID, &e.Process)
	data := output.AppendJSON(make([]byte, 0, 1024), e)
	l.enqueue(record{subject: wire.Subject(wire.Event, l.cfg.Cluster, e.Node), data: data})
}

// Observation sends what the agent learnt of one workload. Like alerts,
// observations are history: they are spooled while the console is away.
func (l *Link) Observation(o *event.Observation) {
	o.Kind, o.Cluster = event.KindObservation, l.cfg.Cluster
	o.Workload.Cluster = l.cfg.Cluster
	data, err := json.Marshal(o)
	if err != nil {
		l.drop("observation not serialisable: " + err.Error())
		return
	}
	l.enqueue(record{subject: wire.Subject(wire.Observation, l.cfg.Cluster, o.Node), data: data})
}

func (l *Link) enqueue(r record) {
	if len(r.data) > wire.MaxRecord {
		l.drop(fmt.Sprintf("record of %d bytes is larger than %d", len(r.data), wire.MaxRecord))
		return
	}
	if r.id == "" {
		// Events have no uuid: the agent's start and its count name them,
		// which a replay keeps.
		r.id = l.epoch + "-" + strconv.FormatUint(l.seq.Add(1), 10)
	}
	select {
	case l.queue <- r:
	default:
		l.drop("queue full")
	}
}

// drop counts a lost record, logs it (at most every 10 s, with the count)
// and keeps it for the next heartbeat.
func (l *Link) drop(cause string) {
	l.dropped.Add(1)
	l.dropMu.Lock()
	l.drops[cause]++
	logNow := time.Since(l.lastDropL) > 10*time.Second
	if logNow {
		l.lastDropL = time.Now()
	}
	l.dropMu.Unlock()
	if logNow {
		l.log.Error("record for the console dropped", "cause", cause, "dropped_total", l.dropped.Load())
	}
}

// Counts returns the link's counters for the agent's status.
func (l *Link) Counts() event.PublisherCounts {
	return event.PublisherCounts{
		Published:  l.published.Load(),
		Spooled:    l.spooled.Load(),
		Replayed:   l.replayed.Load(),
		Dropped:    l.dropped.Load(),
		SpoolBytes: l.spoolSize.Load(),
		Connected:  l.connected.Load(),
	}
}

// takeDrops returns the causes of drops since the last call.
func (l *Link) takeDrops() []string {
	l.dropMu.Lock()
	defer l.dropMu.Unlock()
	var out []string
	for cause, n := range l.drops {
		out = append(out, fmt.Sprintf("%d records for the console: %s", n, cause))
	}
	clear(l.drops)
	return out
}

// Run connects and publishes until ctx ends; then it publishes or spools
// what is still queued and returns. The connection is retried forever:
// an agent started before its console catches up when the console comes.
func (l *Link) Run(ctx context.Context, src Source) error {
	opts := append([]nats.Option{
		nats.Name("mamori agent " + l.cfg.Node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true),
		// Publishes fail while disconnected rather than wait in the
		// client's buffer: the spool is where they wait.
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(func(*nats.Conn) { l.log.Info("connected to the console", "url", l.cfg.URL) }),
		nats.ReconnectHandler(func(*nats.Conn) { l.log.Info("reconnected to the console") }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			// A permission violation: the credential is not this node's.
			l.log.Error("the console refused a request", "err", err)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			l.connected.Store(false)
			if err != nil {
				l.log.Warn("disconnected from the console; spooling", "err", err)
			}
		}),
	}, l.cfg.Options...)
	if c := l.cfg.Creds; c != nil {
		co, err := CredOptions(c)
		if err != nil {
			return fmt.Errorf("console link: credential: %w", err)
		}
		opts = append(opts, co...)
	}
	nc, err := nats.Connect(l.cfg.URL, opts...)
	if err != nil {
		return fmt.Errorf("console link: connect %s: %w", l.cfg.URL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(512), jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("console link: %w", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.report(ctx, nc, js, src)
	}()
	if l.cfg.PolicyDir != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.watchPolicies(ctx, js)
		}()
	}
	p := &pump{l: l, nc: nc, js: js}
	p.run(ctx)
	wg.Wait()
	if l.sp != nil {
		l.sp.close()
	}
	return nil
}

// CredOptions turn a credential into the connection's options: sign with
// the node's NKEY, verify the server by the console's CA, and take
// replies on the node's own inbox (its only subscribe permission).
func CredOptions(c *wire.Credential) ([]nats.Option, error) {
	kp, err := nkeys.FromSeed([]byte(c.Seed))
	if err != nil {
		return nil, err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(c.CA)) {
		return nil, errors.New("no CA certificate in it")
	}
	return []nats.Option{
		nats.Nkey(pub, kp.Sign),
		nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		nats.CustomInboxPrefix(wire.InboxPrefix(c.Cluster, c.Node)),
	}, nil
}

// ReadCreds reads a credential file (mamori console agent add).
func ReadCreds(path string) (*wire.Credential, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c wire.Credential
	if err := json.Unmarshal(b, &c); err != nil || c.Seed == "" || c.Node == "" {
		return nil, fmt.Errorf("%s is not a credential of mamori console agent add", path)
	}
	return &c, nil
}
