package vuln

import (
	"errors"
	"regexp"
	"strings"

	"github.com/google/osv-scalibr/semantic"
)

// apkVersion is the grammar apk-tools accepts for a package version
// (numbers separated by dots, an optional letter, suffixes, an optional
// commit hash, a revision), narrowed to numbers after the first that do
// not start with 0 unless they are 0: osv-scalibr compares those
// inconsistently ("1.00" <= "1.0" <= "1" but "1.00" > "1", found by
// FuzzVersionOrder), and apk gives them a string ordering of their own.
var apkVersion = regexp.MustCompile(`^[0-9]+(\.(0|[1-9][0-9]*))*[a-z]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*(~[0-9a-f]+)?(-r[0-9]+)?$`)

// debVersion is deb-version(7)'s grammar: an optional numeric epoch, an
// upstream version starting with a digit, an optional revision.
var debVersion = regexp.MustCompile(`^([0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$`)

var errInvalidVersion = errors.New("not a valid version in this ecosystem")

// parseVersion reads a version in the scheme of an OSV ecosystem
// ("Debian:12" compares as Debian). Versions outside the ecosystem's
// grammar are refused: the comparison is a total order only over valid
// versions (fuzzing found apk-like strings such as "1.0.a00" that compare
// inconsistently), and a package whose version is refused is not matched.
func parseVersion(version, ecosystem string) (semantic.Version, error) {
	base, _, _ := strings.Cut(ecosystem, ":")
	switch base {
	case "Alpine", "Alpaquita", "Chainguard", "Wolfi", "MinimOS":
		if !apkVersion.MatchString(version) {
			return nil, errInvalidVersion
		}
	case "Debian", "Ubuntu":
		if !debVersion.MatchString(version) {
			return nil, errInvalidVersion
		}
	}
	return semantic.Parse(version, ecosystem)
}
