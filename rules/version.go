package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// EngineVersion is the Falco engine version whose rules-file semantics this
// package implements; files requiring a newer engine are refused.
const EngineVersion = "0.63.0"

// version is a semantic version without pre-release or build parts.
type version [3]uint64

func parseVersion(s string) (version, error) {
	var v version
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("version %q is not of the form MAJOR.MINOR.PATCH", s)
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return v, fmt.Errorf("version %q is not of the form MAJOR.MINOR.PATCH", s)
		}
		v[i] = n
	}
	return v, nil
}

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }

func (v version) less(w version) bool {
	for i := range v {
		if v[i] != w[i] {
			return v[i] < w[i]
		}
	}
	return false
}

// compatible reports whether a provider at version have satisfies a
// requirement of want: same major version and not older.
func (have version) compatible(want version) bool {
	return have[0] == want[0] && !have.less(want)
}

// requiredEngineVersion reads required_engine_version: an integer N means
// 0.N.0 (the engine's major and patch), a string is a full version.
func requiredEngineVersion(s string, engine version) (version, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return version{engine[0], n, engine[2]}, nil
	}
	return parseVersion(s)
}
