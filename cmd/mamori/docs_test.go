package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDocumentedCommands reads every mamori (and mamori-agent) command line written in
// README.md and docs/*.md (in code blocks, after $, sudo or a pipe) and
// checks that the command line parses as written: the command exists,
// every flag exists on it, and it has the arguments it takes. Those that
// can run here run, with the documents' placeholder files (AWSLogs/,
// falco_rules.yaml, policies/) standing for real ones from the corpora
// and the repository; those that need a cluster, a registry, S3, a
// running agent or root's system files are skipped with their reason. So
// the documents and --help cannot drift apart unseen.
func TestDocumentedCommands(t *testing.T) {
	cmds := documentedCommands(t)
	if len(cmds) < 40 {
		t.Fatalf("only %d documented commands found: the reader of the documents is broken", len(cmds))
	}
	subst := placeholders(t)
	ran, skipped := 0, 0
	for _, dc := range cmds {
		where := fmt.Sprintf("%s:%d: mamori %s", dc.file, dc.line, strings.Join(dc.args, " "))
		if err := parses(dc); err != nil {
			t.Errorf("%s\n  does not parse: %v", where, err)
			continue
		}
		if dc.synopsis {
			continue
		}
		if why := cannotRun(dc.args); why != "" {
			skipped++
			t.Logf("not run: %s (%s)", where, why)
			continue
		}
		args := make([]string, len(dc.args))
		for i, a := range dc.args {
			args[i] = a
			if real, ok := subst[a]; ok {
				args[i] = real
			} else if strings.HasSuffix(a, ".yml") || strings.HasSuffix(a, ".yaml") || strings.HasSuffix(a, "/") {
				if _, err := os.Stat(a); err != nil {
					t.Errorf("%s\n  names %s, which stands for no file this test knows: add it to placeholders", where, a)
				}
			}
		}
		if dc.args[0] == "rules" && dc.args[1] == "bench" {
			args = append(args, "--duration", "200ms") // the measure, not its length, is what is checked
		}
		ran++
		cmd := exec.Command(mamoriBin, args...)
		cmd.Dir = "../.."
		if dc.stdin != "" {
			cmd.Stdin = strings.NewReader(subst[dc.stdin])
		}
		done := make(chan struct{})
		var out []byte
		go func() { out, _ = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			<-done
			t.Errorf("%s\n  still running after 2 minutes", where)
			continue
		}
		code := cmd.ProcessState.ExitCode()
		if !allowedExit(dc.args, code) {
			t.Errorf("%s\n  ran as mamori %s: exit %d\n%s", where, strings.Join(args, " "), code, out)
		}
	}
	t.Logf("%d documented commands parsed; %d ran, %d not run (reasons above)", len(cmds), ran, skipped)
}

// docCommand is one command line of the documents.
type docCommand struct {
	file     string
	line     int
	args     []string // after "mamori"
	stdin    string   // what the document pipes in, when a placeholder stands for it
	synopsis bool     // a usage line ([--flag] PATH...): its flags are checked, it is not run
}

var (
	mamoriLine = regexp.MustCompile(`^(?:\$ )?(?:sudo )?mamori(?: |$)`)
	leanLine   = regexp.MustCompile(`^(?:\$ )?(?:sudo )?mamori-agent(?: |$)`)
	// Words of a usage line rather than of a command.
	synopsisWord = regexp.MustCompile(`^\[|\]$|\.\.\.$|^[A-Z][A-Z_]+$`)
)

// documentedCommands reads the command lines of README.md and docs/*.md.
func documentedCommands(t *testing.T) []docCommand {
	files, _ := filepath.Glob("../../docs/*.md")
	files = append([]string{"../../README.md"}, files...)
	var out []docCommand
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		fenced := false
		for i := 0; i < len(lines); i++ {
			l := lines[i]
			if strings.HasPrefix(strings.TrimSpace(l), "```") {
				fenced = !fenced
				continue
			}
			if !fenced && !strings.HasPrefix(l, "    ") {
				continue
			}
			start := i + 1
			text := strings.TrimSpace(l)
			for strings.HasSuffix(text, `\`) && i+1 < len(lines) {
				i++
				text = strings.TrimSuffix(text, `\`) + " " + strings.TrimSpace(lines[i])
			}
			stdin := ""
			if before, after, ok := strings.Cut(text, "| mamori "); ok {
				stdin, text = strings.TrimSpace(strings.TrimPrefix(before, "$ ")), "mamori "+after
			}
			if leanLine.MatchString(text) {
				// The lean agent's flags are the agent's; its other
				// commands are the full binary's.
				rest := leanLine.ReplaceAllString(text, "")
				if w, _, _ := strings.Cut(rest, " "); w == "status" || w == "version" || w == "oci-hook" {
					text = "mamori " + rest
				} else {
					text = "mamori agent " + rest
				}
			}
			if !mamoriLine.MatchString(text) {
				continue
			}
			text = mamoriLine.ReplaceAllString(text, "")
			text, _, _ = strings.Cut(text, " | ") // what mamori's output is piped into
			if i := strings.Index(text, "  #"); i >= 0 {
				text = text[:i]
			} else if i := strings.Index(text, " # "); i >= 0 {
				text = text[:i]
			}
			args := strings.Fields(text)
			if len(args) == 0 || !isCommand(args[0]) {
				continue // output that starts with "mamori" ("mamori refused Deployment ...")
			}
			dc := docCommand{file: strings.TrimPrefix(f, "../../"), line: start, args: args, stdin: stdin}
			for _, a := range args {
				if synopsisWord.MatchString(a) {
					dc.synopsis = true
				}
			}
			out = append(out, dc)
		}
	}
	return out
}

func isCommand(name string) bool {
	for _, c := range newRootCmd().Commands() {
		if c.Name() == name {
			return true
		}
	}
	return false
}

// parses checks a documented command line against the command tree: the
// command, its flags (a usage line's too) and its arguments.
func parses(dc docCommand) error {
	root := newRoot(strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
	args := dc.args
	if dc.synopsis {
		// [--flag VALUE] and PATH... are words of the usage: keep the flags.
		var kept []string
		for _, a := range args {
			a = strings.Trim(a, "[]")
			a = strings.TrimSuffix(a, "...")
			if a != "" {
				kept = append(kept, a)
			}
		}
		args = kept
	}
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if cmd.Annotations[groupAnnotation] != "" || cmd == root {
		return fmt.Errorf("%s needs a subcommand", cmd.CommandPath())
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	if dc.synopsis {
		return nil
	}
	if h := cmd.Flags().Lookup("help"); h != nil && h.Changed {
		return nil
	}
	return cmd.ValidateArgs(cmd.Flags().Args())
}

// cannotRun says why a documented command is not run here, or "".
func cannotRun(args []string) string {
	line := strings.Join(args, " ")
	if args[0] == "image" && len(args) > 1 && args[1] == "unregister" {
		return "changes the image store"
	}
	switch {
	case strings.Contains(line, "s3://"):
		return "reads S3: no bucket here (the S3 paths are tested against a local S3 store in cloudtrail_s3_e2e_test.go)"
	case strings.Contains(line, "registry:"), strings.Contains(line, "ghcr.io"):
		return "pulls from a registry: no network here"
	case strings.Contains(line, "podman:"), args[0] == "image" && len(args) > 2 && args[1] == "register":
		return "needs the image named in podman's storage (image_register_e2e_test.go registers a real one)"
	case strings.Contains(line, "oci:build/") || strings.Contains(line, "archive:api.tar"):
		return "needs an image built by the reader's own build"
	}
	switch args[0] {
	case "console":
		return "the console: a server, or a client of a running one (console_e2e_test.go)"
	case "agent":
		return "runs until interrupted, as root (agent_e2e_test.go runs it)"
	case "admission", "k8saudit":
		if len(args) > 1 && args[1] == "serve" {
			return "a server with a TLS certificate, run until interrupted (admission_e2e_test.go, k8saudit_serve_e2e_test.go)"
		}
	case "oci-hook":
		return "writes the system's hooks directory (ocihook_e2e_test.go installs into its own)"
	case "hostlogin":
		return "edits PAM files or judges a user of this host (hostlogin_e2e_test.go)"
	case "policy":
		if len(args) > 1 && args[1] == "explain" {
			return "asks a running agent (policy_e2e_test.go)"
		}
		if len(args) > 1 && (args[1] == "apply" || args[1] == "status") {
			return "asks a running console (console_e2e_test.go)"
		}
	case "profile":
		return "asks a running console (profile_e2e_test.go)"
	case "rules":
		if strings.Contains(line, "my_sigma_rule.yml") {
			return "my_sigma_rule.yml stands for the reader's own rule"
		}
	}
	return ""
}

// allowedExit says which statuses a documented command may end with:
// check and image scan exit 1 for what they find.
func allowedExit(args []string, code int) bool {
	if code == 0 {
		return true
	}
	return code == 1 && (args[0] == "check" || args[0] == "image" && args[1] == "scan")
}

// placeholders maps the documents' placeholder files to real ones.
func placeholders(t *testing.T) map[string]string {
	corpora, _ := filepath.Abs(filepath.Join("..", "..", "..", "shared", "corpora"))
	if _, err := os.Stat(corpora); err != nil {
		t.Skipf("the corpora are not here (%v): the documented scans need real logs and rules", err)
	}
	repo, _ := filepath.Abs(filepath.Join("..", ".."))
	pols := t.TempDir()
	os.WriteFile(filepath.Join(pols, "web.yaml"), []byte(runtimePolicyDoc), 0o644)
	os.WriteFile(filepath.Join(pols, "images.yaml"), []byte(imagePolicyDoc), 0o644)
	manifests := t.TempDir()
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec:\n  containers: [{name: a, image: nginx:1.27}]\n"
	os.WriteFile(filepath.Join(manifests, "pod.yaml"), []byte(pod), 0o644)
	falco := filepath.Join(corpora, "falco")
	exec := filepath.Join(corpora, "k8saudit", "falco-test-trace-files", "trace_files", "exec_pod.json")
	stratus := filepath.Join(corpora, "cloudtrail", "stratus-red-team")
	events := filepath.Join(repo, "detect", "testdata", "events.jsonl.gz")
	return map[string]string{
		"/etc/falco/falco_rules.yaml":              filepath.Join(falco, "falco_rules.yaml"),
		"falco_rules.yaml":                         filepath.Join(falco, "falco_rules.yaml"),
		"aws_cloudtrail_rules.yaml":                filepath.Join(falco, "aws_cloudtrail_rules.yaml"),
		"k8s_audit_rules.yaml":                     filepath.Join(falco, "k8s_audit_rules.yaml"),
		"AWSLogs/":                                 stratus,
		"logs/":                                    stratus,
		"audit.log":                                exec,
		"/var/log/kubernetes/audit/":               exec,
		"sigma/rules/cloud/aws/cloudtrail/":        filepath.Join(corpora, "sigma", "aws"),
		"sigma/aws/":                               filepath.Join(corpora, "sigma", "aws"),
		"kubernetes_audit_exec_into_container.yml": filepath.Join(corpora, "sigma", "kubernetes", "kubernetes_audit_exec_into_container.yml"),
		"/etc/mamori/policies":                     pols,
		"/etc/mamori/policies/":                    pols,
		"policies/":                                pols,
		"policies/images/":                         pols,
		"k8s/":                                     manifests,
		"deploy/":                                  filepath.Join(repo, "deploy"),
		"detect/testdata/events.jsonl.gz":          events,
		"/tmp/events.json":                         events,
		"events.json":                              events,
		// What the documents pipe into mamori.
		"helm template shop ./chart": pod,
	}
}
