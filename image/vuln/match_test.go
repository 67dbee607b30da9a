package vuln

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/image/sbom"
)

func loadFixture(t testing.TB) *DB {
	t.Helper()
	db, err := Load(context.Background(), "testdata/osv", LoadConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// describe prints findings one a line: package, advisory, aliases, fixed
// version, severity and score.
func describe(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s aliases=%s fixed=%s %s %.1f", f.Package.Name, f.Package.Version,
			f.Advisory.ID, strings.Join(f.Advisory.Aliases, ","), f.FixedVersion, f.Severity, f.Advisory.Score))
	}
	slices.Sort(out)
	return out
}

func assertFindings(t *testing.T, got []Finding, want []string) {
	t.Helper()
	g := describe(got)
	slices.Sort(want)
	if !slices.Equal(g, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
}

// TestEndToEndDebian extracts the packages of a Debian tree (dpkg, npm,
// Python) and matches them against the fixture database: the planted
// vulnerable packages are found with their fixed versions and severities,
// the fixed and unaffected ones are not.
func TestEndToEndDebian(t *testing.T) {
	pkgs, err := sbom.Extract(context.Background(), os.DirFS("testdata/rootfs-debian"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 10 {
		t.Errorf("extracted %d packages, want 10 (the removed example-old is not installed): %+v", len(pkgs), pkgs)
	}
	assertFindings(t, loadFixture(t).Match(pkgs), []string{
		// Matched through its source package "example"; the CVE record
		// aliased by the Debian one is folded in; the withdrawn record
		// and the Debian 11 one are not reported.
		"libexample1 1.0-1 MAMORI-DEB-2099-0001 aliases=CVE-2099-0001 fixed=1.0-2 CRITICAL 9.8",
		"epochpkg 2.5-1 MAMORI-DEB-2099-0004 aliases= fixed=1:2.0-1 HIGH 7.5",
		"tildepkg 1.0~rc1-1 MAMORI-DEB-2099-0005 aliases= fixed=1.0-1 UNKNOWN 0.0",
		// A CVSS 3.1 vector (7.5) outranks the record's MODERATE word.
		"lodash 4.17.20 MAMORI-NPM-2099-0001 aliases= fixed=4.17.21 HIGH 7.5",
		// The record spells the project "Requests"; 2.31.0 is above
		// 2.31.0.dev1; CVSS 4.0.
		"requests 2.31.0 MAMORI-PYPI-2099-0001 aliases= fixed=2.32.0 CRITICAL 9.3",
	})
}

func TestEndToEndAlpine(t *testing.T) {
	pkgs, err := sbom.Extract(context.Background(), os.DirFS("testdata/rootfs-alpine"))
	if err != nil {
		t.Fatal(err)
	}
	assertFindings(t, loadFixture(t).Match(pkgs), []string{
		// Both binary packages of the openssl origin; 3.3.1 < 3.3.2.
		"libcrypto3 3.3.1-r3 MAMORI-ALPINE-2099-0001 aliases= fixed=3.3.2-r0 UNKNOWN 0.0",
		"libssl3 3.3.1-r3 MAMORI-ALPINE-2099-0001 aliases= fixed=3.3.2-r0 UNKNOWN 0.0",
	})
}

// TestRangeSemantics matches single packages against the fixture's
// ranges: SEMVER and ECOSYSTEM, introduced/fixed/last_affected events,
// re-introduction, explicit version lists and ecosystem releases.
func TestRangeSemantics(t *testing.T) {
	db := loadFixture(t)
	pkg := func(eco, name, version string) sbom.Package {
		return sbom.Package{Ecosystem: eco, Name: name, Version: version}
	}
	rpmPkg := func(name, version string) sbom.Package {
		return sbom.Package{Type: sbom.RPM, Ecosystem: "Rocky Linux:9", Name: name, Version: version, SourceName: "planted", SourceVersion: "1.2.3-4.el9"}
	}
	for _, c := range []struct {
		p    sbom.Package
		want string // "ID fixed SEVERITY", or "" for no finding
	}{
		{pkg("Go", "golang.org/x/text", "v0.3.7"), "MAMORI-GO-2099-0001 0.3.8 MEDIUM"},
		{pkg("Go", "golang.org/x/text", "v0.3.8"), ""},
		{pkg("Go", "golang.org/x/text", "v0.0.0-20170915032832-14c0d48ead0c"), "MAMORI-GO-2099-0001 0.3.8 MEDIUM"},
		{pkg("Go", "stdlib", "v1.26.8"), "MAMORI-GO-2099-0002 1.26.9 LOW"},
		{pkg("Go", "stdlib", "v1.25.9"), ""},
		{pkg("npm", "minimist", "1.2.5"), "MAMORI-NPM-2099-0002  LOW"},
		{pkg("npm", "minimist", "0.0.1"), "MAMORI-NPM-2099-0002  LOW"},
		{pkg("npm", "minimist", "1.2.6"), ""},
		{pkg("npm", "minimist", "1.2.6-beta.1"), ""},
		{pkg("npm", "left-pad", "1.3.0"), "MAMORI-NPM-2099-0003  UNKNOWN"},
		{pkg("npm", "left-pad", "1.3.1"), ""},
		{pkg("npm", "Lodash", "4.17.20"), ""}, // npm names are exact
		{pkg("PyPI", "requests", "2.31.0.dev1"), "MAMORI-PYPI-2099-0001 2.32.0 CRITICAL"},
		{pkg("PyPI", "requests", "2.31.0.dev0"), ""},
		{pkg("PyPI", "requests", "2.32.0rc1"), "MAMORI-PYPI-2099-0001 2.32.0 CRITICAL"},
		{pkg("PyPI", "requests", "2.32.0"), ""},
		{pkg("PyPI", "py_yaml", "5.3"), ""},
		{pkg("PyPI", "PyYAML", "5.3"), "MAMORI-PYPI-2099-0002 5.4 UNKNOWN"},
		{pkg("Debian:12", "reintro", "1.0-1"), "MAMORI-DEB-2099-0006 1.5-1 UNKNOWN"},
		{pkg("Debian:12", "reintro", "1.5-1"), ""},
		{pkg("Debian:12", "reintro", "1.7-1"), ""},
		{pkg("Debian:12", "reintro", "2.0-1"), "MAMORI-DEB-2099-0006 2.3-1 UNKNOWN"},
		{pkg("Debian:12", "reintro", "2.2-9"), "MAMORI-DEB-2099-0006 2.3-1 UNKNOWN"},
		{pkg("Debian:12", "reintro", "2.3-1"), ""},
		{pkg("Debian:12", "tildepkg", "1.0-1~bpo1"), "MAMORI-DEB-2099-0005 1.0-1 UNKNOWN"},
		{pkg("Debian:12", "tildepkg", "1.0-1+deb12u1"), ""},
		{pkg("Debian:11", "example", "9.0-1"), "MAMORI-DEB-2099-0002 9.9-1 UNKNOWN"},
		{pkg("Debian:10", "example", "0.1-1"), ""},
		{pkg("Debian", "example", "0.1-1"), ""},
		// Ubuntu's records say "Ubuntu:22.04:LTS" and rate per package.
		{pkg("Ubuntu:22.04", "example", "1.0-1"), "MAMORI-UBUNTU-2099-0001 1.0-1ubuntu0.1 MEDIUM"},
		{pkg("Ubuntu:22.04", "example", "1.0-1ubuntu0.1"), ""},
		{pkg("Alpine:v3.20", "busybox", "1.36.1-r29"), ""},
		{pkg("Alpine:v3.20", "busybox", "1.36.1-r1"), "MAMORI-ALPINE-2099-0002 1.36.1-r2 UNKNOWN"},
		{pkg("Alpine:v3.19", "busybox", "1.36.1-r1"), ""},
		{pkg("", "busybox", "1.36.1-r1"), ""},
		// rpm: matched by the binary package, epoch included.
		{rpmPkg("planted-libs", "1:1.2.3-4.el9"), "MAMORI-ROCKY-2099-0001 1:1.2.3-5.el9 HIGH"},
		{rpmPkg("planted-libs", "1.2.4-1.el9"), "MAMORI-ROCKY-2099-0001 1:1.2.3-5.el9 HIGH"}, // epoch 0 is below epoch 1, whatever the version
		{rpmPkg("planted-libs", "1:1.2.3-5.el9"), ""},
	} {
		fs := db.Match([]sbom.Package{c.p})
		got := ""
		if len(fs) > 1 {
			t.Errorf("%+v: %d findings: %v", c.p, len(fs), describe(fs))
			continue
		}
		if len(fs) == 1 {
			got = fs[0].Advisory.ID + " " + fs[0].FixedVersion + " " + fs[0].Severity.String()
		}
		if got != c.want {
			t.Errorf("%s %s %s: got %q, want %q", c.p.Ecosystem, c.p.Name, c.p.Version, got, c.want)
		}
	}
}

// TestLoadZip reads the fixture as osv.dev ships it, a zip of <ID>.json,
// alone and inside a directory; withdrawn entries are counted apart.
func TestLoadZip(t *testing.T) {
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "all.zip")
	writeZip(t, zipPath, "testdata/osv")
	want := loadFixture(t)
	for _, path := range []string{zipPath, dir} {
		db, err := Load(context.Background(), path, LoadConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if db.Entries() != want.Entries() || db.Withdrawn() != 1 || db.Entries() != 17 {
			t.Errorf("%s: %d entries, %d withdrawn; the directory gives %d and 1", path, db.Entries(), db.Withdrawn(), want.Entries())
		}
		pkgs := []sbom.Package{{Ecosystem: "npm", Name: "lodash", Version: "4.17.20"}}
		if got := describe(db.Match(pkgs)); len(got) != 1 {
			t.Errorf("%s: lodash findings %v", path, got)
		}
	}
}

func writeZip(t testing.TB, zipPath, dir string) {
	t.Helper()
	out, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(out)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		w, err := zw.Create(filepath.Base(f))
		if err != nil {
			t.Fatal(err)
		}
		in, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(w, in)
		in.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(context.Background(), dir, LoadConfig{}); err == nil || !strings.Contains(err.Error(), "no OSV entries") {
		t.Errorf("empty directory: %v", err)
	}
	bad := filepath.Join(dir, "package.json")
	os.WriteFile(bad, []byte(`{"name": "not-osv"}`), 0o644)
	if _, err := Load(context.Background(), dir, LoadConfig{}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("non-OSV file: %v", err)
	}
	os.WriteFile(bad, []byte(`{"id": `), 0o644)
	if _, err := Load(context.Background(), dir, LoadConfig{}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("truncated file: %v", err)
	}
	notZip := filepath.Join(dir, "all.zip")
	os.WriteFile(notZip, []byte("not a zip"), 0o644)
	if _, err := Load(context.Background(), notZip, LoadConfig{}); err == nil || !strings.Contains(err.Error(), notZip) {
		t.Errorf("not a zip: %v", err)
	}
	if _, err := Load(context.Background(), filepath.Join(dir, "absent"), LoadConfig{}); err == nil {
		t.Error("absent path loaded")
	}
}

func TestSeverity(t *testing.T) {
	for _, c := range []struct {
		typ, vector string
		score       float64
		sev         Severity
	}{
		{"CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, Critical},
		{"CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, Medium},
		{"CVSS_V3", "CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5, Medium},
		{"CVSS_V3", "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6, Low},
		{"CVSS_V2", "AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0, High},
		{"CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, Critical},
	} {
		score, sev, err := cvssScore(c.typ, c.vector)
		if err != nil || score != c.score || sev != c.sev {
			t.Errorf("%s: %.1f %s %v, want %.1f %s", c.vector, score, sev, err, c.score, c.sev)
		}
	}
	if _, _, err := cvssScore("CVSS_V3", "CVSS:3.1/AV:N"); err == nil {
		t.Error("a partial vector was scored")
	}
	if r := rate([]osvSeverity{{Type: "CVSS_V3", Score: "garbage"}}, "moderate"); r.Severity != Medium {
		t.Errorf("unreadable vector, MODERATE word: %v", r.Severity)
	}
	if r := rate(nil, "", "important"); r.Severity != High {
		t.Errorf("IMPORTANT: %v", r.Severity)
	}
	if r := rate(nil); r.Severity != Unknown {
		t.Errorf("nothing: %v", r.Severity)
	}
}
