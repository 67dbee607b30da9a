package console

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/console/falco"
	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/event"

	"context"
	"path/filepath"
)

// A Falco alert as Falco's http_output posts it (json_output with
// json_include_output_property and json_include_tags_property).
const falcoAlert = `{"hostname":"worker-3","output":"14:20:01.113245071: Warning Sensitive file opened for reading by non-trusted program (file=/etc/shadow gparent=<NA> ggparent=<NA> gggparent=<NA> evt_type=openat user=root user_uid=0 user_loginuid=-1 process=cat proc_exepath=/usr/bin/cat parent=sh command=cat /etc/shadow terminal=0 container_id=0b3f2c5a1d9e container_name=api)","output_fields":{"container.id":"0b3f2c5a1d9e","container.image.repository":"ghcr.io/acme/api","container.image.tag":"1.2","container.name":"api","evt.time":1733321001113245071,"evt.type":"openat","fd.name":"/etc/shadow","k8s.ns.name":"payments","k8s.pod.name":"api-7d9c6b5f8-qx2lp","proc.cmdline":"cat /etc/shadow","proc.exepath":"/usr/bin/cat","proc.name":"cat","proc.pid":4242,"proc.ppid":4200,"user.name":"root"},"priority":"Warning","rule":"Read sensitive file untrusted","source":"syscall","tags":["T1555","container","filesystem","host","maturity_stable","mitre_credential_access"],"time":"2026-12-04T14:20:01.113245071Z"}`

// TestFalcoInterop: Falco's http_output posting to the console is stored
// like an agent's alert (once, however often it is retried); the console
// forwards every alert to falcosidekick in Falco's payload with its uuid.
func TestFalcoInterop(t *testing.T) {
	var mu sync.Mutex
	var got []falco.Alert
	sidekick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a falco.Alert
		b, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != "/" || json.Unmarshal(b, &a) != nil {
			http.Error(w, "bad", 400)
			return
		}
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	}))
	defer sidekick.Close()

	dir := t.TempDir()
	cfg := Config{DataDir: dir, NATSListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", Falcosidekick: sidekick.URL + "/"}
	c := start(t, cfg)
	for range 2 { // Falco retries: stored once
		resp, err := http.Post("http://"+c.APIAddr()+"/api/v1/falco?cluster=legacy", "application/json", strings.NewReader(falcoAlert))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("post: %v %v", resp.Status, err)
		}
		resp.Body.Close()
	}
	if resp, _ := http.Post("http://"+c.APIAddr()+"/api/v1/falco", "application/json", strings.NewReader(`{"rule":1}`)); resp.StatusCode != 400 {
		t.Errorf("a body that is not Falco's alert: %s", resp.Status)
	}
	waitAlerts(t, c.APIAddr(), 1, 10*time.Second)
	var page struct{ Alerts []event.Alert }
	getJSON(t, "http://"+c.APIAddr()+"/api/v1/alerts?namespace=payments&cluster=legacy&tag=T1555", &page)
	if len(page.Alerts) != 1 {
		t.Fatalf("the Falco alert is not found by namespace, cluster and tag: %+v", page)
	}
	a := page.Alerts[0]
	if a.Hostname != "worker-3" || a.Container.Image != "ghcr.io/acme/api:1.2" || a.Container.Pod.Name != "api-7d9c6b5f8-qx2lp" ||
		a.Process.PID != 4242 || a.Process.Name != "cat" || a.Priority != "Warning" {
		t.Errorf("the Falco alert read as %+v", a)
	}

	// An agent's alerts go out to falcosidekick too, with their uuids,
	// each once, also when they travelled in a batch (they are raised
	// before the agent runs, so they wait in its queue together).
	l, err := link.New(link.Config{URL: c.NATSURL(), Cluster: "test", Node: "n1", SpoolDir: filepath.Join(dir, "spool")}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var mine []*event.Alert
	for i := range n {
		a := alertFrom("n1", i)
		l.Alert(a)
		mine = append(mine, a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx, node{"n1"}); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "falcosidekick receives the agent's alerts", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= n+1
	})
	time.Sleep(100 * time.Millisecond) // a copy would come now
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n+1 {
		t.Errorf("falcosidekick received %d alerts, want the Falco one and the agent's %d", len(got), n)
	}
	for _, m := range mine {
		if !slices.ContainsFunc(got, func(g falco.Alert) bool {
			return g.UUID == m.UUID && g.Rule == m.Rule && g.Hostname == "n1" && g.Output == m.Output && g.Priority == "Warning"
		}) {
			t.Errorf("falcosidekick did not receive the agent's alert %s", m.UUID)
		}
	}
}
