package policy

// DriftPrevention refuses (enforce) or reports (audit) executables that
// were not in the container's image: written to the container's writable
// layer, downloaded, or created in memory, after the container started.
type DriftPrevention struct {
	Switch `yaml:",inline"`
	// Allow lists drifted executables that may run anyway. Unset allows
	// none.
	Allow DriftAllow `yaml:"allow" json:"allow"`
	// AllowExecFromVolumes lets executables on writable volume mounts run
	// (they are not part of the image either). Default false.
	AllowExecFromVolumes bool `yaml:"allowExecFromVolumes" json:"allowExecFromVolumes"`
}

// DriftAllow is Drift Prevention's allow list: an executable is allowed
// when its base name matches Names or its full path matches Paths.
type DriftAllow struct {
	Names Patterns `yaml:"names" json:"names,omitzero"`
	Paths Patterns `yaml:"paths" json:"paths,omitzero"`
}

// Allowed reports whether a drifted executable at path (with base name
// name) may run.
func (d *DriftPrevention) Allowed(path, name string) bool {
	return d.Allow.Names.Match(name) || d.Allow.Paths.Match(path)
}

func (d *DriftPrevention) validate(v *validator, path string) {
	for i, p := range d.Allow.Paths.Strings() {
		v.checkf(p[0] != '/' && p[0] != '*', path+".allow.paths["+itoa(i)+"]",
			"allow.paths entry %q is not an absolute path; start it with '/' (or use allow.names for a base name)", p)
	}
	for i, n := range d.Allow.Names.Strings() {
		v.checkf(containsSlash(n), path+".allow.names["+itoa(i)+"]",
			"allow.names entry %q contains '/'; names are base names, put full paths under allow.paths", n)
	}
}

// merge: allow lists intersect (only what every policy allows), and
// volumes are allowed only if every policy allows them.
func (d *DriftPrevention) merge(m *merger, src control, path string) {
	s := src.(*DriftPrevention)
	m.intersectPatterns(path+".allow.names", &d.Allow.Names, s.Allow.Names, false)
	m.intersectPatterns(path+".allow.paths", &d.Allow.Paths, s.Allow.Paths, false)
	m.and(path+".allowExecFromVolumes", &d.AllowExecFromVolumes, s.AllowExecFromVolumes)
}

// On reports whether the control is set and on; it is safe on nil.
func (c *DriftPrevention) On() bool { return c != nil && c.Switch.On() }
