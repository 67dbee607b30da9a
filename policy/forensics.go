package policy

// Forensics says how many of a container's most recent events an alert
// about it carries, so that the alert shows what led up to it.
type Forensics struct {
	Switch `yaml:",inline"`
	Events int `yaml:"events" json:"events"`
}

const maxForensicEvents = 10000

func (f *Forensics) validate(v *validator, path string) {
	switch {
	case !v.set(path + ".events"):
		v.errorf(path, "forensics needs events, how many recent events per container an alert carries")
	case f.Events < 1 || f.Events > maxForensicEvents:
		v.errorf(path+".events", "events %d is out of range; use a number from 1 to %d", f.Events, maxForensicEvents)
	}
}

// merge: the larger number wins; more evidence is the stricter choice.
func (f *Forensics) merge(m *merger, src control, path string) {
	m.maxInt(path+".events", &f.Events, src.(*Forensics).Events)
}

// On reports whether the control is set and on; it is safe on nil.
func (c *Forensics) On() bool { return c != nil && c.Switch.On() }
