package sbom

import (
	"cmp"
	"slices"

	"github.com/package-url/packageurl-go"
)

// Type says which package manager or format a Package was found by. It is
// also the package URL type.
type Type string

// The package types Extract finds.
const (
	Deb    Type = "deb"
	APK    Type = "apk"
	RPM    Type = "rpm"
	Golang Type = "golang"
	PyPI   Type = "pypi"
	NPM    Type = "npm"
)

// Package is one installed package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Type    Type   `json:"type"`
	// Ecosystem is the OSV ecosystem the package is matched in, with the
	// distribution release where OSV has one: "Debian:12", "Alpine:v3.20",
	// "Go", "PyPI", "npm". Empty when the distribution is one OSV does not
	// cover (the package is still listed in the SBOM).
	Ecosystem string `json:"ecosystem,omitempty"`
	// PURL is the package URL (https://github.com/package-url/purl-spec).
	PURL string `json:"purl"`
	// Location is the file the package was read from, as an absolute path
	// inside the scanned tree: /var/lib/dpkg/status, /usr/bin/app, ...
	Location string `json:"location"`
	// SourceName and SourceVersion name the source package a binary
	// package was built from (dpkg's Source field, apk's origin, rpm's
	// source RPM). Distribution advisories are written against source
	// packages, so this is the name vulnerability matching uses. Empty
	// when the package is its own source.
	SourceName    string `json:"sourceName,omitempty"`
	SourceVersion string `json:"sourceVersion,omitempty"`
	// Arch is the architecture an OS package was built for.
	Arch string `json:"arch,omitempty"`
}

// sortPackages orders packages by location, then name and version, so that
// a scan's output is stable.
func sortPackages(pkgs []Package) {
	slices.SortFunc(pkgs, func(a, b Package) int {
		return cmp.Or(cmp.Compare(a.Location, b.Location), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
}

// osPURL is the package URL of a dpkg or apk package: its architecture,
// distribution release and, when it was built from a source package of
// another name, that name as "upstream".
func osPURL(typ, namespace, distro string, p Package) string {
	q := packageurl.Qualifiers{}
	if p.Arch != "" {
		q = append(q, packageurl.Qualifier{Key: "arch", Value: p.Arch})
	}
	if distro != "" {
		q = append(q, packageurl.Qualifier{Key: "distro", Value: distro})
	}
	if p.SourceName != "" && p.SourceName != p.Name {
		q = append(q, packageurl.Qualifier{Key: "upstream", Value: p.SourceName})
	}
	return packageurl.NewPackageURL(typ, namespace, p.Name, p.Version, q, "").ToString()
}
