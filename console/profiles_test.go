package console

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/console/api"
	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
)

// learnNode is a test agent that sends the observations it is given, as
// an agent's learner hands them out.
type learnNode struct {
	node
	mu      sync.Mutex
	pending []*event.Observation
}

func (n *learnNode) Observations() []*event.Observation {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.pending
	n.pending = nil
	return out
}

func (n *learnNode) see(items ...event.ObservedItem) {
	now := time.Now().UTC()
	for i := range items {
		items[i].First, items[i].Last, items[i].Count = now, now, 1
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pending = append(n.pending, &event.Observation{Node: n.name, Time: now, Items: items, MaxProcesses: 3,
		Workload:   event.Workload{ImageDigest: "sha256:" + strings.Repeat("e", 64), Image: "localhost/app:1", Name: "app"},
		Containers: []string{"c0ffee"}})
}

func startLearner(t *testing.T, url, dir string, n *learnNode) {
	t.Helper()
	l, err := link.New(link.Config{URL: url, Cluster: "test", Node: n.name, HeartbeatEvery: 200 * time.Millisecond, LearnEvery: 100 * time.Millisecond,
		SpoolDir: filepath.Join(dir, "spool-"+n.name)}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx, n); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func profiles(t *testing.T, apiAddr string) []store.Profile {
	var resp struct{ Profiles []store.Profile }
	getJSON(t, "http://"+apiAddr+"/api/v1/profiles", &resp)
	return resp.Profiles
}

func post(t *testing.T, method, u string, body any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, u, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp.StatusCode, out.String()
}

func exe(path string) event.ObservedItem {
	return event.ObservedItem{Kind: event.ItemExec, Key: path, Path: path}
}

// TestProfileStatesThroughTheConsole: observations from two agents reach
// one profile through NATS and ingest; while something new keeps coming
// the profile keeps learning, however long (promotion too early); a
// window after the last new item it is stable, and a console told to
// enforces it on its own only after another clean window, writing the
// exported policy among the central policies. Without the option it stays
// stable. Enforcing a learning profile by hand is refused.
func TestProfileStatesThroughTheConsole(t *testing.T) {
	for _, auto := range []bool{true, false} {
		name := "by a person"
		if auto {
			name = "automatically"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			// Observations reach the console within a few hundred
			// milliseconds; the window leaves room for a slow machine.
			window := 3 * time.Second
			c := start(t, Config{DataDir: filepath.Join(dir, "console"), NATSListen: freePort(t), HTTPListen: freePort(t),
				ProfileStableAfter: window, ProfileAutoEnforce: auto})
			a, b := &learnNode{node: node{"n1"}}, &learnNode{node: node{"n2"}}
			startLearner(t, c.NATSURL(), dir, a)
			startLearner(t, c.NATSURL(), dir, b)
			a.see(exe("/usr/bin/app"))
			b.see(exe("/usr/bin/app"), event.ObservedItem{Kind: event.ItemEgress, Key: "10.0.0.7:5432/tcp", IP: "10.0.0.7", Port: 5432, Protocol: "tcp"})
			var p store.Profile
			waitFor(t, "one profile learnt from both nodes", 10*time.Second, func() bool {
				ps := profiles(t, c.APIAddr())
				if len(ps) == 1 {
					p = ps[0]
				}
				return len(ps) == 1 && len(p.Nodes) == 2 && p.Counts["egress/learned"] == 1
			})
			// Something new every third of a window: still learning
			// after two windows.
			for i := range 6 {
				a.see(exe("/usr/bin/job-" + string(rune('a'+i))))
				time.Sleep(window / 3)
				ps := profiles(t, c.APIAddr())
				if ps[0].State != store.Learning {
					t.Fatalf("promoted to %s while still learning something new every %v", ps[0].State, window/3)
				}
			}
			code, body := post(t, "POST", "http://"+c.APIAddr()+"/api/v1/profiles/"+p.ID, api.ProfileAction{Action: "enforce"})
			if code != http.StatusConflict || !strings.Contains(body, "still learning") {
				t.Errorf("enforcing a learning profile: %d %s", code, body)
			}
			waitFor(t, "stable a window after the last new item", 10*time.Second, func() bool {
				return profiles(t, c.APIAddr())[0].State == store.Stable
			})
			if auto {
				waitFor(t, "enforced after a clean window", 10*time.Second, func() bool {
					return profiles(t, c.APIAddr())[0].State == store.Enforced
				})
				var pols struct{ Files []api.PolicyFile }
				getJSON(t, "http://"+c.APIAddr()+"/api/v1/policies", &pols)
				if len(pols.Files) != 1 || !strings.HasPrefix(pols.Files[0].Name, "profile-app-"+p.ID) ||
					!strings.Contains(pols.Files[0].Content, "mode: enforce") || !strings.Contains(pols.Files[0].Content, "10.0.0.7") {
					t.Errorf("central policies after automatic enforcement: %+v", pols.Files)
				}
				return
			}
			time.Sleep(2 * window)
			if st := profiles(t, c.APIAddr())[0].State; st != store.Stable {
				t.Fatalf("without --profile-auto-enforce the profile became %s", st)
			}
			// A person deletes an item, then relearns: it stays deleted.
			q := url.Values{"kind": {"exec"}, "key": {"/usr/bin/job-a"}}
			if code, body := post(t, "DELETE", "http://"+c.APIAddr()+"/api/v1/profiles/"+p.ID+"/items?"+q.Encode(), nil); code != 200 {
				t.Fatalf("delete: %d %s", code, body)
			}
			if code, body := post(t, "POST", "http://"+c.APIAddr()+"/api/v1/profiles/"+p.ID, api.ProfileAction{Action: "relearn"}); code != 200 {
				t.Fatalf("relearn: %d %s", code, body)
			}
			a.see(exe("/usr/bin/job-a"), exe("/usr/bin/app"))
			var got store.Profile
			waitFor(t, "relearnt", 10*time.Second, func() bool {
				getJSON(t, "http://"+c.APIAddr()+"/api/v1/profiles/"+p.ID, &got)
				return got.Counts["exec/learned"] == 1
			})
			if got.State != store.Learning || got.Counts["exec/deleted"] != 1 {
				t.Errorf("after relearning: %s %v", got.State, got.Counts)
			}
			var exp api.ExportResponse
			getJSON(t, "http://"+c.APIAddr()+"/api/v1/profiles/"+p.ID+"/export?force=true", &exp)
			if strings.Contains(exp.Content, "job-a") {
				t.Errorf("a deleted item is exported:\n%s", exp.Content)
			}
		})
	}
}
