package policy

// ForkGuard caps how many processes (and threads, which the kernel counts
// alike) a container may have at once: a fork bomb stops at the cap.
type ForkGuard struct {
	Switch       `yaml:",inline"`
	MaxProcesses int `yaml:"maxProcesses" json:"maxProcesses"`
}

// maxPIDs is the kernel's ceiling on pid numbers (PID_MAX_LIMIT on 64-bit).
const maxPIDs = 1 << 22

func (f *ForkGuard) validate(v *validator, path string) {
	switch {
	case !v.set(path + ".maxProcesses"):
		v.errorf(path, "forkGuard needs maxProcesses, the most processes a container may have at once")
	case f.MaxProcesses < 1 || f.MaxProcesses > maxPIDs:
		v.errorf(path+".maxProcesses", "maxProcesses %d is out of range; use a number from 1 to %d", f.MaxProcesses, maxPIDs)
	}
}

// merge: the smaller limit wins.
func (f *ForkGuard) merge(m *merger, src control, path string) {
	m.minInt(path+".maxProcesses", &f.MaxProcesses, src.(*ForkGuard).MaxProcesses)
}

// On reports whether the control is set and on; it is safe on nil.
func (c *ForkGuard) On() bool { return c != nil && c.Switch.On() }
