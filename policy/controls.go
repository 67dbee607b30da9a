package policy

import "reflect"

// Controls is every control a policy can set. A nil control is unset: the
// policy says nothing about it. A control that is present is on unless it
// says `enabled: false`, which turns it off for the targets the policy
// covers (and keeps the built-in default's version of it from applying).
type Controls struct {
	DriftPrevention          *DriftPrevention          `yaml:"driftPrevention" json:"driftPrevention,omitempty"`
	ExecutableBlocklist      *ExecutableBlocklist      `yaml:"executableBlocklist" json:"executableBlocklist,omitempty"`
	ExecutableAllowlist      *ExecutableAllowlist      `yaml:"executableAllowlist" json:"executableAllowlist,omitempty"`
	ForkGuard                *ForkGuard                `yaml:"forkGuard" json:"forkGuard,omitempty"`
	IPReputation             *IPReputation             `yaml:"ipReputation" json:"ipReputation,omitempty"`
	NetworkEgress            *NetworkEgress            `yaml:"networkEgress" json:"networkEgress,omitempty"`
	PortScanDetection        *PortScanDetection        `yaml:"portScanDetection" json:"portScanDetection,omitempty"`
	ListeningPorts           *ListeningPorts           `yaml:"listeningPorts" json:"listeningPorts,omitempty"`
	LimitNewPrivileges       *LimitNewPrivileges       `yaml:"limitNewPrivileges" json:"limitNewPrivileges,omitempty"`
	LimitContainerPrivileges *LimitContainerPrivileges `yaml:"limitContainerPrivileges" json:"limitContainerPrivileges,omitempty"`
	PreventDefaultOverride   *PreventDefaultOverride   `yaml:"preventDefaultOverride" json:"preventDefaultOverride,omitempty"`
	VolumesBlocklist         *VolumesBlocklist         `yaml:"volumesBlocklist" json:"volumesBlocklist,omitempty"`
	ReadOnlyRootFilesystem   *ReadOnlyRootFilesystem   `yaml:"readOnlyRootFilesystem" json:"readOnlyRootFilesystem,omitempty"`
	BlockUnregisteredImages  *BlockUnregisteredImages  `yaml:"blockUnregisteredImages" json:"blockUnregisteredImages,omitempty"`
	BlockNonCompliantImages  *BlockNonCompliantImages  `yaml:"blockNonCompliantImages" json:"blockNonCompliantImages,omitempty"`
	BlockPrivilegeEscalation *BlockPrivilegeEscalation `yaml:"blockPrivilegeEscalation" json:"blockPrivilegeEscalation,omitempty"`
	ImageReferences          *ImageReferences          `yaml:"imageReferences" json:"imageReferences,omitempty"`
	HostPathVolumes          *HostPathVolumes          `yaml:"hostPathVolumes" json:"hostPathVolumes,omitempty"`
	Forensics                *Forensics                `yaml:"forensics" json:"forensics,omitempty"`
	HostLogins               *HostLogins               `yaml:"hostLogins" json:"hostLogins,omitempty"`
}

// Switch is the on/off part every control shares.
type Switch struct {
	Enabled *bool `yaml:"enabled" json:"enabled,omitempty"`
}

// On reports whether a present control is on: enabled unless it says
// `enabled: false`.
func (s *Switch) On() bool { return s != nil && (s.Enabled == nil || *s.Enabled) }

func (s *Switch) sw() *Switch { return s }

// control is what every control type does for validation and merging.
type control interface {
	sw() *Switch
	// validate checks the control's settings; path is its YAML path.
	validate(v *validator, path string)
	// merge folds src (a control of the same type, on) into the receiver,
	// stricter wins per setting; paths are relative to spec.controls.
	merge(m *merger, src control, path string)
}

// controlField is one field of Controls: its YAML key and its index.
type controlField struct {
	name  string
	index int
}

var controlFields = func() []controlField {
	var out []controlField
	for _, f := range fieldsOf(reflect.TypeFor[Controls]()) {
		out = append(out, controlField{f.name, f.index[0]})
	}
	return out
}()

// ControlNames lists the YAML names of every control, in document order.
func ControlNames() []string {
	names := make([]string, len(controlFields))
	for i, f := range controlFields {
		names[i] = f.name
	}
	return names
}

// get returns the control at f, or nil when unset.
func (c *Controls) get(f controlField) control {
	v := reflect.ValueOf(c).Elem().Field(f.index)
	if v.IsNil() {
		return nil
	}
	return v.Interface().(control)
}

// ensure returns the control at f, allocating it when unset.
func (c *Controls) ensure(f controlField) control {
	v := reflect.ValueOf(c).Elem().Field(f.index)
	if v.IsNil() {
		v.Set(reflect.New(v.Type().Elem()))
	}
	return v.Interface().(control)
}

// Get returns the control with the given YAML name, or nil when unset or
// unknown; the result is one of the *DriftPrevention, *ForkGuard, ...
// types.
func (c *Controls) Get(name string) any {
	for _, f := range controlFields {
		if f.name == name {
			if ctl := c.get(f); ctl != nil {
				return ctl
			}
		}
	}
	return nil
}

func (c *Controls) validate(v *validator, path string) {
	n := 0
	for _, f := range controlFields {
		if ctl := c.get(f); ctl != nil {
			n++
			ctl.validate(v, path+"."+f.name)
		}
	}
	if n == 0 {
		v.errorf(path, "spec.controls sets no control; set at least one of: %s", joinNames(ControlNames()))
	}
}

func joinNames(names []string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}
