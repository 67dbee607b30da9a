package link

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mamori-dev/mamori/console/wire"
	"github.com/mamori-dev/mamori/event"
)

// report publishes a heartbeat every HeartbeatEvery, and each container
// whose state changed since it was last sent (all of them again after a
// reconnect). These are state, not history: the console keeps the latest
// of each, so they are not spooled; what failed is sent again next time.
func (l *Link) report(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, src Source) {
	type sentState struct {
		key string
		cs  event.ContainerState
	}
	sent := map[string]sentState{} // container subject → what was last acknowledged
	reconnected := make(chan struct{}, 1)
	nc.SetReconnectHandler(func(*nats.Conn) {
		l.log.Info("reconnected to the console")
		select {
		case reconnected <- struct{}{}:
		default:
		}
	})
	// Containers are looked at more often than heartbeats go out: a new
	// one should show in the console within seconds.
	t := time.NewTicker(min(l.cfg.HeartbeatEvery, time.Second))
	defer t.Stop()
	var lastBeat time.Time
	publish := func(subject string, v any) (string, bool) {
		data, err := json.Marshal(v)
		if err != nil {
			return "", false
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err = js.Publish(pctx, subject, data)
		return string(data), err == nil
	}
	var lastDrops []string
	learner, _ := src.(Learner)
	lastLearn := time.Now()
	for {
		if learner != nil && time.Since(lastLearn) >= l.cfg.LearnEvery {
			lastLearn = time.Now()
			for _, o := range learner.Observations() {
				l.Observation(o)
			}
		}
		soon := l.beatAt.Load()
		if soon != 0 && time.Now().UnixNano() >= soon {
			l.beatAt.Store(0)
			lastBeat = time.Time{}
		}
		if src != nil && time.Since(lastBeat) >= l.cfg.HeartbeatEvery {
			hb := src.Heartbeat()
			hb.Kind, hb.Time, hb.Cluster, hb.BootID = event.KindHeartbeat, time.Now().UTC(), l.cfg.Cluster, l.bootID
			c := l.Counts()
			hb.Console = &c
			l.policyVersions(hb.Policies)
			// Drops stay in the heartbeat until one carrying them is
			// acknowledged.
			hb.Drops = append(lastDrops, l.takeDrops()...)
			if _, ok := publish(wire.Subject(wire.Heartbeat, l.cfg.Cluster, hb.Node), &hb); ok {
				lastDrops, lastBeat = nil, time.Now()
			} else {
				lastDrops = hb.Drops
			}
		}
		if src != nil {
			seen := map[string]bool{}
			for _, cs := range src.Containers() {
				cs.Kind, cs.Cluster = event.KindContainer, l.cfg.Cluster
				if cs.Time.IsZero() {
					cs.Time = time.Now().UTC()
				}
				subj := wire.ContainerSubject(l.cfg.Cluster, cs.Node, cs.Container.ID)
				seen[subj] = true
				key := cs.Protection + "|" + cs.Reason + "|" + boolStr(cs.Running) + "|" + mapKey(cs.Controls) + "|" + cs.Container.Name +
					"|" + enforcementKey(cs.Enforcement)
				if sent[subj].key == key {
					continue
				}
				if _, ok := publish(subj, &cs); ok {
					sent[subj] = sentState{key, cs}
				}
			}
			for subj, st := range maps.Clone(sent) {
				if seen[subj] {
					continue
				}
				// Gone from the node: say so once, then forget it.
				gone := st.cs
				gone.Time, gone.Running = time.Now().UTC(), false
				if _, ok := publish(subj, &gone); ok {
					delete(sent, subj)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-reconnected:
			clear(sent)
			lastBeat = time.Time{}
		}
	}
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func mapKey(m map[string]string) string {
	b, _ := json.Marshal(m) // sorted keys
	return string(b)
}

// enforcementKey changes when any control's placement does, so that the
// console hears of it.
func enforcementKey(es []event.ControlEnforcement) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.Control + ":" + e.Mode + ":" + e.State + ":" + e.Mechanism + ":" + e.Reason + ";")
	}
	return b.String()
}
