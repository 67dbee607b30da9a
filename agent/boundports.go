package agent

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

// boundPort is a port a process of a container holds.
type boundPort struct {
	pid      uint32
	protocol string // "tcp" or "udp"
	port     uint16
}

// Socket states in /proc/net/{tcp,udp}: a listening TCP socket, and an
// unconnected UDP one.
const (
	tcpListen = "0A"
	udpClosed = "07"
)

// boundPorts lists the TCP ports pids listen on and the UDP ports they
// hold unconnected, from the sockets in /proc/PID/fd matched against
// /proc/PID/net (the process's network namespace). A UDP socket that
// only sent from an unbound socket holds an ephemeral port too, which
// cannot be told from a bind: ports in the ephemeral range (ephemeral)
// are left out.
func boundPorts(pids []uint32, ephemeral [2]uint16) []boundPort {
	owner := map[string]uint32{} // socket inode → a process holding it
	for _, pid := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue // gone
		}
		for _, fd := range fds {
			l, err := os.Readlink(filepath.Join(dir, fd.Name()))
			if ino, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
				owner[strings.TrimSuffix(ino, "]")] = pid
			}
		}
	}
	if len(owner) == 0 {
		return nil
	}
	var out []boundPort
	seen := map[string]bool{} // network namespaces read
	for _, pid := range pids {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil || seen[ns] {
			continue
		}
		seen[ns] = true
		for _, f := range []struct{ file, proto, state string }{
			{"tcp", "tcp", tcpListen}, {"tcp6", "tcp", tcpListen}, {"udp", "udp", udpClosed}, {"udp6", "udp", udpClosed},
		} {
			for _, s := range procNetSockets(fmt.Sprintf("/proc/%d/net/%s", pid, f.file)) {
				holder, ours := owner[s.inode]
				if !ours || s.state != f.state || s.port == 0 ||
					f.proto == "udp" && s.port >= ephemeral[0] && s.port <= ephemeral[1] {
					continue
				}
				out = append(out, boundPort{pid: holder, protocol: f.proto, port: s.port})
			}
		}
	}
	return out
}

type procNetSocket struct {
	port         uint16
	state, inode string
}

// procNetSockets reads a /proc/net/{tcp,udp}[6] table: the local port
// (the hex after the colon of local_address), the state and the inode.
func procNetSockets(path string) []procNetSocket {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []procNetSocket
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		_, hexPort, ok := strings.Cut(fs[1], ":")
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if !ok || err != nil {
			continue
		}
		out = append(out, procNetSocket{port: uint16(port), state: fs[3], inode: fs[9]})
	}
	return out
}

// ephemeralPorts is the node's range of ports the kernel picks from
// (net.ipv4.ip_local_port_range), the kernel's default when unreadable.
func ephemeralPorts() [2]uint16 {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if f := strings.Fields(string(b)); err == nil && len(f) == 2 {
		lo, err1 := strconv.ParseUint(f[0], 10, 16)
		hi, err2 := strconv.ParseUint(f[1], 10, 16)
		if err1 == nil && err2 == nil {
			return [2]uint16{uint16(lo), uint16(hi)}
		}
	}
	return [2]uint16{32768, 60999}
}

// reportBoundPorts says, once its listening ports rule is in place, which
// ports off the list container c's processes already hold: bound before
// the rule was placed (by the runtime, or before the agent knew the
// container) or allowed by the rule it replaced. The rule refuses new
// binds; it cannot take a port back.
func (a *Agent) reportBoundPorts(c *event.Container, cg uint64, lp *policy.ListeningPorts) {
	if a.guard == nil {
		return
	}
	pids, err := a.containers.Procs(cg)
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, b := range boundPorts(pids, ephemeralPorts()) {
		key := strconv.Itoa(int(b.port)) + "/" + b.protocol
		if seen[key] || lp.Allowed(b.protocol, b.port) {
			continue
		}
		seen[key] = true
		p, _, ok := a.tree.Lookup(b.pid)
		if !ok {
			p = event.Process{PID: b.pid}
		}
		e := &event.Event{Kind: "event", Time: time.Now(), Node: a.cfg.Node, Type: event.Bind, Syscall: "bind", Process: p,
			Network: &event.Network{Protocol: b.protocol, SrcPort: b.port}, Container: c}
		prog := p.Exe
		if prog == "" {
			prog = fmt.Sprintf("pid %d", b.pid)
		}
		msg := fmt.Sprintf("Listening port %s, not on the listening ports allow list, was already held by %s in container %s (image %s) when its rule was placed: "+
			"a port bound before the rule is not refused; restart the container to apply it", key, prog, c.Name, c.Image)
		a.guard.Verdict(e, "listeningPorts", event.Detected, msg, a.writeAlert)
	}
}
