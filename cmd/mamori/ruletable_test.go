package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/syscalls"
)

// The table of docs/rules.md that lists, rule by rule, how the tests of
// fidelity_e2e_test.go raise each upstream rule is made from the cases
// themselves; TestUpstreamRuleTable keeps the two the same (and
// MAMORI_WRITE_DOCS=1 rewrites the table).

const (
	ruleTableStart = "<!-- upstream rule table: made by TestUpstreamRuleTable from cmd/mamori/fidelity_e2e_test.go; MAMORI_WRITE_DOCS=1 rewrites it -->"
	ruleTableEnd   = "<!-- end of the upstream rule table -->"
)

// containerDocs says what each of the tests' containers is.
var containerDocs = map[string]string{
	"ctr":  "container",
	"priv": "privileged container",
	"mod":  "container with CAP_SYS_MODULE",
	"k8s":  "pod's container (namespace mamori-prod)",
}

// actorDocs says what each actor mode does.
var actorDocs = map[string]string{
	"memfd-exec":     "copies /bin/true into a memfd and runs it from there",
	"deleted-exec":   "runs a program whose file it has unlinked",
	"ptrace-attach":  "attaches to its child with PTRACE_ATTACH",
	"ptrace-peek":    "PTRACE_PEEKDATA on a process it does not trace",
	"traceme":        "PTRACE_TRACEME",
	"bpf-prog-load":  "bpf(BPF_PROG_LOAD) (refused by the kernel, which is still the call)",
	"bpf-map-create": "bpf(BPF_MAP_CREATE)",
	"setuid-self":    "setuid to its own uid",
	"userfaultfd":    "userfaultfd(UFFD_USER_MODE_ONLY)",
}

var busyboxAsRe = regexp.MustCompile(`ln -sf /bin/busybox /tmp/([^;]+); \(exec -a (\S+) /tmp/\S+ ?(.*?)\)`)

// describe is an action as the table shows it.
func describe(t *testing.T, rule string, a action) string {
	var where string
	switch a.in {
	case "host":
		where = "host"
	case "new":
		where = "new container"
		if a.image != "" {
			where += " of image " + a.image
		}
		if len(a.run) > 0 {
			where += " (`podman run " + strings.Join(a.run, " ") + "`)"
		}
	default:
		where = containerDocs[a.in]
		if where == "" {
			t.Errorf("%s: no description of container %q", rule, a.in)
		}
	}
	if a.tty {
		where += ", with a terminal (`podman exec -t`)"
	}
	var what string
	switch {
	case a.doc != "":
		what = a.doc
	case a.actor != "":
		what = "the test's actor " + actorDocs[a.actor]
		if actorDocs[a.actor] == "" {
			t.Errorf("%s: no description of actor mode %q", rule, a.actor)
		}
		if a.uid != 0 {
			what += fmt.Sprintf(", as uid %d", a.uid)
		} else {
			what += ", as root"
		}
	default:
		cmd, note := a.sh, ""
		if a.argv != nil {
			cmd, note = strings.Join(a.argv, " "), " (run by the runtime, without a shell)"
		}
		cmd = strings.NewReplacer("MARK2", "${M}2", "MARK", "$M", "CLASSPORT", "$PORT", "PLAINPORT", "$PORT", "NETNS", "$NS").Replace(cmd)
		// busyboxAs: an applet under another process name.
		cmd = busyboxAsRe.ReplaceAllStringFunc(cmd, func(m string) string {
			sub := busyboxAsRe.FindStringSubmatch(m)
			if sub[3] == "" {
				return "busybox " + sub[2] + " named " + sub[1]
			}
			return "busybox " + sub[2] + " named " + sub[1] + ": " + sub[3]
		})
		what = "`" + cmd + "`" + note
	}
	return where + ": " + strings.ReplaceAll(what, "|", `\|`)
}

// ruleTable returns the table.
func ruleTable(t *testing.T) string {
	var b strings.Builder
	b.WriteString("| rule | raised by | benign counterpart (no alert) | test |\n|---|---|---|---|\n")
	for _, set := range []struct {
		test  string
		cases []ruleCase
	}{
		{"TestUpstreamRulesFalco", falcoRuleCases},
		{"TestUpstreamRulesIncubating", incubatingRuleCases},
		{"TestUpstreamRulesSandbox", sandboxRuleCases},
	} {
		for _, c := range set.cases {
			fmt.Fprintf(&b, "| %s | %s | %s | `%s` |\n", c.rule, describe(t, c.rule, c.attack), describe(t, c.rule, c.benign), set.test)
		}
	}
	return b.String()
}

// TestUpstreamRuleTable checks that the cases cover every rule of the
// three upstream syscall files, each once and in file order, and that
// docs/rules.md lists them as they are.
func TestUpstreamRuleTable(t *testing.T) {
	for i, n := range upstreamSyscallFiles {
		fs, err := rules.ReadFiles(upstreamRules(t, n))
		if err != nil {
			t.Fatal(err)
		}
		rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{syscalls.New()}}, fs...)
		if err != nil {
			t.Fatal(err)
		}
		var want, got []string
		for _, r := range rs.Rules() {
			want = append(want, r.Name)
		}
		for _, c := range [][]ruleCase{falcoRuleCases, incubatingRuleCases, sandboxRuleCases}[i] {
			got = append(got, c.rule)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: the cases are\n%s\nthe file's rules\n%s", n, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	doc := filepath.Join("..", "..", "docs", "rules.md")
	data, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start, end := strings.Index(text, ruleTableStart), strings.Index(text, ruleTableEnd)
	if start < 0 || end < start {
		t.Fatalf("%s lacks the markers of the upstream rule table", doc)
	}
	table := ruleTable(t)
	updated := text[:start+len(ruleTableStart)] + "\n" + table + text[end:]
	if updated == text {
		return
	}
	if os.Getenv("MAMORI_WRITE_DOCS") == "1" {
		if err := os.WriteFile(doc, []byte(updated), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's upstream rule table is not the cases' (MAMORI_WRITE_DOCS=1 rewrites it)", doc)
}
