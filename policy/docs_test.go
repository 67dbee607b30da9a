package policy

import (
	"os"
	"strings"
	"testing"
)

// TestDocExamplesParse keeps docs/policies.md honest: every YAML block in
// it is a policy that loads, and the built-in default it shows is the
// embedded one.
func TestDocExamplesParse(t *testing.T) {
	b, err := os.ReadFile("../docs/policies.md")
	if err != nil {
		t.Skipf("docs/policies.md: %v", err)
	}
	blocks := strings.Split(string(b), "```yaml\n")[1:]
	if len(blocks) < 15 {
		t.Fatalf("found %d YAML blocks; the examples are missing", len(blocks))
	}
	seen := map[string]bool{}
	for i, blk := range blocks {
		text, _, _ := strings.Cut(blk, "```")
		ps, err := Parse("docs/policies.md#"+itoa(i+1), []byte(text))
		if err != nil {
			t.Errorf("example %d does not load:\n%v\n%s", i+1, err, text)
			continue
		}
		for _, p := range ps {
			seen[p.Name()] = true
			for _, f := range controlFields {
				if p.Spec.Controls.get(f) != nil {
					seen[f.name] = true
				}
			}
		}
		if strings.Contains(text, "name: mamori-default") && text != string(BuiltinYAML()[strings.Index(string(BuiltinYAML()), "apiVersion"):]) {
			t.Errorf("the documented built-in default differs from builtin/default.yaml")
		}
	}
	for _, c := range ControlNames() {
		if !seen[c] {
			t.Errorf("docs/policies.md has no example of %s", c)
		}
	}
}

// TestDocWorkedExample checks that the merge example in docs/policies.md
// prints what the document says it prints.
func TestDocWorkedExample(t *testing.T) {
	b, err := os.ReadFile("../docs/policies.md")
	if err != nil {
		t.Skipf("docs/policies.md: %v", err)
	}
	doc := string(b)
	block := func(after, fence string) string {
		i := strings.Index(doc, after)
		if i < 0 {
			t.Fatalf("docs/policies.md lacks %q", after)
		}
		rest := doc[i:]
		rest = rest[strings.Index(rest, fence)+len(fence):]
		text, _, _ := strings.Cut(rest, "```")
		return text
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"policies/team.yaml":     block("`policies/team.yaml`:", "```yaml\n"),
		"policies/security.yaml": block("`policies/security.yaml`:", "```yaml\n"),
	})
	want := block("`mamori policy explain web-1` prints", "```\n")
	t.Chdir(dir)
	s, err := Load("policies")
	if err != nil {
		t.Fatal(err)
	}
	tg := TargetFromContainer(&eventContainerWeb1)
	if got := s.Effective(tg).String(); got != want {
		t.Errorf("the worked example prints:\n%s\nthe document says:\n%s", got, want)
	}
}
