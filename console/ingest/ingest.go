// Package ingest moves records from the console's JetStream streams into
// the store: it pulls from the durable consumers every console replica
// shares, checks each record (well-formed JSON of its kind, within the
// size limit, published on its own node's subject), stores a batch in one
// transaction and only then acknowledges it. A record that fails the check
// is terminated and counted; a batch the store refuses is redelivered, so
// a store that is away catches up when it is back.
//
// It must not know HTTP or the agent: only wire, event and store.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/console/wire"
	"github.com/mamori-dev/mamori/event"
)

// StoredSubject is where a replica announces the alerts it stored, on core
// NATS, so that every replica's live stream shows every alert once. A
// message holds one or more alerts' JSON documents, one after another
// (Announced splits them).
const StoredSubject = "mamori.console.stored.alert"

// Config is what ingest reads from and writes to.
type Config struct {
	NC      *nats.Conn
	JS      jetstream.JetStream
	Store   store.Store
	Durable string
	// Batch is how many records one transaction stores at most (500).
	Batch int
	// Workers is how many batches of one stream are stored at once (8):
	// a batch mostly waits for the database's commit, so one at a time
	// leaves the machine idle.
	Workers int
}

// Ingest runs the consumers.
type Ingest struct {
	cfg Config
	log *slog.Logger

	stored      atomic.Uint64
	rejected    atomic.Uint64
	storeErrors atomic.Uint64
	mu          sync.Mutex
	reasons     map[string]uint64
	lastLog     time.Time
}

// Stats are ingest's counters.
type Stats struct {
	Stored      uint64            `json:"stored"`
	Rejected    uint64            `json:"rejected"`
	StoreErrors uint64            `json:"store_errors"`
	Reasons     map[string]uint64 `json:"rejected_by_reason"`
}

func New(cfg Config, log *slog.Logger) *Ingest {
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	return &Ingest{cfg: cfg, log: log, reasons: map[string]uint64{}}
}

func (in *Ingest) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	r := make(map[string]uint64, len(in.reasons))
	for k, v := range in.reasons {
		r[k] = v
	}
	return Stats{Stored: in.stored.Load(), Rejected: in.rejected.Load(), StoreErrors: in.storeErrors.Load(), Reasons: r}
}

// Run consumes every stream until ctx ends.
func (in *Ingest) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, s := range []string{wire.AlertStream, wire.EventStream, wire.StateStream, wire.LearnStream} {
		workers := in.cfg.Workers
		if s == wire.StateStream || s == wire.LearnStream {
			// The latest state wins; a profile's items are read and
			// written back: order matters more than speed.
			workers = 1
		}
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in.consume(ctx, s)
			}()
		}
	}
	wg.Wait()
	return nil
}

func (in *Ingest) consume(ctx context.Context, stream string) {
	for ctx.Err() == nil {
		err := in.consumeOnce(ctx, stream)
		if ctx.Err() != nil {
			return
		}
		in.log.Warn("consumer stopped; retrying", "stream", stream, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (in *Ingest) consumeOnce(ctx context.Context, stream string) error {
	cons, err := in.cfg.JS.Consumer(ctx, stream, in.cfg.Durable)
	if err != nil {
		return err
	}
	// Bounded by bytes too: a message may be one record or a batch of
	// hundreds. (PullMaxBytes alone would size the iterator's buffer for
	// a million messages: 8 MiB of pointers per worker.)
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(2*in.cfg.Batch, pullBytes))
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		msgs, n := []jetstream.Msg{m}, records(m)
		for n < in.cfg.Batch {
			m, err := it.Next(jetstream.NextMaxWait(5 * time.Millisecond))
			if err != nil {
				break
			}
			msgs = append(msgs, m)
			n += records(m)
		}
		in.handle(ctx, msgs)
	}
}

// pullBytes is what one worker's pull holds at most: twice the streams'
// largest message (4 MiB), which it must exceed.
const pullBytes = 8 * wire.MaxRecord

// records is how many records m holds, by its header.
func records(m jetstream.Msg) int {
	if ids := m.Headers().Get(wire.IDsHeader); ids != "" {
		return strings.Count(ids, " ") + 1
	}
	return 1
}

// handle checks, stores and acknowledges one batch.
func (in *Ingest) handle(ctx context.Context, msgs []jetstream.Msg) {
	var b store.Batch
	var ok []jetstream.Msg
	// The records refused in messages that are kept for the others: they
	// count once the message is acknowledged (a message handed back when
	// stopping comes again and is checked again).
	var refusedInKept []refusal
	kept := 0
	now := time.Now()
	for _, m := range msgs {
		n, refused := in.parse(m, &b, now)
		if n > 0 {
			ok = append(ok, m)
			kept += n
			refusedInKept = append(refusedInKept, refused...)
		} else {
			m.Term() // nothing of it can ever be stored
			in.refuse(refused)
		}
	}
	if len(ok) == 0 {
		return
	}
	learnt := len(b.Observations) == 0
	for attempt := 0; ; attempt++ {
		var err error
		if !learnt {
			var devs []store.Deviation
			if devs, err = in.cfg.Store.Learn(ctx, b.Observations, now); err == nil {
				learnt = true
				for _, d := range devs {
					b.Alerts = append(b.Alerts, deviationAlert(d, now))
				}
			}
		}
		if err == nil {
			err = in.cfg.Store.Put(ctx, &b)
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			// Stopping: the batch is redelivered to whoever runs next.
			for _, m := range ok {
				m.Nak()
			}
			return
		}
		in.storeErrors.Add(1)
		if attempt%10 == 0 {
			in.log.Error("store refuses a batch; holding it until the store is back", "records", len(ok), "err", err)
		}
		// Keep the messages: tell JetStream they are in progress so that
		// they are not handed to another replica meanwhile, and retry.
		for _, m := range ok {
			m.InProgress()
		}
		select {
		case <-ctx.Done():
			for _, m := range ok {
				m.Nak()
			}
			return
		case <-time.After(min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second)):
		}
	}
	for _, m := range ok {
		m.Ack()
	}
	in.stored.Add(uint64(kept))
	in.refuse(refusedInKept)
	in.announce(b.Alerts)
}

// announce publishes the stored alerts on StoredSubject, their JSON
// documents one after another, a few hundred kilobytes a message: one
// message per alert cost the console as much as storing it.
func (in *Ingest) announce(alerts []store.AlertIn) {
	for _, msg := range announcements(alerts, announceSize) {
		in.cfg.NC.Publish(StoredSubject, msg)
	}
}

// announcements packs the alerts' documents into messages of at most
// size bytes (or one alert, when larger).
func announcements(alerts []store.AlertIn, size int) [][]byte {
	left := 0
	for _, a := range alerts {
		left += len(a.Raw)
	}
	var out [][]byte
	var msg []byte
	for _, a := range alerts {
		if len(msg) > 0 && len(msg)+len(a.Raw) > size {
			out = append(out, msg)
			msg = nil
		}
		if msg == nil {
			msg = make([]byte, 0, max(min(size, left), len(a.Raw)))
		}
		msg = append(msg, a.Raw...)
		left -= len(a.Raw)
	}
	if len(msg) > 0 {
		out = append(out, msg)
	}
	return out
}

const announceSize = 256 << 10

// Announced splits a message of StoredSubject into its alerts' JSON.
func Announced(data []byte) []json.RawMessage {
	var out []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var raw json.RawMessage
		if dec.Decode(&raw) != nil {
			return out
		}
		out = append(out, raw)
	}
}

type rejection struct{ reason, detail string }

func (r rejection) Error() string { return r.reason + ": " + r.detail }

// refusal is n records of one message refused for err.
type refusal struct {
	subject string
	n       int
	err     error
}

// refuse counts refused records by reason, and logs one of them (at most
// every 10 s).
func (in *Ingest) refuse(refused []refusal) {
	if len(refused) == 0 {
		return
	}
	in.mu.Lock()
	for _, f := range refused {
		in.rejected.Add(uint64(f.n))
		reason := f.err.Error()
		var r rejection
		if errors.As(f.err, &r) {
			reason = r.reason
		}
		in.reasons[reason] += uint64(f.n)
	}
	logNow := time.Since(in.lastLog) > 10*time.Second
	if logNow {
		in.lastLog = time.Now()
	}
	in.mu.Unlock()
	if logNow {
		f := refused[0]
		in.log.Warn("record refused", "subject", f.subject, "err", f.err, "rejected_total", in.rejected.Load())
	}
}

// parse checks the records of m and adds those that pass to b; it returns
// how many it added and what it refused.
func (in *Ingest) parse(m jetstream.Msg, b *store.Batch, now time.Time) (int, []refusal) {
	subject := m.Subject()
	kind, cluster, node, err := wire.Parse(subject)
	ids := m.Headers().Get(wire.IDsHeader)
	whole := func(err error) (int, []refusal) { return 0, []refusal{{subject, records(m), err}} }
	if err != nil {
		return whole(rejection{"bad subject", err.Error()})
	}
	if ids == "" {
		if err := in.record(kind, cluster, node, m.Data(), m.Headers().Get(jetstream.MsgIDHeader), b, now); err != nil {
			return whole(err)
		}
		return 1, nil
	}
	if !wire.Batchable(kind) {
		return whole(rejection{"malformed", "a batch of " + kind + " records"})
	}
	recs, idList, err := wire.SplitBatch(m.Data(), ids)
	if err != nil {
		return whole(rejection{"malformed", err.Error()})
	}
	n := 0
	var refused []refusal
	for i, data := range recs {
		if err := in.record(kind, cluster, node, data, idList[i], b, now); err != nil {
			refused = append(refused, refusal{subject, 1, err})
			continue
		}
		n++
	}
	return n, refused
}

// record checks one record of kind, published on the subject of node in
// cluster with id, and adds it to b.
func (in *Ingest) record(kind, cluster, node string, data []byte, id string, b *store.Batch, now time.Time) error {
	if len(data) > wire.MaxRecord {
		return rejection{"oversized", fmt.Sprintf("%d bytes, the limit is %d", len(data), wire.MaxRecord)}
	}
	// A node may publish only on its own subjects (its credential says
	// so); the payload must say the same node and cluster.
	same := func(c, n string) error {
		if wire.Token(c) != cluster || wire.Token(n) != node {
			return rejection{"wrong node", fmt.Sprintf("record of %s/%s on the subject of %s/%s", c, n, cluster, node)}
		}
		return nil
	}
	switch kind {
	case wire.Alert:
		h, err := readAlertHead(data)
		if err != nil {
			return rejection{"malformed", err.Error()}
		}
		a := h.alert()
		if a.Kind != event.KindAlert || a.UUID == "" || a.Time.IsZero() || a.Rule == "" {
			return rejection{"malformed", "an alert needs kind \"alert\", a uuid, a time and a rule"}
		}
		if err := same(a.Cluster, a.Hostname); err != nil {
			return err
		}
		b.Alerts = append(b.Alerts, store.AlertIn{Alert: &a, Raw: data, Received: now})
	case wire.Event:
		h, err := readEventHead(data)
		if err != nil {
			return rejection{"malformed", err.Error()}
		}
		if h.Kind != event.KindEvent || h.Time.IsZero() {
			return rejection{"malformed", "an event needs kind \"event\" and a time"}
		}
		if err := same(h.Cluster, h.Node); err != nil {
			return err
		}
		if id == "" {
			return rejection{"malformed", "an event needs a Nats-Msg-Id"}
		}
		b.Events = append(b.Events, store.EventIn{ID: id, Event: h.event(), Raw: data})
	case wire.Heartbeat:
		var hb event.Heartbeat
		if err := json.Unmarshal(data, &hb); err != nil {
			return rejection{"malformed", err.Error()}
		}
		if hb.Kind != event.KindHeartbeat || hb.Time.IsZero() {
			return rejection{"malformed", "a heartbeat needs kind \"heartbeat\" and a time"}
		}
		if err := same(hb.Cluster, hb.Node); err != nil {
			return err
		}
		b.Heartbeats = append(b.Heartbeats, &hb)
		if len(hb.Drops) > 0 {
			b.Alerts = append(b.Alerts, dropAlert(&hb, now))
		}
	case wire.Container:
		var cs event.ContainerState
		if err := json.Unmarshal(data, &cs); err != nil {
			return rejection{"malformed", err.Error()}
		}
		if cs.Kind != event.KindContainer || cs.Time.IsZero() || cs.Container == nil || cs.Container.ID == "" {
			return rejection{"malformed", "a container state needs kind \"container\", a time and a container id"}
		}
		if err := same(cs.Cluster, cs.Node); err != nil {
			return err
		}
		b.Containers = append(b.Containers, &cs)
	case wire.Observation:
		var o event.Observation
		if err := json.Unmarshal(data, &o); err != nil {
			return rejection{"malformed", err.Error()}
		}
		if o.Kind != event.KindObservation || o.Time.IsZero() || o.Workload.ImageDigest == "" {
			return rejection{"malformed", "an observation needs kind \"observation\", a time and a workload's image digest"}
		}
		if err := same(o.Cluster, o.Node); err != nil {
			return err
		}
		b.Observations = append(b.Observations, &o)
	default:
		return rejection{"bad subject", "unknown kind " + kind}
	}
	return nil
}

// alertHead is what ingest reads of an alert: the columns and the
// incident's grouping. The output fields, ancestors and forensics are
// checked as JSON but not decoded (the stored JSON keeps them): decoding
// them was most of ingest's work.
type alertHead struct {
	Kind     string    `json:"kind"`
	UUID     string    `json:"uuid"`
	Cluster  string    `json:"cluster"`
	Time     time.Time `json:"time"`
	Rule     string    `json:"rule"`
	Priority string    `json:"priority"`
	Output   string    `json:"output"`
	Source   string    `json:"source"`
	Tags     []string  `json:"tags"`
	Hostname string    `json:"hostname"`
	Action   string    `json:"action"`
	Policy   string    `json:"policy"`
	Control  string    `json:"control"`
	Event    string    `json:"event"`
	Process  *struct {
		ID string `json:"id"`
	} `json:"process"`
	Container *event.Container `json:"container"`
}

func (h *alertHead) alert() event.Alert {
	a := event.Alert{Kind: h.Kind, UUID: h.UUID, Cluster: h.Cluster, Time: h.Time, Rule: h.Rule, Priority: h.Priority,
		Output: h.Output, Source: h.Source, Tags: h.Tags, Hostname: h.Hostname, Action: h.Action, Policy: h.Policy,
		Control: h.Control, Event: event.Type(h.Event), Container: h.Container}
	if h.Process != nil {
		a.Process = &event.Process{ID: h.Process.ID}
	}
	return a
}
