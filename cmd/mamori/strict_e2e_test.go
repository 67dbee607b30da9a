package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Each test here is a finding of issue 13 ("every input is handled
// strictly"): what a new user hit, as a user runs it. Run against an older
// build with MAMORI_E2E_BINARY to see it fail there.

// k8sCorpus is a folder of ../shared/corpora/k8saudit, read in place.
func k8sCorpus(t *testing.T, name string) string {
	t.Helper()
	p, _ := filepath.Abs(filepath.Join("..", "..", "..", "shared", "corpora", "k8saudit", name))
	if _, err := os.Stat(p); err != nil {
		t.Skipf("Kubernetes audit corpus not found (%v): the tests read it in place from ../shared/corpora", err)
	}
	return p
}

// wantRun runs mamori and checks its exit status and that its output
// holds each of wants.
func wantRun(t *testing.T, code int, wants []string, args ...string) string {
	t.Helper()
	out, got := mamori(t, args...)
	if got != code {
		t.Errorf("mamori %s: exit %d, want %d\n%s", strings.Join(args, " "), got, code, out)
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("mamori %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
		}
	}
	return out
}

// TestScanWrongInput: a CloudTrail scan of a Kubernetes audit folder, of
// {"foo":1} or of an empty directory, and a Kubernetes audit scan of
// CloudTrail logs, each say what is wrong with which file and exit 1
// (they reported "240 records, 0 alerts" or "0 records from 0 files" and
// exited 0).
func TestScanWrongInput(t *testing.T) {
	traces := filepath.Join(k8sCorpus(t, "falco-test-trace-files"), "trace_files")
	wantRun(t, 1, []string{
		filepath.Join(traces, "exec_pod.json") + ": record 0: not a CloudTrail record: it has none of eventVersion, eventSource, eventName; it holds Kubernetes audit events: scan them with mamori k8saudit scan",
		"no CloudTrail records read",
	}, "cloudtrail", "scan", traces)

	dir := t.TempDir()
	foo := filepath.Join(dir, "foo.json")
	os.WriteFile(foo, []byte(`{"foo":1}`), 0o644)
	wantRun(t, 1, []string{foo + ": record 0: not a CloudTrail record: it has none of eventVersion, eventSource, eventName; it has keys foo"},
		"cloudtrail", "scan", foo)

	empty := t.TempDir()
	wantRun(t, 1, []string{empty + ": no log files in this directory: a directory is read for *.json, *.jsonl and *.ndjson files"},
		"cloudtrail", "scan", empty)
	wantRun(t, 1, []string{empty + ": no log files in this directory: a directory is read for *.log, *.json"},
		"k8saudit", "scan", empty)

	wantRun(t, 1, []string{"it holds CloudTrail records: scan them with mamori cloudtrail scan", "no Kubernetes audit events read"},
		"k8saudit", "scan", cloudtrailCorpus(t, "stratus-red-team"))

	emptyDelivery := filepath.Join(dir, "trail.json")
	os.WriteFile(emptyDelivery, []byte(`{"Records":[]}`), 0o644)
	wantRun(t, 1, []string{emptyDelivery + ": holds no CloudTrail records", "no CloudTrail records read"}, "cloudtrail", "scan", emptyDelivery)
	// Among files that hold records too: it was counted as read.
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`[{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"ListUsers"}]`), 0o644)
	wantRun(t, 1, []string{emptyDelivery + ": holds no CloudTrail records", "1 record from 1 file, 0 alerts, 2 unreadable files or records"},
		"cloudtrail", "scan", good, emptyDelivery, foo)
}

// TestScanRulesOfAnotherSource: a rules file with no rule of the scanned
// source is refused (Falco's syscall rules to a CloudTrail scan, Sigma
// rules for Kubernetes to one): it was silently ignored.
func TestScanRulesOfAnotherSource(t *testing.T) {
	logs := cloudtrailCorpus(t, "stratus-red-team")
	falco := upstreamRules(t, "falco_rules.yaml")
	wantRun(t, 2, []string{"--rules: " + falco + " holds 25 rules of source syscall and none of source aws_cloudtrail"},
		"cloudtrail", "scan", "--rules", falco, logs)
	ct := upstreamRules(t, "aws_cloudtrail_rules.yaml")
	wantRun(t, 2, []string{"--rules: " + ct + " holds 22 rules of source aws_cloudtrail and none of source k8s_audit"},
		"k8saudit", "scan", "--rules", ct, filepath.Join(k8sCorpus(t, "falco-test-trace-files"), "trace_files"))
	sigmaK8s, _ := filepath.Abs(filepath.Join("..", "..", "..", "shared", "corpora", "sigma", "kubernetes"))
	if _, err := os.Stat(sigmaK8s); err == nil {
		wantRun(t, 2, []string{"--rules: " + sigmaK8s + ": none of its Sigma rules translates to source aws_cloudtrail"},
			"cloudtrail", "scan", "--rules", sigmaK8s, logs)
	}
}

// TestScanInterrupted: Ctrl-C (SIGINT) or SIGTERM during a scan writes the
// alerts found so far to --output, prints the summary and exits 130, even
// while the scan is blocked reading its next input (here a FIFO nobody
// writes). The alerts used to sit in a buffer and be lost.
func TestScanInterrupted(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		name string
		args []string
	}{
		{syscall.SIGINT, "SIGINT", []string{"cloudtrail", "scan", filepath.Join(cloudtrailCorpus(t, "stratus-red-team"), "aws.defense-evasion.cloudtrail-stop.json")}},
		{syscall.SIGTERM, "SIGTERM", []string{"k8saudit", "scan", filepath.Join(k8sCorpus(t, "falco-test-trace-files"), "trace_files", "exec_pod.json")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fifo := filepath.Join(dir, "more.json")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "alerts.json")
			cmd := exec.Command(mamoriBin, append(append(tc.args[:2:2], "--alerts-output", out), append(tc.args[2:], fifo)...)...)
			var log strings.Builder
			cmd.Stdout, cmd.Stderr = &log, &log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond) // the first file is read; the FIFO blocks
			cmd.Process.Signal(tc.sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("still running 10s after %s:\n%s", tc.name, log.String())
			}
			if code := cmd.ProcessState.ExitCode(); code != 130 {
				t.Errorf("exit %d, want 130:\n%s", code, log.String())
			}
			data, _ := os.ReadFile(out)
			if !strings.Contains(string(data), `"kind":"alert"`) {
				t.Errorf("--output holds no alert after %s: %q\n%s", tc.name, data, log.String())
			}
			for _, w := range []string{"RULE", "1 record from 1 file, 1 alert", "interrupted by " + tc.name + " after 1 "} {
				if !strings.Contains(log.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, log.String())
				}
			}
		})
	}
}

const runtimePolicyDoc = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: web}
spec:
  scope: {container: {}}
  controls: {forkGuard: {maxProcesses: 50}}
`

const imagePolicyDoc = `apiVersion: mamori.dev/v1
kind: ImageAssurancePolicy
metadata: {name: images}
spec:
  scope: {image: {}}
  rules: {blockMalware: true}
`

// TestPolicyKinds: a misspelt key in an image assurance policy fails
// policy validate (it said "valid"), image scan --policy refuses a
// RuntimePolicy (it used the built-in policy), and the agent's kind of
// path, given an image policy, is refused by check.
func TestPolicyKinds(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "img.yaml")
	os.WriteFile(img, []byte(strings.Replace(imagePolicyDoc, "blockMalware", "blockMalwre", 1)), 0o644)
	wantRun(t, 1, []string{img + `:6:11: unknown key "blockMalwre" in rules; did you mean "blockMalware"?`}, "policy", "validate", img)

	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(imagePolicyDoc), 0o644)
	wantRun(t, 0, []string{"0 runtime policies (plus", "1 image assurance policy: valid"}, "policy", "validate", good)

	rt := filepath.Join(t.TempDir(), "rt.yaml")
	os.WriteFile(rt, []byte(runtimePolicyDoc), 0o644)
	wantRun(t, 2, []string{rt + ": holds no ImageAssurancePolicy document but 1 RuntimePolicy document"},
		"image", "scan", "--policy", rt, "oci:"+t.TempDir())
	manifest := filepath.Join(t.TempDir(), "pod.yaml")
	os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx}]\n"), 0o644)
	wantRun(t, 1, []string{good + ": holds no RuntimePolicy document but 1 ImageAssurancePolicy document"},
		"check", "--policy", good, manifest)
}

// TestYAMLPositions: YAML syntax errors point at the mistake's line and
// column (a policy's pointed at the enclosing block, a rules file's had
// no position at all), and check catches misspelt fields of manifests
// with the field meant (it reported a confusing consequence instead).
func TestYAMLPositions(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.yaml")
	os.WriteFile(pol, []byte(strings.Replace(runtimePolicyDoc, "  controls:", "   controls:", 1)), 0o644)
	wantRun(t, 1, []string{pol + ":6:4: invalid YAML: did not find expected key (while parsing a block mapping that starts at 5:3)"},
		"policy", "validate", pol)

	rules := filepath.Join(dir, "r.yaml")
	os.WriteFile(rules, []byte("- rule: r\n  desc: d\n  output: o\n  priority: INFO\n  condition: proc.name = x\n  tags: [a: b: c]\n"), 0o644)
	wantRun(t, 1, []string{rules + ":6:14: invalid YAML: did not find expected ',' or ']'"}, "rules", "validate", rules)

	many := filepath.Join(dir, "many.yaml")
	os.WriteFile(many, []byte("- macro: m\n  conditon: proc.name = x\n- rule: r\n  desc: d\n  output: o\n  priorty: INFO\n  condition: proc.name = x\n"), 0o644)
	wantRun(t, 1, []string{
		many + `:2:3: macro "m": unknown key "conditon"; did you mean "condition"?`,
		many + `:6:3: rule "r": unknown key "priorty"; did you mean "priority"?`,
	}, "rules", "validate", many)

	manifest := filepath.Join(dir, "deploy.yaml")
	os.WriteFile(manifest, []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      securityContxt: {runAsNonRoot: true}
      containers:
      - name: a
        imagee: nginx:1.27
`), 0o644)
	wantRun(t, 1, []string{
		manifest + `:7:7: Deployment web: unknown field "securityContxt" in spec.template.spec; did you mean "securityContext"?`,
		manifest + `:10:9: Deployment web: unknown field "imagee" in spec.template.spec.containers[0]; did you mean "image"?`,
	}, "check", manifest)
}
