package sbom

import (
	"bytes"
	"debug/buildinfo"
	"io"
	"io/fs"
	"runtime/debug"
	"strings"

	"github.com/package-url/packageurl-go"
)

// maxBinarySize bounds the executables read into memory when the
// filesystem's files cannot be read at an offset.
const maxBinarySize = 512 << 20

// goStdlib is the name OSV gives the Go standard library and toolchain.
const goStdlib = "stdlib"

// readGoBinary lists the modules compiled into an executable that the Go
// toolchain stamped with build information, and the standard library of
// the Go release that built it. Files that are not executable ELF files
// are skipped after reading four bytes; ELF files that are not Go
// programs give nothing.
func readGoBinary(fsys fs.FS, p string, e fs.DirEntry, errs *fileErrors) []Package {
	info, err := e.Info()
	if err != nil {
		errs.add(p, err)
		return nil
	}
	if info.Mode().Perm()&0o111 == 0 || info.Size() < 64 {
		return nil
	}
	f, err := fsys.Open(p)
	if err != nil {
		errs.add(p, err)
		return nil
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != "\x7fELF" {
		return nil
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		if info.Size() > maxBinarySize {
			return nil
		}
		rest, err := io.ReadAll(f)
		if err != nil {
			errs.add(p, err)
			return nil
		}
		ra = bytes.NewReader(append(magic[:], rest...))
	}
	bi, err := buildinfo.Read(ra)
	if err != nil {
		return nil // an ELF file, but not a Go program
	}
	return goModules(bi, "/"+p)
}

// goModules turns build information into packages: the main module, each
// dependency (its replacement when replaced), and the standard library.
func goModules(bi *debug.BuildInfo, location string) []Package {
	var pkgs []Package
	add := func(path, version string) {
		if path == "" {
			return
		}
		if version == "(devel)" {
			version = ""
		}
		pkgs = append(pkgs, Package{
			Name:      path,
			Version:   version,
			Type:      Golang,
			Ecosystem: "Go",
			PURL:      golangPURL(path, version),
			Location:  location,
		})
	}
	add(bi.Main.Path, bi.Main.Version)
	for _, m := range bi.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		add(m.Path, m.Version)
	}
	if v := goVersionSemver(bi.GoVersion); v != "" {
		add(goStdlib, v)
	}
	return pkgs
}

// golangPURL splits a module path into the purl namespace and name:
// github.com/a/b is pkg:golang/github.com/a/b.
func golangPURL(modPath, version string) string {
	ns, name := "", modPath
	if i := strings.LastIndex(modPath, "/"); i >= 0 {
		ns, name = modPath[:i], modPath[i+1:]
	}
	return packageurl.NewPackageURL(packageurl.TypeGolang, ns, name, version, nil, "").ToString()
}

// goVersionSemver turns a toolchain version as stamped ("go1.22.3",
// "go1.21rc2", "go1.26.8 X:nodwarf5") into the semantic version OSV's Go
// advisories use for the standard library ("v1.22.3", "v1.21.0-rc.2").
// Development toolchains give "".
func goVersionSemver(goVersion string) string {
	v, _, _ := strings.Cut(goVersion, " ")
	v, ok := strings.CutPrefix(v, "go")
	if !ok || v == "" {
		return ""
	}
	pre := ""
	for _, tag := range []string{"rc", "beta"} {
		if i := strings.Index(v, tag); i > 0 {
			v, pre = v[:i], "-"+tag+"."+v[i+len(tag):]
			break
		}
	}
	switch strings.Count(v, ".") {
	case 0:
		v += ".0.0"
	case 1:
		v += ".0"
	}
	return "v" + v + pre
}
