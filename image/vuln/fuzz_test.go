package vuln

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/mamori-dev/mamori/image/sbom"
)

// FuzzEntry: any OSV entry (an untrusted file of the database) must load
// and match without panicking, against packages it names itself.
func FuzzEntry(f *testing.F) {
	files, _ := filepath.Glob("testdata/osv/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, "1.0-1")
		}
	}
	f.Add([]byte(`{"id":"X","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"fixed":"1"},{"introduced":"0"},{"last_affected":"0"}]}]}]}`), "0.5.0")
	f.Fuzz(func(t *testing.T, b []byte, version string) {
		var e osvEntry
		if json.Unmarshal(b, &e) != nil || e.ID == "" {
			return
		}
		l := newLoader(LoadConfig{})
		l.add(&e, 1)
		var pkgs []sbom.Package
		for _, a := range e.Affected {
			for _, typ := range []sbom.Type{sbom.Deb, sbom.RPM} {
				pkgs = append(pkgs, sbom.Package{Type: typ, Ecosystem: a.Package.Ecosystem, Name: a.Package.Name, Version: version})
			}
			for _, v := range a.Versions {
				pkgs = append(pkgs, sbom.Package{Ecosystem: a.Package.Ecosystem, Name: a.Package.Name, Version: v})
			}
		}
		for _, f := range l.db.Match(pkgs) {
			if f.Advisory.ID == "" {
				t.Fatalf("finding without an advisory id: %+v", f)
			}
		}
	})
}
