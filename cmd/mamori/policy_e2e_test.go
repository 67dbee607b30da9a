package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/agent"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

const webPolicy = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata:
  name: web-audit
spec:
  mode: audit
  scope:
    container:
      labels:
        app: web
  controls:
    driftPrevention:
      allow:
        names: ["healthcheck"]
    forensics:
      events: 40
`

// TestPolicyDriftAuditStory runs the story of issue 3 in audit mode: an
// attacker downloads a binary into a web container from an HTTP server and
// runs it. The alert must show the download, the write and the exec.
func TestPolicyDriftAuditStory(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	polFile := filepath.Join(dir, "web.yaml")
	os.WriteFile(polFile, []byte(webPolicy), 0o644)
	a := startAlertingAgent(t, "--rules", "none", "--policy", dir)

	web := podmantest.Run(t, podmantest.Label("app", "web"), podmantest.Args("--network", "none"),
		podmantest.Command("sh", "-c", "mkdir -p /srv && cp /bin/busybox /srv/payload && httpd -f -p 8080 -h /srv"))
	other := podmantest.Run(t, podmantest.Label("app", "batch"), podmantest.Args("--network", "none"))
	time.Sleep(300 * time.Millisecond)
	podmantest.Exec(t, web, "sh", "-c",
		"wget -q -O /tmp/xmrig http://127.0.0.1:8080/payload && chmod +x /tmp/xmrig && /tmp/xmrig; cp /bin/busybox /tmp/healthcheck; /tmp/healthcheck; :")
	podmantest.Exec(t, other, "sh", "-c", "cp /bin/busybox /tmp/xmrig; /tmp/xmrig; :")

	// policy explain, against the running agent.
	out, err := exec.Command(mamoriBin, "policy", "explain", "--health-addr", a.addr, web.Name).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "web-audit") || !strings.Contains(string(out), "healthcheck") ||
		!strings.Contains(string(out), polFile+":14:") {
		t.Errorf("policy explain %s: %v\n%s", web.Name, err, out)
	}
	out, err = exec.Command(mamoriBin, "policy", "explain", "--health-addr", a.addr, "no-such-container").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `no container "no-such-container"`) {
		t.Errorf("explain of an unknown container: %v\n%s", err, out)
	}

	// Reload: a broken file keeps the policy in force and says why; a fixed
	// one takes effect without a restart.
	os.WriteFile(polFile, []byte(strings.Replace(webPolicy, "mode: audit", "mode: sometimes", 1)), 0o644)
	waitStatus(t, a.addr, func(s map[string]any) bool { return strings.Contains(asString(s["policy_error"]), "web.yaml:6:") })
	os.WriteFile(polFile, []byte(strings.Replace(webPolicy, `["healthcheck"]`, `["probe"]`, 1)), 0o644)
	waitStatus(t, a.addr, func(s map[string]any) bool { return s["policy_error"] == nil })
	out, _ = exec.Command(mamoriBin, "policy", "explain", "--health-addr", a.addr, web.Name).CombinedOutput()
	if !strings.Contains(string(out), "probe") || strings.Contains(string(out), "healthcheck") {
		t.Errorf("explain after the reload:\n%s", out)
	}

	alerts := a.stop(t)
	var drift, allowed, otherDrift *event.Alert
	for i := range alerts {
		al := &alerts[i]
		if al.Rule != "Drift Prevention" {
			continue
		}
		switch {
		case al.Container.Name == web.Name && al.Process.Exe == "/tmp/xmrig":
			drift = al
		case al.Container.Name == web.Name && al.Process.Exe == "/tmp/healthcheck":
			allowed = al
		case al.Container.Name == other.Name:
			otherDrift = al
		}
	}
	if drift == nil {
		t.Fatalf("no Drift Prevention alert for /tmp/xmrig among %d alerts", len(alerts))
	}
	if drift.Action != "audited" || drift.Policy != "web-audit" || drift.Control != "driftPrevention" || drift.Priority != "Critical" {
		t.Errorf("drift alert: %+v", drift)
	}
	var download, write, run bool
	for _, e := range drift.Forensics {
		switch {
		case e.Type == event.Connect && e.Network != nil && e.Network.DstPort == 8080 && e.Process.Name == "wget":
			download = true
		case e.Type == event.Open && e.File != nil && e.File.Path == "/tmp/xmrig" && strings.Contains(e.File.Flags, "O_CREAT"):
			write = true
		case e.Type == event.Exec && e.Process.Exe == "/tmp/xmrig":
			run = true
		}
	}
	if !download || !write || !run {
		t.Errorf("forensics lack the download (%v), the write (%v) or the exec (%v): %d events", download, write, run, len(drift.Forensics))
	}
	if allowed != nil {
		t.Errorf("an allowed drifted executable alerted: %s", allowed.Output)
	}
	// The other container is out of the policy's scope: only the built-in
	// default applies to it, without forensics.
	if otherDrift == nil || otherDrift.Policy != "mamori-default" || otherDrift.Forensics != nil {
		t.Errorf("out-of-scope container: %+v", otherDrift)
	}
}

// TestPolicyForensicsKeepChanges checks that a container's forensics hold
// its removes, renames and mkdirs although the rules' keys match none of
// them: with policies the sensor reports every one in a container.
func TestPolicyForensicsKeepChanges(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(webPolicy), 0o644)
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rulesFile, []byte(`
- rule: Change below etc
  desc: d
  condition: evt.type in (unlink, unlinkat, rename, renameat2, mkdir, rmdir) and evt.arg.path startswith /etc/
  output: changed %evt.arg.path
  priority: WARNING
`), 0o644)
	a := startAlertingAgent(t, "--rules", rulesFile, "--policy", dir)
	web := podmantest.Run(t, podmantest.Label("app", "web"), podmantest.Args("--network", "none"))
	time.Sleep(300 * time.Millisecond)
	podmantest.Exec(t, web, "sh", "-c",
		"mkdir /tmp/d && touch /tmp/f && mv /tmp/f /tmp/g && rm /tmp/g && rmdir /tmp/d && cp /bin/busybox /tmp/xmrig && /tmp/xmrig; :")
	var drift *event.Alert
	alerts := a.stop(t)
	for i := range alerts {
		if al := &alerts[i]; al.Rule == "Drift Prevention" && al.Process.Exe == "/tmp/xmrig" {
			drift = al
		}
	}
	if drift == nil {
		t.Fatalf("no Drift Prevention alert for /tmp/xmrig among %d alerts", len(alerts))
	}
	seen := map[event.Type]bool{}
	for _, e := range drift.Forensics {
		if e.File != nil && strings.HasPrefix(e.File.Path, "/tmp/") {
			seen[e.Type] = true
		}
	}
	for _, typ := range []event.Type{event.Mkdir, event.Rename, event.Unlink, event.Rmdir} {
		if !seen[typ] {
			t.Errorf("forensics lack the %s in /tmp: %d events", typ, len(drift.Forensics))
		}
	}
}

func waitStatus(t *testing.T, addr string, ok func(map[string]any) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/status")
		if err == nil {
			var s map[string]any
			json.NewDecoder(resp.Body).Decode(&s)
			resp.Body.Close()
			if ok(s) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never reached the expected state")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

func TestPolicyValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(webPolicy), 0o644)
	out, err := exec.Command(mamoriBin, "policy", "validate", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "web-audit") || !strings.Contains(string(out), "valid") {
		t.Errorf("validate good: %v\n%s", err, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(webPolicy, "driftPrevention:", "driftPrevension:", 1)), 0o644)
	cmd := exec.Command(mamoriBin, "policy", "validate", bad)
	out, _ = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), bad+":12:5") || !strings.Contains(string(out), "driftPrevention") {
		t.Errorf("validate bad: exit %d\n%s", cmd.ProcessState.ExitCode(), out)
	}
}

// TestPolicyDriftEnforced: in enforce mode a dropped binary does not run
// (its marker file is never written), the alert says blocked, and the
// image's own programs still run.
func TestPolicyDriftEnforced(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(strings.Replace(webPolicy, "mode: audit", "mode: enforce", 1)), 0o644)
	a := startAlertingAgent(t, "--rules", "none", "--policy", dir)
	web := podmantest.Run(t, podmantest.Label("app", "web"), podmantest.Args("--network", "none"))
	time.Sleep(500 * time.Millisecond) // the first event of the container protects it

	// A script that would leave a marker, dropped and run; and the same
	// from memory is the SIGKILL line's (covered in package enforce).
	out, err := exec.Command("podman", "exec", web.ID, "sh", "-c",
		"printf '#!/bin/sh\\ntouch /tmp/ran\\n' > /tmp/miner.sh && chmod +x /tmp/miner.sh && /tmp/miner.sh; echo rc=$?; ls /bin/ls >/dev/null && echo image-ok").CombinedOutput()
	if err != nil {
		t.Fatalf("podman exec: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "image-ok") || strings.Contains(string(out), "rc=0") {
		t.Errorf("the dropped script ran, or the image's programs did not:\n%s", out)
	}
	if out, err := exec.Command("podman", "exec", web.ID, "test", "-e", "/tmp/ran").CombinedOutput(); err == nil {
		t.Errorf("the dropped script left its marker: it ran\n%s", out)
	}
	st, err := http.Get("http://" + a.addr + "/status")
	if err == nil {
		var s map[string]any
		json.NewDecoder(st.Body).Decode(&s)
		st.Body.Close()
		if d, _ := s["drift_prevention"].(map[string]any); d == nil || d["protected"] != float64(1) {
			t.Errorf("status drift_prevention: %v", s["drift_prevention"])
		}
	}
	alerts := a.stop(t)
	var blocked *event.Alert
	for i := range alerts {
		if alerts[i].Rule == "Drift Prevention" && alerts[i].Container.Name == web.Name {
			if alerts[i].Action != "blocked" {
				t.Errorf("enforced drift alert says %q: %s", alerts[i].Action, alerts[i].Output)
			}
			blocked = &alerts[i]
		}
	}
	if blocked == nil {
		t.Fatalf("no Drift Prevention alert among %d; agent log:\n%s", len(alerts), a.stderr)
	}
	if blocked.Process.Exe != "/tmp/miner.sh" || blocked.Policy != "web-audit" || !strings.Contains(blocked.Output, "refused by") {
		t.Errorf("blocked alert: %+v", blocked)
	}
	if len(blocked.Forensics) == 0 {
		t.Errorf("blocked alert has no forensics")
	}
}

// TestDemoScript runs the newcomer's demo end to end and checks that it
// tells the story: audited with the download, the write and the exec, then
// refused.
// TestDemoScript runs scripts/demo.sh ten times in a row, as a newcomer
// would run it: every run must exit 0, which the script does only when the
// enforce step refused the miner, and show the story in both modes.
func TestDemoScript(t *testing.T) {
	podmantest.Require(t)
	for run := 1; run <= 10; run++ {
		cmd := exec.Command("bash", "../../scripts/demo.sh")
		cmd.Env = append(os.Environ(), "MAMORI_BIN="+mamoriBin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run %d: demo.sh: %v\n%s", run, err, out)
		}
		s := string(out)
		audit, enforce, ok := strings.Cut(s, "2. Enforce mode")
		if !ok {
			t.Fatalf("run %d: demo output lacks the enforce part:\n%s", run, s)
		}
		for _, want := range []string{"action=audited", "(the download)", "(the write)", "(the run)", "applet not found"} {
			if !strings.Contains(audit, want) {
				t.Errorf("run %d: audit part lacks %q:\n%s", run, want, audit)
			}
		}
		for _, want := range []string{"Operation not permitted", "action=blocked", "(the download)", "refused: the miner never ran"} {
			if !strings.Contains(enforce, want) {
				t.Errorf("run %d: enforce part lacks %q:\n%s", run, want, enforce)
			}
		}
		if strings.Contains(enforce, "applet not found") || strings.Contains(enforce, "(the run)") {
			t.Errorf("run %d: the miner ran in enforce mode:\n%s", run, enforce)
		}
		if t.Failed() {
			return
		}
	}
}

// TestPolicyForkGuardEnforced: a fork bomb in a container whose policy
// enforces a process limit stops at the limit; in audit mode it does not,
// and the alert says which.
func TestPolicyForkGuardEnforced(t *testing.T) {
	podmantest.Require(t)
	for _, mode := range []string{"enforce", "audit"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "fg.yaml"), []byte(`apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: few-processes}
spec:
  mode: `+mode+`
  scope: {container: {labels: {app: batch}}}
  controls:
    forkGuard: {maxProcesses: 8}
`), 0o644)
			a := startAlertingAgent(t, "--rules", "none", "--policy", dir)
			c := podmantest.Run(t, podmantest.Label("app", "batch"), podmantest.Args("--network", "none"))
			waitContainer(t, a.agentProc, c.Name, map[string]string{"enforce": agent.Protected, "audit": agent.AuditOnly}[mode])
			// The bomb: 20 sleeps at once. Count the container's tasks from
			// the host, since a shell at its limit cannot fork ps.
			info := podmantest.Inspect(t, c)
			cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", info.Pid))
			if err != nil {
				t.Fatal(err)
			}
			var pidsDir string
			for _, line := range strings.Split(string(cg), "\n") {
				if parts := strings.SplitN(line, ":", 3); len(parts) == 3 && parts[1] == "pids" {
					pidsDir = filepath.Join("/sys/fs/cgroup/pids", parts[2])
				}
			}
			exec.Command("podman", "exec", "-d", c.ID, "sh", "-c", "for i in $(seq 20); do sleep 10 & done; wait").Run()
			// The most tasks the container held while the sleeps were
			// being forked: until all 20 are there (audit) or for 3 s
			// (enforce), however slow the machine.
			n := 0
			for start := time.Now(); time.Since(start) < 15*time.Second; time.Sleep(20 * time.Millisecond) {
				cur, _ := os.ReadFile(filepath.Join(pidsDir, "pids.current"))
				if v, _ := strconv.Atoi(strings.TrimSpace(string(cur))); v > n {
					n = v
				}
				if mode == "audit" && n >= 20 || mode == "enforce" && time.Since(start) > 3*time.Second {
					break
				}
			}
			// The agent looks at refused forks once a second.
			var action string
			for deadline := time.Now().Add(10 * time.Second); action == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				for _, al := range readLines[event.Alert](t, a.out) {
					if al.Control == "forkGuard" && al.Container != nil && al.Container.ID == c.ID {
						action = al.Action
					}
				}
			}
			a.stop(t)
			switch mode {
			case "enforce":
				if n == 0 || n > 8 || action != "blocked" {
					t.Errorf("enforce: %d tasks in the container (limit 8), alert action %q", n, action)
				}
			case "audit":
				if n < 20 || action != "audited" {
					t.Errorf("audit: %d tasks in the container (want the 20 sleeps and more), alert action %q", n, action)
				}
			}
		})
	}
}

// TestPolicyNetworkEnforced: a container whose policy enforces IP
// reputation cannot connect to a listed address (EPERM, alert blocked),
// while an unlisted one only fails for want of a route. The container has
// no network but loopback, so nothing leaves the machine either way.
func TestPolicyNetworkEnforced(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.netset"), []byte("# test list\n198.51.100.0/24\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "net.yaml"), []byte(`apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: no-bad-hosts}
spec:
  mode: enforce
  scope: {container: {labels: {app: web}}}
  controls:
    ipReputation: {lists: ["bad.netset"]}
`), 0o644)
	a := startAlertingAgent(t, "--rules", "none", "--policy", dir)
	c := podmantest.Run(t, podmantest.Label("app", "web"), podmantest.Args("--network", "none"))
	time.Sleep(500 * time.Millisecond)
	podmantest.Exec(t, c, "true")
	out, _ := exec.Command("podman", "exec", c.ID, "sh", "-c",
		"nc -w 1 198.51.100.9 80 </dev/null; nc -w 1 203.0.113.5 80 </dev/null; :").CombinedOutput()
	alerts := a.stop(t)
	if !strings.Contains(string(out), "198.51.100.9): Operation not permitted") ||
		strings.Contains(string(out), "203.0.113.5): Operation not permitted") {
		t.Errorf("connect results:\n%s", out)
	}
	var action string
	for _, al := range alerts {
		if al.Control == "ipReputation" && al.Container.ID == c.ID {
			action = al.Action
		}
	}
	if action != "blocked" {
		t.Errorf("IP reputation alert action %q, want blocked\n%s", action, a.stderr)
	}
}

// TestPolicyPortScanCoolDown: after a port scan, a container whose policy
// enforces Port Scan Detection cannot open new outbound connections for the
// cool-down, while its listening ports stay as its policy says. The container has only loopback, and every address it tries is
// unroutable from it: nothing leaves the machine.
func TestPolicyPortScanCoolDown(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "scan.yaml"), []byte(`apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: no-scans}
spec:
  mode: enforce
  scope: {container: {labels: {app: web}}}
  controls:
    portScanDetection: {distinctPorts: 3, window: 10s, coolDown: 1m}
    listeningPorts: {allow: [8080/tcp]}
`), 0o644)
	a := startAlertingAgent(t, "--rules", "none", "--policy", dir)
	c := podmantest.Run(t, podmantest.Label("app", "web"), podmantest.Args("--network", "none"))
	time.Sleep(500 * time.Millisecond)
	podmantest.Exec(t, c, "true")
	before, _ := exec.Command("podman", "exec", c.ID, "sh", "-c", "nc -w 1 203.0.113.5 443 </dev/null; :").CombinedOutput()
	exec.Command("podman", "exec", c.ID, "sh", "-c", "for p in 21 22 23 25 80; do nc -w 1 203.0.113.9 $p </dev/null; done; :").Run()
	time.Sleep(300 * time.Millisecond) // the sensor's events reach the guard
	after, _ := exec.Command("podman", "exec", c.ID, "sh", "-c", "nc -w 1 203.0.113.5 443 </dev/null; :").CombinedOutput()
	// The cool-down refuses connections; the container's ports stay as
	// its policy says.
	listed, unlisted := listenIn(t, c, 8080), listenIn(t, c, 9090)
	alerts := a.stop(t)
	if listed != "served-8080" || !strings.Contains(unlisted, "not permitted") {
		t.Errorf("listening ports during the cool-down: 8080 %q, 9090 %q", listed, unlisted)
	}
	if strings.Contains(string(before), "not permitted") || !strings.Contains(string(after), "Operation not permitted") {
		t.Errorf("before the scan: %q; after: %q", before, after)
	}
	var action string
	for _, al := range alerts {
		if al.Control == "portScanDetection" && al.Container.ID == c.ID {
			action = al.Action
		}
	}
	if action != "blocked" {
		t.Errorf("port scan alert action %q, want blocked", action)
	}
}
