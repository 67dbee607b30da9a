package link

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pump is the one goroutine that moves records from the queue to
// JetStream, or to the spool while JetStream does not take them. Records
// go straight out only while the spool is empty, so that what waits on
// disk is replayed before anything newer.
type pump struct {
	l        *Link
	nc       *nats.Conn
	js       jetstream.JetStream
	inflight []flight
	downTill time.Time // after a failure, no direct publish before this
}

type flight struct {
	r   record
	ack jetstream.PubAckFuture
}

// replayBatch is how many spooled records are replayed between looks at
// the queue.
const replayBatch = 256

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
			p.take(r)
			// Take what else is queued before looking at acks.
			for more := true; more; {
				select {
				case r := <-l.queue:
					p.take(r)
				default:
					more = false
				}
			}
		case <-tick.C:
		}
		p.reap(false)
		p.replay()
	}
}

func (p *pump) up() bool {
	return p.nc.IsConnected() && time.Now().After(p.downTill)
}

// take publishes r, or spools it.
func (p *pump) take(r record) {
	if p.up() && (p.l.sp == nil || p.l.sp.empty()) {
		ack, err := p.js.PublishMsgAsync(p.msg(r), jetstream.WithMsgID(r.id))
		if err == nil {
			p.inflight = append(p.inflight, flight{r, ack})
			return
		}
		p.failed(err)
	}
	p.spool(r)
}

func (p *pump) msg(r record) *nats.Msg {
	m := nats.NewMsg(r.subject)
	m.Data = r.data
	return m
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
// wait it waits for all. A failed record goes to the spool.
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
		if err != nil {
			p.failed(err)
			p.spool(f.r)
			continue
		}
		p.l.published.Add(1)
		p.l.connected.Store(true)
	}
done:
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
	acks := make([]jetstream.PubAckFuture, 0, len(recs))
	for _, r := range recs {
		ack, err := p.js.PublishMsgAsync(p.msg(r), jetstream.WithMsgID(r.id))
		if err != nil {
			p.failed(err)
			return
		}
		acks = append(acks, ack)
	}
	for _, ack := range acks {
		select {
		case <-ack.Ok():
		case err := <-ack.Err():
			// Nothing moves: the batch is replayed again, and what was
			// stored already is recognised by its message id.
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
				p.spool(f.r)
			}
			p.inflight = nil
		default:
			p.reap(false)
			time.Sleep(5 * time.Millisecond)
		}
	}
	for {
		select {
		case r := <-p.l.queue:
			if p.up() && (p.l.sp == nil || p.l.sp.empty()) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := p.js.PublishMsg(ctx, p.msg(r), jetstream.WithMsgID(r.id))
				cancel()
				if err == nil {
					p.l.published.Add(1)
					continue
				}
			}
			p.spool(r)
		default:
			return
		}
	}
}
