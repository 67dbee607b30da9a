package console

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mamori-dev/mamori/console/wire"
)

// Durable is the name of the consumer every console replica shares on each
// stream: JetStream hands each message to one of them.
const Durable = "mamori-console"

// StreamLimits bound what JetStream holds for the console. The streams are
// a buffer in front of the store, not the store: a message is removed once
// the console has stored and acknowledged it (interest retention). When a
// stream is full, JetStream refuses new messages (discard new) and agents
// spool them, so nothing is dropped without being counted.
type StreamLimits struct {
	AlertBytes, EventBytes int64
	Replicas               int
}

func (l *StreamLimits) setDefaults() {
	if l.AlertBytes <= 0 {
		l.AlertBytes = 1 << 30
	}
	if l.EventBytes <= 0 {
		l.EventBytes = 2 << 30
	}
	if l.Replicas <= 0 {
		l.Replicas = 1
	}
}

func streamConfigs(l StreamLimits) []jetstream.StreamConfig {
	l.setDefaults()
	return []jetstream.StreamConfig{{
		Name:        wire.AlertStream,
		Description: "mamori alerts from agents, until the console has stored them",
		Subjects:    []string{wire.Filter(wire.Alert)},
		Retention:   jetstream.InterestPolicy,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    l.AlertBytes,
		MaxAge:      7 * 24 * time.Hour,
		MaxMsgSize:  4 * wire.MaxRecord,
		Duplicates:  wire.DuplicateWindow,
		Storage:     jetstream.FileStorage,
		Replicas:    l.Replicas,
	}, {
		Name:        wire.EventStream,
		Description: "mamori events from agents (--console-events), until the console has stored them",
		Subjects:    []string{wire.Filter(wire.Event)},
		Retention:   jetstream.InterestPolicy,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    l.EventBytes,
		MaxAge:      3 * 24 * time.Hour,
		MaxMsgSize:  4 * wire.MaxRecord,
		Duplicates:  2 * time.Minute,
		Storage:     jetstream.FileStorage,
		Replicas:    l.Replicas,
	}, {
		Name:        wire.LearnStream,
		Description: "what agents learnt of their workloads' behaviour, until the console has merged it into the profiles",
		Subjects:    []string{wire.Filter(wire.Observation)},
		Retention:   jetstream.InterestPolicy,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    l.EventBytes / 4,
		MaxAge:      7 * 24 * time.Hour,
		MaxMsgSize:  4 * wire.MaxRecord,
		Duplicates:  wire.DuplicateWindow,
		Storage:     jetstream.FileStorage,
		Replicas:    l.Replicas,
	}, {
		Name:              wire.StateStream,
		Description:       "the latest heartbeat of each node and state of each container",
		Subjects:          []string{wire.Filter(wire.Heartbeat), wire.Filter(wire.Container)},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: 1,
		MaxAge:            7 * 24 * time.Hour,
		MaxMsgSize:        4 * wire.MaxRecord,
		Storage:           jetstream.FileStorage,
		Replicas:          l.Replicas,
	}}
}

// ensureStreams creates the streams and the console's durable consumers,
// or brings their limits up to date.
func ensureStreams(ctx context.Context, js jetstream.JetStream, l StreamLimits) error {
	for _, cfg := range streamConfigs(l) {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
		_, err := js.CreateOrUpdateConsumer(ctx, cfg.Name, jetstream.ConsumerConfig{
			Durable:     Durable,
			Description: "the console's store; replicas share it",
			AckPolicy:   jetstream.AckExplicitPolicy,
			// A replica that dies holding messages: another gets them
			// after this long. A batch takes well under a second.
			AckWait:       10 * time.Second,
			MaxDeliver:    -1,
			MaxAckPending: 20000,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err != nil {
			return fmt.Errorf("consumer %s on %s: %w", Durable, cfg.Name, err)
		}
	}
	return nil
}
