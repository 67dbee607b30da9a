package sigma

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/rules"
)

// untranslatedCorpus are the SigmaHQ rules of ../shared/corpora/sigma that
// are reported instead of translated, with the class of the reason.
var untranslatedCorpus = map[string]Reason{
	// %Legitimate_Countries% and %Legitimate_IP_Ranges% are for the user to fill in.
	"aws/aws_cloudtrail_console_login_success_from_susp_locations.yml": ReasonPlaceholder,
	// status: a CloudTrail record has no such key.
	"aws/aws_delete_saml_provider.yml": ReasonField,
	// hostPath, capabilities and apiGroup are not keys of an audit event
	// (the pod spec is under requestObject, the group under objectRef).
	"kubernetes/kubernetes_audit_hostpath_mount.yml":          ReasonField,
	"kubernetes/kubernetes_audit_privileged_pod_creation.yml": ReasonField,
	"kubernetes/kubernetes_audit_rbac_permisions_listing.yml": ReasonField,
	"kubernetes/kubernetes_audit_sidecar_injection.yml":       ReasonField,
}

// TestCorpus translates every rule of the corpus: each either translates
// into a rule that loads and runs, or is reported with the expected class.
func TestCorpus(t *testing.T) {
	dir := corpora(t, "sigma")
	files, report, err := ReadFiles(Config{Catalogs: catalogs()}, dir)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Load(rules.Config{Catalogs: catalogs()}, files...)
	if err != nil {
		t.Fatalf("translated corpus does not load: %v", err)
	}
	rel := func(p string) string { r, _ := filepath.Rel(dir, p); return filepath.ToSlash(r) }
	reported := map[string]Reason{}
	for _, u := range report {
		reported[rel(u.File)] = u.Reason
		if want, ok := untranslatedCorpus[rel(u.File)]; !ok || want != u.Reason {
			t.Errorf("unexpected report: %v", u)
		}
	}
	perSource := map[string]int{}
	translated := 0
	for _, f := range files {
		name := rel(f.Name)
		var n int
		for _, r := range rs.Rules() {
			if r.Pos.File != f.Name {
				continue
			}
			n++
			perSource[r.Source]++
			if !r.Active() || !r.Enabled || len(r.MissingOutputFields) > 0 {
				t.Errorf("%s: rule %q cannot run: %s %v", name, r.Name, r.Inactive, r.MissingOutputFields)
			}
		}
		translated += n
		_, isReported := untranslatedCorpus[name]
		switch {
		case isReported && reported[name] == "":
			t.Errorf("%s: translated, expected a %s report", name, untranslatedCorpus[name])
		case !isReported && n != 1:
			t.Errorf("%s: %d rules translated, want 1", name, n)
		}
	}
	if len(files) != 82 || translated != 76 || len(report) != 6 {
		t.Errorf("%d files: %d translated, %d reported; want 82: 76 and 6", len(files), translated, len(report))
	}
	if perSource["aws_cloudtrail"] != 64 || perSource["k8s_audit"] != 12 {
		t.Errorf("translated per source: %v", perSource)
	}
}

// TestCorpusDeterministic checks that translating twice gives the same
// text, so that positions and diffs of translated rules are stable.
func TestCorpusDeterministic(t *testing.T) {
	dir := corpora(t, "sigma")
	a, _, err := ReadFiles(Config{Catalogs: catalogs()}, dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := ReadFiles(Config{Catalogs: catalogs()}, dir)
	for i := range a {
		if string(a[i].Data) != string(b[i].Data) {
			t.Errorf("%s translates differently twice", a[i].Name)
		}
	}
}

// corpusRules loads every translated corpus rule.
func corpusRules(t *testing.T) *rules.Ruleset {
	t.Helper()
	files, _, err := ReadFiles(Config{Catalogs: catalogs()}, corpora(t, "sigma"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Load(rules.Config{Catalogs: catalogs()}, files...)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// sortedSet is the sorted, distinct names.
func sortedSet(names []string) string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".json") {
			out = append(out, e.Name())
		}
	}
	return out
}
