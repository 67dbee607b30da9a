// Package learn watches what each container does, as the agent's events
// show it, and summarises it per workload for the console: the programs
// run (path, parent, digest), the most processes alive at once, outbound
// and inbound connections, listening ports, directories written outside
// the image, and connections per minute for the network map. The console
// merges every node's summaries into the workload's behaviour profile.
//
// It learns from every event whatever the policies say: a policy in force
// does not blind it. Programs are recorded from the kernel's exec record,
// so a process that exits at once is recorded like any other, and hashed
// through another live process of its container when it is already gone.
//
// It must not know the console or NATS, nor learn less because a policy
// is in force (it reads the policy package only to name a pod's owner).
package learn

import (
	"log/slog"
	"net/netip"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

// EventTypes are the events the learner reads.
var EventTypes = []event.Type{event.Exec, event.Fork, event.Exit, event.Connect, event.Accept, event.Bind, event.Listen, event.Open, event.DNS}

// Config is what the learner needs from the agent.
type Config struct {
	Cluster string
	Node    string
	// Names, when set, names the destinations of connections.
	Names func(addr netip.Addr, at time.Time) []string
	// Peak, when set, returns the most tasks ever alive at once in the
	// pids cgroup of process pid (pids.peak).
	Peak func(pid uint32) (int, bool)
	// MaxItems bounds the distinct items kept per container between two
	// flushes (4096 when 0): a workload writing to random directories
	// cannot grow the agent.
	MaxItems int
}

// Learner keeps what containers did since the last Flush. Observe and
// Flush may be called from different goroutines.
type Learner struct {
	cfg     Config
	log     *slog.Logger
	mu      sync.Mutex
	ctrs    map[string]*ctrState // by container id
	digests *digests
}

type ctrState struct {
	ctr      *event.Container
	workload event.Workload
	alive    map[uint32]bool
	maxAlive int
	sentMax  int // the most alive at once, as last sent
	items    map[string]*event.ObservedItem
	flows    map[flowKey]*event.Flow
	lastSeen time.Time
	overflow int
}

type flowKey struct {
	minute        int64
	ip            string
	port          uint16
	proto         string
	verdict       string
	dnsUnresolved bool
}

// New returns a learner.
func New(cfg Config, log *slog.Logger) *Learner {
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = 4096
	}
	return &Learner{cfg: cfg, log: log, ctrs: map[string]*ctrState{}, digests: newDigests()}
}

// WorkloadOf names the workload a container belongs to.
func WorkloadOf(cluster string, c *event.Container) event.Workload {
	w := event.Workload{Cluster: cluster, ImageDigest: c.ImageDigest, Image: c.Image, Name: c.Name}
	if w.ImageDigest == "" {
		// A runtime that does not say the digest: the image's id, or
		// its reference, is the next best name of its content.
		w.ImageDigest = c.ImageID
		if w.ImageDigest == "" {
			w.ImageDigest = c.Image
		}
	}
	if p := c.Pod; p != nil && p.Namespace != "" {
		w.Namespace = p.Namespace
		w.Owner = policy.DeploymentOf(p.Name, c.Labels)
		if w.Owner == "" {
			w.Owner = trimGenerated(p.Name)
		}
		if p.Container != "" {
			// Each container of a pod is a workload of its own.
			w.Owner += "/" + p.Container
		}
		w.Name = w.Owner
	}
	return w
}

// trimGenerated drops a DaemonSet's or Job's generated suffix of five
// characters from a pod name; a StatefulSet's ordinal stays (its pods
// differ in identity, not in behaviour, but their names say which).
func trimGenerated(pod string) string {
	i := strings.LastIndexByte(pod, '-')
	if i <= 0 || len(pod)-i-1 != 5 {
		return pod
	}
	for _, r := range pod[i+1:] {
		if !strings.ContainsRune("bcdfghjklmnpqrstvwxz2456789", r) {
			return pod
		}
	}
	return pod[:i]
}

// Observe records what e says about its container. It runs on the agent's
// event path: it takes a lock and updates maps, nothing more.
func (l *Learner) Observe(e *event.Event) {
	c := e.Container
	if c.IsHost() || c.ID == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.ctrs[c.ID]
	if st == nil {
		st = &ctrState{ctr: c, workload: WorkloadOf(l.cfg.Cluster, c), alive: map[uint32]bool{},
			items: map[string]*event.ObservedItem{}, flows: map[flowKey]*event.Flow{}}
		l.ctrs[c.ID] = st
	} else if c.ImageDigest != "" && c.ImageDigest != st.ctr.ImageDigest || len(c.Labels) > len(st.ctr.Labels) {
		// A fuller description than the first one seen.
		st.ctr, st.workload = c, WorkloadOf(l.cfg.Cluster, c)
	}
	st.lastSeen = e.Time
	p := &e.Process
	switch e.Type {
	case event.Exec:
		st.live(p.PID)
		if p.Exe == "" || strings.HasSuffix(p.Exe, "/") {
			// No program's path: the runtime's own exec of the
			// entrypoint is seen with the root directory as its path.
			return
		}
		parent := ""
		if len(p.Ancestors) > 0 {
			parent = p.Ancestors[0].Exe
		}
		it := st.item(l, event.ItemExec, p.Exe, e.Time)
		if it == nil {
			return
		}
		it.Path = p.Exe
		if it.Parent == "" {
			it.Parent = parent
		}
		it.Drifted = it.Drifted || p.ExeUpperLayer || p.ExeFromMemfd
		if it.Digest == "" {
			// The program is read now, while its process most likely
			// still runs; Flush tries again through another process.
			it.Digest = l.digests.get(c.ID, p.PID, p.Exe, p.ExeInode, p.ExeCtime)
		}
	case event.Fork:
		if !p.ChildIsThread {
			st.live(p.ChildPID)
		}
	case event.Exit:
		delete(st.alive, p.PID)
	case event.Connect:
		n := e.Network
		dst, ok := inetAddr(n)
		if !ok {
			return
		}
		verdict := event.FlowAllowed
		if e.Result == -1 || e.Result == -13 { // EPERM, EACCES: refused by a policy
			verdict = event.FlowRefused
		}
		dns := ""
		if l.cfg.Names != nil {
			if names := l.cfg.Names(dst, e.Time); len(names) > 0 {
				dns = names[0]
			}
		}
		st.flow(e.Time, n.DstIP, n.DstPort, n.Protocol, dns, verdict)
		if verdict == event.FlowRefused {
			return // refused: not the workload's behaviour
		}
		it := st.item(l, event.ItemEgress, n.DstIP+":"+strconv.Itoa(int(n.DstPort))+"/"+n.Protocol, e.Time)
		if it != nil {
			it.IP, it.Port, it.Protocol = n.DstIP, n.DstPort, n.Protocol
			if dns != "" {
				it.DNS = dns
			}
		}
	case event.Accept:
		n := e.Network
		if n == nil || (n.Family != "inet" && n.Family != "inet6") {
			return
		}
		peer, err := netip.ParseAddr(n.SrcIP)
		if err != nil || peer.Unmap().IsLoopback() {
			return
		}
		it := st.item(l, event.ItemIngress, n.SrcIP+"->"+strconv.Itoa(int(n.DstPort))+"/"+n.Protocol, e.Time)
		if it != nil {
			it.IP, it.Port, it.Protocol = n.SrcIP, n.DstPort, n.Protocol
		}
	case event.Listen, event.Bind:
		// A port the workload takes: a TCP server binds and listens, a
		// UDP server only binds. A bind that failed (refused by a
		// policy, or the port in use) took none, and port 0 lets the
		// kernel pick one.
		n := e.Network
		if n == nil || (n.Family != "inet" && n.Family != "inet6") || n.SrcPort == 0 || e.Type == event.Bind && e.Result != 0 {
			return
		}
		proto := n.Protocol
		switch proto {
		case "", "proto_262": // Multipath TCP takes TCP ports
			proto = "tcp"
		case "tcp", "udp":
		default:
			return // raw and ICMP sockets take no port
		}
		if it := st.item(l, event.ItemListen, strconv.Itoa(int(n.SrcPort))+"/"+proto, e.Time); it != nil {
			it.Port, it.Protocol = n.SrcPort, proto
		}
	case event.Open:
		f := e.File
		if f == nil || e.Result < 0 || !writes(f.Flags) || (f.Layer != "upper" && !f.Created) || pseudo(f.Path) {
			return
		}
		dir := path.Dir(f.Path)
		if it := st.item(l, event.ItemFile, dir, e.Time); it != nil {
			it.Path = dir
		}
	}
}

func writes(flags string) bool {
	return strings.Contains(flags, "O_WRONLY") || strings.Contains(flags, "O_RDWR") || strings.Contains(flags, "O_CREAT")
}

// pseudo reports paths of no file system a container's image has, and
// the runtime's own paths, which its processes write in a container's
// cgroup while they set the container up.
func pseudo(p string) bool {
	for _, pre := range []string{"/proc/", "/sys/", "/dev/", "/var/lib/containers/", "/run/runc/", "/run/crun/",
		"/run/containers/", "/var/run/containers/", "/run/containerd/", "/var/lib/containerd/", "/run/libpod/"} {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return p == "" || p[0] != '/'
}

func inetAddr(n *event.Network) (netip.Addr, bool) {
	if n == nil || (n.Family != "inet" && n.Family != "inet6") || n.DstIP == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(n.DstIP)
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	if a.IsLoopback() || a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}

func (st *ctrState) live(pid uint32) {
	st.alive[pid] = true
	st.maxAlive = max(st.maxAlive, len(st.alive))
}

// item returns the pending item of kind and key, counted once more; nil
// when the container has too many.
func (st *ctrState) item(l *Learner, kind, key string, at time.Time) *event.ObservedItem {
	k := kind + "\x00" + key
	it := st.items[k]
	if it == nil {
		if len(st.items) >= l.cfg.MaxItems {
			st.overflow++
			return nil
		}
		it = &event.ObservedItem{Kind: kind, Key: key, First: at}
		st.items[k] = it
	}
	it.Count++
	if at.After(it.Last) {
		it.Last = at
	}
	return it
}

func (st *ctrState) flow(at time.Time, ip string, port uint16, proto, dns, verdict string) {
	m := at.Truncate(time.Minute)
	k := flowKey{minute: m.UnixNano(), ip: ip, port: port, proto: proto, verdict: verdict}
	f := st.flows[k]
	if f == nil {
		f = &event.Flow{Minute: m.UTC(), DstIP: ip, DstPort: port, Protocol: proto, Verdict: verdict}
		st.flows[k] = f
	}
	if dns != "" {
		f.DNS = dns
	}
	f.Count++
}

// Flush returns what was observed since the last Flush, one Observation
// per workload, and forgets it. Containers not seen for gone are dropped.
func (l *Learner) Flush(now time.Time, gone time.Duration) []*event.Observation {
	type pending struct {
		st   *ctrState
		pids []uint32 // candidates to read the container through
	}
	l.mu.Lock()
	byW := map[string]*event.Observation{}
	var need []pending
	for id, st := range l.ctrs {
		if len(st.items) == 0 && len(st.flows) == 0 && st.maxAlive <= st.sentMax {
			if now.Sub(st.lastSeen) > gone {
				delete(l.ctrs, id)
			}
			continue
		}
		w := st.workload
		o := byW[w.Key()]
		if o == nil {
			o = &event.Observation{Kind: event.KindObservation, Cluster: l.cfg.Cluster, Node: l.cfg.Node, Time: now.UTC(), Workload: w}
			byW[w.Key()] = o
		}
		o.Containers = append(o.Containers, id)
		for _, it := range st.items {
			o.Items = append(o.Items, *it)
		}
		for _, f := range st.flows {
			o.Flows = append(o.Flows, *f)
		}
		o.MaxProcesses = max(o.MaxProcesses, st.maxAlive)
		var pids []uint32
		for p := range st.alive {
			if pids = append(pids, p); len(pids) == 8 {
				break
			}
		}
		need = append(need, pending{st, pids})
		if st.overflow > 0 {
			l.log.Warn("learning: more distinct items than kept between two reports; the rest is not learnt", "container", st.ctr.Name, "lost", st.overflow)
		}
		st.items, st.flows, st.overflow = map[string]*event.ObservedItem{}, map[flowKey]*event.Flow{}, 0
		st.sentMax = max(st.sentMax, st.maxAlive)
		// What is alive stays alive: the next window starts from it.
		st.maxAlive = len(st.alive)
	}
	l.mu.Unlock()
	// What reads files happens outside the lock: the event path waits
	// for nothing.
	for _, p := range need {
		w := p.st.workload
		o := byW[w.Key()]
		pid := livePID(p.pids) // 0: the programs held open are read all the same
		for i := range o.Items {
			it := &o.Items[i]
			if it.Kind == event.ItemExec && it.Digest == "" {
				it.Digest = l.digests.get(p.st.ctr.ID, pid, it.Path, 0, time.Time{})
			}
		}
		if pid == 0 {
			continue
		}
		if l.cfg.Peak != nil {
			if n, ok := l.cfg.Peak(pid); ok {
				o.MaxProcesses = max(o.MaxProcesses, n)
			}
		}
		o.Addresses = appendNew(o.Addresses, Addresses(pid)...)
	}
	out := make([]*event.Observation, 0, len(byW))
	for _, o := range byW {
		sort.Slice(o.Items, func(i, j int) bool {
			if o.Items[i].Kind != o.Items[j].Kind {
				return o.Items[i].Kind < o.Items[j].Kind
			}
			return o.Items[i].Key < o.Items[j].Key
		})
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Workload.Key() < out[j].Workload.Key() })
	return out
}

func appendNew(dst []string, add ...string) []string {
	for _, a := range add {
		found := false
		for _, d := range dst {
			found = found || d == a
		}
		if !found {
			dst = append(dst, a)
		}
	}
	return dst
}

// livePID returns the first of pids still running, or 0.
func livePID(pids []uint32) uint32 {
	for _, p := range pids {
		if _, err := os.Stat("/proc/" + strconv.FormatUint(uint64(p), 10) + "/root"); err == nil {
			return p
		}
	}
	return 0
}
