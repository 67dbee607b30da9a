package hostlogin

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/mamori-dev/mamori/policy"
)

// Host returns the facts a host scope is matched against: the node's name
// (the hostname when name is empty, as the agent names the node), the
// addresses of its interfaces, and the node groups the operator assigns.
func Host(name string, groups []string) (policy.HostFacts, error) {
	h := policy.HostFacts{Hostname: name, Groups: groups}
	if h.Hostname == "" {
		n, err := os.Hostname()
		if err != nil {
			return h, fmt.Errorf("read the hostname: %w", err)
		}
		h.Hostname = n
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return h, fmt.Errorf("list the host's addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				h.IPs = append(h.IPs, ip.Unmap())
			}
		}
	}
	return h, nil
}

// Effective merges the policies that cover the host itself (a host
// target, no container) into its effective controls.
func Effective(set *policy.Set, h policy.HostFacts) *policy.Effective {
	return set.Effective(policy.TargetFromContainer(nil, policy.WithHost(h)))
}
