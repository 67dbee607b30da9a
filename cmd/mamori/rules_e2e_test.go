package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
)

// upstreamRules returns the path of an upstream Falco rules file, read in
// place from ../shared/corpora, or skips the test.
func upstreamRules(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "corpora", "falco", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("upstream Falco rules not found (%v): the tests read them in place from ../shared/corpora", err)
	}
	abs, _ := filepath.Abs(p)
	return abs
}

// alertingAgent is `mamori agent` run for its alerts, without --events, so
// that the sensor captures only what the rules need.
type alertingAgent struct{ *agentProc }

func startAlertingAgent(t *testing.T, args ...string) *alertingAgent {
	t.Helper()
	return &alertingAgent{launch(t, "--alerts-output", args...)}
}

// stop stops the agent and returns every alert it wrote.
func (a *alertingAgent) stop(t *testing.T) []event.Alert {
	t.Helper()
	a.finish(t)
	return readLines[event.Alert](t, a.out)
}

// marker tags an action so that its alerts can be told apart: it goes into
// the command line of the process that acts or of its parent.
func hasMarker(al *event.Alert, marker string) bool {
	p := al.Process
	if p == nil {
		return false
	}
	if strings.Contains(strings.Join(p.Args, " "), marker) {
		return true
	}
	for _, a := range p.Ancestors {
		if strings.Contains(strings.Join(a.Args, " "), marker) {
			return true
		}
	}
	return false
}

type expectation struct {
	rule   string
	marker string // in the acting process's or an ancestor's command line
	pid    int    // or: the acting process's pid
	alert  bool   // false: the action must raise no alert for the rule
}

func (x expectation) matches(al *event.Alert) bool {
	if al.Rule != x.rule {
		return false
	}
	if x.pid != 0 {
		return al.Process != nil && al.Process.PID == uint32(x.pid)
	}
	return hasMarker(al, x.marker)
}

func checkAlerts(t *testing.T, alerts []event.Alert, want []expectation) {
	t.Helper()
	for _, x := range want {
		var found *event.Alert
		for i := range alerts {
			if x.matches(&alerts[i]) {
				found = &alerts[i]
				break
			}
		}
		switch {
		case x.alert && found == nil:
			t.Errorf("no alert %q for %q (pid %d)", x.rule, x.marker, x.pid)
		case !x.alert && found != nil:
			t.Errorf("benign action %q (pid %d) raised %q: %s", x.marker, x.pid, x.rule, found.Output)
		case found != nil:
			checkAlertShape(t, found)
			if testing.Verbose() {
				t.Logf("%s raised %q: %s", x.marker, x.rule, found.Output)
			}
		}
	}
	if t.Failed() {
		for _, al := range alerts {
			t.Logf("alert: %s [%s] args=%q", al.Output, al.Rule, al.Process.Args)
		}
	}
}

func checkAlertShape(t *testing.T, al *event.Alert) {
	t.Helper()
	if al.Kind != "alert" || al.Source != "syscall" || al.Action != "detected" || al.Time.IsZero() ||
		al.Hostname == "" || al.Priority == "" || al.OutputFields == nil || al.Tags == nil || al.Container == nil {
		t.Errorf("alert %q is not in the documented shape: %+v", al.Rule, al)
	}
	if !strings.Contains(al.Output, ": "+al.Priority+" ") {
		t.Errorf("alert %q: output %q lacks Falco's time and priority prefix", al.Rule, al.Output)
	}
}

// testHostNetns is the name of the test host's network namespace.
func testHostNetns() string { return fmt.Sprintf("mamori-e2e-%d", os.Getpid()) }

// testHost makes a test host of this test's own: a network namespace with a
// documentation address (198.51.100.7, TEST-NET-2) at the end of a veth pair
// whose other end, 198.51.100.1, stays on the host. Traffic to it never
// leaves the machine. It returns the host's address.
func testHost(t *testing.T) string {
	t.Helper()
	ns := testHostNetns()
	veth := fmt.Sprintf("mm%d", os.Getpid()%100000)
	ipCmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ipCmd("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ipCmd("link", "add", veth, "type", "veth", "peer", "name", veth+"p")
	t.Cleanup(func() { exec.Command("ip", "link", "del", veth).Run() })
	ipCmd("link", "set", veth+"p", "netns", ns)
	ipCmd("addr", "add", "198.51.100.1/24", "dev", veth)
	ipCmd("link", "set", veth, "up")
	ipCmd("-n", ns, "addr", "add", "198.51.100.7/24", "dev", veth+"p")
	ipCmd("-n", ns, "link", "set", veth+"p", "up")
	ipCmd("-n", ns, "link", "set", "lo", "up")
	return "198.51.100.7"
}

// TestBuiltinMiningPortRule: with the built-in rules the kernel reports
// only the connects to the mining pools' ports (and those in containers),
// and a connect from the host to one of them still raises "Connection to
// a mining pool port". The test host's address stands for a pool.
func TestBuiltinMiningPortRule(t *testing.T) {
	host := testHost(t)
	a := startAlertingAgent(t)
	if !strings.Contains(a.stderr.String(), "connect_ports=13") {
		t.Errorf("the agent does not say it keys connects on the 13 built-in ports:\n%s", a.stderr)
	}
	for _, port := range []int{3333, 3399} {
		exec.Command("bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d # m-pool-%d", host, port, port)).Run()
	}
	alerts := a.stop(t)
	raised := map[string]bool{}
	for i := range alerts {
		if alerts[i].Rule == "Connection to a mining pool port" {
			for _, port := range []int{3333, 3399} {
				raised[fmt.Sprint(port)] = raised[fmt.Sprint(port)] || hasMarker(&alerts[i], fmt.Sprintf("m-pool-%d", port))
			}
		}
	}
	if !raised["3333"] || raised["3399"] {
		t.Errorf("mining pool alerts for 3333: %v (want true), for 3399: %v (want false)\nagent:\n%s", raised["3333"], raised["3399"], a.stderr)
	}
}
