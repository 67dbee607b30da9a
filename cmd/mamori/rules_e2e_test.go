package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
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

// TestUpstreamRulesInContainers triggers upstream falco_rules.yaml rules in
// real podman containers and on the host, and does the same actions in the
// ways the rules' conditions and exceptions call benign.
func TestUpstreamRulesInContainers(t *testing.T) {
	rulesFile := upstreamRules(t, "falco_rules.yaml")
	podmantest.Require(t)
	a := startAlertingAgent(t, "--rules", rulesFile, "--match-all")

	c := podmantest.Run(t, podmantest.Args("--network", "none", "--cap-add", "NET_RAW"))
	run := func(script string) {
		t.Helper()
		podmantest.Exec(t, c, "sh", "-c", script+"\n:")
	}
	// Busybox's shell runs applets given by name through /proc/self/exe,
	// whose name is "exe"; a path runs them under their own name, as a
	// real tool would run.
	run("echo 'root:*:1::::::' > /etc/shadow; mkdir -p /var/log /root/.aws; echo k > /root/.aws/credentials # m-setup")

	// Terminal shell in container: a shell with a tty entered through
	// the runtime, and the same shell without a tty.
	if out, err := exec.Command("podman", "exec", "-t", c.ID, "sh", "-c", "true # m-tty").CombinedOutput(); err != nil {
		t.Fatalf("podman exec -t: %v\n%s", err, out)
	}
	run("true # m-notty")

	// Run shell untrusted: a web server (a busybox named nginx) starts a
	// shell; a build tool doing the same is benign.
	run("ln -sf /bin/busybox /tmp/nginx; exec -a sh /tmp/nginx -c '/bin/sh -c \"true # m-websh\"; :'")
	run("ln -sf /bin/busybox /tmp/builder; exec -a sh /tmp/builder -c '/bin/sh -c \"true # m-buildsh\"; :'")

	// Read sensitive file untrusted: cat reads /etc/shadow; a shell's own
	// read is on the rule's list of trusted programs.
	run("/bin/cat /etc/shadow >/dev/null # m-catshadow")
	run("read line < /etc/shadow # m-shread")

	// Drop and execute new binary in container.
	run("cp /bin/busybox /tmp/true && /tmp/true # m-drop")
	run("/bin/true # m-imagebin")

	// Netcat Remote Code Execution, and Redirect STDOUT/STDIN to Network
	// Connection: nc -e makes the socket the program's stdin and stdout.
	run("(/bin/nc -l -p 9000 >/dev/null &) ; sleep 0.3; /bin/nc 127.0.0.1 9000 -e /bin/true # m-ncexec")
	run("(/bin/nc -l -p 9001 >/dev/null &) ; sleep 0.3; echo hi | /bin/nc -w 1 127.0.0.1 9001 # m-ncplain")
	run("exec 3>/tmp/x; exec 1>&3 # m-dupfile")

	// Clear Log Activities: truncating a log, and appending to one.
	run("echo > /var/log/app.log # m-logtrunc")
	run("echo x >> /var/log/app.log # m-logappend")

	// Search Private Keys or Passwords, Find AWS Credentials.
	run("/bin/grep -r 'BEGIN RSA PRIVATE' /etc # m-grepkey")
	run("/bin/find /root -name id_rsa # m-findkey")
	run("/bin/find /root -path '*/.aws/credentials' # m-findaws")
	run("/bin/find /etc -name hosts >/dev/null # m-findhosts")
	run("/bin/grep -r nameserver /etc >/dev/null # m-grepplain")

	// Packet socket created in container.
	run("/bin/arping -c 1 -w 1 -I lo 127.0.0.1 # m-arping")

	// Create Symlink/Hardlink Over Sensitive Files, and links to other files.
	run("/bin/ln -s /etc/shadow /tmp/s1 # m-symshadow")
	run("/bin/ln -s /etc/hostname /tmp/s2 # m-symplain")
	run("/bin/ln /etc/shadow /tmp/h1 # m-hardshadow")
	run("echo > /tmp/plain; /bin/ln /tmp/plain /tmp/h2 # m-hardplain")

	// Remove Bulk Data from Disk: shred, and a plain rm.
	run("echo x > /tmp/junk1; /bin/shred -u /tmp/junk1 # m-shred")
	run("echo x > /tmp/junk2; /bin/rm /tmp/junk2 # m-rm")

	// On the host: Execution from /dev/shm (podman mounts the container's
	// /dev/shm noexec), fileless execution, ptrace, and an ssh client.
	shm := filepath.Join("/dev/shm", "mamori-e2e-"+strings.ReplaceAll(t.Name(), "/", "_"))
	tmpTrue := filepath.Join(t.TempDir(), "true")
	sh(t, "cp /bin/true "+shm+" && "+shm+" m-shm; rm -f "+shm)
	sh(t, "cp /bin/true "+tmpTrue+" && "+tmpTrue+" m-tmpexec")
	memfdPid := runActor(t, "memfd-exec")
	deletedPid := runActor(t, "deleted-exec", t.TempDir())
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	kernelPid := runActor(t, "kernel", mnt)
	netPid := runActor(t, "net")
	traceme := false
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		sh(t, `/usr/bin/python3 -c 'import ctypes; ctypes.CDLL(None).ptrace(0, 0, 0, 0)' m-traceme`)
		traceme = true
	}
	ssh := false
	if _, err := exec.LookPath("ssh"); err == nil {
		// The rule ignores loopback and private addresses, so the server
		// is a test host of our own: a network namespace holding a
		// documentation address, reached over a veth pair.
		server := testHost(t)
		for _, port := range []string{"4444", "22"} {
			sh(t, "ssh -o BatchMode=yes -o ConnectTimeout=1 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -p "+
				port+" m-ssh-"+port+"@"+server+" true 2>/dev/null")
		}
		ssh = true
	}

	// Directory traversal monitored file read: a program (not a shell)
	// reads /etc/shadow through "../", and reads it directly.
	run("touch /tmp/m-traversal /tmp/m-direct")
	podmantest.Exec(t, c, "/bin/cat", "/etc/../etc/../etc/shadow", "/tmp/m-traversal")
	podmantest.Exec(t, c, "/bin/cat", "/etc/shadow", "/tmp/m-direct")

	alerts := a.stop(t)
	want := []expectation{
		{rule: "Terminal shell in container", marker: "m-tty", alert: true},
		{rule: "Terminal shell in container", marker: "m-notty"},
		{rule: "Run shell untrusted", marker: "m-websh", alert: true},
		{rule: "Run shell untrusted", marker: "m-buildsh"},
		{rule: "Read sensitive file untrusted", marker: "m-catshadow", alert: true},
		{rule: "Read sensitive file untrusted", marker: "m-shread"},
		{rule: "Drop and execute new binary in container", marker: "m-drop", alert: true},
		{rule: "Drop and execute new binary in container", marker: "m-imagebin"},
		{rule: "Netcat Remote Code Execution in Container", marker: "m-ncexec", alert: true},
		{rule: "Netcat Remote Code Execution in Container", marker: "m-ncplain"},
		{rule: "Redirect STDOUT/STDIN to Network Connection in Container", marker: "m-ncexec", alert: true},
		{rule: "Redirect STDOUT/STDIN to Network Connection in Container", marker: "m-ncplain"},
		{rule: "Redirect STDOUT/STDIN to Network Connection in Container", marker: "m-dupfile"},
		{rule: "Redirect STDOUT/STDIN to Network Connection in Container", pid: netPid},
		{rule: "Clear Log Activities", marker: "m-logtrunc", alert: true},
		{rule: "Clear Log Activities", marker: "m-logappend"},
		{rule: "Search Private Keys or Passwords", marker: "m-grepkey", alert: true},
		{rule: "Search Private Keys or Passwords", marker: "m-findkey", alert: true},
		{rule: "Search Private Keys or Passwords", marker: "m-findhosts"},
		{rule: "Search Private Keys or Passwords", marker: "m-grepplain"},
		{rule: "Find AWS Credentials", marker: "m-findaws", alert: true},
		{rule: "Find AWS Credentials", marker: "m-findhosts"},
		{rule: "Packet socket created in container", marker: "m-arping", alert: true},
		{rule: "Packet socket created in container", pid: netPid},
		{rule: "Create Symlink Over Sensitive Files", marker: "m-symshadow", alert: true},
		{rule: "Create Symlink Over Sensitive Files", marker: "m-symplain"},
		{rule: "Create Hardlink Over Sensitive Files", marker: "m-hardshadow", alert: true},
		{rule: "Create Hardlink Over Sensitive Files", marker: "m-hardplain"},
		{rule: "Remove Bulk Data from Disk", marker: "m-shred", alert: true},
		{rule: "Remove Bulk Data from Disk", marker: "m-rm"},
		{rule: "Execution from /dev/shm", marker: "m-shm", alert: true},
		{rule: "Execution from /dev/shm", marker: "m-tmpexec"},
		{rule: "Fileless execution via memfd_create", pid: memfdPid, alert: true},
		{rule: "Fileless execution via memfd_create", pid: deletedPid},
		{rule: "PTRACE attached to process", pid: kernelPid, alert: true},
	}
	if traceme {
		want = append(want, expectation{rule: "PTRACE anti-debug attempt", marker: "m-traceme", alert: true})
	}
	want = append(want,
		expectation{rule: "Directory traversal monitored file read", marker: "m-traversal", alert: true},
		expectation{rule: "Directory traversal monitored file read", marker: "m-direct"})
	if ssh {
		want = append(want,
			expectation{rule: "Disallowed SSH Connection Non Standard Port", marker: "m-ssh-4444", alert: true},
			expectation{rule: "Disallowed SSH Connection Non Standard Port", marker: "m-ssh-22"})
	}
	checkAlerts(t, alerts, want)
}

// testHost makes a test host of this test's own: a network namespace with a
// documentation address (198.51.100.7, TEST-NET-2) at the end of a veth pair
// whose other end, 198.51.100.1, stays on the host. Traffic to it never
// leaves the machine. It returns the host's address.
func testHost(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("mamori-e2e-%d", os.Getpid())
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
