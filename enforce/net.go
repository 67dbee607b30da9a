package enforce

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/mamori-dev/mamori/internal/memlock"

	"github.com/mamori-dev/mamori/probe"
)

// NetRule is what a container may not reach: Block lists refused
// destinations; Allow, when not nil, lists the only destinations it may
// reach (an empty, non-nil Allow refuses all but loopback).
type NetRule struct {
	Block []netip.Prefix
	Allow []netip.Prefix
}

// Net refuses connections for IP Reputation and Network Egress: cgroup-BPF
// programs on connect() and sendmsg() at the root of the cgroup v2
// hierarchy, consulting a rule per container cgroup. connect() and sendto()
// of a refused destination fail with EPERM before any packet is built.
// Its methods are safe for concurrent use.
type Net struct {
	log   *slog.Logger
	objs  netObjects
	links []link.Link

	mu      sync.Mutex
	next    uint32
	targets map[uint64]*netTarget // by cgroup id
}

// netTarget is one cgroup's rule: its two lists keep their ids for the
// cgroup's life, so that replacing the rule changes prefixes, never the
// lists a running program may be looking at.
type netTarget struct {
	block, allow uint32
	keys         map[netLpmKey]bool
}

// NewNet loads and attaches the programs. Nothing is refused until Protect.
func NewNet(log *slog.Logger) (*Net, error) {
	root, err := probe.Cgroup2Root()
	if err != nil {
		return nil, err
	}
	if err := memlock.Remove(); err != nil {
		return nil, err
	}
	n := &Net{log: log, targets: map[uint64]*netTarget{}}
	if err := loadNetObjects(&n.objs, nil); err != nil {
		return nil, fmt.Errorf("load the network refusal programs: %w", err)
	}
	for _, a := range []struct {
		prog *ebpf.Program
		at   ebpf.AttachType
	}{
		{n.objs.Connect4, ebpf.AttachCGroupInet4Connect},
		{n.objs.Connect6, ebpf.AttachCGroupInet6Connect},
		{n.objs.Sendmsg4, ebpf.AttachCGroupUDP4Sendmsg},
		{n.objs.Sendmsg6, ebpf.AttachCGroupUDP6Sendmsg},
	} {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: root, Attach: a.at, Program: a.prog})
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("attach %s to %s: %w", a.prog, root, err)
		}
		n.links = append(n.links, l)
	}
	return n, nil
}

// Protect applies rule to the cgroup of pid (any process of the container)
// and returns that cgroup's id. Protecting a cgroup again replaces its rule.
func (n *Net) Protect(pid int, rule NetRule) (uint64, error) {
	root, err := probe.Cgroup2Root()
	if err != nil {
		return 0, err
	}
	cg, err := cgroupID(root, pid)
	if err != nil {
		return 0, err
	}
	return cg, n.ProtectCgroup(cg, rule)
}

// ProtectCgroup applies rule to the cgroup with the given v2 id. A cgroup
// that has a rule already switches to the new one without a moment when
// neither holds: its lists keep their ids, the new prefixes go into them
// first, then the rule says which lists apply, and only then do the
// prefixes the new rule lacks leave. (Fresh list ids would not do: a
// program that read the old ids just before the switch would look them up
// after their prefixes were deleted.)
func (n *Net) ProtectCgroup(cg uint64, rule NetRule) error {
	if cg == 1 {
		return errors.New("the root cgroup is the host, not a container")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	t := n.targets[cg]
	fresh := t == nil
	if fresh {
		n.next += 2
		t = &netTarget{block: n.next - 1, allow: n.next, keys: map[netLpmKey]bool{}}
		// The count is the cgroup's, kept apart from its rule.
		if err := n.objs.Refused.Update(cg, uint64(0), ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			return fmt.Errorf("refused count: %w", err)
		}
	}
	want := map[netLpmKey]bool{}
	var r netNetRule
	for _, l := range []struct {
		id  uint32
		ps  []netip.Prefix
		use bool
		set *uint32
	}{{t.block, rule.Block, len(rule.Block) > 0, &r.Block}, {t.allow, rule.Allow, rule.Allow != nil, &r.Allow}} {
		if !l.use {
			continue
		}
		*l.set = l.id
		for _, p := range l.ps {
			want[lpmKey(l.id, p)] = true
		}
	}
	undo := func() {
		for k := range want {
			if !t.keys[k] {
				n.objs.Prefixes.Delete(k)
			}
		}
		if fresh {
			n.objs.Refused.Delete(cg)
		}
	}
	for k := range want {
		if t.keys[k] {
			continue // in the trie already: never absent
		}
		if err := n.objs.Prefixes.Put(k, uint8(1)); err != nil {
			undo()
			return fmt.Errorf("add a prefix of list %d: %w", k.List, err)
		}
	}
	if err := n.objs.Rules.Put(cg, r); err != nil {
		undo()
		return err
	}
	for k := range t.keys {
		if !want[k] {
			n.objs.Prefixes.Delete(k)
		}
	}
	t.keys = want
	n.targets[cg] = t
	return nil
}

// lpmKey maps p into the trie's key space: IPv4 as ::ffff:a.b.c.d, after
// 32 bits of list id.
func lpmKey(list uint32, p netip.Prefix) netLpmKey {
	p = p.Masked()
	k := netLpmKey{List: list}
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	k.Addr = p.Addr().As16()
	k.Prefixlen = uint32(32 + bits)
	return k
}

// Refused returns how many connections of the cgroup were refused.
func (n *Net) Refused(cgroupID uint64) uint64 {
	var c uint64
	if err := n.objs.Refused.Lookup(cgroupID, &c); err != nil {
		return 0
	}
	return c
}

// Release lifts the rule of a cgroup.
func (n *Net) Release(cgroupID uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.releaseLocked(cgroupID)
}

func (n *Net) releaseLocked(cg uint64) {
	t := n.targets[cg]
	if t == nil {
		return
	}
	n.objs.Rules.Delete(cg)
	n.objs.Refused.Delete(cg)
	n.deleteKeys(t)
	delete(n.targets, cg)
}

func (n *Net) deleteKeys(t *netTarget) {
	for k := range t.keys {
		n.objs.Prefixes.Delete(k)
	}
}

// Close detaches the programs and lifts every rule.
func (n *Net) Close() error {
	for _, l := range n.links {
		l.Close()
	}
	n.links = nil
	return n.objs.Close()
}
