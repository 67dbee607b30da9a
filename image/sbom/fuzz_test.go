package sbom

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// The package readers read files an image's author wrote: whatever they
// hold, Extract returns packages (each with a name and version) and the
// files it skipped, and never panics.

// FuzzExtract lays out an os-release, an rpm database (SQLite, Berkeley
// DB or NDB, by the fuzzer's choice), an npm package.json and lockfile,
// and Python metadata with arbitrary contents, and extracts the packages.
func FuzzExtract(f *testing.F) {
	read := func(p string) []byte {
		b, _ := os.ReadFile(p)
		return b
	}
	// The magic numbers of the rpm database formats, so that mutations
	// reach past them: Berkeley DB's hash at offset 12, NDB's "RpmP".
	bdb := make([]byte, 4096)
	binary.LittleEndian.PutUint32(bdb[12:], 0x00061561)
	binary.LittleEndian.PutUint32(bdb[20:], 4096)
	ndb := append([]byte("RpmP"), make([]byte, 60)...)
	binary.LittleEndian.PutUint32(ndb[4:], 0)
	binary.LittleEndian.PutUint32(ndb[8:], 1)
	f.Add(read("testdata/alpine/etc/os-release"), uint8(0), bdb,
		read("testdata/lang/app/node_modules/lodash/package.json"), read("testdata/lang/app/package-lock.json"),
		read("testdata/lang/usr/lib/python3/site-packages/Requests-2.31.0.dist-info/METADATA"))
	f.Add([]byte("ID=rocky\nVERSION_ID=\"9.3\"\nID_LIKE=\"rhel centos fedora\"\n"), uint8(2), ndb,
		[]byte(`{"name":"@scope/x","version":"1.0.0"}`), read("testdata/lang/old/package-lock.json"),
		read("testdata/lang/usr/lib/python3/site-packages/six-1.16.0.egg-info/PKG-INFO"))
	f.Add([]byte("ID=\"\nVERSION_ID"), uint8(1), []byte("SQLite format 3\x00"), []byte(`{"name":1}`), []byte(`{"packages":{"":{},"node_modules/a":{"version":null}}}`), []byte("Name:\nVersion: 1\n"))
	f.Fuzz(func(t *testing.T, osRelease []byte, rpmFormat uint8, rpmDB, packageJSON, lockfile, pyMeta []byte) {
		fsys := fstest.MapFS{
			"etc/os-release": {Data: osRelease},
			rpmDatabases[int(rpmFormat)%len(rpmDatabases)]:         {Data: rpmDB},
			"app/node_modules/x/package.json":                      {Data: packageJSON},
			"app/package-lock.json":                                {Data: lockfile},
			"usr/lib/python3/site-packages/x-1.dist-info/METADATA": {Data: pyMeta},
			"usr/lib/python3/site-packages/y-1.egg-info":           {Data: pyMeta},
		}
		pkgs, _ := Extract(context.Background(), fsys)
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Errorf("package without a name or version: %+v", p)
			}
		}
	})
}

// FuzzGoBinary reads arbitrary executables as Go programs: the build
// information a Go binary carries (module paths and versions) is the
// image author's.
func FuzzGoBinary(f *testing.F) {
	dir := f.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/tiny\n\ngo 1.22\n"), 0o644)
	bin := filepath.Join(dir, "tiny")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil {
		b, _ := os.ReadFile(bin)
		f.Add(b)
	} else {
		f.Logf("no Go binary for a seed: %v: %s", err, out)
	}
	f.Add([]byte("\x7fELF" + string(make([]byte, 60))))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{"usr/bin/app": {Data: data, Mode: 0o755}}
		pkgs, _ := Extract(context.Background(), fsys)
		for _, p := range pkgs {
			if p.Name == "" || p.Type != Golang {
				t.Errorf("package %+v from a Go binary", p)
			}
		}
	})
}
