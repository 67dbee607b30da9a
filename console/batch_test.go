package console

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/console/wire"
	"github.com/mamori-dev/mamori/event"
)

// TestAgentBatchesOnlyForAConsoleThatReadsThem: an agent packs alerts
// several to a message only for a console whose policy bucket says it
// reads batches; for an older console (the bucket without that word) it
// sends one alert a message, which such a console reads. Either way every
// alert arrives once, in the order it was raised.
func TestAgentBatchesOnlyForAConsoleThatReadsThem(t *testing.T) {
	dir := t.TempDir()
	ns, _, err := embedded("127.0.0.1:0", dir, nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if err := ensureStreams(ctx, js, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	// An older console's bucket: no metadata.
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: wire.PolicyBucket, History: 20}); err != nil {
		t.Fatal(err)
	}

	type seen struct {
		msgs, batches int
		uuids         []string
	}
	var mu sync.Mutex
	byNode := map[string]*seen{}
	sub, err := nc.Subscribe(wire.Filter(wire.Alert), func(m *nats.Msg) {
		_, _, node, _ := wire.Parse(m.Subject)
		mu.Lock()
		defer mu.Unlock()
		s := byNode[node]
		if s == nil {
			s = &seen{}
			byNode[node] = s
		}
		s.msgs++
		recs := [][]byte{m.Data}
		if ids := m.Header.Get(wire.IDsHeader); ids != "" {
			s.batches++
			var err error
			if recs, _, err = wire.SplitBatch(m.Data, ids); err != nil {
				t.Errorf("a batch that does not split: %v", err)
			}
		}
		for _, r := range recs {
			var a event.Alert
			if err := json.Unmarshal(r, &a); err != nil {
				t.Errorf("a record that is no alert: %v", err)
			}
			s.uuids = append(s.uuids, a.UUID)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	nc.Flush()

	// send raises n alerts before the agent runs, so that they wait in
	// its queue together, then runs it until all are published.
	const n = 600
	send := func(name string) []string {
		t.Helper()
		l, err := link.New(link.Config{URL: ns.ClientURL(), Cluster: "test", Node: name, SpoolDir: filepath.Join(dir, name)}, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		var sent []string
		for i := range n {
			a := alertFrom(name, i)
			l.Alert(a)
			sent = append(sent, a.UUID)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.Run(ctx, node{name}); close(done) }()
		defer func() { cancel(); <-done }()
		waitFor(t, name+"'s alerts published", 10*time.Second, func() bool { return l.Counts().Published >= n })
		if c := l.Counts(); c.Published != n || c.Dropped != 0 {
			t.Fatalf("%s: %+v, want %d published", name, c, n)
		}
		return sent
	}
	check := func(node string, sent []string, batched bool) {
		t.Helper()
		waitFor(t, node+"'s alerts seen", 5*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return byNode[node] != nil && len(byNode[node].uuids) >= n
		})
		mu.Lock()
		defer mu.Unlock()
		s := byNode[node]
		if !slices.Equal(s.uuids, sent) {
			t.Errorf("%s: %d alerts arrived, not the %d raised in their order", node, len(s.uuids), len(sent))
		}
		t.Logf("%s: %d alerts in %d messages, %d of them batches", node, len(s.uuids), s.msgs, s.batches)
		if batched && (s.batches == 0 || s.msgs > n/wire.MaxBatchRecords*4) {
			t.Errorf("%s: %d messages, %d batches for %d alerts queued together: not batched", node, s.msgs, s.batches, n)
		}
		if !batched && (s.batches != 0 || s.msgs != n) {
			t.Errorf("%s: %d messages, %d batches for a console that does not read batches", node, s.msgs, s.batches)
		}
	}
	check("old", send("old"), false)

	// The console of now says, in its bucket's metadata, that it reads
	// batches.
	if _, err := ensurePolicyBucket(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	check("new", send("new"), true)

	// Large alerts, more than the agent keeps in flight (4 MiB): it waits
	// for acknowledgements on the way, and still sends every alert once,
	// in order.
	l, err := link.New(link.Config{URL: ns.ClientURL(), Cluster: "test", Node: "big", SpoolDir: filepath.Join(dir, "big")}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for i := range 120 {
		a := alertFrom("big", i)
		a.Output = strings.Repeat("x", 100<<10)
		l.Alert(a)
		sent = append(sent, a.UUID)
	}
	ctx2, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx2, node{"big"}); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the large alerts published", 10*time.Second, func() bool { return l.Counts().Published >= 120 })
	waitFor(t, "the large alerts seen", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return byNode["big"] != nil && len(byNode["big"].uuids) >= 120
	})
	mu.Lock()
	defer mu.Unlock()
	if s := byNode["big"]; !slices.Equal(s.uuids, sent) || s.batches == 0 {
		t.Errorf("large alerts: %d arrived in %d messages (%d batches), not the 120 raised in their order", len(s.uuids), s.msgs, s.batches)
	}
}
