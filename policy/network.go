package policy

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
)

// IPReputation refuses or reports connections to addresses on block
// lists: inline entries and list files (plain IP/CIDR lists or FireHOL
// netsets, see ParseIPList). List files are read with the policy and
// reloaded when they change.
type IPReputation struct {
	Switch `yaml:",inline"`
	// Lists are list files; a relative path is relative to the policy file.
	Lists []string `yaml:"lists" json:"lists,omitempty"`
	// Block are addresses and prefixes written in the policy.
	Block []string `yaml:"block" json:"block,omitempty"`

	sets []*IPList // the loaded Lists, then one list of Block per policy
}

// Blocked reports whether addr is on any of the lists, and which.
func (r *IPReputation) Blocked(addr netip.Addr) (list string, ok bool) {
	for _, s := range r.sets {
		if s.Contains(addr) {
			return s.Name, true
		}
	}
	return "", false
}

// IPLists returns the loaded lists the control checks, inline entries
// included; an enforcer copies them into its kernel map.
func (r *IPReputation) IPLists() []*IPList { return r.sets }

func (r *IPReputation) validate(v *validator, path string) {
	v.checkf(len(r.Lists)+len(r.Block) == 0, path,
		"ipReputation lists nothing; add lists (files of IPs and CIDRs) or block entries")
	dir := filepath.Dir(v.p.Source.File)
	for i, l := range r.Lists {
		switch {
		case strings.TrimSpace(l) == "":
			v.errorf(path+".lists["+itoa(i)+"]", "empty list file name; give the path of an IP list")
		case !filepath.IsAbs(l):
			r.Lists[i] = filepath.Join(dir, l)
		}
	}
	var prefixes []netip.Prefix
	for i, b := range r.Block {
		p, ok := v.prefix(path+".block["+itoa(i)+"]", b)
		if ok {
			prefixes = append(prefixes, p)
		}
	}
	if len(prefixes) > 0 {
		r.sets = []*IPList{newIPList(v.p.Name()+" "+v.p.At(path+".block").String(), prefixes)}
	}
}

// merge: block lists unite.
func (r *IPReputation) merge(m *merger, src control, path string) {
	s := src.(*IPReputation)
	m.union(path+".lists", &r.Lists, s.Lists)
	m.union(path+".block", &r.Block, s.Block)
	for _, l := range s.sets {
		if !containsList(r.sets, l) {
			r.sets = append(r.sets, l)
		}
	}
}

func containsList(ls []*IPList, l *IPList) bool {
	for _, x := range ls {
		if x == l {
			return true
		}
	}
	return false
}

// NetworkEgress lets containers connect only to the listed destinations.
// Loopback is not egress and is never refused.
type NetworkEgress struct {
	Switch `yaml:",inline"`
	// Allow lists addresses and prefixes; `allow: []` blocks all egress.
	Allow []string `yaml:"allow" json:"allow"`
}

// Allowed reports whether a connection to addr is allowed.
func (e *NetworkEgress) Allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	if addr.IsLoopback() {
		return true
	}
	for _, p := range e.Prefixes() {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Prefixes returns the allow list parsed.
func (e *NetworkEgress) Prefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(e.Allow))
	for _, s := range e.Allow {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func (e *NetworkEgress) validate(v *validator, path string) {
	if !v.set(path + ".allow") {
		v.errorf(path, "networkEgress needs allow, the addresses and CIDRs containers may connect to; `allow: []` blocks all egress")
		return
	}
	for i, a := range e.Allow {
		if p, ok := v.prefix(path+".allow["+itoa(i)+"]", a); ok {
			e.Allow[i] = p.String()
		}
	}
}

// merge: allow lists intersect, by address range: 10.0.0.0/8 and
// 10.1.0.0/16 meet in 10.1.0.0/16.
func (e *NetworkEgress) merge(m *merger, src control, path string) {
	m.intersect(path+".allow", &e.Allow, src.(*NetworkEgress).Allow, false, meetPrefixes)
}

func meetPrefixes(a, b []string) func(i, j int) (string, bool) {
	parse := func(ss []string) []netip.Prefix {
		out := make([]netip.Prefix, len(ss))
		for i, s := range ss {
			out[i], _ = parsePrefix(s) // validated; an invalid prefix overlaps nothing
		}
		return out
	}
	pa, pb := parse(a), parse(b)
	return func(i, j int) (string, bool) {
		x, y := pa[i], pb[j]
		if !x.IsValid() || !y.IsValid() || !x.Overlaps(y) {
			return "", false
		}
		if x.Bits() >= y.Bits() {
			return x.String(), true
		}
		return y.String(), true
	}
}

// parsePrefix reads an address (a one-address prefix) or a CIDR.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q has a zone; zones do not belong in address lists", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// prefix validates an IP or CIDR written in a policy; unlike list files,
// policies must not set host bits, which usually means a typo.
func (v *validator) prefix(path, s string) (netip.Prefix, bool) {
	p, err := parsePrefix(strings.TrimSpace(s))
	if err != nil {
		v.errorf(path, "%q is not an IP address or CIDR; write e.g. 203.0.113.7, 203.0.113.0/24 or 2001:db8::/32", s)
		return netip.Prefix{}, false
	}
	if p.Masked() != p {
		v.errorf(path, "%q has host bits set; did you mean %s?", s, p.Masked())
		return netip.Prefix{}, false
	}
	return p, true
}

// On reports whether the control is set and on; it is safe on nil.
func (c *IPReputation) On() bool { return c != nil && c.Switch.On() }

// On reports whether the control is set and on; it is safe on nil.
func (c *NetworkEgress) On() bool { return c != nil && c.Switch.On() }
