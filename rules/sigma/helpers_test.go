package sigma

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/audit/cloudtrail"
	"github.com/mamori-dev/mamori/audit/k8saudit"
	"github.com/mamori-dev/mamori/rules"
)

// catalogs are the catalogues of both audit sources.
func catalogs() []rules.Catalog {
	return []rules.Catalog{cloudtrail.NewCatalog(), k8saudit.NewCatalog()}
}

// sigmaDoc is a Sigma rule for product/service with the given detection,
// indented under detection:.
func sigmaDoc(product, service, detection string) string {
	var b strings.Builder
	b.WriteString("title: Test rule\nid: 00000000-0000-0000-0000-000000000001\nlevel: high\n")
	b.WriteString("logsource:\n  product: " + product + "\n  service: " + service + "\ndetection:\n")
	for _, line := range strings.Split(strings.Trim(detection, "\n"), "\n") {
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}

// translateOne translates one Sigma file's text and loads the result.
func translateOne(t *testing.T, text string) (Translation, *rules.Ruleset) {
	t.Helper()
	tr := NewTranslator(Config{Catalogs: catalogs()}).Translate(rules.File{Name: "test.yml", Data: []byte(text)})
	rs, err := rules.Load(rules.Config{Catalogs: catalogs()}, tr.File)
	if err != nil {
		t.Fatalf("translation does not load: %v\n%s", err, tr.File.Data)
	}
	return tr, rs
}

// cloudtrailRecords parses CloudTrail records written one per line. A
// line that names only the members a test is about gets an eventVersion,
// as every record has one (the reader refuses objects with none of
// eventVersion, eventSource and eventName).
func cloudtrailRecords(t *testing.T, lines ...string) []*cloudtrail.Record {
	t.Helper()
	lines = slices.Clone(lines)
	for i, l := range lines {
		if !strings.Contains(l, `"eventVersion"`) && !strings.Contains(l, `"eventSource"`) && !strings.Contains(l, `"eventName"`) {
			lines[i] = `{"eventVersion":"1.08",` + strings.TrimPrefix(l, "{")
		}
	}
	var out []*cloudtrail.Record
	var rd cloudtrail.Reader
	rd.Parse("test.json", []byte(strings.Join(lines, "\n")), func(r *cloudtrail.Record) { out = append(out, r) },
		func(e *cloudtrail.Error) { t.Fatalf("test record: %v", e) })
	if len(out) != len(lines) {
		t.Fatalf("%d records parsed from %d lines", len(out), len(lines))
	}
	return out
}

// k8sEvents parses Kubernetes audit events written one per line.
func k8sEvents(t *testing.T, lines ...string) []*k8saudit.Event {
	t.Helper()
	var out []*k8saudit.Event
	var rd k8saudit.Reader
	rd.Parse("test.json", []byte(strings.Join(lines, "\n")), func(e *k8saudit.Event) { out = append(out, e) },
		func(e *k8saudit.Error) { t.Fatalf("test event: %v", e) })
	if len(out) != len(lines) {
		t.Fatalf("%d events parsed from %d lines", len(out), len(lines))
	}
	return out
}

// callerFile is runtime.Caller(0) of this file, for finding the corpora.
func callerFile() (uintptr, string, int, bool) { return runtime.Caller(0) }
