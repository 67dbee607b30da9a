package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The habits of issue 13, "every command behaves like the tools users
// know": each as a user meets it, against the built binary.

// runIn runs mamori with stdin and returns its stdout, stderr and status.
func runIn(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(mamoriBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Run()
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// TestFlagsAnywhere: flags after the arguments are flags, as kubectl,
// trivy and falcoctl read them; they used to be taken for paths
// ("skipped: --output: stat --output: no such file").
func TestFlagsAnywhere(t *testing.T) {
	logs := cloudtrailCorpus(t, "stratus-red-team")
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		file string
	}{
		{"new flag", []string{"cloudtrail", "scan", logs, "--alerts-output", filepath.Join(dir, "a.json")}, filepath.Join(dir, "a.json")},
		// The invocation of the finding: --output FILE still works, and
		// says which flag takes files now.
		{"the finding", []string{"cloudtrail", "scan", logs, "--output", filepath.Join(dir, "b.json")}, filepath.Join(dir, "b.json")},
		{"k8saudit", []string{"k8saudit", "scan", filepath.Join(k8sCorpus(t, "falco-test-trace-files"), "trace_files", "exec_pod.json"), "--alerts-output", filepath.Join(dir, "c.json")}, filepath.Join(dir, "c.json")},
	} {
		out, errs, code := runIn(t, "", tc.args...)
		if code != 0 || strings.Contains(errs, "skipped: --") {
			t.Errorf("%s: exit %d\n%s%s", tc.name, code, out, errs)
		}
		if data, _ := os.ReadFile(tc.file); !strings.Contains(string(data), `"kind":"alert"`) {
			t.Errorf("%s: %s holds no alert; stdout:\n%s", tc.name, tc.file, out)
		}
	}
	if _, errs, _ := runIn(t, "", "cloudtrail", "scan", logs, "--output", filepath.Join(dir, "d.json")); !strings.Contains(errs, "that is --alerts-output "+filepath.Join(dir, "d.json")+" now") {
		t.Errorf("--output FILE without a note:\n%s", errs)
	}

	manifest := filepath.Join(dir, "pod.yaml")
	os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx:1.27}]\n"), 0o644)
	out, errs, _ := runIn(t, "", "check", manifest, "-o", "json")
	var rep struct{ Objects int }
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Objects != 1 {
		t.Errorf("check F -o json: %v\n%s%s", err, out, errs)
	}
	rules := filepath.Join(dir, "r.yaml")
	os.WriteFile(rules, []byte("- macro: unused\n  condition: proc.name = x\n"), 0o644)
	if out, errs, code := runIn(t, "", "rules", "validate", rules, "--warnings"); code != 0 || !strings.Contains(out, `macro "unused" is not used`) {
		t.Errorf("rules validate F --warnings: exit %d\n%s%s", code, out, errs)
	}
	// --help is help wherever it stands, before any argument is checked.
	if out, errs, code := runIn(t, "", "policy", "validate", "--help"); code != 0 || !strings.Contains(out, "Usage:") || strings.Contains(errs, "cannot open") {
		t.Errorf("policy validate --help: exit %d\n%s%s", code, out, errs)
	}
}

// TestVersion: --version and version print the version, and the commit
// and its date when the binary was built from a checkout (--version was
// an unknown command).
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		if out, errs, code := runIn(t, "", args...); code != 0 || !strings.HasPrefix(out, "mamori ") {
			t.Errorf("mamori %s: exit %d\n%s%s", args[0], code, out, errs)
		}
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git checkout to stamp a build with: %v", err)
	}
	when, _ := exec.Command("git", "log", "-1", "--format=%cI").Output()
	// As make install stamps it.
	bin := filepath.Join(t.TempDir(), "mamori")
	ldflags := "-X main.commit=" + strings.TrimSpace(string(head)) + " -X main.date=" + strings.TrimSpace(string(when))
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	checkStamp(t, bin, strings.TrimSpace(string(head)))
	// As go build stamps a binary built from a checkout (not a worktree;
	// not under GOFLAGS=-buildvcs=false).
	vcs := filepath.Join(t.TempDir(), "mamori")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", vcs, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	if info, _ := exec.Command("go", "version", "-m", vcs).Output(); strings.Contains(string(info), "vcs.revision") {
		checkStamp(t, vcs, strings.TrimSpace(string(head)))
	} else {
		t.Logf("go build stamped no commit here (a git worktree?): the build information path is not checked")
	}
}

// checkStamp checks that bin's version names the commit and its date.
func checkStamp(t *testing.T, bin, head string) {
	t.Helper()
	out, err := exec.Command(bin, "version", "-o", "json").Output()
	var b buildInfo
	if err != nil || json.Unmarshal(out, &b) != nil || b.Commit != head || b.Date == "" {
		t.Fatalf("%s version -o json: %v\n%s", bin, err, out)
	}
	if out, _ := exec.Command(bin, "--version").Output(); !strings.Contains(string(out), "commit "+b.Commit[:12]) || !strings.Contains(string(out), "built from a commit of "+b.Date) {
		t.Errorf("--version: %s", out)
	}
}

// TestHelpAndCompletion: help CMD prints that command's help (it printed
// the top-level help), and completion scripts exist for bash, zsh and
// fish.
func TestHelpAndCompletion(t *testing.T) {
	out, _, code := runIn(t, "", "help", "cloudtrail", "scan")
	if code != 0 || !strings.Contains(out, "mamori cloudtrail scan [flags] PATH...") || !strings.Contains(out, "--rules") {
		t.Errorf("help cloudtrail scan: exit %d\n%s", code, out)
	}
	if out, _, _ := runIn(t, "", "help", "cloudtrail"); !strings.Contains(out, "scan") || strings.Contains(out, "Available Commands:\n  admission") {
		t.Errorf("help cloudtrail printed another help:\n%s", out)
	}
	for shell, want := range map[string]string{"bash": "__start_mamori", "zsh": "#compdef mamori", "fish": "complete -c mamori"} {
		if out, errs, code := runIn(t, "", "completion", shell); code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, lacks %q\n%s", shell, code, want, errs)
		}
	}
	// Completion knows the commands and a flag's values.
	if out, _, _ := runIn(t, "", "__complete", "cloud"); !strings.Contains(out, "cloudtrail") {
		t.Errorf("completing cloud:\n%s", out)
	}
	if out, _, _ := runIn(t, "", "__complete", "image", "scan", "-o", ""); !strings.Contains(out, "sarif") {
		t.Errorf("completing image scan -o:\n%s", out)
	}
}

// TestOutputFlag: -o means the output format on every command that
// prints something structured, and names the formats it has when wrong.
func TestOutputFlag(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"version", "-o", "json"},
		{"image", "list", "--image-db", filepath.Join(dir, "none.db"), "-o", "json"},
		{"cloudtrail", "scan", "-o", "json", filepath.Join(cloudtrailCorpus(t, "stratus-red-team"), "aws.defense-evasion.cloudtrail-stop.json")},
	} {
		out, errs, code := runIn(t, "", args...)
		first, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
		if code != 0 || !json.Valid([]byte(first)) && !json.Valid([]byte(out)) {
			t.Errorf("%v: exit %d, not JSON:\n%s%s", args, code, out, errs)
		}
	}
	out, _, _ := runIn(t, "", "cloudtrail", "scan", "-o", "text", filepath.Join(cloudtrailCorpus(t, "stratus-red-team"), "aws.defense-evasion.cloudtrail-stop.json"))
	if !strings.Contains(out, "[CloudTrail Trail Stopped, Deleted or Narrowed]") || json.Valid([]byte(out)) {
		t.Errorf("cloudtrail scan -o text:\n%s", out)
	}
	if _, errs, code := runIn(t, "", "image", "scan", "-o", "xml", "oci:/nonexistent"); code != 2 || !strings.Contains(errs, `unknown format "xml": use table, json, sarif`) {
		t.Errorf("image scan -o xml: exit %d\n%s", code, errs)
	}
	// The old spellings still work and say what replaced them.
	if out, errs, code := runIn(t, "", "image", "list", "--db", filepath.Join(dir, "none.db"), "--format", "json"); code != 0 || !json.Valid([]byte(out)) ||
		!strings.Contains(errs, "Flag --format has been deprecated, use -o/--output") || !strings.Contains(errs, "Flag --db has been deprecated, use --image-db") {
		t.Errorf("image list --db F --format json: exit %d\n%s%s", code, out, errs)
	}
}

// TestStdin: - reads standard input wherever a file is read (it did only
// in check).
func TestStdin(t *testing.T) {
	trail, err := os.ReadFile(filepath.Join(cloudtrailCorpus(t, "stratus-red-team"), "aws.defense-evasion.cloudtrail-stop.json"))
	if err != nil {
		t.Fatal(err)
	}
	if out, errs, code := runIn(t, string(trail), "cloudtrail", "scan", "-"); code != 0 || !strings.Contains(out, `"kind":"alert"`) || !strings.Contains(errs, "1 record from 1 file") {
		t.Errorf("cloudtrail scan -: exit %d\n%s%s", code, out, errs)
	}
	ev, _ := os.ReadFile(filepath.Join(k8sCorpus(t, "falco-test-trace-files"), "trace_files", "exec_pod.json"))
	if out, errs, code := runIn(t, string(ev), "k8saudit", "scan", "-"); code != 0 || !strings.Contains(out, "Exec Into Pod") {
		t.Errorf("k8saudit scan -: exit %d\n%s%s", code, out, errs)
	}
	if out, errs, code := runIn(t, "- rule: r\n  desc: d\n  output: o\n  priority: INFO\n  condition: proc.name = x\n", "rules", "validate", "-"); code != 0 || !strings.Contains(out, "<stdin>: 1 rules") {
		t.Errorf("rules validate -: exit %d\n%s%s", code, out, errs)
	}
	if out, errs, code := runIn(t, runtimePolicyDoc, "policy", "validate", "-"); code != 0 || !strings.Contains(out, "<stdin>") {
		t.Errorf("policy validate -: exit %d\n%s%s", code, out, errs)
	}
	if _, errs, code := runIn(t, strings.Replace(runtimePolicyDoc, "forkGuard", "forkGaurd", 1), "policy", "validate", "-"); code != 1 || !strings.Contains(errs, `<stdin>:6:14: unknown key "forkGaurd"`) {
		t.Errorf("policy validate - of a bad policy: exit %d\n%s", code, errs)
	}
	manifest := "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx:1.27}]\n"
	if _, errs, code := runIn(t, runtimePolicyDoc, "check", "--policy", "-", "-"); code != 2 || !strings.Contains(errs, "not both") {
		t.Errorf("check --policy - -: exit %d\n%s", code, errs)
	}
	pod := filepath.Join(t.TempDir(), "pod.yaml")
	os.WriteFile(pod, []byte(manifest), 0o644)
	if _, errs, code := runIn(t, runtimePolicyDoc, "check", "--policy", "-", pod); code != 0 || !strings.Contains(errs, "1 workload in 1 file") {
		t.Errorf("check --policy - F: exit %d\n%s", code, errs)
	}
}

// TestOneNameForOneIdea: the flags that mean the same on several
// commands have one name; the other names still work and say what
// replaced them.
func TestOneNameForOneIdea(t *testing.T) {
	rules := upstreamRules(t, "aws_cloudtrail_rules.yaml")
	logs := filepath.Join(cloudtrailCorpus(t, "stratus-red-team"), "aws.defense-evasion.cloudtrail-stop.json")
	if _, errs, code := runIn(t, "", "cloudtrail", "scan", "--no-builtin", "--match-all", "--rules", rules, logs); code != 0 || strings.Contains(errs, "deprecated") {
		t.Errorf("cloudtrail scan --no-builtin --match-all: exit %d\n%s", code, errs)
	}
	if _, errs, code := runIn(t, "", "cloudtrail", "scan", "--no-default-rules", "--all", "--rules", rules, logs); code != 0 ||
		!strings.Contains(errs, "Flag --no-default-rules has been deprecated, use --no-builtin") || !strings.Contains(errs, "Flag --all has been deprecated, use --match-all") {
		t.Errorf("cloudtrail scan --no-default-rules --all: exit %d\n%s", code, errs)
	}
	if _, errs, _ := runIn(t, "", "status", "--addr", freeAddr(t)); !strings.Contains(errs, "use --health-addr") {
		t.Errorf("status --addr:\n%s", errs)
	}
	for _, cmd := range [][]string{{"agent"}, {"status"}, {"policy", "explain"}, {"check"}, {"admission", "serve"}, {"image", "register"}, {"image", "list"},
		{"cloudtrail", "scan"}, {"k8saudit", "scan"}, {"k8saudit", "serve"}, {"oci-hook", "install"}} {
		out, _, _ := runIn(t, "", append(cmd, "--help")...)
		for _, old := range []string{"--addr ", "--db ", "--json", "--format", "--no-default-rules", "--all ", "--socket"} {
			if strings.Contains(out, "  "+old) {
				t.Errorf("%v --help still lists %s:\n%s", cmd, old, out)
			}
		}
	}
}

// TestRulesBenchNamedAsHelped: the command the help calls replay is there
// under that name too (the help said "rules replay", the command was
// bench).
func TestRulesBenchNamedAsHelped(t *testing.T) {
	help, _, _ := runIn(t, "", "rules", "--help")
	if !strings.Contains(help, "bench") || !strings.Contains(help, "replay") {
		t.Errorf("rules --help:\n%s", help)
	}
	for _, name := range []string{"bench", "replay"} {
		if out, _, code := runIn(t, "", "rules", name, "--help"); code != 0 || !strings.Contains(out, "mamori rules bench [flags] EVENTS") {
			t.Errorf("rules %s --help: exit %d\n%s", name, code, out)
		}
	}
}

// TestSingleDashFlags: the single-dash long flags the standard flag
// package accepted (-json, -output) keep working.
func TestSingleDashFlags(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "pod.yaml")
	os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx:1.27}]\n"), 0o644)
	if out, errs, _ := runIn(t, "", "check", "-json", manifest); !json.Valid([]byte(out)) {
		t.Errorf("check -json: not JSON\n%s%s", out, errs)
	}
	if out, errs, code := runIn(t, "", "rules", "fields", "-missing"); code != 0 || out == "" {
		t.Errorf("rules fields -missing: exit %d\n%s", code, errs)
	}
}

// TestMakeInstall: the README's install step puts a stamped mamori on the
// path it names.
func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	prefix := t.TempDir()
	cmd := exec.Command("make", "-C", "../..", "install", "PREFIX="+prefix)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git checkout: %v", err)
	}
	checkStamp(t, filepath.Join(prefix, "bin", "mamori"), strings.TrimSpace(string(head)))
}
