package sbom

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"regexp"
	"strings"

	"github.com/package-url/packageurl-go"
)

// readPythonMetadata reads the Name and Version of an installed Python
// distribution from its core metadata (a .dist-info's METADATA, an
// .egg-info's PKG-INFO, or an .egg-info file): an email-style header
// block, per the Python packaging core metadata specification.
func readPythonMetadata(fsys fs.FS, p string, errs *fileErrors) (Package, bool) {
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		errs.add(p, err)
		return Package{}, false
	}
	var name, version string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() && (name == "" || version == "") {
		line := sc.Text()
		if line == "" {
			break // the headers end at the first blank line
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(k) {
		case "name":
			name = strings.TrimSpace(v)
		case "version":
			version = strings.TrimSpace(v)
		}
	}
	if name == "" || version == "" {
		errs.add(p, errors.New("python package metadata without Name and Version"))
		return Package{}, false
	}
	return Package{
		Name:      name,
		Version:   version,
		Type:      PyPI,
		Ecosystem: "PyPI",
		PURL:      packageurl.NewPackageURL(packageurl.TypePyPi, "", NormalizePyPIName(name), version, nil, "").ToString(),
		Location:  "/" + p,
	}, true
}

var pypiSeparators = regexp.MustCompile(`[-_.]+`)

// NormalizePyPIName is a Python distribution name in the normalized form
// of the packaging specification (PEP 503): lower case, with each run of
// "-", "_" and "." replaced by one "-". PyPI treats names that normalize
// alike as the same project.
func NormalizePyPIName(name string) string {
	return pypiSeparators.ReplaceAllString(strings.ToLower(name), "-")
}
