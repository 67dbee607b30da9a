package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The small things a new user of issue 13 tripped on, each as a user
// meets it.

// TestAlertText: alerts print "<NA>" as such, not "\u003cNA\u003e", and a
// rule's output written as a YAML block scalar carries no trailing
// newline.
func TestAlertText(t *testing.T) {
	out := filepath.Join(t.TempDir(), "alerts.json")
	if log, code := mamori(t, "cloudtrail", "scan", "--match-all", "--alerts-output", out, cloudtrailCorpus(t, "stratus-red-team")); code != 0 {
		t.Fatalf("scan: exit %d\n%s", code, log)
	}
	kout := filepath.Join(t.TempDir(), "k8s.json")
	traces := filepath.Join(k8sCorpus(t, "falco-test-trace-files"), "trace_files")
	mamori(t, "k8saudit", "scan", "--match-all", "--rules", upstreamRules(t, "k8s_audit_rules.yaml"), "--alerts-output", kout, traces)
	na := 0
	for _, p := range []string{out, kout} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, `\u003c`) || strings.Contains(line, `\u003e`) || strings.Contains(line, `\u0026`) {
				t.Errorf("HTML-escaped alert: %s", line)
			}
			na += strings.Count(line, "<NA>")
			var a struct{ Output, Rule string }
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(a.Output) != a.Output {
				t.Errorf("%s: output %q ends in white space", a.Rule, a.Output)
			}
		}
		f.Close()
	}
	if na == 0 {
		t.Error("no alert printed <NA>: the test needs one")
	}
}

// TestStatusWithoutAgent: with no agent running, status still prints what
// the kernel supports, and exits 3 (it exited 0).
func TestStatusWithoutAgent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("probing the kernel needs root")
	}
	wantRun(t, 3, []string{"agent: not running at", "MECHANISM", "CAPABILITY", "no agent is running at"},
		"status", "--health-addr", freeAddr(t))
}

// TestAdmissionServeMissingKey: a missing key fails admission serve
// before it claims to serve (it logged "serving" first).
func TestAdmissionServeMissingKey(t *testing.T) {
	dir := t.TempDir()
	cert, _, _ := selfSigned(t, dir)
	out := wantRun(t, 1, []string{"no such file"}, "admission", "serve", "--listen", freeAddr(t), "--tls-cert", cert,
		"--tls-key", filepath.Join(dir, "missing.key"), "--image-db", "")
	if strings.Contains(out, "webhook serving") {
		t.Errorf("says it serves before failing:\n%s", out)
	}
}

// TestAgentHelpHookSocket: the agent's help names --hook-socket's value
// as a value, not as "mamori oci-hook run" (the flag package read the
// backquoted words of its description as the value's name).
func TestAgentHelpHookSocket(t *testing.T) {
	out, _ := mamori(t, "agent", "--help")
	if strings.Contains(out, "hook-socket mamori") || !strings.Contains(out, "hook-socket string") {
		t.Errorf("agent --help:\n%s", out)
	}
}

// TestOCIHookTransientBinary: the hook is not installed pointing at a
// binary in a temporary directory or Go's build cache (podman skips a
// hook whose binary is gone: containers would start unjudged), unless
// asked; a lasting binary is; uninstall removes it.
func TestOCIHookTransientBinary(t *testing.T) {
	hooks := t.TempDir()
	tmpBin := filepath.Join(os.TempDir(), "mamori-e2e-transient", "mamori")
	os.MkdirAll(filepath.Dir(tmpBin), 0o755)
	defer os.RemoveAll(filepath.Dir(tmpBin))
	copyExecutable(t, mamoriBin, tmpBin)
	wantRun(t, 1, []string{"a temporary directory that is cleaned", "go install ./cmd/mamori"},
		"oci-hook", "install", "--dir", hooks, "--binary", tmpBin)
	cache := filepath.Join(os.TempDir(), "go-build123", "b001", "exe", "mamori")
	os.MkdirAll(filepath.Dir(cache), 0o755)
	defer os.RemoveAll(filepath.Join(os.TempDir(), "go-build123"))
	copyExecutable(t, mamoriBin, cache)
	wantRun(t, 1, []string{"Go's build cache"}, "oci-hook", "install", "--dir", hooks, "--binary", cache)
	if _, err := os.Stat(filepath.Join(hooks, "50-mamori.json")); err == nil {
		t.Fatal("a hook was written for a transient binary")
	}

	lasting, err := os.MkdirTemp("/var/lib", "mamori-e2e-bin-")
	if err != nil {
		t.Skipf("no lasting directory to put a binary in: %v", err)
	}
	defer os.RemoveAll(lasting)
	bin := filepath.Join(lasting, "mamori")
	copyExecutable(t, mamoriBin, bin)
	wantRun(t, 0, []string{"installed " + filepath.Join(hooks, "50-mamori.json")}, "oci-hook", "install", "--dir", hooks, "--binary", bin)
	if data, _ := os.ReadFile(filepath.Join(hooks, "50-mamori.json")); !strings.Contains(string(data), `"path": "`+bin+`"`) {
		t.Errorf("hook file:\n%s", data)
	}
	wantRun(t, 0, []string{"removed " + filepath.Join(hooks, "50-mamori.json")}, "oci-hook", "uninstall", "--dir", hooks)
	wantRun(t, 1, []string{"no mamori hook (50-mamori.json) in " + hooks}, "oci-hook", "uninstall", "--dir", hooks)
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}
