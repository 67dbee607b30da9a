package console

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/console/api"
	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

const shopPolicy = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata:
  name: shop-strict
spec:
  mode: %s
  scope:
    kubernetes: {namespace: shop}
  controls:
    forkGuard: {maxProcesses: 500}
`

// policyNode is a test agent whose heartbeat reports the policies of a
// real policy store, as the agent's does.
type policyNode struct {
	node
	st *policy.Store
}

func (n policyNode) Heartbeat() event.Heartbeat {
	hb := n.node.Heartbeat()
	for _, p := range n.st.Current().Policies() {
		hb.Policies = append(hb.Policies, event.PolicyInForce{Name: p.Name(), Mode: string(p.Spec.Mode), Source: p.Source.File})
	}
	if err := n.st.Err(); err != nil {
		hb.PolicyError = err.Error()
	}
	return hb
}

func apply(t *testing.T, apiAddr string, req api.ApplyRequest) (int, string) {
	t.Helper()
	b, _ := json.Marshal(req)
	resp, err := http.Post("http://"+apiAddr+"/api/v1/policies", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error
}

func startPolicyAgent(t *testing.T, url, dir string) (*policy.Store, func()) {
	t.Helper()
	path, err := link.PolicyPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := policy.Open(testLog(t), path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := link.New(link.Config{URL: url, Cluster: "test", Node: "n1", PolicyDir: dir, HeartbeatEvery: 100 * time.Millisecond,
		SpoolDir: filepath.Join(dir, "..", "spool")}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { st.Watch(ctx, 50*time.Millisecond); done <- struct{}{} }()
	go func() { l.Run(ctx, policyNode{node{"n1"}, st}); done <- struct{}{} }()
	return st, func() { cancel(); <-done; <-done }
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}

// TestCentralPolicies: a policy applied to the console reaches an agent's
// policy store, which reports the revision it enforces; an invalid one is
// refused with its position and changes nothing; an agent that cannot
// reach the console keeps its policies across a restart.
func TestCentralPolicies(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: filepath.Join(dir, "console"), NATSListen: freePort(t), HTTPListen: freePort(t)}
	c := start(t, cfg)
	polDir := filepath.Join(dir, "agent-policies")
	st, stop := startPolicyAgent(t, c.NATSURL(), polDir)

	if code, msg := apply(t, cfg.HTTPListen, api.ApplyRequest{Files: []api.PolicyFile{{Name: "shop.yaml", Content: strings.Replace(shopPolicy, "%s", "audit", 1)}}}); code != 200 {
		t.Fatalf("apply: %d %s", code, msg)
	}
	mode := func() string {
		if p := st.Current().Policy("shop-strict"); p != nil {
			return string(p.Spec.Mode)
		}
		return ""
	}
	waitFor(t, "the agent loads the policy", 10*time.Second, func() bool { return mode() == "audit" })

	// An invalid file is refused as policy validate would, and the set
	// in force does not change.
	code, msg := apply(t, cfg.HTTPListen, api.ApplyRequest{Files: []api.PolicyFile{{Name: "bad.yaml", Content: strings.NewReplacer("%s", "audit", "shop-strict", "other", "maxProcesses", "maxProcesess").Replace(shopPolicy)}}})
	if code != 400 || !strings.Contains(msg, "bad.yaml:10:17") {
		t.Fatalf("invalid policy: %d %q; want 400 naming bad.yaml:10:17", code, msg)
	}
	code, msg = apply(t, cfg.HTTPListen, api.ApplyRequest{Files: []api.PolicyFile{{Name: "dup.yaml", Content: strings.Replace(shopPolicy, "%s", "enforce", 1)}}})
	if code != 400 || !strings.Contains(msg, "\"shop-strict\" is already defined") {
		t.Fatalf("a second policy of the same name: %d %q", code, msg)
	}

	if code, msg := apply(t, cfg.HTTPListen, api.ApplyRequest{Files: []api.PolicyFile{{Name: "shop.yaml", Content: strings.Replace(shopPolicy, "%s", "enforce", 1)}}}); code != 200 {
		t.Fatalf("apply: %d %s", code, msg)
	}
	waitFor(t, "the agent enforces revision 2", 10*time.Second, func() bool { return mode() == "enforce" })
	var status struct {
		Latest map[string]uint64
		Nodes  []api.NodePolicies
	}
	waitFor(t, "the console knows the node is current", 10*time.Second, func() bool {
		getJSON(t, "http://"+cfg.HTTPListen+"/api/v1/policies/status", &status)
		return len(status.Nodes) == 1 && status.Nodes[0].Current
	})
	if status.Latest["shop.yaml"] != 2 || status.Nodes[0].Files["shop.yaml"] != 2 {
		t.Errorf("status %+v", status)
	}

	// Offline: the console is gone; a restarted agent enforces the same.
	url := c.NATSURL()
	c.stop()
	stop()
	st, stop = startPolicyAgent(t, url, polDir)
	defer stop()
	if mode() != "enforce" {
		t.Fatalf("after a restart without the console the policy is %q", mode())
	}

	// Back, the console removes the file and the agent follows.
	start(t, cfg)
	if code, msg := apply(t, cfg.HTTPListen, api.ApplyRequest{Remove: []string{"shop.yaml"}}); code != 200 {
		t.Fatalf("remove: %d %s", code, msg)
	}
	waitFor(t, "the agent drops the removed policy", 15*time.Second, func() bool { return mode() == "" })
}
