package policy

import "slices"

// The controls in this file are checked on a workload's description
// before it runs (the admission webhook, `mamori check`, a runtime hook):
// they judge what a pod or container asks for, not what it does.

// BlockPrivilegeEscalation refuses containers whose processes may gain
// more privileges than their parent: in Kubernetes, a container that does
// not set securityContext.allowPrivilegeEscalation: false; in an OCI
// config, a process without noNewPrivileges.
type BlockPrivilegeEscalation struct {
	Switch `yaml:",inline"`
}

func (*BlockPrivilegeEscalation) validate(*validator, string)    {}
func (*BlockPrivilegeEscalation) merge(*merger, control, string) {}

// On reports whether the control is set and on; it is safe on nil.
func (c *BlockPrivilegeEscalation) On() bool { return c != nil && c.Switch.On() }

// ImageReferences refuses containers whose image reference can change
// under them: the `latest` tag (or no tag, which means latest), or a
// reference without a digest.
type ImageReferences struct {
	Switch `yaml:",inline"`
	// Block lists the kinds of reference to refuse; unset means all of
	// MutableReferences.
	Block []string `yaml:"block" json:"block"`
}

// MutableReferences are the names ImageReferences.Block takes.
var MutableReferences = []string{"latestTag", "noDigest"}

// Blocks reports whether the control refuses the named kind of reference.
func (r *ImageReferences) Blocks(kind string) bool { return slices.Contains(r.Block, kind) }

func (r *ImageReferences) validate(v *validator, path string) {
	if !v.set(path + ".block") {
		r.Block = slices.Clone(MutableReferences)
		return
	}
	v.checkf(len(r.Block) == 0, path+".block", "block is empty; list kinds of reference to refuse or leave block out to refuse all of them")
	v.oneOf(path+".block", r.Block, MutableReferences, "kind of image reference")
}

// merge: block lists unite.
func (r *ImageReferences) merge(m *merger, src control, path string) {
	m.union(path+".block", &r.Block, src.(*ImageReferences).Block)
}

// On reports whether the control is set and on; it is safe on nil.
func (c *ImageReferences) On() bool { return c != nil && c.Switch.On() }

// HostPathVolumes refuses workloads that mount a directory or file of the
// host (a Kubernetes hostPath volume, an OCI bind mount of a host path)
// other than the ones Allow lists. Volumes Blocklist names host paths
// that are always refused; this control refuses host paths unless
// allowed.
type HostPathVolumes struct {
	Switch `yaml:",inline"`
	// Allow lists host paths (globs) that may be mounted. Unset allows
	// none.
	Allow Patterns `yaml:"allow" json:"allow,omitzero"`
}

// Allowed reports whether mounting the host path src is allowed.
func (h *HostPathVolumes) Allowed(src string) bool { return h.Allow.Match(src) }

func (h *HostPathVolumes) validate(v *validator, path string) {
	for i, s := range h.Allow.Strings() {
		v.checkf(s[0] != '/' && s[0] != '*', path+".allow["+itoa(i)+"]", "allow entry %q is not an absolute host path; start it with '/'", s)
	}
}

// merge: allow lists intersect.
func (h *HostPathVolumes) merge(m *merger, src control, path string) {
	m.intersectPatterns(path+".allow", &h.Allow, src.(*HostPathVolumes).Allow, false)
}

// On reports whether the control is set and on; it is safe on nil.
func (c *HostPathVolumes) On() bool { return c != nil && c.Switch.On() }
