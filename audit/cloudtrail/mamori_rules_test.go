package cloudtrail

import (
	"testing"

	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
)

// loadMamori loads mamori's built-in CloudTrail rules.
func loadMamori(t testing.TB) *rules.Ruleset {
	t.Helper()
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{NewCatalog()}}, defaults.CloudTrailFile())
	if err != nil {
		t.Fatalf("built-in CloudTrail rules do not load: %v", err)
	}
	return rs
}

// TestMamoriRulesAllActive: every built-in CloudTrail rule runs, with
// MITRE tags, and prints no field the catalogue lacks.
func TestMamoriRulesAllActive(t *testing.T) {
	rs := loadMamori(t)
	n := 0
	for _, r := range rs.Rules() {
		n++
		if r.Source != Source || !r.Active() || !r.Enabled {
			t.Errorf("rule %q: source %q active %v (%s) enabled %v", r.Name, r.Source, r.Active(), r.Inactive, r.Enabled)
		}
		if len(r.MissingOutputFields) > 0 {
			t.Errorf("rule %q prints fields not provided: %v", r.Name, r.MissingOutputFields)
		}
		mitre := false
		for _, tag := range r.Tags {
			mitre = mitre || len(tag) > 1 && tag[0] == 'T' && tag[1] >= '0' && tag[1] <= '9'
		}
		if !mitre {
			t.Errorf("rule %q has no MITRE technique tag: %v", r.Name, r.Tags)
		}
	}
	for _, w := range rs.Warnings() {
		t.Errorf("warning: %s", w)
	}
	if n != 40 {
		t.Errorf("%d rules, want 40", n)
	}
}
