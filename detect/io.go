package detect

import (
	"encoding/hex"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mamori-dev/mamori/rules"
)

// IOKeys say which sends (sendto, sendmsg) or receives (recvfrom,
// recvmsg) on IPv4 and IPv6 sockets the sensor reports; the kernel tests
// them on each call.
type IOKeys struct {
	All         bool
	Unconnected bool     // on an unconnected socket (fd.connected = false)
	PeerChanged bool     // on an unconnected socket, to or from another peer than its last (fd.name_changed = true)
	Ports       []uint16 // to or from a peer port among these
	Patterns    []string // whose first bytes hold one of these (evt.buffer bcontains, contains)
}

// Empty reports whether no call is wanted.
func (k IOKeys) Empty() bool {
	return !k.All && !k.Unconnected && !k.PeerChanged && len(k.Ports)+len(k.Patterns) == 0
}

// Add adds o's keys to k.
func (k *IOKeys) Add(o IOKeys) {
	k.All = k.All || o.All
	k.Unconnected = k.Unconnected || o.Unconnected
	k.PeerChanged = k.PeerChanged || o.PeerChanged
	for _, p := range o.Ports {
		if !slices.Contains(k.Ports, p) {
			k.Ports = append(k.Ports, p)
		}
	}
	k.Patterns = appendNew(k.Patterns, o.Patterns...)
}

func (k IOKeys) union(o keySet) keySet {
	var u IOKeys
	u.Add(k)
	u.Add(o.(IOKeys))
	return u
}

func (k IOKeys) breadth() int {
	if k.All {
		return 1 << 30
	}
	n := 0
	if k.PeerChanged {
		n++
	}
	if k.Unconnected {
		n += 20
	}
	return n + 5*len(k.Ports) + 2*len(k.Patterns)
}

func (k *IOKeys) sort() {
	slices.Sort(k.Ports)
	sort.Strings(k.Patterns)
}

// String describes the keys for people.
func (k IOKeys) String() string {
	if k.All {
		return "all"
	}
	var parts []string
	if k.PeerChanged {
		parts = append(parts, "to or from a new peer on an unconnected socket")
	}
	if k.Unconnected {
		parts = append(parts, "on an unconnected socket")
	}
	if len(k.Ports) > 0 {
		ps := make([]string, len(k.Ports))
		for i, p := range k.Ports {
			ps[i] = strconv.Itoa(int(p))
		}
		parts = append(parts, "with peer port "+strings.Join(ps, ", "))
	}
	if len(k.Patterns) > 0 {
		ps := make([]string, len(k.Patterns))
		for i, p := range k.Patterns {
			ps[i] = hex.EncodeToString([]byte(p))
		}
		parts = append(parts, "holding "+strings.Join(ps, ", "))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// ioFact is what a send or receive class knows of a check: only what the
// kernel reports at all (IPv4 and IPv6 sockets).
func ioFact(f, op, v string) tri {
	switch f {
	case "evt.is_open_read", "evt.is_open_write", "evt.is_open_exec", "evt.is_open_create":
		return boolFact(op, v, false)
	}
	return maybe
}

var sendClass = class{types: map[string]bool{"sendto": true, "sendmsg": true}, fact: ioFact,
	keys: func(f, op string, values []string) keySet { return ioKeys(f, op, values, "fd.sport", "fd.rport") }}

var recvClass = class{types: map[string]bool{"recvfrom": true, "recvmsg": true}, fact: ioFact,
	keys: func(f, op string, values []string) keySet { return ioKeys(f, op, values, "fd.cport", "fd.rport") }}

// ioKeys returns the keys a check gives on sends or receives; the peer is
// the server of a send and the client of a receive, named by peerFields.
func ioKeys(field, op string, values []string, peerFields ...string) keySet {
	var k IOKeys
	switch {
	case field == "fd.name_changed" && op == "=" && len(values) == 1 && values[0] == "true":
		k.PeerChanged = true
	case field == "fd.connected" && op == "=" && len(values) == 1 && values[0] == "false":
		k.Unconnected = true
	case slices.Contains(peerFields, field) && (op == "=" || op == "in" || op == "intersects"):
		for _, v := range values {
			p, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return nil
			}
			k.Ports = append(k.Ports, uint16(p))
		}
	case field == "evt.buffer" && (op == "bcontains" || op == "contains"):
		for _, v := range values {
			p := v
			if op == "bcontains" {
				b, err := hex.DecodeString(v)
				if err != nil {
					return nil
				}
				p = string(b)
			}
			if len(p) == 0 || len(p) > maxContains {
				return nil
			}
			k.Patterns = append(k.Patterns, p)
		}
	default:
		return nil
	}
	return k
}

// ioCoverage is what one rule needs of a send or receive class.
func ioCoverage(r *rules.Rule, c class) (keys IOKeys, needed bool) {
	k, needed := coverOf(r, c)
	switch {
	case !needed:
		return IOKeys{}, false
	case k == nil:
		return IOKeys{All: true}, true
	}
	return k.(IOKeys), true
}
