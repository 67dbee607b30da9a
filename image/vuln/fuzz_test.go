package vuln

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
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

// FuzzLoadZip loads arbitrary bytes as an OSV zip export, as `mamori
// image scan --osv-db` reads one downloaded from anywhere: a damaged or
// crafted archive is an error, never a panic, and a database that loads
// answers matches.
func FuzzLoadZip(f *testing.F) {
	files, _ := filepath.Glob("testdata/osv/*.json")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		w, _ := zw.Create(filepath.Base(p))
		w.Write(b)
	}
	zw.Close()
	f.Add(buf.Bytes())
	var one bytes.Buffer
	zw = zip.NewWriter(&one)
	w, _ := zw.Create("dir/X.json")
	w.Write([]byte(`{"id":"X","withdrawn":"2024-01-01T00:00:00Z"}`))
	zw.Close()
	f.Add(one.Bytes())
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Add([]byte("not a zip"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "all.zip")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Load(context.Background(), p, LoadConfig{})
		if err != nil {
			return
		}
		db.Match([]sbom.Package{{Type: sbom.Deb, Ecosystem: "Debian:12", Name: "openssl", Version: "3.0.0-1"},
			{Ecosystem: "npm", Name: "lodash", Version: "4.17.20"}})
	})
}
