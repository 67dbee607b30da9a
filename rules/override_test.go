package rules

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestLoadOverrides(t *testing.T) {
	files := corpusFiles(t, "falco_rules.yaml")
	local, err := os.ReadFile("testdata/local_rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, File{Name: "local_rules.yaml", Data: local})
	cat := syscallCatalog(t, files)
	rs, err := Load(Config{Catalogs: []Catalog{cat}, Plugins: upstreamPlugins}, files...)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules()) != 25 || len(rs.Macros()) != 87 || len(rs.Lists()) != 49 {
		t.Errorf("got %d rules, %d macros, %d lists; want 25, 87, 49", len(rs.Rules()), len(rs.Macros()), len(rs.Lists()))
	}
	m, _ := rs.Macro("user_expected_terminal_shell_in_container_conditions")
	if m.Condition != "(never_true) or proc.name = tmux" {
		t.Errorf("appended macro condition = %q", m.Condition)
	}
	if m.Pos.File != "falco_rules.yaml" {
		t.Errorf("appended macro keeps position %v, want falco_rules.yaml", m.Pos)
	}
	l, _ := rs.List("shell_binaries")
	if !slices.Contains(l.Items, "fish") || !slices.Contains(l.Items, "bash") {
		t.Errorf("appended list = %v", l.Items)
	}
	r := rs.Rule("Terminal shell in container")
	if r.Priority != PriorityCritical {
		t.Errorf("replaced priority = %v", r.Priority)
	}
	if want := ` and not ((container.image.repository = docker.io/library/debug and proc.name in (bash, sh)))`; !strings.HasSuffix(r.Condition, want) {
		t.Errorf("condition with exception = %q, want suffix %q", r.Condition, want)
	}
	if rs.Rule("Clear Log Activities").Enabled {
		t.Error("Clear Log Activities still enabled")
	}
	if c := rs.Rule("Remove Bulk Data from Disk").Condition; !strings.HasSuffix(c, " and proc.name != shred") {
		t.Errorf("appended rule condition = %q", c)
	}
	if !slices.ContainsFunc(rs.Warnings(), func(w Warning) bool { return strings.Contains(w.Msg, "'append' is deprecated") }) {
		t.Error("no deprecation warning for append: true")
	}

	// The appended macro and exception are evaluated.
	shell := func(name, image string) *testEvent {
		return cat.event(map[string]any{
			"evt.type": "execve", "proc.name": name, "proc.tty": 34816, "container.id": "3f2a9c1b7d4e",
			"container.image.repository": image, "proc.pname": "runc", "proc.exepath": "/bin/" + name,
			"evt.arg.flags": "", "proc.args": "", "proc.cmdline": name, "proc.aname": map[string]string{},
		})
	}
	if !r.Eval(shell("bash", "docker.io/library/alpine")) {
		t.Error("bash in alpine does not match Terminal shell in container")
	}
	if r.Eval(shell("bash", "docker.io/library/debug")) {
		t.Error("bash in debug image matches despite the exception")
	}
	if r.Eval(shell("tmux", "docker.io/library/alpine")) {
		t.Error("tmux matches despite the appended macro")
	}
	if got := r.Format(shell("bash", "x")); !strings.Contains(got, "process=bash") || !strings.Contains(got, "terminal=34816") {
		t.Errorf("output = %q", got)
	}
	fields := r.OutputFields(shell("bash", "x"))
	if fields["proc.name"] != "bash" || fields["proc.tty"] != int64(34816) {
		t.Errorf("output fields = %v", fields)
	}
}

func TestLoadCombinedOverrides(t *testing.T) {
	rs, err := loadCorpus(t, "falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules()) != 93 || len(rs.Macros()) != 315 || len(rs.Lists()) != 118 {
		t.Errorf("got %d rules, %d macros, %d lists; want 93, 315, 118", len(rs.Rules()), len(rs.Macros()), len(rs.Lists()))
	}
	// falco-sandbox_rules.yaml redefines this list without "uv"; the later
	// definition wins and keeps the first one's position.
	l, _ := rs.List("python_package_managers")
	if slices.Contains(l.Items, "uv") || l.Pos.File != "falco_rules.yaml" {
		t.Errorf("python_package_managers = %v at %v, want sandbox items at the falco_rules.yaml position", l.Items, l.Pos)
	}
}

func TestLoadGKE(t *testing.T) {
	// Alone, the GKE file appends to lists and a rule that do not exist.
	_, err := loadCorpus(t, "k8s_audit_rules_gke.yaml")
	var le *Error
	if !errors.As(err, &le) || le.Pos.String() != "k8s_audit_rules_gke.yaml:28:3" || !strings.Contains(le.Msg, "no rule by that name") {
		t.Fatalf("load GKE alone: %v", err)
	}
	rs, err := loadCorpus(t, "k8s_audit_rules.yaml", "k8s_audit_rules_gke.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := rs.Rule("Disallowed K8s User")
	if !strings.Contains(r.Condition, `and not ((ka.user.name endswith @container-engine-robot.iam.gserviceaccount.com))`) {
		t.Errorf("GKE exception not appended: %q", r.Condition)
	}
	l, _ := rs.List("k8s_audit_privileged_images")
	if !slices.Contains(l.Items, "gke.gcr.io/netd") {
		t.Errorf("GKE list items not appended: %v", l.Items)
	}
}

func TestEventTypes(t *testing.T) {
	rs, _ := loadFalcoRules(t)
	types, all := rs.Rule("Terminal shell in container").EventTypes()
	if all || !slices.Equal(types, []string{"execve", "execveat"}) {
		t.Errorf("Terminal shell in container event types = %v (all %v)", types, all)
	}
	types, all = rs.EventTypes("syscall")
	for _, want := range []string{"execve", "openat", "connect", "ptrace", "init_module"} {
		if !slices.Contains(types, want) {
			t.Errorf("rule set event types %v lack %s", types, want)
		}
	}
	if all {
		t.Error("falco_rules.yaml has a rule matching every event type")
	}
	if slices.Contains(types, "read") {
		t.Errorf("rule set event types include read: %v", types)
	}
}

func TestEventTypeAlgebra(t *testing.T) {
	cat := unitCatalog()
	tests := []struct {
		cond string
		want []string
		all  bool
	}{
		{`evt.type = open`, []string{"open"}, false},
		{`evt.type in (open, openat) and proc.name = x`, []string{"open", "openat"}, false},
		{`evt.type in (open, openat) and evt.type != open`, []string{"openat"}, false},
		{`evt.type = open or evt.type = execve`, []string{"execve", "open"}, false},
		{`evt.type = open or proc.name = x`, nil, true},
		{`not evt.type = open`, []string{"open"}, true},
		{`evt.type != open and evt.type != close`, []string{"close", "open"}, true},
		{`not (evt.type in (a, b) and not evt.type = b)`, []string{"a"}, true},
	}
	for _, tt := range tests {
		r, err := compileCondition(t, cat, tt.cond)
		if err != nil {
			t.Fatal(err)
		}
		types, all := r.EventTypes()
		if all != tt.all || !slices.Equal(types, tt.want) && len(types)+len(tt.want) > 0 {
			t.Errorf("%s: types %v all %v, want %v all %v", tt.cond, types, all, tt.want, tt.all)
		}
	}
}
