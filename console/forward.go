package console

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mamori-dev/mamori/console/falco"
	"github.com/mamori-dev/mamori/console/wire"
	"github.com/mamori-dev/mamori/event"
)

// ForwardDurable is the consumer that forwards alerts to falcosidekick. It
// exists only while forwarding is configured: with interest retention, a
// consumer nobody reads would keep every alert in the stream.
const ForwardDurable = "mamori-falcosidekick"

// publishAlert stores an alert that came over HTTP through the same
// stream as agents' alerts.
func (c *Console) publishAlert(a *event.Alert, raw []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.js.Publish(ctx, wire.Subject(wire.Alert, a.Cluster, a.Hostname), raw, jetstream.WithMsgID(a.UUID))
	return err
}

// RaisedBy is the node name under which the console's own alerts (its
// CloudTrail follower, its Kubernetes audit webhook) are stored.
const RaisedBy = "console"

// Raise stores an alert the console raised itself, from an audit source it
// follows, as an agent's alert is stored: under Config.Cluster and node
// RaisedBy. Its uuid is derived from its content, so that replicas
// following the same source, or a record read again after a restart,
// store it once. The error says it was not taken (the caller keeps its
// record unacknowledged).
func (c *Console) Raise(a *event.Alert) error {
	if a.Cluster == "" {
		a.Cluster = c.cfg.Cluster
		if a.Cluster == "" {
			a.Cluster = "default"
		}
	}
	a.Hostname = RaisedBy
	if a.Kind == "" {
		a.Kind = event.KindAlert
	}
	if a.UUID == "" {
		body, err := json.Marshal(a)
		if err != nil {
			return err
		}
		a.UUID = contentUUID(body)
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return c.publishAlert(a, raw)
}

// contentUUID shapes a digest of body as a UUID.
func contentUUID(body []byte) string {
	s := sha256.Sum256(body)
	h := fmt.Sprintf("%x", s[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ensureForwarder creates or deletes the forwarding consumer.
func ensureForwarder(ctx context.Context, js jetstream.JetStream, url string) error {
	if url == "" {
		err := js.DeleteConsumer(ctx, wire.AlertStream, ForwardDurable)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return err
		}
		return nil
	}
	_, err := js.CreateOrUpdateConsumer(ctx, wire.AlertStream, jetstream.ConsumerConfig{
		Durable:       ForwardDurable,
		Description:   "alerts to falcosidekick; replicas share it",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 1000,
		DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	return err
}

// forward posts each alert to falcosidekick in Falco's payload, acking it
// once falcosidekick answered 2xx; a refusal is retried later. A message
// that is no alert is terminated.
func (c *Console) forward(ctx context.Context) {
	hc := &http.Client{Timeout: 10 * time.Second}
	for ctx.Err() == nil {
		cons, err := c.js.Consumer(ctx, wire.AlertStream, ForwardDurable)
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(500, 8*wire.MaxRecord))
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		failing := false
		for {
			m, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				break
			}
			alerts := forwardable(m)
			if len(alerts) == 0 {
				m.Term()
				continue
			}
			for _, a := range alerts {
				if err = falco.Post(ctx, hc, c.cfg.Falcosidekick, falco.ToFalco(a)); err != nil {
					break
				}
				c.forwarded.Add(1)
			}
			if err != nil {
				if !failing {
					c.log.Warn("falcosidekick does not take alerts; retrying", "url", c.cfg.Falcosidekick, "err", err)
				}
				failing = true
				// The message comes again, whole: the alerts of a
				// batch posted before the failure are posted twice.
				m.NakWithDelay(5 * time.Second)
				continue
			}
			failing = false
			m.Ack()
		}
		it.Stop()
	}
}

// forwardable returns the alerts of m, one or a batch, leaving out what
// is no alert.
func forwardable(m jetstream.Msg) []*event.Alert {
	recs := [][]byte{m.Data()}
	if ids := m.Headers().Get(wire.IDsHeader); ids != "" {
		var err error
		if recs, _, err = wire.SplitBatch(m.Data(), ids); err != nil {
			return nil
		}
	}
	var out []*event.Alert
	for _, data := range recs {
		var a event.Alert
		if json.Unmarshal(data, &a) == nil && a.UUID != "" {
			out = append(out, &a)
		}
	}
	return out
}
