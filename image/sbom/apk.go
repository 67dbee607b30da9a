package sbom

import (
	"io/fs"

	"github.com/package-url/packageurl-go"
)

// apkInstalled is apk-tools' database of installed packages (apk-tools'
// "installed database" format: a stanza per package, one-letter keys).
const apkInstalled = "lib/apk/db/installed"

// extractAPK reads the apk installed database.
func extractAPK(fsys fs.FS, d distro, errs *fileErrors) []Package {
	b, err := fs.ReadFile(fsys, apkInstalled)
	if err != nil {
		if !isNotExist(err) {
			errs.add(apkInstalled, err)
		}
		return nil
	}
	return parseAPKInstalled(b, "/"+apkInstalled, d)
}

// parseAPKInstalled reads P (name), V (version), A (architecture) and o
// (origin: the source package, which Alpine's advisories name).
func parseAPKInstalled(b []byte, location string, d distro) []Package {
	ns := d.ID
	if ns == "" {
		ns = "alpine"
	}
	var pkgs []Package
	for _, p := range controlParagraphs(b) {
		name, version := p["P"], p["V"]
		if name == "" || version == "" {
			continue
		}
		pkg := Package{
			Name:      name,
			Version:   version,
			Type:      APK,
			Ecosystem: d.ecosystem(),
			Location:  location,
			Arch:      p["A"],
		}
		if o := p["o"]; o != "" {
			pkg.SourceName, pkg.SourceVersion = o, version
		}
		pkg.PURL = osPURL(packageurl.TypeApk, ns, d.VersionID, pkg)
		pkgs = append(pkgs, pkg)
	}
	return pkgs
}
