package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

func portsPolicy(name, mode, label, allow string) string {
	return `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: ` + name + `}
spec:
  mode: ` + mode + `
  scope: {container: {labels: {app: ` + label + `}}}
  controls:
    listeningPorts: {allow: [` + allow + `]}
`
}

// listenIn has busybox nc listen on port in container c and a client
// connect to it: the output is "served-PORT" when the listener took the
// port, nc's error ("bind: Operation not permitted") when it could not.
func listenIn(t *testing.T, c *podmantest.Container, port int) string {
	t.Helper()
	out, _ := exec.Command("podman", "exec", c.ID, "sh", "-c", fmt.Sprintf(
		`: >/tmp/nc.err; nc -l -p %[1]d -e echo served-%[1]d 2>/tmp/nc.err & for i in $(seq 100); do nc 127.0.0.1 %[1]d </dev/null 2>/dev/null && break; grep -q . /tmp/nc.err 2>/dev/null && break; sleep 0.1; done; cat /tmp/nc.err; kill $! 2>/dev/null; :`,
		port)).CombinedOutput()
	return strings.TrimSpace(string(out))
}

// portAlerts returns the listeningPorts alerts about container name and
// port.
func portAlerts(alerts []event.Alert, name string, port int) []event.Alert {
	var out []event.Alert
	for _, al := range alerts {
		if al.Container != nil && al.Container.Name == name && al.Control == "listeningPorts" &&
			strings.Contains(al.Output, fmt.Sprintf("port %d/tcp", port)) {
			out = append(out, al)
		}
	}
	return out
}

// TestPolicyListeningPorts: in a container whose policy allows 8080/tcp,
// a server can listen on 8080; in enforce mode a bind to 9090 fails with
// EPERM and raises a blocked alert, in audit mode it succeeds and raises
// an audited one. The container has only loopback.
func TestPolicyListeningPorts(t *testing.T) {
	podmantest.Require(t)
	for _, mode := range []string{"enforce", "audit"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			label := fmt.Sprintf("ports-%s-%d", mode, os.Getpid())
			os.WriteFile(filepath.Join(dir, "ports.yaml"), []byte(portsPolicy("ports", mode, label, "8080/tcp")), 0o644)
			a := startAlertingAgent(t, "--rules", "none", "--policy", dir)
			c := podmantest.Run(t, podmantest.Label("app", label), podmantest.Args("--network", "none"))
			waitControl(t, a, c.Name, "listeningPorts", map[string]string{"enforce": "enforced", "audit": "audited"}[mode])
			allowed, other := listenIn(t, c, 8080), listenIn(t, c, 9090)
			want := map[string]string{"enforce": "bind: Operation not permitted", "audit": "served-9090"}[mode]
			action := map[string]string{"enforce": event.Blocked, "audit": event.Audited}[mode]
			var got []event.Alert
			for deadline := time.Now().Add(10 * time.Second); len(got) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				got = portAlerts(readLines[event.Alert](t, a.out), c.Name, 9090)
			}
			alerts := a.stop(t)
			if allowed != "served-8080" {
				t.Errorf("listen on the allowed 8080: %q", allowed)
			}
			if !strings.Contains(other, want) {
				t.Errorf("listen on 9090: %q, want %q", other, want)
			}
			if len(got) == 0 || got[0].Action != action || got[0].Policy != "ports" {
				t.Fatalf("alerts about 9090: %+v, want one %s by policy ports\nagent:\n%s", got, action, a.stderr)
			}
			if al := got[0]; al.Rule != "Listening Ports" || !strings.Contains(al.Output, "not on the listening ports allow list") {
				t.Errorf("alert: %s %s", al.Rule, al.Output)
			}
			if n := len(portAlerts(alerts, c.Name, 8080)); n > 0 {
				t.Errorf("%d alerts about the allowed port 8080", n)
			}
		})
	}
}

// TestListeningPortsReloadNeverRefusesTheListed: while a server in the
// container binds 8080 over and over, the policy is reloaded 20 times,
// each time with another port beside 8080, the last time with 9090: not
// one bind of 8080 is refused (each refusal would raise a blocked alert
// from the kernel's report), and 9090 may be bound once the last reload
// is in place.
func TestListeningPortsReloadNeverRefusesTheListed(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.yaml")
	label := fmt.Sprintf("ports-reload-%d", os.Getpid())
	os.WriteFile(pol, []byte(portsPolicy("ports", "enforce", label, "8080/tcp")), 0o644)
	a := startAlertingAgent(t, "--rules", "none", "--policy", dir)
	c := podmantest.Run(t, podmantest.Label("app", label), podmantest.Args("--network", "none"))
	waitControl(t, a, c.Name, "listeningPorts", "enforced")
	if out := listenIn(t, c, 9090); !strings.Contains(out, "not permitted") {
		t.Fatalf("9090 before the reloads: %q", out)
	}
	loop := exec.Command("podman", "exec", c.ID, "sh", "-c",
		`while [ ! -e /tmp/stop ]; do nc -l -p 8080 -e true 2>>/tmp/loop.err & p=$!; nc 127.0.0.1 8080 </dev/null 2>/dev/null && echo OK; kill $p 2>/dev/null; wait $p 2>/dev/null; done; cat /tmp/loop.err`)
	out := &strings.Builder{}
	loop.Stdout, loop.Stderr = out, out
	if err := loop.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		time.Sleep(100 * time.Millisecond)
		allow := fmt.Sprintf("8080/tcp, %d/udp", 10000+i)
		if i == 20 {
			allow = "8080/tcp, 9090/tcp"
		}
		os.WriteFile(pol, []byte(portsPolicy("ports", "enforce", label, allow)), 0o644)
		a.cmd.Process.Signal(syscall.SIGHUP)
	}
	// The last reload is in place when 9090 may be bound.
	var after string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if after = listenIn(t, c, 9090); after == "served-9090" {
			break
		}
	}
	podmantest.Exec(t, c, "touch", "/tmp/stop")
	loop.Wait()
	time.Sleep(500 * time.Millisecond) // the last verdicts reach the agent
	alerts := a.stop(t)
	if after != "served-9090" {
		t.Errorf("9090 after the reload that allows it: %q", after)
	}
	if n := len(portAlerts(alerts, c.Name, 8080)); n > 0 {
		t.Errorf("%d binds of the listed 8080 refused during 20 reloads", n)
	}
	if strings.Contains(out.String(), "not permitted") {
		t.Errorf("the server's binds of 8080 were refused:\n%s", out)
	}
	if n := strings.Count(out.String(), "OK"); n < 20 {
		t.Errorf("the server served %d times during the reloads: too few to prove anything\n%s", n, out)
	}
	if n := strings.Count(a.stderr.String(), "network refusal enforced"); n < 10 {
		t.Errorf("the container's rule was placed %d times for 20 changed policies", n)
	}
	t.Logf("8080 served %d times during 20 reloads", strings.Count(out.String(), "OK"))
}

// TestListeningPortsHeldBeforeTheRule: a container listening on 9090
// before the agent starts cannot have the port taken back by a rule that
// allows only 8080 (the rule refuses binds, and that bind was made), so
// the agent says so when it places the rule, naming the port and the
// program, and new binds of 9090 are refused.
func TestListeningPortsHeldBeforeTheRule(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	label := fmt.Sprintf("ports-held-%d", os.Getpid())
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(portsPolicy("ports", "enforce", label, "8080/tcp")), 0o644)
	c := podmantest.Run(t, podmantest.Label("app", label), podmantest.Args("--network", "none"),
		podmantest.Command("sh", "-c", "nc -l -p 9090 & exec sleep 3600"))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _ := exec.Command("podman", "exec", c.ID, "netstat", "-ltn").CombinedOutput()
		if strings.Contains(string(out), ":9090 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container does not listen on 9090:\n%s", out)
		}
	}
	a := startAlertingAgent(t, "--rules", "none", "--policy", dir)
	waitControl(t, a, c.Name, "listeningPorts", "enforced")
	var held []event.Alert
	for deadline := time.Now().Add(10 * time.Second); len(held) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		held = portAlerts(readLines[event.Alert](t, a.out), c.Name, 9090)
	}
	again := listenIn(t, c, 9091)
	alerts := a.stop(t)
	if len(held) != 1 || held[0].Action != event.Detected || !strings.Contains(held[0].Output, "already held by /bin/busybox") {
		t.Errorf("alerts about the port held before the rule: %+v\nagent:\n%s", held, a.stderr)
	}
	if !strings.Contains(again, "not permitted") {
		t.Errorf("a new bind off the list under the rule: %q", again)
	}
	if n := len(portAlerts(alerts, c.Name, 9090)); n != 1 {
		t.Errorf("%d alerts about 9090, want 1", n)
	}
}
