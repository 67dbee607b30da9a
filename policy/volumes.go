package policy

// VolumesBlocklist refuses containers that mount any of the listed host
// paths, such as a container runtime's socket, / or /etc.
type VolumesBlocklist struct {
	Switch `yaml:",inline"`
	Paths  Patterns `yaml:"paths" json:"paths"`
}

// Blocked reports whether mounting the host path src is refused.
func (b *VolumesBlocklist) Blocked(src string) bool { return b.Paths.Match(src) }

func (b *VolumesBlocklist) validate(v *validator, path string) {
	if b.Paths.Len() == 0 {
		v.errorf(path, "volumesBlocklist needs paths, the host paths containers may not mount (e.g. /run/containerd/containerd.sock, /, /etc)")
	}
	for i, s := range b.Paths.Strings() {
		v.checkf(s[0] != '/' && s[0] != '*', path+".paths["+itoa(i)+"]", "paths entry %q is not an absolute host path; start it with '/'", s)
	}
}

// merge: block lists unite.
func (b *VolumesBlocklist) merge(m *merger, src control, path string) {
	m.unionPatterns(path+".paths", &b.Paths, src.(*VolumesBlocklist).Paths)
}

// ReadOnlyRootFilesystem refuses containers whose root filesystem is
// writable.
type ReadOnlyRootFilesystem struct {
	Switch `yaml:",inline"`
}

// On reports whether the control is set and on; it is safe on nil.
func (c *VolumesBlocklist) On() bool { return c != nil && c.Switch.On() }

// On reports whether the control is set and on; it is safe on nil.
func (c *ReadOnlyRootFilesystem) On() bool { return c != nil && c.Switch.On() }
