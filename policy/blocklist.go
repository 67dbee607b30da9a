package policy

import (
	"path"
	"strings"
)

// ExecutableBlocklist refuses or reports executables by base name, full
// path or the SHA-256 of their content, whether or not they came with the
// image.
type ExecutableBlocklist struct {
	Switch `yaml:",inline"`
	Names  Patterns `yaml:"names" json:"names,omitzero"`
	Paths  Patterns `yaml:"paths" json:"paths,omitzero"`
	SHA256 []string `yaml:"sha256" json:"sha256,omitempty"` // lower-case hex, 64 digits
}

// Blocked reports whether an executable is on the list. sha256 may be ""
// when the caller has not hashed the file.
func (b *ExecutableBlocklist) Blocked(exe, sha256 string) bool {
	if b.Names.Match(path.Base(exe)) || b.Paths.Match(exe) {
		return true
	}
	if sha256 != "" {
		for _, h := range b.SHA256 {
			if h == sha256 {
				return true
			}
		}
	}
	return false
}

func (b *ExecutableBlocklist) validate(v *validator, p string) {
	v.checkf(b.Names.Len()+b.Paths.Len()+len(b.SHA256) == 0, p,
		"executableBlocklist lists nothing; add names, paths or sha256 entries")
	for i, h := range b.SHA256 {
		h = strings.ToLower(strings.TrimPrefix(h, "sha256:"))
		b.SHA256[i] = h
		v.checkf(!isHex(h, 64), p+".sha256["+itoa(i)+"]",
			"sha256 entry %q is not a SHA-256 digest; write 64 hexadecimal digits (as sha256sum prints), optionally prefixed by \"sha256:\"", h)
	}
	for i, s := range b.Paths.Strings() {
		v.checkf(s[0] != '/' && s[0] != '*', p+".paths["+itoa(i)+"]",
			"paths entry %q is not an absolute path; start it with '/' (or use names for a base name)", s)
	}
}

// merge: block lists unite.
func (b *ExecutableBlocklist) merge(m *merger, src control, path string) {
	s := src.(*ExecutableBlocklist)
	m.unionPatterns(path+".names", &b.Names, s.Names)
	m.unionPatterns(path+".paths", &b.Paths, s.Paths)
	m.union(path+".sha256", &b.SHA256, s.SHA256)
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// On reports whether the control is set and on; it is safe on nil.
func (c *ExecutableBlocklist) On() bool { return c != nil && c.Switch.On() }
