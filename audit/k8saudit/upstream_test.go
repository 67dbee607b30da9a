package k8saudit

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
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

// engineV4Fix rewrites the one condition of Falco's legacy
// engine_v4_k8s_audit_rules.yaml that today's rule language refuses:
// `contains` on the list field ka.req.role.rules.resources, which libsinsp
// has rejected at compile time since list fields came in; intersects is
// what it meant.
var engineV4Fix = rules.File{Name: "engine_v4 fix (test)", Data: []byte(`
- rule: ClusterRole With Pod Exec Created
  condition: kevt and (role or clusterrole) and kcreate and ka.req.role.rules.resources intersects ("pods/exec")
  override:
    condition: replace
`)}

// legacyLists stands in for the legacy falco_rules.yaml v1.0.1 that
// falcosecurity/testing loads before the k8s audit rules: its image lists
// are what trust_nginx_container.yaml appends to. k8s_audit rules do not
// read them, which is why those tests assert no detection either way.
var legacyLists = rules.File{Name: "falco_rules v1.0.1 lists (test)", Data: []byte(`
- list: falco_sensitive_mount_images
  items: []
- list: falco_privileged_images
  items: []
- list: falco_hostnetwork_images
  items: []
`)}

// load loads rules files with this package's catalogue, with engineV4Fix
// after Falco's legacy engine_v4 rules.
func load(t testing.TB, paths ...string) *rules.Ruleset {
	t.Helper()
	files, err := rules.ReadFiles(paths...)
	if err != nil {
		t.Fatal(err)
	}
	files = append([]rules.File{legacyLists}, files...)
	for i, p := range paths {
		i++ // after legacyLists
		if filepath.Base(p) == "engine_v4_k8s_audit_rules.yaml" {
			files = append(files[:i+1], append([]rules.File{engineV4Fix}, files[i+1:]...)...)
		}
	}
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{NewCatalog()}}, files...)
	if err != nil {
		t.Fatalf("rules %v do not load: %v", paths, err)
	}
	return rs
}

func upstreamRules(t testing.TB) string { return corpora(t, "falco", "k8s_audit_rules.yaml") }

func TestUpstreamRulesAllActive(t *testing.T) {
	for _, f := range []string{upstreamRules(t), corpora(t, "k8saudit", "falco-test-trace-files", "test_rules", "engine_v4_k8s_audit_rules.yaml")} {
		rs := load(t, f)
		n := 0
		for _, r := range rs.Rules() {
			if r.Source != Source {
				continue
			}
			n++
			if !r.Active() {
				t.Errorf("%s: rule %q inactive: %s (missing %v)", f, r.Name, r.Inactive, r.MissingFields)
			}
			if len(r.MissingOutputFields) > 0 {
				t.Errorf("%s: rule %q prints fields not provided: %v", f, r.Name, r.MissingOutputFields)
			}
		}
		if n < 20 {
			t.Errorf("%s: only %d k8s_audit rules loaded", f, n)
		}
		for _, w := range rs.Warnings() {
			t.Logf("%s: warning: %v", f, w)
		}
	}
}

// testRuleFiles names the rules files of falcosecurity/testing's Go
// variables, as EXPECTED_DETECTIONS.tsv lists them.
func testRuleFiles(t *testing.T, names string) []string {
	dir := corpora(t, "k8saudit", "falco-test-trace-files", "test_rules")
	byName := map[string]string{
		"K8SAuditRules":                            upstreamRules(t),
		"K8SAuditEngineV4K8SAuditRules":            filepath.Join(dir, "engine_v4_k8s_audit_rules.yaml"),
		"K8SAuditDisallowKactivity":                filepath.Join(dir, "disallow_kactivity.yaml"),
		"K8SAuditTrustNginxContainer":              filepath.Join(dir, "trust_nginx_container.yaml"),
		"K8SAuditAllowNginxContainer":              filepath.Join(dir, "allow_nginx_container.yaml"),
		"K8SAuditAllowOnlyApacheContainer":         filepath.Join(dir, "allow_only_apache_container.yaml"),
		"K8SAuditEngineV4AllowNginxContainer":      filepath.Join(dir, "engine_v4", "allow_nginx_container.yaml"),
		"K8SAuditEngineV4AllowOnlyApacheContainer": filepath.Join(dir, "engine_v4", "allow_only_apache_container.yaml"),
		"K8SAuditAllowNamespaceFoo":                filepath.Join(dir, "allow_namespace_foo.yaml"),
		"K8SAuditAllowUserSomeUser":                filepath.Join(dir, "allow_user_some-user.yaml"),
		"K8SAuditSingleRuleWithJsonPointer":        filepath.Join(dir, "single_rule_with_json_pointer.yaml"),
	}
	var out []string
	for _, n := range strings.Split(names, ",") {
		p, ok := byName[n]
		if !ok {
			t.Fatalf("rules %q of EXPECTED_DETECTIONS.tsv not known to the test", n)
		}
		out = append(out, p)
	}
	return out
}

// scan runs the events of paths through rs and counts alerts by rule.
func scan(t testing.TB, rs *rules.Ruleset, all bool, paths ...string) (map[string]int, []*Error, []*event.Alert) {
	t.Helper()
	d := NewDetector(rs, DetectorConfig{All: all})
	got := map[string]int{}
	var bad []*Error
	var alerts []*event.Alert
	var rd Reader
	rd.ReadPaths(paths, func(e *Event) {
		d.Detect(e, func(a *event.Alert) {
			got[a.Rule]++
			alerts = append(alerts, a)
		})
	}, func(e *Error) { bad = append(bad, e) })
	return got, bad, alerts
}

// TestExpectedDetections replays Falco's k8s audit trace files with the
// rules falcosecurity/testing loads for each, and checks every detection
// it asserts, and no detection at all where it asserts none. Falco
// matches the first rule by default, and mamori's scan can match all: the
// assertions must hold either way.
func TestExpectedDetections(t *testing.T) {
	dir := corpora(t, "k8saudit", "falco-test-trace-files")
	f, err := os.Open(filepath.Join(dir, "EXPECTED_DETECTIONS.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	rows := 0
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 4 {
			t.Fatalf("row %q: %d columns", sc.Text(), len(cols))
		}
		trace, test, ruleNames, expect := cols[0], cols[1], cols[2], cols[3]
		rows++
		want := map[string]int{}
		none := strings.HasPrefix(expect, "none")
		if !none && !strings.HasPrefix(expect, "no detection assertion") {
			for _, kv := range strings.Split(expect, ",") {
				rule, n, ok := strings.Cut(kv, "=")
				count, err := strconv.Atoi(n)
				if !ok || err != nil {
					t.Fatalf("%s: expectation %q", test, kv)
				}
				want[rule] = count
			}
		}
		rs := load(t, testRuleFiles(t, ruleNames)...)
		for _, all := range []bool{false, true} {
			got, bad, _ := scan(t, rs, all, filepath.Join(dir, "trace_files", trace))
			label := fmt.Sprintf("%s (%s, all=%v)", test, trace, all)
			if trace == "fal_01_003.json" {
				// {"kind": 0} is not an audit event: reported, nothing raised.
				if len(bad) != 1 || len(got) != 0 {
					t.Errorf("%s: errors %v, alerts %v; want the one event reported and no alert", label, bad, got)
				}
				continue
			}
			for _, e := range bad {
				t.Errorf("%s: read error: %v", label, e)
			}
			for rule, n := range want {
				if got[rule] != n {
					t.Errorf("%s: %q raised %d times, want %d (all raised: %v)", label, rule, got[rule], n, got)
				}
			}
			if none && len(got) > 0 {
				t.Errorf("%s: raised %v, want nothing", label, got)
			}
			t.Logf("%s: %v", label, got)
		}
	}
	if rows < 60 {
		t.Errorf("only %d rows in EXPECTED_DETECTIONS.tsv", rows)
	}
}

// sorted is the keys of m, sorted.
func sorted(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
