package sbom

import (
	"io/fs"
	"path"
	"strings"

	"github.com/package-url/packageurl-go"
)

// dpkgStatus is dpkg's database of installed packages; dpkgStatusDir is
// the one-file-per-package form that distroless images ship instead.
const (
	dpkgStatus    = "var/lib/dpkg/status"
	dpkgStatusDir = "var/lib/dpkg/status.d"
)

// extractDpkg reads the dpkg status database and, if present, status.d.
func extractDpkg(fsys fs.FS, d distro, errs *fileErrors) []Package {
	var pkgs []Package
	if b, err := fs.ReadFile(fsys, dpkgStatus); err == nil {
		pkgs = append(pkgs, parseDpkgStatus(b, "/"+dpkgStatus, d, true)...)
	} else if !isNotExist(err) {
		errs.add(dpkgStatus, err)
	}
	entries, err := fs.ReadDir(fsys, dpkgStatusDir)
	if err != nil && !isNotExist(err) {
		errs.add(dpkgStatusDir, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), ".md5sums") {
			continue
		}
		p := path.Join(dpkgStatusDir, e.Name())
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			errs.add(p, err)
			continue
		}
		// status.d entries have no Status field: each file is installed.
		pkgs = append(pkgs, parseDpkgStatus(b, "/"+p, d, false)...)
	}
	return pkgs
}

// parseDpkgStatus reads the installed packages of a status file. When
// needStatus is set, a stanza counts only if its Status says installed:
// removed packages whose configuration files remain stay in the database.
func parseDpkgStatus(b []byte, location string, d distro, needStatus bool) []Package {
	ns := d.ID
	if ns == "" {
		ns = "debian"
	}
	var pkgs []Package
	for _, p := range controlParagraphs(b) {
		name, version := p["Package"], p["Version"]
		if name == "" || version == "" {
			continue
		}
		if needStatus {
			// Status is "want flag state"; only the state matters here.
			f := strings.Fields(p["Status"])
			if len(f) != 3 || f[2] != "installed" {
				continue
			}
		}
		pkg := Package{
			Name:      name,
			Version:   version,
			Type:      Deb,
			Ecosystem: d.ecosystem(),
			Location:  location,
			Arch:      p["Architecture"],
		}
		// "Source: name" or "Source: name (version)" when the source
		// version differs from the binary's (binNMUs, +bN).
		if src := p["Source"]; src != "" {
			sname, sver, _ := strings.Cut(src, " ")
			pkg.SourceName = sname
			pkg.SourceVersion = strings.Trim(strings.TrimSpace(sver), "()")
			if pkg.SourceVersion == "" {
				pkg.SourceVersion = version
			}
		}
		pkg.PURL = osPURL(packageurl.TypeDebian, ns, d.purlDistro(), pkg)
		pkgs = append(pkgs, pkg)
	}
	return pkgs
}
