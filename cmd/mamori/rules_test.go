package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func mamori(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return runBinary(t, mamoriBin, args...)
}

// runBinary runs bin (mamori, or the lean mamori-agent) and returns what
// it printed and its exit status.
func runBinary(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, _ := cmd.CombinedOutput()
	return string(out), cmd.ProcessState.Sys().(syscall.WaitStatus).ExitStatus()
}

// TestRulesValidateCloudTrail: the CloudTrail rules validate against the
// aws_cloudtrail catalogue, every one of them active.
func TestRulesValidateCloudTrail(t *testing.T) {
	out, code := mamori(t, "rules", "validate", upstreamRules(t, "aws_cloudtrail_rules.yaml"))
	if code != 0 || !strings.Contains(out, "aws_cloudtrail_rules.yaml: 22 rules (20 active, 2 active but disabled, 0 inactive), 0 macros, 1 lists") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// TestRulesValidateUpstream checks what `mamori rules validate` says of the
// upstream files: every falco_rules.yaml rule runs except the one whose
// facts the sensor does not capture, and every k8s_audit rule runs on the
// Kubernetes audit catalogue.
func TestRulesValidateUpstream(t *testing.T) {
	stable := upstreamRules(t, "falco_rules.yaml")
	inc, sand := upstreamRules(t, "falco-incubating_rules.yaml"), upstreamRules(t, "falco-sandbox_rules.yaml")
	// The three files, as Falco loads them: every rule runs on what the
	// sensor captures, none in part.
	out, code := mamori(t, "rules", "validate", stable, inc, sand)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"falco_rules.yaml: 25 rules (25 active, 0 active but disabled, 0 inactive), 87 macros, 49 lists",
		"falco-incubating_rules.yaml: 31 rules (31 active, 0 active but disabled, 0 inactive)",
		"falco-sandbox_rules.yaml: 37 rules (25 active, 12 active but disabled, 0 inactive)",
		"receives  Contact K8S API Server From Container: connect (connects in a container; the names of addresses from the node's DNS responses)",
		"receives  Disallowed SSH Connection Non Standard Port: connect, sendmsg, sendto (sends to or from a new peer on an unconnected socket; connects to peer port 53, 80, 88, 443, 4444, 8080, 8443)",
		"disabled  Java Process Class File Download: recvfrom (receives holding cafebabe)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"inactive  ", "partial   "} {
		if strings.Contains(out, not) {
			t.Errorf("validate output has %q:\n%s", not, out)
		}
	}
	// With the rules disabled upstream enabled by an override, all 93 run.
	out, code = mamori(t, append([]string{"rules", "validate"}, upstreamAllEnabled(t)...)...)
	if code != 0 || !strings.Contains(out, "falco-sandbox_rules.yaml: 37 rules (37 active, 0 active but disabled, 0 inactive)") ||
		strings.Contains(out, "inactive  ") || strings.Contains(out, "partial   ") {
		t.Errorf("with every rule enabled: exit %d\n%s", code, out)
	}
	for _, f := range []string{inc, sand} {
		out, code := mamori(t, "rules", "validate", f)
		if code != 0 || !strings.Contains(out, filepath.Base(f)+": ") {
			t.Errorf("validate %s: exit %d\n%s", f, code, out)
		}
	}
	// Each rule says what the sensor will deliver to it.
	out, _ = mamori(t, "rules", "validate", inc)
	for _, want := range []string{
		"receives  Read environment variable from /proc files: open, openat, openat2 (read-only opens ending /environ; opens for reading and writing ending /environ)",
		"receives  Exfiltrating Artifacts via Kubernetes Control Plane: open, openat, openat2 (read-only opens by tar; opens for reading and writing by tar)",
		"receives  Create files below dev: creat, open, openat, openat2 (opens for writing in /dev/; opens for reading and writing in /dev/; failed opens in /dev/)",
		"receives  Non sudo setuid: setuid\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	out, code = mamori(t, "rules", "validate", stable, upstreamRules(t, "k8s_audit_rules.yaml"))
	if code != 0 || !strings.Contains(out, "k8s_audit_rules.yaml: 48 rules (48 active, 0 active but disabled, 0 inactive)") {
		t.Errorf("the k8s_audit rules should all be active on the Kubernetes audit catalogue: exit %d\n%s", code, out)
	}
}

func TestRulesValidateErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknown := write("unknown.yaml", `- rule: r
  desc: d
  condition: evt.type = execve and proc.nmae = sh
  output: o
  priority: WARNING
`)
	syntax := write("syntax.yaml", `- rule: r
  desc: d
  condition: evt.type = execve and (proc.name = sh
  output: o
  priority: WARNING
`)
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"rules", "validate", unknown}, 1, []string{"unknown.yaml:3:", `unknown field "proc.nmae"`, `"proc.name"`}},
		{[]string{"rules", "validate", syntax}, 1, []string{"syntax.yaml:3:", "expected"}},
		{[]string{"rules", "validate"}, 2, []string{"name at least one rules file"}},
		{[]string{"rules", "validate", filepath.Join(dir, "absent.yaml")}, 1, []string{"absent.yaml"}},
		{[]string{"rules", "frobnicate"}, 2, []string{`unknown command "frobnicate": use bench, fields, validate`}},
		{[]string{"agent", "--rules", unknown}, 1, []string{`unknown field "proc.nmae"`}},
		{[]string{"agent", "--rules", "none", "--policy", "none", "--alerts-output", "/tmp/x"}, 2, []string{"turn alerts off"}},
	} {
		out, code := mamori(t, tc.args...)
		if code != tc.code {
			t.Errorf("mamori %s: exit %d, want %d\n%s", strings.Join(tc.args, " "), code, tc.code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("mamori %s: output lacks %q:\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
	}
}

func TestRulesFields(t *testing.T) {
	out, code := mamori(t, "rules", "fields")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"proc.aname[N]", "fd.sip ", "not provided: ", "evt.type values the sensor delivers: "} {
		if !strings.Contains(out, want) {
			t.Errorf("fields output lacks %q", want)
		}
	}
	out, _ = mamori(t, "rules", "fields", "--missing")
	if strings.Contains(out, "proc.name ") || strings.Contains(out, "fd.nameraw") || strings.Contains(out, "fd.sip.name") ||
		strings.Contains(out, "proc.env") || !strings.Contains(out, "proc.vpgid") {
		t.Errorf("--missing lists provided fields or misses proc.vpgid:\n%s", out)
	}
}

// TestBuiltinRulesValidate keeps the embedded rules loading with every rule
// active.
func TestBuiltinRulesValidate(t *testing.T) {
	out, code := mamori(t, "rules", "validate", filepath.Join("..", "..", "rules", "defaults", "mamori_rules.yaml"))
	if code != 0 || !strings.Contains(out, "(18 active, 0 active but disabled, 0 inactive)") || strings.Contains(out, "partial") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

// execute runs mamori in this process on args, as main does, and returns
// the command's error (exitCode reads its status).
func execute(args []string, stdout, stderr io.Writer) error {
	root := newRoot(strings.NewReader(""), stdout, stderr)
	root.SetArgs(legacyFlags(root, args))
	_, err := root.ExecuteC()
	return err
}
