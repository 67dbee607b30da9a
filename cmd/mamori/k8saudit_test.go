package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/mamori-dev/mamori/event"
)

// k8sTraces is Falco's k8s audit trace folder in ../shared/corpora.
func k8sTraces(t *testing.T) string {
	t.Helper()
	p, _ := filepath.Abs(filepath.Join("..", "..", "..", "shared", "corpora", "k8saudit", "falco-test-trace-files", "trace_files"))
	if _, err := os.Stat(p); err != nil {
		t.Skipf("k8s audit corpus not found (%v): the tests read it in place from ../shared/corpora", err)
	}
	return p
}

// k8sScan runs `mamori k8saudit scan` with args and returns its alerts,
// its stderr and stdout, and its exit status.
func k8sScan(t *testing.T, args ...string) ([]event.Alert, string, int) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "alerts.json")
	log, code := mamori(t, append([]string{"k8saudit", "scan", "--alerts-output", out}, args...)...)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no alerts file (exit %d):\n%s", code, log)
	}
	var alerts []event.Alert
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var a event.Alert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("alert line %q: %v", line, err)
		}
		alerts = append(alerts, a)
	}
	return alerts, log, code
}

func ruleNames(alerts []event.Alert) string {
	var names []string
	for _, a := range alerts {
		names = append(names, a.Rule)
	}
	sort.Strings(names)
	return strings.Join(names, "|")
}

// TestK8sauditScanTraces scans Falco's trace folder with the upstream
// rules after mamori's: the malformed file is reported and makes the exit
// status 1, the rest is scanned and summarised.
func TestK8sauditScanTraces(t *testing.T) {
	dir := k8sTraces(t)
	alerts, log, code := k8sScan(t, "--match-all", "--rules", upstreamRules(t, "k8s_audit_rules.yaml"), dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"k8s_audit rules: 50 active, 0 disabled, 0 inactive",
		"skipped: " + filepath.Join(dir, "fal_01_003.json") + `: record 0: kind is 0, not "Event": not a Kubernetes audit event`,
		"51 records from 46 files, 68 alerts, 1 unreadable file or record",
		"Create/Modify Configmap With Private Credentials  Warning        6",
		"1 file or record could not be read and was skipped",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, log)
		}
	}
	if len(alerts) != 68 {
		t.Errorf("%d alerts, want 68", len(alerts))
	}
	for _, a := range alerts {
		if a.Kind != "alert" || a.Source != "k8s_audit" || a.Action != "detected" || a.Time.IsZero() || a.Hostname == "" {
			t.Errorf("alert %+v", a)
		}
	}
}

// TestK8sauditScanBuiltin: with no --rules, mamori's own rules run; the
// kubectl exec and attach of the traces raise them, and a gzipped
// EventList of the same events reads as the lines do.
func TestK8sauditScanBuiltin(t *testing.T) {
	dir := k8sTraces(t)
	files := []string{filepath.Join(dir, "exec_pod.json"), filepath.Join(dir, "attach_pod.json"), filepath.Join(dir, "create_nginx_pod_privileged.json")}
	alerts, log, code := k8sScan(t, files...)
	if code != 0 || ruleNames(alerts) != "Attach To Pod|Exec Into Pod" || !strings.Contains(log, "k8s_audit rules: 2 active") {
		t.Errorf("exit %d, raised %q:\n%s", code, ruleNames(alerts), log)
	}

	var items []json.RawMessage
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, bytes.TrimSpace(b))
	}
	list, _ := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items})
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(list)
	zw.Close()
	gzDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(gzDir, "audit-2024-05-01T10-00-00.000.log.gz"), z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(gzDir, "README.txt"), []byte("not a log"), 0o644)
	alerts2, log, code := k8sScan(t, gzDir)
	if code != 0 || ruleNames(alerts2) != ruleNames(alerts) || !strings.Contains(log, "3 records from 1 file,") {
		t.Errorf("gzipped EventList: exit %d, raised %q:\n%s", code, ruleNames(alerts2), log)
	}
}

func TestK8sauditUsage(t *testing.T) {
	for _, args := range [][]string{
		{"k8saudit"},
		{"k8saudit", "tail"},
		{"k8saudit", "scan"},
		{"k8saudit", "scan", "--no-builtin", "x.log"},
		{"k8saudit", "serve"},
		{"k8saudit", "serve", "--listen", ":0", "--tls-cert", "c.pem"},
		{"k8saudit", "serve", "--listen", ":0", "extra"},
	} {
		if out, code := mamori(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, out)
		}
	}
	if out, code := mamori(t, "k8saudit", "scan", "/nonexistent/audit.log"); code != 1 || !strings.Contains(out, "skipped: /nonexistent/audit.log: stat /nonexistent/audit.log: no such file") {
		t.Errorf("missing file: exit %d\n%s", code, out)
	}
}

// TestK8sauditServe runs `mamori k8saudit serve`, posts an EventList as
// kube-apiserver does, and reads the alert it wrote; an interrupt stops
// it cleanly.
func TestK8sauditServe(t *testing.T) {
	dir := k8sTraces(t)
	out := filepath.Join(t.TempDir(), "alerts.json")
	cmd := exec.Command(mamoriBin, "k8saudit", "serve", "--listen", "127.0.0.1:0", "--alerts-output", out)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stderr)
	urlRe := regexp.MustCompile(`url=(http://\S+)`)
	var url string
	var log strings.Builder
	for url == "" && lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if m := urlRe.FindStringSubmatch(lines.Text()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("serve did not say where it listens:\n%s", log.String())
	}
	ev, err := os.ReadFile(filepath.Join(dir, "exec_pod.json"))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + string(bytes.TrimSpace(ev)) + `]}`
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
	// The answer comes after the alert is written.
	data, _ := os.ReadFile(out)
	var a event.Alert
	if err := json.Unmarshal(data, &a); err != nil || a.Rule != "Exec Into Pod" || a.Source != "k8s_audit" {
		t.Errorf("alerts file %q: %v", data, err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	for lines.Scan() {
		log.WriteString(lines.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "requests=1 refused=0 events=1 bad_events=0 alerts=1") {
		t.Errorf("no stop summary:\n%s", log.String())
	}
}

// TestAgentK8sAuditListen: the agent serves the audit webhook beside its
// sensor; an EventList posted to it raises mamori's built-in k8s_audit
// alert on the agent's alert output, and a body that is not an EventList
// is refused with 400.
func TestAgentK8sAuditListen(t *testing.T) {
	dir := k8sTraces(t)
	addr := freeAddr(t)
	a := startAlertingAgent(t, "--policy", "none", "--k8s-audit-listen", addr)
	ev, err := os.ReadFile(filepath.Join(dir, "exec_pod.json"))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + string(bytes.TrimSpace(ev)) + `]}`
	resp, err := http.Post("http://"+addr+"/k8s-audit", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("EventList: status %d", resp.StatusCode)
	}
	resp, err = http.Post("http://"+addr+"/k8s-audit", "application/json", strings.NewReader(`{"kind":"Pod"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a Pod posted as audit events: status %d, want 400", resp.StatusCode)
	}
	found := false
	for _, al := range a.stop(t) {
		if al.Source == "k8s_audit" && al.Rule == "Exec Into Pod" {
			found = true
		}
	}
	if !found {
		t.Errorf("no Exec Into Pod alert from the agent; log:\n%s", a.stderr)
	}
}
