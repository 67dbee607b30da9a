package rules

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad loads arbitrary rules files: a load may fail, but must not
// panic, and a loaded rule set must evaluate and render without panicking.
func FuzzLoad(f *testing.F) {
	seeds := []string{
		"- rule: r\n  desc: d\n  output: \"%proc.name %fd.num\"\n  priority: INFO\n  condition: proc.name in (shells) and fd.num > 2\n- list: shells\n  items: [bash]\n",
		"- macro: m\n  condition: evt.type = execve\n- rule: r\n  desc: d\n  output: o\n  priority: INFO\n  condition: m and not proc.pname startswith anyof (a, b)\n  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      comps: [=, pmatch]\n      values: [[a, [/tmp]]]\n",
		"- list: l\n  items: []\n- list: l\n  items: [x]\n  override:\n    items: append\n",
		"- required_engine_version: 10\n- required_plugin_versions:\n  - name: json\n    version: 0.7.0\n",
		"- rule: r\n  enabled: false\n",
		"{",
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "local_rules.yaml")); err == nil {
		seeds = append(seeds, string(b))
	}
	for _, s := range seeds {
		f.Add(s)
	}
	cat := unitCatalog()
	evt := unitEvent(cat)
	f.Fuzz(func(t *testing.T, data string) {
		rs, err := Load(Config{Catalogs: []Catalog{cat}, Plugins: map[string]string{"json": "0.7.0"}},
			File{Name: "fuzz.yaml", Data: []byte(data)})
		if err != nil {
			return
		}
		for _, r := range rs.Rules() {
			if !r.Active() {
				continue
			}
			if r.Eval(evt) {
				r.Format(evt)
				r.OutputFields(evt)
			}
			r.EventTypes()
		}
		rs.Match("syscall", "execve", evt)
		rs.EventTypes("syscall")
	})
}
