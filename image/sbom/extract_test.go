package sbom

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/package-url/packageurl-go"
)

// linkTree makes a directory whose files are symbolic links to real files
// of this machine, so that a test reads them in place through os.DirFS.
func linkTree(t testing.TB, links map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, target := range links {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func extract(t *testing.T, dir string) []Package {
	t.Helper()
	pkgs, err := Extract(context.Background(), os.DirFS(dir))
	if err != nil {
		t.Fatalf("Extract(%s): %v", dir, err)
	}
	return pkgs
}

func find(pkgs []Package, typ Type, name string) []Package {
	var out []Package
	for _, p := range pkgs {
		if p.Type == typ && p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// TestDpkgStatusOfThisMachine reads this Debian machine's dpkg database
// and must list exactly what dpkg-query says is installed.
func TestDpkgStatusOfThisMachine(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skipf("no dpkg database on this machine: %v", err)
	}
	out, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Status} ${Package} ${Version} ${source:Package}\n").Output()
	if err != nil {
		t.Skipf("dpkg-query: %v", err)
	}
	want := map[string]string{} // "name version" -> source
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) == 4 && f[0] == "installed" {
			want[f[1]+" "+f[2]] = f[3]
		}
	}
	dir := linkTree(t, map[string]string{
		"var/lib/dpkg/status": "/var/lib/dpkg/status",
		"etc/os-release":      "/etc/os-release",
	})
	pkgs := extract(t, dir)
	d := readDistro(os.DirFS("/"))
	got := map[string]string{}
	for _, p := range pkgs {
		if p.Type != Deb {
			t.Errorf("unexpected %s package %s", p.Type, p.Name)
			continue
		}
		src := p.SourceName
		if src == "" {
			src = p.Name
		}
		got[p.Name+" "+p.Version] = src
		if p.Ecosystem != d.ecosystem() || p.Location != "/var/lib/dpkg/status" {
			t.Errorf("%s: ecosystem %q location %q", p.Name, p.Ecosystem, p.Location)
		}
		if u, err := packageurl.FromString(p.PURL); err != nil || u.Type != "deb" || u.Name != p.Name || u.Version != p.Version || u.Qualifiers.Map()["distro"] != d.purlDistro() {
			t.Errorf("%s: purl %s (%v)", p.Name, p.PURL, err)
		}
	}
	if len(got) != len(want) {
		t.Errorf("Extract found %d packages, dpkg-query %d", len(got), len(want))
	}
	for k, src := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("missing %s", k)
		} else if g != src {
			t.Errorf("%s: source %q, dpkg-query says %q", k, g, src)
		}
	}
	if d.ID == "debian" && !strings.HasPrefix(d.ecosystem(), "Debian:") {
		t.Errorf("Debian ecosystem %q lacks the release", d.ecosystem())
	}
}

// TestGoBinary builds a program with module dependencies and reads its
// modules back.
func TestGoBinary(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain on PATH")
	}
	// The dependency's version as this module requires it: it is in the
	// module cache already, since this package uses it.
	out, err := exec.Command(gobin, "list", "-m", "-f", "{{.Version}}", "github.com/package-url/packageurl-go").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dep := &debug.Module{Path: "github.com/package-url/packageurl-go", Version: strings.TrimSpace(string(out))}
	src := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/planted\n\ngo 1.22\n\nrequire "+dep.Path+" "+dep.Version+"\n")
	write("main.go", "package main\n\nimport \"github.com/package-url/packageurl-go\"\n\nfunc main() { println(packageurl.TypeNPM) }\n")
	root := t.TempDir()
	bin := filepath.Join(root, "usr", "local", "bin", "planted")
	cmd := exec.Command(gobin, "build", "-o", bin, ".")
	cmd.Dir = src
	// The dependency is in the module cache already (this test uses it);
	// nothing is fetched.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	pkgs := extract(t, root)
	for _, want := range []Package{
		{Name: "example.com/planted", Version: ""},
		{Name: dep.Path, Version: dep.Version},
		{Name: goStdlib, Version: goVersionSemver(runtime.Version())},
	} {
		got := find(pkgs, Golang, want.Name)
		if len(got) != 1 || got[0].Version != want.Version || got[0].Location != "/usr/local/bin/planted" || got[0].Ecosystem != "Go" {
			t.Errorf("%s: got %+v, want version %q at /usr/local/bin/planted", want.Name, got, want.Version)
		}
	}
	if p := find(pkgs, Golang, dep.Path); len(p) == 1 && p[0].PURL != "pkg:golang/github.com/package-url/packageurl-go@"+dep.Version {
		t.Errorf("purl %s", p[0].PURL)
	}
}

func TestGoVersionSemver(t *testing.T) {
	for in, want := range map[string]string{
		"go1.22.3":             "v1.22.3",
		"go1.21":               "v1.21.0",
		"go1.21rc2":            "v1.21.0-rc.2",
		"go1.20beta1":          "v1.20.0-beta.1",
		"go1.26.8 X:nodwarf5":  "v1.26.8",
		"devel go1.27-abcdef0": "",
	} {
		if got := goVersionSemver(in); got != want {
			t.Errorf("goVersionSemver(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAPKInstalled(t *testing.T) {
	pkgs := extract(t, "testdata/alpine")
	if len(pkgs) != 3 {
		t.Fatalf("got %d packages, want 3: %+v", len(pkgs), pkgs)
	}
	p := find(pkgs, APK, "libcrypto3")
	if len(p) != 1 {
		t.Fatalf("libcrypto3 missing: %+v", pkgs)
	}
	want := Package{
		Name: "libcrypto3", Version: "3.3.1-r3", Type: APK, Ecosystem: "Alpine:v3.20",
		PURL:     "pkg:apk/alpine/libcrypto3@3.3.1-r3?arch=x86_64&distro=3.20.3&upstream=openssl",
		Location: "/lib/apk/db/installed", SourceName: "openssl", SourceVersion: "3.3.1-r3", Arch: "x86_64",
	}
	if p[0] != want {
		t.Errorf("got  %+v\nwant %+v", p[0], want)
	}
}

func TestPythonAndNPM(t *testing.T) {
	pkgs := extract(t, "testdata/lang")
	var got []string
	for _, p := range pkgs {
		got = append(got, string(p.Type)+" "+p.Name+" "+p.Version+" "+p.Location+" "+p.PURL)
	}
	want := []string{
		"npm @babel/core 7.22.0 /app/node_modules/@babel/core/package.json pkg:npm/%40babel/core@7.22.0",
		"npm lodash 4.17.20 /app/node_modules/lodash/package.json pkg:npm/lodash@4.17.20",
		// Only in the lockfile: listed from there. lodash and @babel/core
		// are listed once, from node_modules.
		"npm minimist 1.2.5 /app/package-lock.json pkg:npm/minimist@1.2.5",
		"npm left-pad 1.3.0 /old/package-lock.json pkg:npm/left-pad@1.3.0",
		"npm nested-dep 0.1.0 /old/package-lock.json pkg:npm/nested-dep@0.1.0",
		"pypi PyYAML 6.0.1 /usr/lib/python3/site-packages/PyYAML-6.0.1.egg-info pkg:pypi/pyyaml@6.0.1",
		"pypi requests 2.31.0 /usr/lib/python3/site-packages/Requests-2.31.0.dist-info/METADATA pkg:pypi/requests@2.31.0",
		"pypi six 1.16.0 /usr/lib/python3/site-packages/six-1.16.0.egg-info/PKG-INFO pkg:pypi/six@1.16.0",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestExtractErrors: a broken file is named and does not hide the rest.
func TestExtractErrors(t *testing.T) {
	fsys := fstest.MapFS{
		"srv/node_modules/broken/package.json": {Data: []byte(`{"name": "broken", "version": `)},
		"srv/node_modules/good/package.json":   {Data: []byte(`{"name": "good", "version": "1.0.0"}`)},
		"srv/lib/x.dist-info/METADATA":         {Data: []byte("Summary: no name\n")},
	}
	pkgs, err := Extract(context.Background(), fsys)
	var ee *ExtractError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want *ExtractError", err)
	}
	var paths []string
	for _, f := range ee.Files {
		paths = append(paths, f.Path)
	}
	slices.Sort(paths)
	if want := []string{"/srv/lib/x.dist-info/METADATA", "/srv/node_modules/broken/package.json"}; !slices.Equal(paths, want) {
		t.Errorf("files with errors %v, want %v", paths, want)
	}
	if len(pkgs) != 1 || pkgs[0].Name != "good" {
		t.Errorf("packages %+v, want good only", pkgs)
	}
}

func TestOSReleaseEcosystem(t *testing.T) {
	for body, want := range map[string]string{
		"ID=debian\nVERSION_ID=\"12\"\n":        "Debian:12",
		"ID=ubuntu\nVERSION_ID=\"22.04\"\n":     "Ubuntu:22.04",
		"ID=alpine\nVERSION_ID=3.20.3\n":        "Alpine:v3.20",
		"ID=alpine\nVERSION_ID=3.21.0_alpha1\n": "Alpine:v3.21",
		"ID=\"rocky\"\nVERSION_ID=\"9.4\"\n":    "Rocky Linux:9",
		"ID=fedora\nVERSION_ID=40\n":            "",
	} {
		if got := parseOSRelease([]byte(body)).ecosystem(); got != want {
			t.Errorf("%q: ecosystem %q, want %q", body, got, want)
		}
	}
	// Debian testing: no VERSION_ID, the release from debian_version.
	fsys := fstest.MapFS{
		"etc/os-release":     {Data: []byte("ID=debian\n")},
		"etc/debian_version": {Data: []byte("13.1\n")},
	}
	if got := readDistro(fsys).ecosystem(); got != "Debian:13" {
		t.Errorf("debian without VERSION_ID: %q", got)
	}
}

// FuzzControlParagraphs: the dpkg and apk database readers must not panic
// on any input.
func FuzzControlParagraphs(f *testing.F) {
	if b, err := os.ReadFile("testdata/alpine/lib/apk/db/installed"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("Package: a\nStatus: install ok installed\nVersion: 1\nSource: b (2)\n\n"))
	f.Add([]byte("Package: a\n Version: 1\n\n\r\n:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := distro{ID: "debian", VersionID: "12"}
		for _, p := range parseDpkgStatus(b, "/s", d, true) {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("package without name or version: %+v", p)
			}
		}
		parseAPKInstalled(b, "/i", distro{ID: "alpine"})
	})
}
