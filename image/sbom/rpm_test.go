package sbom

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestRPMDatabase builds two packages with rpmbuild, records them in a
// fresh rpm database (SQLite, rpm 4.16+'s format) under a tree with a
// Rocky Linux os-release, and reads them back. It needs Debian's rpm
// package (rpm and rpmbuild).
func TestRPMDatabase(t *testing.T) {
	rpmbuild, err1 := exec.LookPath("rpmbuild")
	rpm, err2 := exec.LookPath("rpm")
	if err1 != nil || err2 != nil {
		t.Skip("rpm and rpmbuild are not installed (Debian package rpm)")
	}
	top := t.TempDir()
	spec := filepath.Join(top, "fixture.spec")
	if err := os.WriteFile(spec, []byte(`Name: planted
Version: 1.2.3
Release: 4.el9
Epoch: 1
Summary: fixture package for mamori's tests
License: MIT
BuildArch: noarch

%description
A fixture.

%package -n planted-libs
Summary: a second binary package from the same source

%description -n planted-libs
A fixture.

%install
mkdir -p %{buildroot}/usr/share/planted
echo fixture > %{buildroot}/usr/share/planted/README
echo fixture > %{buildroot}/usr/share/planted/LIBS

%files
/usr/share/planted/README

%files -n planted-libs
/usr/share/planted/LIBS
`), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run(rpmbuild, "--define", "_topdir "+top, "-bb", spec)
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("ID=\"rocky\"\nVERSION_ID=\"9.4\"\n"), 0o644)
	rpms, _ := filepath.Glob(filepath.Join(top, "RPMS", "noarch", "*.rpm"))
	if len(rpms) != 2 {
		t.Fatalf("rpmbuild made %v", rpms)
	}
	run(rpm, append([]string{"--root", root, "--dbpath", "/var/lib/rpm", "--define", "_db_backend sqlite", "-i", "--justdb", "--nodeps", "--noscripts"}, rpms...)...)
	if _, err := os.Stat(filepath.Join(root, "var/lib/rpm/rpmdb.sqlite")); err != nil {
		t.Fatalf("rpm made no SQLite database: %v", err)
	}

	pkgs := extract(t, root)
	if len(pkgs) != 2 {
		t.Fatalf("got %d packages, want 2: %+v", len(pkgs), pkgs)
	}
	want := Package{
		Name: "planted-libs", Version: "1:1.2.3-4.el9", Type: RPM, Ecosystem: "Rocky Linux:9",
		PURL:     "pkg:rpm/rocky/planted-libs@1.2.3-4.el9?arch=noarch&distro=rocky-9.4&epoch=1",
		Location: "/var/lib/rpm/rpmdb.sqlite", SourceName: "planted", SourceVersion: "1.2.3-4.el9", Arch: "noarch",
	}
	if got := find(pkgs, RPM, "planted-libs"); len(got) != 1 || got[0] != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got := find(pkgs, RPM, "planted"); len(got) != 1 || got[0].Version != "1:1.2.3-4.el9" {
		t.Errorf("planted: %+v", got)
	}
}

func TestSourceRPM(t *testing.T) {
	for in, want := range map[string][2]string{
		"openssl-3.0.7-27.el9.src.rpm":     {"openssl", "3.0.7-27.el9"},
		"python-requests-2.25.1-8.src.rpm": {"python-requests", "2.25.1-8"},
		"bad.rpm":                          {"", ""},
		"x-1.src.rpm":                      {"", ""},
	} {
		n, v := sourceRPM(in)
		if n != want[0] || v != want[1] {
			t.Errorf("sourceRPM(%q) = %q %q, want %q %q", in, n, v, want[0], want[1])
		}
	}
}
