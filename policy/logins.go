package policy

// HostLogins decides which operating-system users and groups may log in to
// the host (ssh, console). It applies to host targets only.
type HostLogins struct {
	Switch      `yaml:",inline"`
	AllowUsers  Patterns `yaml:"allowUsers" json:"allowUsers,omitzero"`
	BlockUsers  Patterns `yaml:"blockUsers" json:"blockUsers,omitzero"`
	AllowGroups Patterns `yaml:"allowGroups" json:"allowGroups,omitzero"`
	BlockGroups Patterns `yaml:"blockGroups" json:"blockGroups,omitzero"`
}

// Allowed reports whether user, a member of groups, may log in: not
// blocked by name or group, and allowed by name and by group where those
// allow lists are set.
func (h *HostLogins) Allowed(user string, groups []string) bool {
	if h.BlockUsers.Match(user) || h.BlockGroups.MatchAny(groups) {
		return false
	}
	if !h.AllowUsers.IsZero() && !h.AllowUsers.Match(user) {
		return false
	}
	return h.AllowGroups.IsZero() || h.AllowGroups.MatchAny(groups)
}

func (h *HostLogins) validate(v *validator, path string) {
	v.checkf(h.AllowUsers.IsZero() && h.BlockUsers.IsZero() && h.AllowGroups.IsZero() && h.BlockGroups.IsZero(), path,
		"hostLogins lists nobody; add allowUsers, blockUsers, allowGroups or blockGroups")
}

// merge: allow lists intersect (a policy without one allows everyone),
// block lists unite.
func (h *HostLogins) merge(m *merger, src control, path string) {
	s := src.(*HostLogins)
	m.intersectPatterns(path+".allowUsers", &h.AllowUsers, s.AllowUsers, true)
	m.unionPatterns(path+".blockUsers", &h.BlockUsers, s.BlockUsers)
	m.intersectPatterns(path+".allowGroups", &h.AllowGroups, s.AllowGroups, true)
	m.unionPatterns(path+".blockGroups", &h.BlockGroups, s.BlockGroups)
}

// On reports whether the control is set and on; it is safe on nil.
func (c *HostLogins) On() bool { return c != nil && c.Switch.On() }
