package k8saudit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
)

// BenchmarkScan parses and evaluates every file of Falco's k8s audit trace
// folder, from memory, with mamori's rules and Falco's k8s_audit_rules.yaml,
// raising every matching rule: what `mamori k8saudit scan --all --rules
// k8s_audit_rules.yaml` does less the disk and the output.
func BenchmarkScan(b *testing.B) {
	paths, _ := filepath.Glob(filepath.Join(corpora(b, "k8saudit", "falco-test-trace-files", "trace_files"), "*.json"))
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
	files, err := rules.ReadFiles(upstreamRules(b))
	if err != nil {
		b.Fatal(err)
	}
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{NewCatalog()}}, append([]rules.File{defaults.K8sAuditFile()}, files...)...)
	if err != nil {
		b.Fatal(err)
	}
	d := NewDetector(rs, DetectorConfig{All: true})
	b.SetBytes(int64(size))
	b.ResetTimer()
	events, alerts := 0, 0
	for b.Loop() {
		var rd Reader
		for _, buf := range data {
			rd.Parse("f", buf, func(e *Event) {
				events++
				d.Detect(e, func(*event.Alert) { alerts++ })
			}, func(*Error) {})
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(alerts)/float64(b.N), "alerts/op")
}
