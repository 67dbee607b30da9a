package console

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/console/wire"
	"github.com/mamori-dev/mamori/event"
)

// TestAgentRestartsWithAFullSpool: while the console is away an agent
// fills its bounded spool (what does not fit is counted as dropped) and
// stops; started again with the console back, it replays the spool in
// the order the alerts were raised, and the console stores each once.
func TestAgentRestartsWithAFullSpool(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: filepath.Join(dir, "console"), NATSListen: freePort(t), HTTPListen: freePort(t)}
	url := "nats://" + cfg.NATSListen
	spool := filepath.Join(dir, "spool")

	// The console is not there: everything goes to the 64 KiB spool.
	l, err := link.New(link.Config{URL: url, Cluster: "test", Node: "n1", SpoolDir: spool, SpoolBytes: 64 << 10}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx, node{"n1"}); close(done) }()
	var sent []string
	for i := 0; l.Counts().Dropped == 0; i++ {
		a := alertFrom("n1", i)
		l.Alert(a)
		sent = append(sent, a.UUID)
		time.Sleep(time.Millisecond)
		if i > 5000 {
			t.Fatalf("the spool never filled: %+v", l.Counts())
		}
	}
	cancel()
	<-done
	spooled := int(l.Counts().Spooled)
	t.Logf("%d alerts spooled, %d dropped", spooled, l.Counts().Dropped)
	if spooled == 0 || spooled+int(l.Counts().Dropped) != len(sent) {
		t.Fatalf("counts %+v do not add up to the %d alerts raised", l.Counts(), len(sent))
	}

	c := start(t, cfg)
	// The order alerts reach the stream in, seen by a plain subscriber.
	nc, err := nats.Connect(c.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	var arrived []string
	batches := 0
	nc.Subscribe(wire.Filter(wire.Alert), func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		recs := [][]byte{m.Data}
		if ids := m.Header.Get(wire.IDsHeader); ids != "" {
			batches++
			var err error
			if recs, _, err = wire.SplitBatch(m.Data, ids); err != nil {
				t.Errorf("a batch that does not split: %v", err)
			}
		}
		for _, r := range recs {
			var a event.Alert
			json.Unmarshal(r, &a)
			arrived = append(arrived, a.UUID)
		}
	})
	nc.Flush()

	l2, err := link.New(link.Config{URL: c.NATSURL(), Cluster: "test", Node: "n1", SpoolDir: spool, SpoolBytes: 64 << 10}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { l2.Run(ctx, node{"n1"}); close(done) }()
	defer func() { cancel(); <-done }()
	ids := waitAlerts(t, cfg.HTTPListen, spooled, 20*time.Second)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("alert %s stored twice", id)
		}
		seen[id] = true
	}
	mu.Lock()
	defer mu.Unlock()
	for i, id := range arrived {
		if id != sent[i] {
			t.Fatalf("replayed out of order: alert %d is %s, raised as %s", i, id, sent[i])
		}
	}
	if len(arrived) != spooled {
		t.Errorf("%d alerts published, want the %d spooled", len(arrived), spooled)
	}
	// The console reads batches, so the replay sends them.
	if batches == 0 {
		t.Errorf("the %d spooled alerts were replayed one a message", spooled)
	}
}
