package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
)

func testLog(t *testing.T) *slog.Logger {
	if os.Getenv("MAMORI_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// running is a console started by a test.
type running struct {
	*Console
	stop func()
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := Open(ctx, cfg, testLog(t))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	r := &running{Console: c, stop: func() { cancel(); <-done }}
	t.Cleanup(r.stop)
	return r
}

// node is what a test agent reports about itself.
type node struct{ name string }

func (n node) Heartbeat() event.Heartbeat {
	return event.Heartbeat{Node: n.name, Version: "test", Kernel: "6.18",
		Capabilities: []event.Capability{{Name: "block a connection", Mechanism: "cgroup-BPF"}}}
}

func (n node) Containers() []event.ContainerState {
	return []event.ContainerState{{Node: n.name, Running: true, Protection: "audited",
		Container: &event.Container{ID: "c0ffee", Name: "web", Image: "nginx"}}}
}

func alertFrom(node string, i int) *event.Alert {
	return &event.Alert{Kind: "alert", Time: time.Now().UTC(), Rule: "Test rule", Priority: "Warning",
		Output: fmt.Sprintf("alert number %d", i), Source: "syscall", Hostname: node, Action: "detected",
		Container: &event.Container{ID: "c0ffee", Name: "web"}}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// allAlerts pages through every stored alert and returns their uuids,
// newest first.
func allAlerts(t *testing.T, api string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for {
		var page store.AlertPage
		getJSON(t, "http://"+api+"/api/v1/alerts?limit=1000&cursor="+cursor, &page)
		for _, raw := range page.Alerts {
			var a event.Alert
			json.Unmarshal(raw, &a)
			ids = append(ids, a.UUID)
		}
		if page.Next == "" {
			return ids
		}
		cursor = page.Next
	}
}

// waitAlerts waits until the API lists want alerts, and returns their
// uuids, newest first.
func waitAlerts(t *testing.T, api string, want int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ids := allAlerts(t, api)
		if len(ids) >= want || time.Now().After(deadline) {
			if len(ids) != want {
				t.Fatalf("%d alerts in the API after %v, want %d", len(ids), within, want)
			}
			return ids
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAlertsSurviveAConsoleRestart: alerts published while the console is
// down wait in the agent's spool and arrive, once each, when it is back.
func TestAlertsSurviveAConsoleRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, NATSListen: freePort(t), HTTPListen: freePort(t)}
	c := start(t, cfg)

	l, err := link.New(link.Config{URL: c.NATSURL(), Cluster: "test", Node: "n1", SpoolDir: filepath.Join(dir, "spool"),
		HeartbeatEvery: 200 * time.Millisecond}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	linkDone := make(chan struct{})
	go func() { l.Run(ctx, node{"n1"}); close(linkDone) }()
	defer func() { cancel(); <-linkDone }()

	for i := range 100 {
		l.Alert(alertFrom("n1", i))
	}
	waitAlerts(t, cfg.HTTPListen, 100, 10*time.Second)

	c.stop()
	for i := 100; i < 150; i++ {
		l.Alert(alertFrom("n1", i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.Counts().Spooled < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not spool while the console was down: %+v", l.Counts())
		}
		time.Sleep(20 * time.Millisecond)
	}

	start(t, cfg)
	ids := waitAlerts(t, cfg.HTTPListen, 150, 20*time.Second)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("alert %s stored twice", id)
		}
		seen[id] = true
	}
	counts := l.Counts()
	if counts.Dropped != 0 || counts.Replayed < 50 {
		t.Errorf("link counters %+v: want nothing dropped and the 50 spooled alerts replayed", counts)
	}

	var nodes struct{ Nodes []store.Node }
	for deadline := time.Now().Add(5 * time.Second); len(nodes.Nodes) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		getJSON(t, "http://"+cfg.HTTPListen+"/api/v1/nodes", &nodes)
	}
	if len(nodes.Nodes) != 1 || nodes.Nodes[0].Heartbeat.Capabilities[0].Mechanism != "cgroup-BPF" {
		t.Errorf("nodes: %+v", nodes.Nodes)
	}
	var cons struct{ Containers []store.ContainerRow }
	getJSON(t, "http://"+cfg.HTTPListen+"/api/v1/containers", &cons)
	if len(cons.Containers) != 1 || cons.Containers[0].State.Protection != "audited" {
		t.Errorf("containers: %+v", cons.Containers)
	}
}

// TestAPIRefusesMistakes: a client's mistake is a 400 with a reason, an
// unknown alert a 404.
func TestAPIRefusesMistakes(t *testing.T) {
	c := start(t, Config{DataDir: t.TempDir(), NATSListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + c.APIAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Error
	}
	for path, code := range map[string]int{
		"/api/v1/alerts?priority=Loud":      400,
		"/api/v1/alerts?since=yesterday":    400,
		"/api/v1/alerts?cursor=bogus":       400,
		"/api/v1/alerts?limit=5000":         400,
		"/api/v1/counts?by=doc":             400,
		"/api/v1/counts?by=rule&bucket=1ms": 400,
		"/api/v1/events":                    400,
		"/api/v1/alerts/no-such-uuid":       404,
		// A range that ends before it begins.
		"/api/v1/alerts?since=2026-12-05T00:00:00Z&until=2026-12-01T00:00:00Z": 400,
		"/api/v1/counts?by=rule&since=1m&until=1h":                             400,
		"/api/v1/events?container=abc&since=1m&until=1h":                       400,
		"/api/v1/netmap?since=1m&until=1h":                                     400,
		"/api/v1/alerts?since=1h&priority=Info":                                200,
		"/api/v1/counts?by=node&bucket=1h":                                     200,
		"/api/v1/alerts?cursor=&limit=5&q=x":                                   200,
		// Every parameter a call documents is taken.
		"/api/v1/incidents?status=open&cluster=c&namespace=n&node=x&since=1h&limit=5&cursor=":                                                                        200,
		"/api/v1/netmap?cluster=c&namespace=n&workload=w&since=1h&until=1m&limit=5":                                                                                  200,
		"/api/v1/containers?cluster=c&node=n&running=true":                                                                                                           200,
		"/api/v1/events?cluster=c&node=n&container=abc&process=p&since=1h&until=1m&limit=5":                                                                          200,
		"/api/v1/profiles?cluster=c&namespace=n&state=learning":                                                                                                      200,
		"/api/v1/counts?by=rule&bucket=1h&since=1h&until=1m&cluster=c&node=n&namespace=n&pod=p&container=c&image=i&rule=r&priority=Info&source=s&action=a&tag=t&q=x": 200,
	} {
		if got, msg := get(path); got != code || (code != 200 && msg == "") {
			t.Errorf("%s: %d %q, want %d with a reason", path, got, msg, code)
		}
	}
	// A misspelt parameter widened the answer without a word.
	for path, param := range map[string]string{
		"/api/v1/counts?field=node":      "field",
		"/api/v1/alerts?namespaces=shop": "namespaces",
		"/api/v1/stream?nodes=a":         "nodes",
		"/api/v1/cloud?since=1h&limit=5": "limit",
		"/api/v1/incidents?statuz=open":  "statuz",
		"/api/v1/netmap?sincee=1h":       "sincee",
		"/api/v1/nodes?cluster=lab":      "cluster",
	} {
		if got, msg := get(path); got != 400 || !strings.Contains(msg, `unknown parameter "`+param+`"`) {
			t.Errorf("%s: %d %q, want 400 naming the parameter %q", path, got, msg, param)
		}
	}
}

// TestOneConsoleADataDir: a second console over a data directory whose
// embedded NATS server runs already is refused at once, saying which
// process holds it, before it touches the JetStream store; one over
// another directory but the same NATS port is refused at once too (the
// server would never be ready, and said so in 30 s). Once the first
// closes, its directory opens again.
func TestOneConsoleADataDir(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, NATSListen: freePort(t), HTTPListen: "127.0.0.1:0"}
	first, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	jsFiles := func() string {
		var names []string
		filepath.WalkDir(filepath.Join(dir, "jetstream"), func(p string, d fs.DirEntry, err error) error {
			if err == nil {
				info, _ := d.Info()
				names = append(names, fmt.Sprintf("%s %d %v", p, info.Size(), info.ModTime()))
			}
			return nil
		})
		return strings.Join(names, "\n")
	}
	before := jsFiles()
	began := time.Now()
	second := cfg
	second.NATSListen = freePort(t)
	if _, err := Open(context.Background(), second, testLog(t)); err == nil ||
		!strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) || !strings.Contains(err.Error(), dir) {
		t.Errorf("a second console over the same data directory: %v", err)
	}
	if after := jsFiles(); after != before {
		t.Errorf("the refused console changed the JetStream store:\n%s\nbefore:\n%s", after, before)
	}
	other := cfg
	other.DataDir = t.TempDir()
	if _, err := Open(context.Background(), other, testLog(t)); err == nil || !strings.Contains(err.Error(), "--nats-listen "+cfg.NATSListen) {
		t.Errorf("a second console on the same NATS port: %v", err)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("the refusals took %v", d)
	}
	first.Close()
	again, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatalf("the data directory after its console closed: %v", err)
	}
	again.Close()
}
