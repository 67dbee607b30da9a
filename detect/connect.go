package detect

import (
	"slices"
	"strconv"
	"strings"

	"github.com/mamori-dev/mamori/rules"
)

// ConnectKeys say which connects the sensor reports: every one, those of
// processes in a container, or those to a peer port among Ports; the
// kernel tests them on each call.
type ConnectKeys struct {
	All        bool
	Containers bool     // by a process in a container (container.id != host)
	Ports      []uint16 // to an IPv4 or IPv6 peer port among these (fd.sport, fd.rport)
}

// Empty reports whether no connect is wanted.
func (k ConnectKeys) Empty() bool { return !k.All && !k.Containers && len(k.Ports) == 0 }

// Add adds o's keys to k.
func (k *ConnectKeys) Add(o ConnectKeys) {
	k.All = k.All || o.All
	k.Containers = k.Containers || o.Containers
	for _, p := range o.Ports {
		if !slices.Contains(k.Ports, p) {
			k.Ports = append(k.Ports, p)
		}
	}
}

func (k ConnectKeys) union(o keySet) keySet {
	var u ConnectKeys
	u.Add(k)
	u.Add(o.(ConnectKeys))
	return u
}

func (k ConnectKeys) breadth() int {
	switch {
	case k.All:
		return 1 << 30
	case k.Containers:
		return 1 << 20
	}
	return 5 * len(k.Ports)
}

func (k *ConnectKeys) sort() { slices.Sort(k.Ports) }

// String describes the keys for people.
func (k ConnectKeys) String() string {
	if k.All {
		return "all"
	}
	var parts []string
	if k.Containers {
		parts = append(parts, "in a container")
	}
	if len(k.Ports) > 0 {
		ps := make([]string, len(k.Ports))
		for i, p := range k.Ports {
			ps[i] = strconv.Itoa(int(p))
		}
		parts = append(parts, "to peer port "+strings.Join(ps, ", "))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// connectClass is connect: the peer is the server (Falco's fd.sport, and
// fd.rport as the remote end), read from the call's sockaddr argument.
var connectClass = class{types: map[string]bool{"connect": true}, fact: ioFact,
	keys: func(f, op string, values []string) keySet {
		// Of a send's keys, only the peer ports apply to a connect.
		k, ok := ioKeys(f, op, values, "fd.sport", "fd.rport").(IOKeys)
		if !ok || len(k.Ports) == 0 || k.PeerChanged || k.Unconnected || len(k.Patterns) > 0 {
			return nil
		}
		return ConnectKeys{Ports: k.Ports}
	},
	container: ConnectKeys{Containers: true}}

// connectCoverage is what one rule needs of connects.
func connectCoverage(r *rules.Rule) (keys ConnectKeys, needed bool) {
	k, needed := coverOf(r, connectClass)
	switch {
	case !needed:
		return ConnectKeys{}, false
	case k == nil:
		return ConnectKeys{All: true}, true
	}
	keys = k.(ConnectKeys)
	keys.sort()
	return keys, true
}
