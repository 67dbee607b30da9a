package cloudtrail

import (
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// corpora is ../shared/corpora beside the repository.
func corpora(t testing.TB, parts ...string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(append([]string{filepath.Dir(file), "..", "..", "..", "shared", "corpora"}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("upstream data %s is absent (%v): it lives in ../shared/corpora beside the repository", p, err)
	}
	return p
}

// loadUpstream loads Falco's aws_cloudtrail_rules.yaml in place.
func loadUpstream(t testing.TB) *rules.Ruleset {
	t.Helper()
	files, err := rules.ReadFiles(corpora(t, "falco", "aws_cloudtrail_rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{NewCatalog()}}, files...)
	if err != nil {
		t.Fatalf("upstream rules do not load: %v", err)
	}
	return rs
}

func TestUpstreamRulesAllActive(t *testing.T) {
	rs := loadUpstream(t)
	n := 0
	for _, r := range rs.Rules() {
		if r.Source != Source {
			continue
		}
		n++
		if !r.Active() {
			t.Errorf("rule %q inactive: %s (missing %v)", r.Name, r.Inactive, r.MissingFields)
		}
		if len(r.MissingOutputFields) > 0 {
			t.Errorf("rule %q prints fields not provided: %v", r.Name, r.MissingOutputFields)
		}
	}
	if n < 20 {
		t.Errorf("only %d aws_cloudtrail rules loaded", n)
	}
}

// scanDir runs every record under dir through the upstream rules, matching
// all, and returns the rules raised per file base name.
func scanDir(t *testing.T, dir string) (map[string][]string, []*Error, []*event.Alert) {
	t.Helper()
	d := NewDetector(loadUpstream(t), DetectorConfig{All: true})
	got := map[string][]string{}
	var bad []*Error
	var alerts []*event.Alert
	var rd Reader
	rd.ReadPaths([]string{dir}, func(r *Record) {
		d.Detect(r, func(a *event.Alert) {
			base := filepath.Base(r.File)
			got[base] = append(got[base], a.Rule)
			alerts = append(alerts, a)
		})
	}, func(e *Error) { bad = append(bad, e) })
	return got, bad, alerts
}

// TestStratusTechniques checks that the detonations of Stratus Red Team
// techniques raise the upstream rules written for them.
func TestStratusTechniques(t *testing.T) {
	got, bad, alerts := scanDir(t, corpora(t, "cloudtrail", "stratus-red-team"))
	for _, e := range bad {
		t.Errorf("read error: %v", e)
	}
	want := map[string][]string{
		"aws.defense-evasion.cloudtrail-stop.json":            {"CloudTrail Logging Disabled"},
		"aws.initial-access.console-login-without-mfa.json":   {"Console Login Without MFA"},
		"aws.persistence.iam-create-admin-user.json":          {"Create AWS user"},
		"aws.persistence.lambda-overwrite-code.json":          {"Update Lambda Function Code"},
		"aws.persistence.lambda-layer-extension.json":         {"Update Lambda Function Configuration"},
		"aws.defense-evasion.cloudtrail-delete.json":          nil,
		"aws.execution.ec2-launch-unusual-instances.json":     nil, // RunInstances failed
		"aws.credential-access.ec2-get-password-data.json":    nil,
		"aws.persistence.iam-create-backdoor-role.json":       nil,
		"aws.defense-evasion.cloudtrail-event-selectors.json": nil,
	}
	for file, rules := range want {
		g := append([]string(nil), got[file]...)
		sort.Strings(g)
		if strings.Join(g, "|") != strings.Join(rules, "|") {
			t.Errorf("%s raised %q, want %q", file, g, rules)
		}
	}
	for f, rs := range got {
		t.Logf("%s -> %v", f, rs)
	}
	for _, a := range alerts {
		if a.Source != Source || a.Kind != "alert" || a.Action != event.Detected || a.Time.IsZero() {
			t.Errorf("alert %+v", a)
		}
		if strings.Contains(a.Output, "<NA>") {
			t.Logf("output with <NA>: %s", a.Output)
		}
	}
}

// BenchmarkScan parses and evaluates the Stratus detonations, from
// memory, with the upstream rules.
func BenchmarkScan(b *testing.B) { benchScan(b, loadUpstream(b)) }

// benchScan parses the Stratus detonations from memory and evaluates them
// with rs.
func benchScan(b *testing.B, rs *rules.Ruleset) {
	dir := corpora(b, "cloudtrail", "stratus-red-team")
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var data [][]byte
	size := 0
	for _, p := range paths {
		d, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		data = append(data, d)
		size += len(d)
	}
	d := NewDetector(rs, DetectorConfig{All: true})
	b.SetBytes(int64(size))
	b.ResetTimer()
	records := 0
	for b.Loop() {
		var rd Reader
		for _, buf := range data {
			rd.Parse("f", buf, func(r *Record) {
				records++
				d.Detect(r, func(*event.Alert) {})
			}, func(e *Error) { b.Fatal(e) })
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
