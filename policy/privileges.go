package policy

import (
	"slices"
	"strings"
)

// LimitNewPrivileges refuses executions that would gain privileges:
// set-user-ID and set-group-ID programs and files with capabilities, as
// the no_new_privs bit does.
type LimitNewPrivileges struct {
	Switch `yaml:",inline"`
}

func (*LimitNewPrivileges) validate(*validator, string)        {}
func (*LimitNewPrivileges) merge(*merger, control, string)     {}
func (*ReadOnlyRootFilesystem) validate(*validator, string)    {}
func (*ReadOnlyRootFilesystem) merge(*merger, control, string) {}

// LimitContainerPrivileges refuses (or reports) containers started with
// the privileges listed in Block.
type LimitContainerPrivileges struct {
	Switch `yaml:",inline"`
	// Block lists what a container may not have; unset means all of
	// ContainerPrivileges.
	Block []string `yaml:"block" json:"block"`
	// AllowCapabilities are the capabilities a container may add when
	// Block includes addedCapabilities (names as in capabilities(7), with
	// or without CAP_). Unset allows none.
	AllowCapabilities []string `yaml:"allowCapabilities" json:"allowCapabilities,omitempty"`
}

// ContainerPrivileges are the names LimitContainerPrivileges.Block takes.
var ContainerPrivileges = []string{
	"privileged", "hostNetwork", "hostPID", "hostIPC", "hostUTS", "hostUserNamespace",
	"addedCapabilities", "runAsRoot", "lowPorts",
}

// Blocks reports whether the control blocks the named privilege.
func (l *LimitContainerPrivileges) Blocks(privilege string) bool {
	return slices.Contains(l.Block, privilege)
}

func (l *LimitContainerPrivileges) validate(v *validator, path string) {
	if !v.set(path + ".block") {
		l.Block = slices.Clone(ContainerPrivileges)
	} else {
		v.checkf(len(l.Block) == 0, path+".block", "block is empty; list privileges to refuse or leave block out to refuse all of them")
		v.oneOf(path+".block", l.Block, ContainerPrivileges, "privilege")
	}
	for i, c := range l.AllowCapabilities {
		c = strings.TrimPrefix(strings.ToUpper(c), "CAP_")
		l.AllowCapabilities[i] = c
		v.checkf(!slices.Contains(capabilities, c), path+".allowCapabilities["+itoa(i)+"]",
			"unknown capability %q; %s", c, didYouMean(c, capabilities))
	}
}

// merge: block lists unite; the capabilities allowed intersect.
func (l *LimitContainerPrivileges) merge(m *merger, src control, path string) {
	s := src.(*LimitContainerPrivileges)
	m.union(path+".block", &l.Block, s.Block)
	m.intersect(path+".allowCapabilities", &l.AllowCapabilities, s.AllowCapabilities, false, equal)
}

// capabilities are the Linux capability names, without CAP_.
var capabilities = []string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// PreventDefaultOverride refuses containers that turn off the runtime's
// default confinement.
type PreventDefaultOverride struct {
	Switch `yaml:",inline"`
	// Block lists the overrides to refuse; unset means all of
	// DefaultOverrides.
	Block []string `yaml:"block" json:"block"`
}

// DefaultOverrides are the names PreventDefaultOverride.Block takes.
var DefaultOverrides = []string{"seccompUnconfined", "apparmorUnconfined", "selinuxDisabled"}

// Blocks reports whether the control refuses the named override.
func (p *PreventDefaultOverride) Blocks(override string) bool {
	return slices.Contains(p.Block, override)
}

func (p *PreventDefaultOverride) validate(v *validator, path string) {
	if !v.set(path + ".block") {
		p.Block = slices.Clone(DefaultOverrides)
		return
	}
	v.checkf(len(p.Block) == 0, path+".block", "block is empty; list overrides to refuse or leave block out to refuse all of them")
	v.oneOf(path+".block", p.Block, DefaultOverrides, "override")
}

// merge: block lists unite.
func (p *PreventDefaultOverride) merge(m *merger, src control, path string) {
	m.union(path+".block", &p.Block, src.(*PreventDefaultOverride).Block)
}

// On reports whether the control is set and on; it is safe on nil.
func (c *LimitNewPrivileges) On() bool { return c != nil && c.Switch.On() }

// On reports whether the control is set and on; it is safe on nil.
func (c *LimitContainerPrivileges) On() bool { return c != nil && c.Switch.On() }

// On reports whether the control is set and on; it is safe on nil.
func (c *PreventDefaultOverride) On() bool { return c != nil && c.Switch.On() }
