package rules

import (
	"strings"
	"testing"
)

var upstreamPlugins = map[string]string{
	"container": "0.4.0", "cloudtrail": "0.17.1", "json": "0.7.3", "k8saudit": "0.18.0", "k8saudit-gke": "0.9.0",
}

func loadCorpus(t testing.TB, names ...string) (*Ruleset, error) {
	files := corpusFiles(t, names...)
	cfg := Config{
		Catalogs: []Catalog{
			syscallCatalog(t, files),
			pluginCatalog(t, "k8s_audit", "ka."),
			pluginCatalog(t, "aws_cloudtrail", "ct."),
		},
		Plugins: upstreamPlugins,
	}
	return Load(cfg, files...)
}

func TestLoadUpstream(t *testing.T) {
	tests := []struct {
		files                []string
		rules, macros, lists int
		enabled              int
	}{
		{[]string{"falco_rules.yaml"}, 25, 87, 49, 25},
		{[]string{"falco-incubating_rules.yaml"}, 31, 82, 54, 31},
		{[]string{"falco-sandbox_rules.yaml"}, 37, 183, 60, 25}, // 183: one macro item lists its "condition" key before "macro", which grep for "- macro:" misses
		{[]string{"aws_cloudtrail_rules.yaml"}, 22, 0, 1, 20},
		{[]string{"k8s_audit_rules.yaml"}, 48, 45, 18, 48},
		{[]string{"k8s_audit_rules.yaml", "k8s_audit_rules_gke.yaml"}, 48, 45, 18, 48},
		{[]string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"}, -1, -1, -1, -1},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.files, "+"), func(t *testing.T) {
			rs, err := loadCorpus(t, tt.files...)
			if err != nil {
				t.Fatal(err)
			}
			enabled, inactive := 0, 0
			for _, r := range rs.Rules() {
				if r.Enabled {
					enabled++
				}
				if !r.Active() {
					inactive++
					t.Errorf("rule %q inactive: %s", r.Name, r.Inactive)
				}
			}
			t.Logf("%d rules, %d enabled, %d warnings", len(rs.Rules()), enabled, len(rs.Warnings()))
			t.Logf("%d rules, %d macros, %d lists, %d enabled", len(rs.Rules()), len(rs.Macros()), len(rs.Lists()), enabled)
			if tt.rules < 0 {
				return
			}
			if len(rs.Rules()) != tt.rules || len(rs.Macros()) != tt.macros || len(rs.Lists()) != tt.lists || enabled != tt.enabled {
				t.Errorf("got %d rules, %d macros, %d lists, %d enabled; want %d, %d, %d, %d",
					len(rs.Rules()), len(rs.Macros()), len(rs.Lists()), enabled, tt.rules, tt.macros, tt.lists, tt.enabled)
			}
		})
	}
}
