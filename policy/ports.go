package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// ListeningPorts lets a container bind only the listed TCP and UDP ports:
// a bind() to any other port is refused (enforce) or reported (audit).
// Binding port 0 (the kernel picks a free port, as clients do) is always
// allowed. It is what a behaviour profile exports (mamori profile export):
// the ports the workload was seen to bind and listen on.
type ListeningPorts struct {
	Switch `yaml:",inline"`
	// Allow lists ports as "8080/tcp", "53/udp" or "8000-8100/tcp";
	// `allow: []` refuses every bind but port 0.
	Allow []string `yaml:"allow" json:"allow"`
}

// PortRange is an inclusive range of ports of one protocol.
type PortRange struct {
	Protocol    string // "tcp" or "udp"
	First, Last uint16
}

func (r PortRange) String() string {
	s := strconv.Itoa(int(r.First))
	if r.Last != r.First {
		s += "-" + strconv.Itoa(int(r.Last))
	}
	return s + "/" + r.Protocol
}

// Protocols a port entry may name.
var portProtocols = []string{"tcp", "udp"}

// ParsePortRange reads "8080/tcp", "53/udp" or "8000-8100/tcp". Port 0
// is not a port one can allow or refuse: binding it is always allowed.
func ParsePortRange(s string) (PortRange, error) {
	ports, proto, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return PortRange{}, fmt.Errorf("%q has no protocol; write %s/tcp or %s/udp", s, ports, ports)
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" {
		return PortRange{}, fmt.Errorf("%q: unknown protocol %q; use tcp or udp", s, proto)
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	first, err1 := strconv.ParseUint(lo, 10, 16)
	last, err2 := first, error(nil)
	if isRange {
		last, err2 = strconv.ParseUint(hi, 10, 16)
	}
	switch {
	case err1 != nil || err2 != nil:
		return PortRange{}, fmt.Errorf("%q is not a port or range; write e.g. 8080/tcp, 53/udp or 8000-8100/tcp (ports 1 to 65535)", s)
	case first == 0:
		return PortRange{}, fmt.Errorf("%q: port 0 is always allowed (the kernel picks a free port); list ports from 1 to 65535", s)
	case last < first:
		return PortRange{}, fmt.Errorf("%q: the range ends before it starts; write %d-%d/%s", s, last, first, proto)
	}
	return PortRange{Protocol: proto, First: uint16(first), Last: uint16(last)}, nil
}

// Ranges returns the allow list parsed; an empty, non-nil result allows
// nothing but port 0.
func (l *ListeningPorts) Ranges() []PortRange {
	out := make([]PortRange, 0, len(l.Allow))
	for _, s := range l.Allow {
		if r, err := ParsePortRange(s); err == nil {
			out = append(out, r)
		}
	}
	return out
}

// Allowed reports whether a bind to port of protocol ("tcp" or "udp") is
// allowed.
func (l *ListeningPorts) Allowed(protocol string, port uint16) bool {
	if port == 0 {
		return true
	}
	for _, r := range l.Ranges() {
		if r.Protocol == protocol && r.First <= port && port <= r.Last {
			return true
		}
	}
	return false
}

func (l *ListeningPorts) validate(v *validator, path string) {
	if !v.set(path + ".allow") {
		v.errorf(path, "listeningPorts needs allow, the ports containers may bind (e.g. [8080/tcp, 53/udp]); `allow: []` refuses every bind but port 0")
		return
	}
	for i, s := range l.Allow {
		r, err := ParsePortRange(s)
		if err != nil {
			v.errorf(path+".allow["+itoa(i)+"]", "%s", err)
			continue
		}
		l.Allow[i] = r.String()
	}
}

// merge: allow lists intersect, by port range: 8000-8100/tcp and
// 8080/tcp meet in 8080/tcp.
func (l *ListeningPorts) merge(m *merger, src control, path string) {
	m.intersect(path+".allow", &l.Allow, src.(*ListeningPorts).Allow, false, meetPorts)
}

func meetPorts(a, b []string) func(i, j int) (string, bool) {
	parse := func(ss []string) []PortRange {
		out := make([]PortRange, len(ss))
		for i, s := range ss {
			out[i], _ = ParsePortRange(s) // validated; an invalid one meets nothing
		}
		return out
	}
	pa, pb := parse(a), parse(b)
	return func(i, j int) (string, bool) {
		x, y := pa[i], pb[j]
		if x.Protocol == "" || x.Protocol != y.Protocol || x.Last < y.First || y.Last < x.First {
			return "", false
		}
		return PortRange{Protocol: x.Protocol, First: max(x.First, y.First), Last: min(x.Last, y.Last)}.String(), true
	}
}

// On reports whether the control is set and on; it is safe on nil.
func (c *ListeningPorts) On() bool { return c != nil && c.Switch.On() }
