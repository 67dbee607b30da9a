package sbom

import (
	"bufio"
	"bytes"
	"io/fs"
	"strconv"
	"strings"
)

// distro is what /etc/os-release says about the distribution of a tree.
type distro struct {
	ID        string // "debian", "ubuntu", "alpine", "rocky", ...
	VersionID string // "12", "22.04", "3.20.3", "9.4"
}

// readDistro reads etc/os-release, falling back to usr/lib/os-release (the
// os-release(5) order). A tree with neither gives the zero distro.
func readDistro(fsys fs.FS) distro {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			continue
		}
		d := parseOSRelease(b)
		if d.ID == "debian" && d.VersionID == "" {
			// Debian testing and sid carry no VERSION_ID; a point release
			// in /etc/debian_version still names the major release.
			if v, err := fs.ReadFile(fsys, "etc/debian_version"); err == nil {
				major, _, _ := strings.Cut(strings.TrimSpace(string(v)), ".")
				if _, err := strconv.Atoi(major); err == nil {
					d.VersionID = major
				}
			}
		}
		return d
	}
	return distro{}
}

// parseOSRelease reads the shell-style KEY=value lines of os-release(5).
func parseOSRelease(b []byte) distro {
	var d distro
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			d.ID = strings.ToLower(v)
		case "VERSION_ID":
			d.VersionID = v
		}
	}
	return d
}

// ecosystem is the OSV ecosystem of the distribution's OS packages, or ""
// for a distribution that OSV does not publish advisories for.
func (d distro) ecosystem() string {
	major, _, _ := strings.Cut(d.VersionID, ".")
	withRelease := func(name, release string) string {
		if release == "" {
			return name
		}
		return name + ":" + release
	}
	switch d.ID {
	case "debian":
		return withRelease("Debian", major)
	case "ubuntu":
		return withRelease("Ubuntu", d.VersionID)
	case "alpine":
		// OSV names Alpine releases by branch: 3.20.3 is in "Alpine:v3.20".
		parts := strings.SplitN(d.VersionID, ".", 3)
		if len(parts) < 2 {
			return "Alpine"
		}
		return "Alpine:v" + parts[0] + "." + parts[1]
	case "rocky":
		return withRelease("Rocky Linux", major)
	case "almalinux":
		return withRelease("AlmaLinux", major)
	case "wolfi":
		return "Wolfi"
	case "chainguard":
		return "Chainguard"
	}
	return ""
}

// purlDistro is the distro qualifier of an OS package's URL, e.g.
// "debian-12".
func (d distro) purlDistro() string {
	if d.ID == "" || d.VersionID == "" {
		return d.ID
	}
	return d.ID + "-" + d.VersionID
}
