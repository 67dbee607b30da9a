package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/mamori-dev/mamori/console"
	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/natstest"
	"github.com/mamori-dev/mamori/internal/pgtest"
)

// replica is a `mamori console --nats ... --store postgres://...` process.
type replica struct {
	args   []string
	api    string
	cmd    *exec.Cmd
	stderr *strings.Builder
}

func startReplica(t *testing.T, r *replica) {
	t.Helper()
	r.stderr = &strings.Builder{}
	r.cmd = exec.Command(mamoriBin, r.args...)
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.kill() })
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://" + r.api + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("console replica not ready\n%s", r.stderr)
		}
	}
}

func (r *replica) kill() {
	if r.cmd != nil && r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

func (r *replica) stored(t *testing.T) uint64 {
	var st console.Status
	resp, err := http.Get("http://" + r.api + "/api/v1/status")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&st)
	return st.Ingest.Stored
}

type simNode struct{ name string }

func (n simNode) Heartbeat() event.Heartbeat         { return event.Heartbeat{Node: n.name, Version: "sim"} }
func (n simNode) Containers() []event.ContainerState { return nil }

// TestConsoleClusterFaults: two console replicas share the work over a
// 3-server JetStream cluster (three nats-server processes) and PostgreSQL,
// while five agents publish. One replica is killed (SIGKILL) and started
// again, then one NATS server is killed and started again, all while
// alerts flow. Every alert raised is stored exactly once, and both
// replicas stored some.
func TestConsoleClusterFaults(t *testing.T) {
	pg := pgtest.Start(t)
	nc := natstest.Start(t)
	dir := t.TempDir()
	var reps []*replica
	for i := range 2 {
		api := freeAddr(t)
		reps = append(reps, &replica{api: api, args: []string{"console", "--insecure", "--nats", nc.URL(), "--store", pg.URL,
			"--listen", api, "--data-dir", filepath.Join(dir, fmt.Sprintf("r%d", i))}})
	}
	for _, r := range reps {
		startReplica(t, r)
	}

	log := slog.New(slog.DiscardHandler)
	if os.Getenv("MAMORI_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	var mu sync.Mutex
	sent := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var links []*link.Link
	var wg, pubs sync.WaitGroup
	stopPublishing := make(chan struct{})
	for i := range 5 {
		name := fmt.Sprintf("sim-%d", i)
		l, err := link.New(link.Config{URL: nc.URL(), Cluster: "faults", Node: name, SpoolDir: filepath.Join(dir, "spool-"+name)}, log)
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, l)
		wg.Add(1)
		go func() { defer wg.Done(); l.Run(ctx, simNode{name}) }()
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for n := 0; ; n++ {
				select {
				case <-stopPublishing:
					return
				case <-time.After(10 * time.Millisecond):
				}
				a := &event.Alert{Kind: "alert", Time: time.Now().UTC(), Rule: "Simulated", Priority: "Warning",
					Output: fmt.Sprintf("alert %d of %s", n, name), Source: "syscall", Hostname: name, Action: "detected"}
				l.Alert(a)
				mu.Lock()
				sent[a.UUID] = true
				mu.Unlock()
			}
		}()
	}

	step := func(d time.Duration, what string, f func()) {
		time.Sleep(d)
		t.Logf("%s", what)
		f()
	}
	step(3*time.Second, "kill replica 0", reps[0].kill)
	step(3*time.Second, "start replica 0 again", func() { startReplica(t, reps[0]) })
	step(3*time.Second, "kill NATS server 1", func() { nc.KillServer(1) })
	step(5*time.Second, "start NATS server 1 again", func() { nc.StartServer(1) })
	step(3*time.Second, "stop publishing", func() { close(stopPublishing); pubs.Wait() })

	// Wait until every agent has handed everything over.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		busy := false
		for _, l := range links {
			c := l.Counts()
			busy = busy || c.SpoolBytes > 0 || c.Published < c.Spooled
		}
		if !busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agents still hold records after 60s")
		}
	}
	mu.Lock()
	want := len(sent)
	mu.Unlock()
	var dropped uint64
	for _, l := range links {
		dropped += l.Counts().Dropped
	}
	if dropped != 0 {
		t.Fatalf("agents dropped %d alerts", dropped)
	}

	db, err := sql.Open("pgx", pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, distinct int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		db.QueryRow("SELECT count(*), count(DISTINCT uuid) FROM alerts WHERE rule = 'Simulated'").Scan(&rows, &distinct)
		if distinct >= want || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("%d alerts raised, %d rows, %d distinct; replicas stored %d and %d", want, rows, distinct, reps[0].stored(t), reps[1].stored(t))
	if rows != want || distinct != want {
		t.Errorf("stored %d rows of %d distinct alerts, want exactly the %d raised\nreplica 0:\n%s\nreplica 1:\n%s",
			rows, distinct, want, reps[0].stderr, reps[1].stderr)
	}
	// What is derived from the alerts (incidents, the counts' rollup)
	// counts each once too: a batch rolled back by a death, then stored
	// by the other replica, and a redelivered one, count once.
	var all, grouped, rolled int64
	db.QueryRow("SELECT count(*) FROM alerts").Scan(&all)
	db.QueryRow("SELECT COALESCE(sum(alerts), 0) FROM incidents").Scan(&grouped)
	db.QueryRow("SELECT COALESCE(sum(n), 0) FROM alert_rollup WHERE field = 'rule'").Scan(&rolled)
	if grouped != all || rolled != all {
		t.Errorf("%d alerts stored, %d in incidents, %d in the rollup: want each counted once", all, grouped, rolled)
	}
	rows2, _ := db.Query("SELECT uuid FROM alerts WHERE rule = 'Simulated'")
	for rows2.Next() {
		var u string
		rows2.Scan(&u)
		if !sent[u] {
			t.Errorf("stored alert %s was never raised", u)
			break
		}
	}
	rows2.Close()
	if reps[0].stored(t) == 0 || reps[1].stored(t) == 0 {
		t.Errorf("a replica stored nothing: the work was not shared")
	}
	cancel()
	wg.Wait()
}
