package policy

// ExecutableAllowlist lets only the listed programs run: any other, from
// the image or not, is refused (enforce) or reported (audit). It is what a
// behaviour profile exports (mamori profile export): the programs the
// workload was seen to run. Paths are the executed file's path in the
// container after symbolic links (a busybox applet is /bin/busybox).
type ExecutableAllowlist struct {
	Switch `yaml:",inline"`
	Paths  Patterns `yaml:"paths" json:"paths,omitzero"`
}

// Allowed reports whether the program at path may run.
func (a *ExecutableAllowlist) Allowed(path string) bool { return a.Paths.Match(path) }

func (a *ExecutableAllowlist) validate(v *validator, p string) {
	v.checkf(a.Paths.Len() == 0, p,
		"executableAllowlist lists no program, which would refuse every one (the entrypoint too); list the paths that may run")
	for i, s := range a.Paths.Strings() {
		v.checkf(s[0] != '/' && s[0] != '*', p+".paths["+itoa(i)+"]",
			"paths entry %q is not an absolute path; start it with '/'", s)
	}
}

// merge: allow lists intersect: a program runs only if every policy
// allows it.
func (a *ExecutableAllowlist) merge(m *merger, src control, path string) {
	m.intersectPatterns(path+".paths", &a.Paths, src.(*ExecutableAllowlist).Paths, false)
}

// On reports whether the control is set and on; it is safe on nil.
func (c *ExecutableAllowlist) On() bool { return c != nil && c.Switch.On() }
