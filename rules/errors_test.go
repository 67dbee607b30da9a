package rules

import (
	"strings"
	"testing"
)

func TestLoadErrors(t *testing.T) {
	const rule = "- rule: r\n  desc: d\n  output: o\n  priority: INFO\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"not a sequence", "rule: r\n", "f.yaml:1:1: found a mapping, expected a sequence"},
		{"bad yaml", "- [\n", "f.yaml:2:1: invalid YAML: did not find expected node content"},
		// yaml.v3 says "yaml: line 6: did not find expected ',' or ']'", no column.
		{"bad yaml in a rule", rule + "  condition: proc.name = x\n  tags: [a: b: c]\n", "f.yaml:6:14: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence that starts at 6:9)"},
		{"bad indentation", rule + "  condition: proc.name = x\n   tags: [a]\n", "f.yaml:6:8: invalid YAML: mapping values are not allowed in this context; check the indentation here"},
		{"syntax", rule + "  condition: proc.name = x and\n", `f.yaml:5:14: rule "r": condition: 1:18: unexpected end of condition`},
		{"syntax in macro", "- macro: m\n  condition: (proc.name\n", `f.yaml:2:14: macro "m": condition: 1:11: unexpected end of condition`},
		{"unknown field", rule + "  condition: proc.nme = x\n", `f.yaml:5:14: rule "r": condition: 1:1: unknown field "proc.nme" for source "syscall"; did you mean "proc.name" or`},
		{"undefined macro", rule + "  condition: nope\n", `undefined macro "nope" used in filter`},
		{"macro loop", "- macro: a\n  condition: proc.name = x\n- macro: b\n  condition: a\n- macro: a\n  condition: b\n" + rule + "  condition: a\n", `reference loop in macro`},
		{"macro sees later macro", "- macro: a\n  condition: b\n- macro: b\n  condition: proc.name = x\n" + rule + "  condition: a\n", `undefined macro "b"`},
		{"missing key", "- rule: r\n  desc: d\n  condition: proc.name = x\n", `f.yaml:1:3: rule "r" has no "output" key`},
		{"priority", "- rule: r\n  desc: d\n  output: o\n  priority: LOUD\n  condition: proc.name = x\n", `f.yaml:4:13: unknown priority "LOUD"`},
		{"append to nothing", "- list: l\n  items: [a]\n  append: true\n", `f.yaml:1:3: list "l" has 'append' key or an append override but no list by that name already exists`},
		{"override key not listed", rule + "  condition: proc.name = x\n- rule: r\n  desc: e\n  condition: and proc.name = y\n  override:\n    condition: append\n", `f.yaml:7:3: unexpected key "desc": there is no corresponding entry under 'override'`},
		{"override not appendable", rule + "  condition: proc.name = x\n- rule: r\n  priority: INFO\n  override:\n    priority: append\n", `key "priority" cannot be overridden with append`},
		{"append and override", "- list: l\n  items: [a]\n- list: l\n  items: [b]\n  append: true\n  override:\n    items: append\n", `uses both append and override`},
		{"source change", rule + "  condition: proc.name = x\n" + rule + "  condition: proc.name = x\n  source: k8s_audit\n", `redefined with source "k8s_audit"`},
		{"engine version", "- required_engine_version: 0.99.0\n", `f.yaml:1:28: rules require engine version 0.99.0, but this engine is 0.63.0`},
		{"plugin version", "- required_plugin_versions:\n  - name: json\n    version: 0.8.0\n", `f.yaml:2:5: plugin requirement not satisfied: found json 0.7.3, expected json >= 0.8.0`},
		{"plugin missing", "- required_plugin_versions:\n  - name: k8saudit-eks\n    version: 0.1.0\n    alternatives:\n      - name: k8saudit-aks\n        version: 0.1.0\n", `found no such plugin, expected k8saudit-eks >= 0.1.0 or k8saudit-aks >= 0.1.0`},
		{"exception tuple", rule + "  condition: proc.name = x\n  exceptions:\n    - name: e\n      fields: [proc.name, proc.pname]\n      values:\n        - [a]\n", `f.yaml:10:11: exception "e": found a tuple of 1 values for 2 fields`},
		{"exception comp", rule + "  condition: proc.name = x\n  exceptions:\n    - name: e\n      fields: [proc.name]\n      comps: [like]\n      values: [[a]]\n", `found "like", expected an operator`},
		{"output", rule[:len(rule)-len("  output: o\n  priority: INFO\n")] + "  output: x %proc.nme\n  priority: INFO\n  condition: proc.name = x\n", `f.yaml:3:11: rule "r": output: column 4: 1:1: unknown field "proc.nme"`},
		{"output dangling", "- rule: r\n  desc: d\n  output: x %\n  priority: INFO\n  condition: proc.name = x\n", `the format ends with "%"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(Config{Catalogs: []Catalog{unitCatalog()}, Plugins: map[string]string{"json": "0.7.3"}},
				File{Name: "f.yaml", Data: []byte(tt.yaml)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant ...%s...", err, tt.want)
			}
		})
	}
}

func TestLoadWarnings(t *testing.T) {
	rs, err := Load(Config{Catalogs: []Catalog{unitCatalog()}}, File{Name: "f.yaml", Data: []byte(`
- list: unused_list
  items: [a]
- macro: unused_macro
  condition: proc.name = x
- rule: k8s
  desc: d
  output: o
  priority: INFO
  source: k8s_audit
  condition: ka.verb = get
- rule: r
  desc: d
  output: "%proc.name %container.info"
  priority: INFO
  condition: proc.name = proc.pname
- something_else: 1
`)})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, w := range rs.Warnings() {
		msgs = append(msgs, w.String())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		`f.yaml:2:3: list "unused_list" is not used`,
		`f.yaml:4:3: macro "unused_macro" is not used`,
		`f.yaml:6:3: rule "k8s" skipped: its source "k8s_audit" is not loaded`,
		`"proc.pname" may be a valid field misused as a const string value`,
		`%container.info is deprecated`,
		`unknown top level item "something_else"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	if r := rs.Rule("k8s"); r.Active() {
		t.Error("rule of an unloaded source is active")
	}
	if r := rs.Rule("r"); r.Output != "%proc.name " {
		t.Errorf("output = %q", r.Output)
	}
}

// TestLoadReportsEveryProblem: one load names every problem of a file,
// each at its line and column, a misspelt key with the one meant; what
// refers to a broken item is not reported again.
func TestLoadReportsEveryProblem(t *testing.T) {
	const text = `- macro: shell
  conditon: proc.name = sh
- rule: a
  desc: d
  output: o
  priorty: INFO
  condition: proc.name = x
- rule: b
  desc: d
  output: o
  priority: INFO
  condition: shell and proc.nmae = y
- rule: c
  desc: d
  output: o
  priority: INFO
  condition: proc.name = z and
- rulee: d
- rule: e
  desc: d
  output: o
  priority: INFO
  condition: proc.name = x
  tgas: [x]
  zzzzzz: 1
`
	_, err := Load(Config{Catalogs: []Catalog{unitCatalog()}}, File{Name: "f.yaml", Data: []byte(text)})
	if err == nil {
		t.Fatal("loaded")
	}
	got := strings.Split(err.Error(), "\n")
	want := []string{
		`f.yaml:2:3: macro "shell": unknown key "conditon"; did you mean "condition"?`,
		`f.yaml:6:3: rule "a": unknown key "priorty"; did you mean "priority"?`,
		`f.yaml:17:14: rule "c": condition: 1:18: unexpected end of condition, expected a field, a macro name, "not" or "("`,
		`f.yaml:18:3: unknown item key "rulee"; did you mean "rule"?`,
		`f.yaml:24:3: rule "e": unknown key "tgas"; did you mean "tags"?`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}
