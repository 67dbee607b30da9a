package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/pgtest"
)

// TestPostgresStoresAPartReplayOnce: a batch of which some alerts and
// events are stored already (a replay batched otherwise than the first
// time, a batch stored again after a failure) stores the rest, once, and
// counts only the rest in the rollup and the incidents. PostgreSQL first
// inserts a batch as if nothing of it were stored, so this is the path
// where that fails and the batch is stored again skipping what is there.
func TestPostgresStoresAPartReplayOnce(t *testing.T) {
	pg := pgtest.Start(t)
	s, err := OpenPostgres(context.Background(), pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	batch := func(from, to int) *Batch {
		var b Batch
		for i := from; i < to; i++ {
			b.Alerts = append(b.Alerts, sampleAlert(base, i))
			e := &event.Event{Kind: "event", Time: base.Add(time.Duration(i) * time.Second), Cluster: "prod", Node: "node-1",
				Type: event.Connect, Process: event.Process{PID: 5, ID: "p5"}, Container: &event.Container{ID: fmt.Sprintf("%02d%062d", 1, 0)}}
			raw, _ := json.Marshal(e)
			b.Events = append(b.Events, EventIn{ID: fmt.Sprintf("ev-%d", i), Event: e, Raw: raw})
		}
		return &b
	}
	for _, b := range []*Batch{batch(0, 100), batch(50, 150), batch(0, 150)} {
		if err := s.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// The rollup's count, and the alerts' own (a text filter reads them).
	for _, q := range []CountQuery{{Field: "rule"}, {Field: "rule", Filter: Filter{Text: "happened"}}} {
		counts, err := s.Counts(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, c := range counts {
			n += c.Count
		}
		if n != 150 {
			t.Errorf("%+v: %d alerts counted, want 150: %+v", q, n, counts)
		}
	}
	inc, err := s.Incidents(ctx, IncidentQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var inIncidents int64
	for _, in := range inc.Incidents {
		inIncidents += in.Alerts
	}
	if inIncidents != 150 {
		t.Errorf("the incidents count %d alerts, want 150", inIncidents)
	}
	evs, err := s.Events(ctx, EventQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 150 {
		t.Errorf("%d events stored, want 150", len(evs))
	}
}
