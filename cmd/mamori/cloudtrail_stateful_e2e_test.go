package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/audit/cloudtrail/s3live/s3test"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
)

// secretReads are the GetSecretValue records of the Stratus detonation
// that reads twenty secrets, one after another, in order.
func secretReads(t *testing.T) []json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(cloudtrailCorpus(t, "stratus-red-team"), "aws.credential-access.secretsmanager-retrieve-secrets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all []json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	var reads []json.RawMessage
	for _, r := range all {
		var head struct{ EventName string }
		json.Unmarshal(r, &head)
		if head.EventName == "GetSecretValue" {
			reads = append(reads, r)
		}
	}
	if len(reads) != 20 {
		t.Fatalf("%d GetSecretValue records, want 20", len(reads))
	}
	return reads
}

// putRecords uploads records as one log object, as CloudTrail delivers
// it, and returns its key.
func putRecords(t *testing.T, st *s3test.Store, minute int, recs []json.RawMessage) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"Records": recs})
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(body)
	zw.Close()
	key := s3test.DeliveryKey(minute, fmt.Sprintf("STATE%03d", minute))
	st.Put(t, "trail", key, b.Bytes())
	return key
}

// waitRead waits until the checkpoint says the object key is read to
// its end: its records, and the state they left, are saved.
func waitRead(t *testing.T, checkpoint, key string, stderr fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var cp struct {
			Done  map[string]json.RawMessage `json:"done"`
			State json.RawMessage            `json:"state"`
		}
		if b, err := os.ReadFile(checkpoint); err == nil && json.Unmarshal(b, &cp) == nil {
			if _, ok := cp.Done[key]; ok {
				if len(cp.State) == 0 {
					t.Fatalf("checkpoint %s holds no detector state:\n%s", checkpoint, b)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not read after 60s\n%s", key, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

const bulkSecrets = "Secrets Manager Secrets Read in Bulk"

// TestAgentCloudtrailStatefulRestart: a stateful built-in rule (five
// different secrets read by one identity within ten minutes) counts across
// restarts of `mamori agent --cloudtrail`: three reads before a restart and
// two after raise it once, and the fifteen reads after the next restart,
// inside the window of that alert, raise nothing more. Without the state
// in the checkpoint, the second agent would see two reads (no alert) and
// the third fifteen (an alert again).
func TestAgentCloudtrailStatefulRestart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the agent loads eBPF programs: run the tests as root")
	}
	reads := secretReads(t)
	st := s3test.Start(t)
	st.CreateBucket(t, "trail")
	s3Env(t)
	cp := filepath.Join(t.TempDir(), "state", "cloudtrail.json")
	args := []string{"--cloudtrail", "s3://trail/AWSLogs/", "--cloudtrail-endpoint", st.Endpoint,
		"--cloudtrail-checkpoint", cp, "--cloudtrail-interval", "1s"}

	bulk := func(a *agentProc) int {
		n := 0
		for _, al := range readLines[event.Alert](t, a.out) {
			if al.Rule == bulkSecrets {
				n++
			}
		}
		return n
	}
	key := putRecords(t, st, 1, reads[:3])
	a := launch(t, "--alerts-output", args...)
	waitRead(t, cp, key, a.stderr)
	a.finish(t)
	if n := bulk(a); n != 0 {
		t.Fatalf("%d alerts after three reads", n)
	}

	putRecords(t, st, 2, reads[3:5])
	a = launch(t, "--alerts-output", args...)
	got := cloudtrailAlerts(t, a, bulkSecrets)
	a.finish(t)
	for _, al := range got {
		if al.Rule == bulkSecrets && al.OutputFields["mamori.stateful.count"] != float64(5) {
			t.Errorf("alert counts %v, want 5 secrets: %s", al.OutputFields["mamori.stateful.count"], al.Output)
		}
	}

	key = putRecords(t, st, 3, reads[5:])
	a = launch(t, "--alerts-output", args...)
	waitRead(t, cp, key, a.stderr)
	a.finish(t)
	if n := bulk(a); n != 0 {
		t.Errorf("after a second restart: %d alerts again for reads inside the alert's window", n)
	}
}

// TestConsoleCloudtrailStatefulRestart: the same through `mamori console
// --cloudtrail`, killed (not stopped) between the log files: the state is
// saved with the checkpoint in the console's data directory.
func TestConsoleCloudtrailStatefulRestart(t *testing.T) {
	reads := secretReads(t)
	st := s3test.Start(t)
	st.CreateBucket(t, "trail")
	s3Env(t)
	dir := filepath.Join(t.TempDir(), "console")
	cp := filepath.Join(dir, "cloudtrail-checkpoint.json")
	api, nats := freeAddr(t), freeAddr(t)
	args := []string{"--cloudtrail", "s3://trail/AWSLogs/", "--cloudtrail-endpoint", st.Endpoint, "--cloudtrail-interval", "1s",
		"--retention-alerts", "0"} // the detonation is years old
	count := func(con *consoleProc) int {
		var page store.AlertPage
		con.get(t, "/api/v1/alerts?rule="+strings.ReplaceAll(bulkSecrets, " ", "+"), &page)
		return len(page.Alerts)
	}

	key := putRecords(t, st, 1, reads[:3])
	con := startConsole(t, dir, api, nats, args...)
	waitRead(t, cp, key, con.stderr)
	if n := count(con); n != 0 {
		t.Fatalf("%d alerts after three reads", n)
	}
	con.kill()

	putRecords(t, st, 2, reads[3:5])
	con = startConsole(t, dir, api, nats, args...)
	got := waitConsoleAlerts(t, con, bulkSecrets, "console")
	if len(got) != 1 {
		t.Errorf("%d alerts, want 1", len(got))
	}
	con.kill()

	key = putRecords(t, st, 3, reads[5:])
	con = startConsole(t, dir, api, nats, args...)
	waitRead(t, cp, key, con.stderr)
	time.Sleep(time.Second) // an alert raised would be stored by now
	if n := count(con); n != 1 {
		t.Errorf("after a second restart: %d alerts, want the 1 from before", n)
	}
}
