package link

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mamori-dev/mamori/console/wire"
)

// pump is the one goroutine that moves records from the queue to
// JetStream, or to the spool while JetStream does not take them. Records
// go straight out only while the spool is empty, so that what waits on
// disk is replayed before anything newer. Consecutive alerts (or events)
// of one subject go out as one message, a batch, when the console says it
// reads batches; what is queued at the moment is what is batched, so a
// quiet agent still sends each alert at once.
type pump struct {
	l        *Link
	nc       *nats.Conn
	js       jetstream.JetStream
	inflight []flight
	inFlight int       // bytes of the records in flight
	downTill time.Time // after a failure, no direct publish before this

	batches  bool      // the console reads batches
	askedFor uint64    // the connection (count of reconnects + 1) last asked on
	nextAsk  time.Time // when to ask again while it does not
	taken    []record  // records taken from the queue in one go
}

type flight struct {
	recs []record
	size int // bytes of the records
	ack  jetstream.PubAckFuture
}

// replayBatch is how many spooled records are replayed between looks at
// the queue.
const replayBatch = 256

// takeMax bounds the records taken from the queue before publishing them.
const takeMax = 4 * wire.MaxBatchRecords

// maxInFlight bounds the bytes published and not yet acknowledged: past
// it the pump waits for the acknowledgements (the queue takes what comes
// meanwhile). Batches are up to 256 KiB: without it, the client's 512
// pending messages could hold 128 MiB of an agent's memory.
const maxInFlight = 4 << 20

func (p *pump) run(ctx context.Context) {
	l := p.l
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			p.drain()
			return
		case r := <-l.queue:
			// Take what else is queued, then publish it together.
			p.taken = append(p.taken[:0], r)
			for more := true; more && len(p.taken) < takeMax; {
				select {
				case r := <-l.queue:
					p.taken = append(p.taken, r)
				default:
					more = false
				}
			}
			p.take(p.taken)
			clear(p.taken)
		case <-tick.C:
		}
		p.reap(false)
		p.replay()
	}
}

func (p *pump) up() bool {
	return p.nc.IsConnected() && time.Now().After(p.downTill)
}

// askBatches learns, once per connection (and every minute while the
// answer is no), whether the console reads batches: its policy bucket's
// metadata says so. A console that cannot be asked gets one record a
// message, which every version reads.
func (p *pump) askBatches() {
	conn := p.nc.Stats().Reconnects + 1
	if conn == p.askedFor && (p.batches || time.Now().Before(p.nextAsk)) {
		return
	}
	p.askedFor, p.nextAsk = conn, time.Now().Add(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	was := p.batches
	p.batches = false
	if s, err := p.js.Stream(ctx, wire.PolicyStream); err == nil {
		p.batches = s.CachedInfo().Config.Metadata[wire.ReadsBatchesKey] == wire.ReadsBatches
	}
	if p.batches && !was {
		p.l.log.Info("the console reads batches: alerts and events go several to a message")
	} else if was && !p.batches {
		p.l.log.Info("the console does not say it reads batches: one record a message")
	}
}

// take publishes recs, in order, or spools them.
func (p *pump) take(recs []record) {
	if p.up() && (p.l.sp == nil || p.l.sp.empty()) {
		p.askBatches()
		for len(recs) > 0 {
			if p.inFlight >= maxInFlight {
				p.reap(true)
				if !p.up() || (p.l.sp != nil && !p.l.sp.empty()) {
					break // a failure spooled records: the rest follow them
				}
			}
			n := p.batchLen(recs)
			ack, err := p.publish(recs[:n])
			if err != nil {
				p.failed(err)
				break
			}
			f := flight{recs: slices.Clone(recs[:n]), ack: ack}
			for _, r := range f.recs {
				f.size += len(r.data)
			}
			p.inflight = append(p.inflight, f)
			p.inFlight += f.size
			recs = recs[n:]
		}
	}
	for _, r := range recs {
		p.spool(r)
	}
}

// batchLen is how many of recs, from the first, go in one message.
func (p *pump) batchLen(recs []record) int {
	if !p.batches || !batchable(recs[0]) {
		return 1
	}
	n, size := 1, len(recs[0].data)+1
	for n < len(recs) && n < wire.MaxBatchRecords {
		r := recs[n]
		size += len(r.data) + 1
		if r.subject != recs[0].subject || size > wire.MaxBatchBytes || !batchable(r) {
			break
		}
		n++
	}
	return n
}

func batchable(r record) bool {
	kind, _, _ := strings.Cut(strings.TrimPrefix(r.subject, "mamori."), ".")
	return wire.Batchable(kind) && wire.CanBatch(r.id, r.data)
}

// publish sends recs (one, or a batch of batchLen) as one message.
func (p *pump) publish(recs []record) (jetstream.PubAckFuture, error) {
	m, id := p.msg(recs)
	return p.js.PublishMsgAsync(m, jetstream.WithMsgID(id))
}

// msg is the message of recs and its id.
func (p *pump) msg(recs []record) (*nats.Msg, string) {
	m := nats.NewMsg(recs[0].subject)
	if len(recs) == 1 {
		m.Data = recs[0].data
		return m, recs[0].id
	}
	size := 0
	ids := make([]string, len(recs))
	for i, r := range recs {
		size += len(r.data) + 1
		ids[i] = r.id
	}
	m.Data = make([]byte, 0, size)
	for _, r := range recs {
		m.Data = wire.AppendBatch(m.Data, r.data)
	}
	m.Header.Set(wire.IDsHeader, strings.Join(ids, " "))
	return m, wire.BatchID(recs[0].id, len(recs))
}

func (p *pump) spool(r record) {
	l := p.l
	if l.sp == nil {
		l.drop("console unreachable and no spool directory")
		return
	}
	switch err := l.sp.append(r); err {
	case nil:
		l.spooled.Add(1)
		l.spoolSize.Store(l.sp.bytes())
	case errSpoolFull:
		l.drop("spool full")
	default:
		l.drop("spool write failed: " + err.Error())
	}
}

func (p *pump) failed(err error) {
	if time.Now().After(p.downTill) {
		p.l.log.Warn("console does not take records; spooling", "err", err)
	}
	p.downTill = time.Now().Add(time.Second)
	p.l.connected.Store(false)
}

// reap settles the acknowledgements that came back, oldest first; with
// wait it waits for all. The records of a failed message go to the spool.
func (p *pump) reap(wait bool) {
	i := 0
	for ; i < len(p.inflight); i++ {
		f := p.inflight[i]
		var err error
		if wait {
			select {
			case <-f.ack.Ok():
			case err = <-f.ack.Err():
			}
		} else {
			select {
			case <-f.ack.Ok():
			case err = <-f.ack.Err():
			default:
				goto done
			}
		}
		p.inFlight -= f.size
		if err != nil {
			p.failed(err)
			for _, r := range f.recs {
				p.spool(r)
			}
			continue
		}
		p.l.published.Add(uint64(len(f.recs)))
		p.l.connected.Store(true)
	}
done:
	clear(p.inflight[:i])
	p.inflight = p.inflight[:copy(p.inflight, p.inflight[i:])]
}

// replay publishes spooled records in order, a batch at a time, each batch
// acknowledged before the spool's cursor moves past it.
func (p *pump) replay() {
	l := p.l
	if l.sp == nil || l.sp.empty() || !p.up() {
		return
	}
	p.reap(true) // what went straight out came before what is spooled now
	recs, pos, err := l.sp.peek(replayBatch)
	if err != nil {
		l.log.Error("spool unreadable", "err", err)
		p.downTill = time.Now().Add(5 * time.Second)
		return
	}
	p.askBatches()
	var acks []jetstream.PubAckFuture
	for rest := recs; len(rest) > 0; {
		n := p.batchLen(rest)
		ack, err := p.publish(rest[:n])
		if err != nil {
			p.failed(err)
			return
		}
		acks = append(acks, ack)
		rest = rest[n:]
	}
	for _, ack := range acks {
		select {
		case <-ack.Ok():
		case err := <-ack.Err():
			// Nothing moves: the batch is replayed again, and what was
			// stored already is recognised by its message id (or, in
			// another batch, by the store).
			p.failed(err)
			return
		}
	}
	if err := l.sp.commit(pos); err != nil {
		l.log.Error("spool cursor not saved: records may be replayed again (the console drops copies)", "err", err)
	}
	l.replayed.Add(uint64(len(recs)))
	l.published.Add(uint64(len(recs)))
	l.spoolSize.Store(l.sp.bytes())
	l.connected.Store(true)
}

// drain settles what is in flight and spools what is still queued, so
// that a stopping agent loses nothing it accepted.
func (p *pump) drain() {
	deadline := time.After(3 * time.Second)
	for len(p.inflight) > 0 {
		select {
		case <-deadline:
			for _, f := range p.inflight {
				for _, r := range f.recs {
					p.spool(r)
				}
			}
			p.inflight, p.inFlight = nil, 0
		default:
			p.reap(false)
			time.Sleep(5 * time.Millisecond)
		}
	}
	var rest []record
	for more := true; more; {
		select {
		case r := <-p.l.queue:
			rest = append(rest, r)
		default:
			more = false
		}
	}
	for len(rest) > 0 {
		if !p.up() || (p.l.sp != nil && !p.l.sp.empty()) {
			break
		}
		n := p.batchLen(rest)
		m, id := p.msg(rest[:n])
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := p.js.PublishMsg(ctx, m, jetstream.WithMsgID(id))
		cancel()
		if err != nil {
			p.failed(err)
			break
		}
		p.l.published.Add(uint64(n))
		rest = rest[n:]
	}
	for _, r := range rest {
		p.spool(r)
	}
}
