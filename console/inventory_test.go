package console

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
)

// changingNode's containers are what the test says they are now.
type changingNode struct {
	mu  sync.Mutex
	ids []string
}

func (n *changingNode) Heartbeat() event.Heartbeat { return event.Heartbeat{Node: "n1"} }

func (n *changingNode) Containers() []event.ContainerState {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []event.ContainerState
	for _, id := range n.ids {
		out = append(out, event.ContainerState{Node: "n1", Running: true, Protection: "audited", Container: &event.Container{ID: id, Name: "c-" + id}})
	}
	return out
}

// TestContainerInventory: a container the agent sees appears in the
// console; once the agent no longer sees it, it is shown as not running.
func TestContainerInventory(t *testing.T) {
	dir := t.TempDir()
	c := start(t, Config{DataDir: dir, NATSListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"})
	src := &changingNode{ids: []string{"aaa", "bbb"}}
	l, err := link.New(link.Config{URL: c.NATSURL(), Cluster: "test", Node: "n1", SpoolDir: filepath.Join(dir, "spool"),
		HeartbeatEvery: 100 * time.Millisecond}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx, src); close(done) }()
	defer func() { cancel(); <-done }()
	running := func() map[string]bool {
		var resp struct{ Containers []store.ContainerRow }
		getJSON(t, "http://"+c.APIAddr()+"/api/v1/containers?running=true", &resp)
		out := map[string]bool{}
		for _, r := range resp.Containers {
			out[r.ID] = true
		}
		return out
	}
	waitFor(t, "both containers listed", 10*time.Second, func() bool { r := running(); return r["aaa"] && r["bbb"] })
	src.mu.Lock()
	src.ids = []string{"bbb"}
	src.mu.Unlock()
	waitFor(t, "the gone container no longer running", 10*time.Second, func() bool { r := running(); return !r["aaa"] && r["bbb"] })
}
