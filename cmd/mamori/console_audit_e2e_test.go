package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/audit/cloudtrail/s3live/s3test"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
)

// postAuditEvent posts one Kubernetes audit event from the corpus, as
// kube-apiserver's webhook backend does (an EventList), and wants 200.
func postAuditEvent(t *testing.T, addr, file string) {
	t.Helper()
	ev, err := os.ReadFile(filepath.Join(k8sTraces(t), file))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + string(bytes.TrimSpace(ev)) + `]}`
	for range 2 { // posted twice, as a retrying API server may: stored once
		resp, err := http.Post("http://"+addr+"/k8s-audit", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("EventList: status %d", resp.StatusCode)
		}
	}
}

// waitConsoleAlerts waits until the console's API holds an alert of rule
// from node, and returns those alerts.
func waitConsoleAlerts(t *testing.T, con *consoleProc, rule, node string) []event.Alert {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var page store.AlertPage
		con.get(t, "/api/v1/alerts?rule="+strings.ReplaceAll(rule, " ", "+")+"&node="+node, &page)
		var got []event.Alert
		for _, raw := range page.Alerts {
			var al event.Alert
			json.Unmarshal(raw, &al)
			got = append(got, al)
		}
		if len(got) > 0 {
			time.Sleep(500 * time.Millisecond) // a second copy would have arrived by now
			con.get(t, "/api/v1/alerts?rule="+strings.ReplaceAll(rule, " ", "+")+"&node="+node, &page)
			got = got[:0]
			for _, raw := range page.Alerts {
				var al event.Alert
				json.Unmarshal(raw, &al)
				got = append(got, al)
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q alert from %s in the console after 15s\nconsole:\n%s", rule, node, con.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestConsoleFollowsKubernetesAudit: the console serves kube-apiserver's
// audit webhook itself (one place watches the cluster): an exec into a pod
// posted to it raises the built-in k8s_audit rule, stored under the
// console's cluster, once although it was posted twice.
func TestConsoleFollowsKubernetesAudit(t *testing.T) {
	webhook := freeAddr(t)
	con := startConsole(t, filepath.Join(t.TempDir(), "console"), freeAddr(t), freeAddr(t),
		"--k8s-audit-listen", webhook, "--cluster", "prod")
	postAuditEvent(t, webhook, "exec_pod.json")
	got := waitConsoleAlerts(t, con, "Exec Into Pod", "console")
	if len(got) != 1 || got[0].Source != "k8s_audit" || got[0].Cluster != "prod" || got[0].UUID == "" {
		t.Errorf("console's own audit alerts: %+v", got)
	}
}

// TestAgentAuditAlertsReachTheConsole: an agent's own Kubernetes audit
// webhook raises its alerts with the agent's other alerts: to its output
// and to the console.
func TestAgentAuditAlertsReachTheConsole(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the agent loads eBPF programs: run the tests as root")
	}
	dir := t.TempDir()
	con := startConsole(t, filepath.Join(dir, "console"), freeAddr(t), freeAddr(t))
	webhook := freeAddr(t)
	a := startAlertingAgent(t, "--policy", "none", "--k8s-audit-listen", webhook,
		"--console", "nats://"+con.nats, "--console-creds", con.creds(t, "audit", "audit-node"),
		"--console-spool", filepath.Join(dir, "spool"), "--console-policies", filepath.Join(dir, "policies"))
	postAuditEvent(t, webhook, "exec_pod.json")
	got := waitConsoleAlerts(t, con, "Exec Into Pod", "audit-node")
	if len(got) != 2 || got[0].Cluster != "audit" || got[0].UUID == got[1].UUID {
		// Posted twice to an agent: two alerts (the agent does not
		// fold audit records), each its own uuid.
		t.Errorf("the agent's audit alerts in the console: %+v", got)
	}
	local := 0
	for _, al := range a.stop(t) {
		if al.Source == "k8s_audit" && al.Rule == "Exec Into Pod" {
			local++
		}
	}
	if local != 2 {
		t.Errorf("%d Exec Into Pod alerts in the agent's own output, want 2", local)
	}
}

// TestConsoleFollowsCloudTrail: the console follows a CloudTrail bucket
// itself, on a real S3-compatible store: a trail deleted in the account
// reaches the console's API under the console's cluster, and a console
// restarted on the same checkpoint does not store it again.
func TestConsoleFollowsCloudTrail(t *testing.T) {
	cloudtrailCorpus(t, "stratus-red-team")
	st := s3test.Start(t)
	st.CreateBucket(t, "trail")
	s3Env(t)
	putDetonation(t, st, 1, "aws.defense-evasion.cloudtrail-delete")
	dir := filepath.Join(t.TempDir(), "console")
	api, nats := freeAddr(t), freeAddr(t)
	args := []string{"--cloudtrail", "s3://trail/AWSLogs/", "--cloudtrail-endpoint", st.Endpoint, "--cloudtrail-interval", "1s", "--cluster", "aws",
		"--retention-alerts", "0"} // the detonation is years old
	con := startConsole(t, dir, api, nats, args...)
	const stopped = "CloudTrail Trail Stopped, Deleted or Narrowed"
	first := waitConsoleAlerts(t, con, stopped, "console")
	if first[0].Source != "aws_cloudtrail" || first[0].Cluster != "aws" {
		t.Errorf("the console's CloudTrail alert: %+v", first[0])
	}
	if _, err := os.Stat(filepath.Join(dir, "cloudtrail-checkpoint.json")); err != nil {
		t.Errorf("no checkpoint in the console's data directory: %v", err)
	}
	con.kill()
	con = startConsole(t, dir, api, nats, args...)
	time.Sleep(3 * time.Second) // polls of the bucket on the same checkpoint
	again := waitConsoleAlerts(t, con, stopped, "console")
	if len(again) != len(first) {
		t.Errorf("after a restart on the same checkpoint: %d alerts, before %d", len(again), len(first))
	}
}
