package enforce

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/mamori-dev/mamori/internal/kernelbtf"
	"github.com/mamori-dev/mamori/internal/memlock"
	"github.com/mamori-dev/mamori/internal/ring"

	"github.com/mamori-dev/mamori/probe"
)

// NetRule is what a container may not reach, and which ports it may take:
// Block lists refused destinations; Allow, when not nil, lists the only
// destinations it may reach (an empty, non-nil Allow refuses all but
// loopback); Ports, when not nil, lists the only ports bind() may take
// (an empty, non-nil Ports refuses every bind but to port 0).
type NetRule struct {
	Block []netip.Prefix
	Allow []netip.Prefix
	Ports []PortRange
}

// PortRange is an inclusive range of ports of one protocol, "tcp" or
// "udp".
type PortRange struct {
	Protocol    string
	First, Last uint16
}

// BindVerdict reports one bind() the kernel refused.
type BindVerdict struct {
	Time     time.Time
	CgroupID uint64
	PID      uint32
	Comm     string
	Protocol string // "tcp", "udp", or the protocol's number
	Addr     netip.Addr
	Port     uint16
}

// Net refuses connections for IP Reputation and Network Egress: cgroup-BPF
// programs on connect() and sendmsg() at the root of the cgroup v2
// hierarchy, consulting a rule per container cgroup. connect() and sendto()
// of a refused destination fail with EPERM before any packet is built.
// For Listening Ports, programs on bind() refuse a port off the cgroup's
// list with EPERM and report each refusal (BindVerdicts). Its methods are
// safe for concurrent use.
type Net struct {
	log   *slog.Logger
	objs  netObjects
	links []link.Link

	bindErr  error // why bind() cannot be judged; nil when it can
	reader   *ring.Reader
	verdicts chan BindVerdict
	dropped  atomic.Uint64
	done     chan struct{}

	mu      sync.Mutex
	next    uint32
	targets map[uint64]*netTarget // by cgroup id
	closed  bool
	// lost is the kernel's count of lost bind verdicts as Close left it:
	// its map is gone after Close.
	lost uint64
}

// netTarget is one cgroup's rule: its lists keep their ids for the
// cgroup's life, so that replacing the rule changes prefixes and port
// ranges, never the lists a running program may be looking at.
type netTarget struct {
	block, allow, ports uint32
	keys                map[netLpmKey]bool
	portKeys            map[netPortKey]bool
}

// NewNet loads and attaches the programs. Nothing is refused until Protect.
// The bind() programs are attached apart: where they cannot be, connections
// are still refused and Binds says why ports are not.
func NewNet(log *slog.Logger) (*Net, error) {
	root, err := probe.Cgroup2Root()
	if err != nil {
		return nil, err
	}
	if err := memlock.Remove(); err != nil {
		return nil, err
	}
	n := &Net{log: log, targets: map[uint64]*netTarget{}, verdicts: make(chan BindVerdict, 1024), done: make(chan struct{})}
	if err := loadNetObjects(&n.objs, &ebpf.CollectionOptions{Cache: kernelbtf.Cache()}); err != nil {
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
	n.bindErr = n.attachBind(root)
	if n.bindErr != nil {
		log.Warn("bind() cannot be judged on this node: listening ports are reported, not refused", "err", n.bindErr)
		close(n.done)
	} else {
		go n.readBinds()
	}
	return n, nil
}

func (n *Net) attachBind(root string) error {
	r, err := ring.NewReader(n.objs.BindVerdicts)
	if err != nil {
		return fmt.Errorf("bind verdicts: %w", err)
	}
	var links []link.Link
	for _, a := range []struct {
		prog *ebpf.Program
		at   ebpf.AttachType
	}{
		{n.objs.Bind4, ebpf.AttachCGroupInet4Bind},
		{n.objs.Bind6, ebpf.AttachCGroupInet6Bind},
	} {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: root, Attach: a.at, Program: a.prog})
		if err != nil {
			for _, l := range links {
				l.Close()
			}
			r.Close()
			return fmt.Errorf("attach %s to %s: %w", a.prog, root, err)
		}
		links = append(links, l)
	}
	n.reader = r
	n.links = append(n.links, links...)
	return nil
}

// Binds says whether bind() is judged on this node: nil when its programs
// are attached, else why not.
func (n *Net) Binds() error { return n.bindErr }

// BindVerdicts delivers a BindVerdict for each refused bind(), until Close.
// When the channel is full, verdicts are counted (BindStats) and dropped,
// never waited for.
func (n *Net) BindVerdicts() <-chan BindVerdict { return n.verdicts }

// BindStats counts refused binds whose verdicts were lost: with the
// kernel's ring buffer full (lost), or the channel (dropped).
func (n *Net) BindStats() (lost, dropped uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return n.lost, n.dropped.Load()
	}
	return n.kernelLost(), n.dropped.Load()
}

func (n *Net) kernelLost() (lost uint64) {
	var per []uint64
	if err := n.objs.BindLost.Lookup(uint32(0), &per); err == nil {
		for _, v := range per {
			lost += v
		}
	}
	return lost
}

func (n *Net) readBinds() {
	defer close(n.done)
	var rec ring.Record
	for {
		if err := n.reader.ReadInto(&rec); err != nil {
			if !errors.Is(err, os.ErrClosed) && !errors.Is(err, ring.ErrFlushed) {
				n.log.Error("bind verdicts cannot be read: refused binds raise no alert", "err", err)
			}
			return
		}
		var r netBindVerdict
		if _, err := binary.Decode(rec.RawSample, binary.NativeEndian, &r); err != nil {
			continue
		}
		v := BindVerdict{Time: time.Now(), CgroupID: r.Cgroup, PID: r.Pid, Port: r.Port,
			Comm: unix.ByteSliceToString(r.Comm[:]), Protocol: protoName(r.Proto)}
		if r.Family == 4 {
			v.Addr = netip.AddrFrom4([4]byte(r.Addr[:4]))
		} else {
			v.Addr = netip.AddrFrom16(r.Addr)
		}
		select {
		case n.verdicts <- v:
		default:
			n.dropped.Add(1)
		}
	}
}

func protoName(p uint8) string {
	switch p {
	case unix.IPPROTO_TCP:
		return "tcp"
	case unix.IPPROTO_UDP:
		return "udp"
	}
	return fmt.Sprint(p)
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
		n.next += 3
		t = &netTarget{block: n.next - 2, allow: n.next - 1, ports: n.next, keys: map[netLpmKey]bool{}, portKeys: map[netPortKey]bool{}}
		// The counts are the cgroup's, kept apart from its rule.
		if err := n.objs.Refused.Update(cg, uint64(0), ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			return fmt.Errorf("refused count: %w", err)
		}
		if err := n.objs.BindsRefused.Update(cg, uint64(0), ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			n.objs.Refused.Delete(cg)
			return fmt.Errorf("refused binds count: %w", err)
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
	wantPorts := map[netPortKey]bool{}
	if rule.Ports != nil {
		r.Ports = t.ports
		for _, p := range rule.Ports {
			keys, err := portKeys(t.ports, p)
			if err != nil {
				if fresh {
					n.objs.Refused.Delete(cg)
					n.objs.BindsRefused.Delete(cg)
				}
				return err
			}
			for _, k := range keys {
				wantPorts[k] = true
			}
		}
	}
	undo := func() {
		for k := range want {
			if !t.keys[k] {
				n.objs.Prefixes.Delete(k)
			}
		}
		for k := range wantPorts {
			if !t.portKeys[k] {
				n.objs.Ports.Delete(k)
			}
		}
		if fresh {
			n.objs.Refused.Delete(cg)
			n.objs.BindsRefused.Delete(cg)
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
	for k := range wantPorts {
		if t.portKeys[k] {
			continue
		}
		if err := n.objs.Ports.Put(k, uint8(1)); err != nil {
			undo()
			return fmt.Errorf("add a port range of list %d: %w", k.List, err)
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
	for k := range t.portKeys {
		if !wantPorts[k] {
			n.objs.Ports.Delete(k)
		}
	}
	t.keys, t.portKeys = want, wantPorts
	n.targets[cg] = t
	return nil
}

// portKeys splits a port range into the trie's keys: at each step the
// largest aligned block of ports that starts at first and does not pass
// last, as IP ranges are split into CIDRs.
func portKeys(list uint32, p PortRange) ([]netPortKey, error) {
	var proto uint8
	switch p.Protocol {
	case "tcp":
		proto = unix.IPPROTO_TCP
	case "udp":
		proto = unix.IPPROTO_UDP
	default:
		return nil, fmt.Errorf("port range %d-%d: unknown protocol %q", p.First, p.Last, p.Protocol)
	}
	if p.First == 0 || p.Last < p.First {
		return nil, fmt.Errorf("port range %d-%d/%s: ports go from 1 to 65535, first to last", p.First, p.Last, p.Protocol)
	}
	var out []netPortKey
	lo, hi := uint32(p.First), uint32(p.Last)
	for lo <= hi {
		host := 0
		for host < 16 && lo&(1<<(host+1)-1) == 0 && lo+(1<<(host+1))-1 <= hi {
			host++
		}
		out = append(out, netPortKey{Prefixlen: uint32(32 + 8 + 16 - host), List: list, Proto: proto,
			Port: [2]uint8{uint8(lo >> 8), uint8(lo)}})
		lo += 1 << host
	}
	return out, nil
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

// BindsRefused returns how many binds of the cgroup were refused.
func (n *Net) BindsRefused(cgroupID uint64) uint64 {
	var c uint64
	if err := n.objs.BindsRefused.Lookup(cgroupID, &c); err != nil {
		return 0
	}
	return c
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
	n.objs.BindsRefused.Delete(cg)
	n.deleteKeys(t)
	delete(n.targets, cg)
}

func (n *Net) deleteKeys(t *netTarget) {
	for k := range t.keys {
		n.objs.Prefixes.Delete(k)
	}
	for k := range t.portKeys {
		n.objs.Ports.Delete(k)
	}
}

// Close detaches the programs, delivers the bind verdicts still in the
// kernel's buffer, closes BindVerdicts and lifts every rule.
func (n *Net) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	for _, l := range n.links {
		l.Close()
	}
	n.links = nil
	n.lost = n.kernelLost() // final: the programs are detached
	n.mu.Unlock()
	if n.reader != nil {
		n.reader.Flush() // the reader delivers what is there, then stops
		<-n.done
		n.reader.Close()
	}
	close(n.verdicts)
	return n.objs.Close()
}
