package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/internal/podmantest"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/syscalls"
)

// The upstream syscall rules files, loaded together as Falco loads them.
var upstreamSyscallFiles = []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"}

// upstreamAllEnabled returns the paths of the three upstream syscall files
// and of an override, written for the test, that enables every rule they
// disable, as a user would.
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
	for _, r := range rs.Rules() {
		if !r.Enabled {
			fmt.Fprintf(&b, "- rule: %s\n  enabled: true\n  override:\n    enabled: replace\n", r.Name)
		}
	}
	override := filepath.Join(t.TempDir(), "enable_disabled.yaml")
	if err := os.WriteFile(override, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return append(paths, override)
}

// An action is something done to raise a rule, or its benign counterpart:
// a shell script run in one of the test's containers or on the host. Its
// marker goes on the shell's command line, so that alerts of the shell
// and of everything it starts can be told apart.
type action struct {
	in  string // "host", or the name of one of the test's containers
	sh  string
	tty bool // podman exec -t
}

// ruleCase is one upstream rule: an action that raises it and a close one
// that must not.
type ruleCase struct {
	rule           string
	attack, benign action
}

// fidelityContainers are the containers the cases run in, by name.
var fidelityContainers = map[string][]podmantest.Option{
	"ctr": {podmantest.Args("--network", "none")},
}

// fieldCases are the rules that ran but never fired, or fired falsely,
// because a field differed from libsinsp's (issue 14's list).
var fieldCases = []ruleCase{
	{"Program run with disallowed http proxy env",
		action{in: "ctr", sh: "HTTP_PROXY=http://127.0.0.1:9 /bin/wget -q -T 1 -O /dev/null http://127.0.0.1:9/"},
		action{in: "ctr", sh: "/bin/wget -q -T 1 -O /dev/null http://127.0.0.1:9/"}},
	{"Potential Local Privilege Escalation via Environment Variables Misuse",
		action{in: "ctr", sh: "GLIBC_TUNABLES=glibc.malloc.check=3 /bin/true"},
		action{in: "ctr", sh: "MALLOC_CHECK_=3 /bin/true"}},
	{"Set Setuid or Setgid bit",
		action{in: "ctr", sh: "touch /tmp/suid; /bin/chmod u+s /tmp/suid"},
		action{in: "ctr", sh: "touch /tmp/nosuid; /bin/chmod 755 /tmp/nosuid"}},
	{"Mkdir binary dirs",
		action{in: "ctr", sh: "/bin/mkdir /bin/newdir"},
		action{in: "ctr", sh: "/bin/mkdir /tmp/newdir"}},
	{"Create Hidden Files or Directories",
		action{in: "ctr", sh: "/bin/mkdir /tmp/.hidden"},
		action{in: "ctr", sh: "/bin/mkdir /tmp/visible"}},
	{"Write below root",
		action{in: "ctr", sh: "echo x > /rootfile"},
		// A write to stdout through /proc/self/fd/1 is no write below /.
		action{in: "ctr", sh: "echo x > /proc/self/fd/1; echo x > /tmp/file"}},
	{"Modify Container Entrypoint",
		action{in: "ctr", sh: "echo x > /proc/self/fd/1"},
		action{in: "ctr", sh: "echo x > /tmp/entry"}},
	{"Read environment variable from /proc files",
		action{in: "ctr", sh: "/bin/cat /proc/1/environ >/dev/null"},
		action{in: "ctr", sh: "/bin/cat /proc/1/status >/dev/null"}},
	{"Container Drift Detected (chmod)",
		action{in: "ctr", sh: "echo x > /tmp/drift; /bin/chmod +x /tmp/drift"},
		action{in: "ctr", sh: "echo x > /tmp/nodrift; /bin/chmod 644 /tmp/nodrift"}},
	{"Container Drift Detected (open+create)",
		action{in: "ctr", sh: "/bin/cp /bin/busybox /tmp/newexe"},
		action{in: "ctr", sh: "echo x > /tmp/newdata"}},
}

// runCases starts the agent with the three upstream files (every rule
// enabled) and runs each case's attack and benign action, then checks
// that the attack raised the rule and the benign action did not.
func runCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	files := upstreamAllEnabled(t)
	podmantest.Require(t)
	ctrs := map[string]*podmantest.Container{}
	for _, c := range cases {
		for _, a := range []action{c.attack, c.benign} {
			if a.in == "host" || ctrs[a.in] != nil {
				continue
			}
			opts, ok := fidelityContainers[a.in]
			if !ok {
				t.Fatalf("%s: no container %q", c.rule, a.in)
			}
			ctrs[a.in] = podmantest.Run(t, opts...)
		}
	}
	args := []string{"--match-all", "--alert-fold-window", "0"}
	for _, f := range files {
		args = append(args, "--rules", f)
	}
	a := startAlertingAgent(t, args...)
	var want []expectation
	for i, c := range cases {
		for j, act := range []action{c.attack, c.benign} {
			marker := fmt.Sprintf("m-case%d-%s", i, [...]string{"attack", "benign"}[j])
			do(t, ctrs, act, marker)
			want = append(want, expectation{rule: c.rule, marker: marker, alert: j == 0})
		}
	}
	checkAlerts(t, a.stop(t), want)
}

// do does an action, its marker in the shell's command line.
func do(t *testing.T, ctrs map[string]*podmantest.Container, a action, marker string) {
	t.Helper()
	script := a.sh + "\n: " + marker
	var cmd *exec.Cmd
	if a.in == "host" {
		cmd = exec.Command("/bin/sh", "-c", script)
	} else {
		args := []string{"exec"}
		if a.tty {
			args = append(args, "-t")
		}
		args = append(args, ctrs[a.in].ID, "sh", "-c", script)
		cmd = exec.Command("podman", args...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		// A failing command may be the point (a refused mount, a
		// connection nobody answers): the rule says what must follow.
		t.Logf("%s: %v\n%s", marker, err, out)
	}
}

// TestFieldFidelity raises, in a real container under the real agent, each
// rule that a field rendered unlike libsinsp kept silent (or made fire
// where Falco does not), and its benign counterpart.
func TestFieldFidelity(t *testing.T) {
	runCases(t, fieldCases)
}
