package console

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/internal/pgtest"
)

// TestPostgresAwayTenSeconds: the store stops for 10 s while alerts flow;
// the console holds what it received, and every alert is stored exactly
// once when the store is back.
func TestPostgresAwayTenSeconds(t *testing.T) {
	pg := pgtest.Start(t)
	dir := t.TempDir()
	c := start(t, Config{DataDir: dir, NATSListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", Store: pg.URL})
	l, err := link.New(link.Config{URL: c.NATSURL(), Cluster: "test", Node: "n1", SpoolDir: filepath.Join(dir, "spool")}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx, node{"n1"}); close(done) }()
	defer func() { cancel(); <-done }()

	n := 0
	send := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			l.Alert(alertFrom("n1", n))
			n++
		}
	}
	send(time.Second)
	pg.Stop()
	send(10 * time.Second)
	pg.Start()
	send(time.Second)
	ids := waitAlerts(t, c.APIAddr(), n, 30*time.Second)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("alert %s stored twice", id)
		}
		seen[id] = true
	}
	var st Status
	getJSON(t, "http://"+c.APIAddr()+"/api/v1/status", &st)
	if st.Ingest.StoreErrors == 0 {
		t.Errorf("the store was away and no store error was counted: %+v", st.Ingest)
	}
	if lc := l.Counts(); lc.Dropped != 0 {
		t.Errorf("the agent dropped records: %+v", lc)
	}
	t.Logf("%d alerts, %d store errors while PostgreSQL was away", n, st.Ingest.StoreErrors)
}
