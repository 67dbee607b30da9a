package console

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/console/wire"
	"github.com/mamori-dev/mamori/event"
)

// TestBadRecordsAreRefusedAndCounted: what is not a well-formed record of
// its subject's node is refused, counted by reason, and never stored,
// while good records around it are.
func TestBadRecordsAreRefusedAndCounted(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), NATSListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"}
	c := start(t, cfg)
	nc, err := nats.Connect(c.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	pub := func(subject string, data []byte, id string) {
		t.Helper()
		if _, err := js.Publish(ctx, subject, data, jetstream.WithMsgID(id)); err != nil {
			t.Fatalf("publish on %s: %v", subject, err)
		}
	}
	good := func(node, uuid string) []byte {
		a := alertFrom(node, 0)
		a.UUID, a.Cluster = uuid, "c"
		b, _ := json.Marshal(a)
		return b
	}
	subj := wire.Subject(wire.Alert, "c", "n1")
	pub(subj, good("n1", "good-1"), "1")
	pub(subj, []byte(`{"kind":"alert",`), "2")                                          // not JSON
	pub(subj, []byte(`{"kind":"alert","rule":"x"}`), "3")                               // no uuid, no time
	pub(subj, good("n2", "spoofed"), "4")                                               // another node's alert
	pub(subj, append(good("n1", "huge")[:0:0], make([]byte, wire.MaxRecord+1)...), "5") // oversized
	pub(subj, good("n1", "good-2"), "6")

	// Batches: each record is checked on its own; one whose ids and
	// records do not pair up is refused whole, as is a batch of a kind
	// that does not travel in batches.
	batch := func(subject string, ids string, recs ...[]byte) {
		t.Helper()
		m := nats.NewMsg(subject)
		for _, r := range recs {
			m.Data = wire.AppendBatch(m.Data, r)
		}
		m.Header.Set(wire.IDsHeader, ids)
		if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(wire.BatchID(ids, len(recs)))); err != nil {
			t.Fatalf("publish a batch on %s: %v", subject, err)
		}
	}
	batch(subj, "good-3 x spoofed-2 good-4", good("n1", "good-3"), []byte(`{"kind":"alert"}`), good("n2", "spoofed-2"), good("n1", "good-4"))
	batch(subj, "good-5 good-6 good-7", good("n1", "good-5"), good("n1", "good-6")) // three ids, two records
	hb, _ := json.Marshal(event.Heartbeat{Kind: event.KindHeartbeat, Time: time.Now(), Cluster: "c", Node: "n1"})
	batch(wire.Subject(wire.Heartbeat, "c", "n1"), "h1 h2", hb, hb)

	api := c.APIAddr()
	waitAlerts(t, api, 4, 10*time.Second)
	var st Status
	deadline := time.Now().Add(5 * time.Second)
	for {
		getJSON(t, "http://"+api+"/api/v1/status", &st)
		if st.Ingest.Rejected >= 11 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := map[string]uint64{"malformed": 2 + 1 + 3 + 2, "wrong node": 1 + 1, "oversized": 1}
	for r, n := range want {
		if st.Ingest.Reasons[r] != n {
			t.Errorf("rejected %q: %d, want %d (all: %v)", r, st.Ingest.Reasons[r], n, st.Ingest.Reasons)
		}
	}
	if st.Ingest.Rejected != 11 {
		t.Errorf("rejected %d, want 11", st.Ingest.Rejected)
	}
	time.Sleep(200 * time.Millisecond) // anything stored late would show now
	stored := allAlerts(t, api)
	slices.Sort(stored)
	if want := []string{"good-1", "good-2", "good-3", "good-4"}; !slices.Equal(stored, want) {
		t.Errorf("stored %v, want %v", stored, want)
	}
}

// TestLiveStreamAndDropsInTheHeartbeat: a stored alert reaches an open
// live stream that filters for it; records the agent could not keep are
// counted and named in its next heartbeat.
func TestLiveStreamAndDropsInTheHeartbeat(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, NATSListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"}
	c := start(t, cfg)
	api := c.APIAddr()

	resp, err := http.Get("http://" + api + "/api/v1/stream?node=n1&priority=Warning")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	<-lines // the stream's opening comment: it is subscribed

	// A queue of one record, not yet running: the second alert is dropped.
	l, err := link.New(link.Config{URL: c.NATSURL(), Cluster: "c", Node: "n1", QueueLen: 1, SpoolDir: filepath.Join(dir, "spool"),
		HeartbeatEvery: 100 * time.Millisecond}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	quiet := alertFrom("n1", 1)
	quiet.Priority = "Notice" // filtered out of the stream
	l.Alert(quiet)
	l.Alert(alertFrom("n1", 2))
	if got := l.Counts().Dropped; got != 1 {
		t.Fatalf("dropped %d, want 1", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx, node{"n1"}); close(done) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); l.Counts().Published < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("nothing published: %+v", l.Counts())
		}
	}
	l.Alert(alertFrom("n1", 3))

	timeout := time.After(10 * time.Second)
	for got := false; !got; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("stream closed")
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var a event.Alert
				json.Unmarshal([]byte(data), &a)
				if store.PriorityRank(a.Priority) > store.PriorityRank("Warning") {
					t.Fatalf("the stream passed an alert its filter refuses: %s", data)
				}
				got = strings.Contains(a.Output, "alert number 3")
			}
		case <-timeout:
			t.Fatal("no alert on the live stream within 10s")
		}
	}

	// The loss shows as an alert, and in the node's counters.
	var page struct{ Alerts []event.Alert }
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		getJSON(t, "http://"+api+"/api/v1/alerts?rule=Agent+lost+records", &page)
		if len(page.Alerts) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(page.Alerts) != 1 || !strings.Contains(page.Alerts[0].Output, "1 records for the console: queue full") {
		t.Errorf("no single alert about the drop: %+v", page.Alerts)
	}
	var nodes struct {
		Nodes []struct{ Heartbeat event.Heartbeat }
	}
	getJSON(t, "http://"+api+"/api/v1/nodes", &nodes)
	if len(nodes.Nodes) != 1 || nodes.Nodes[0].Heartbeat.Console == nil || nodes.Nodes[0].Heartbeat.Console.Dropped != 1 {
		t.Errorf("heartbeat console counters: %+v", nodes.Nodes)
	}
}
