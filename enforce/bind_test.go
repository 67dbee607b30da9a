package enforce

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/mamori-dev/mamori/probe"
)

// bindEnv makes the test binary a workload in a cgroup: it moves itself
// into the cgroup named by the variable and, for each line on its
// standard input ("tcp4 8080", "udp6 0", "send4": an unbound UDP socket
// sends a datagram, which binds a port without bind()), says "ok",
// "eperm" or the error. "loop tcp4 8080" binds that port until its input
// closes, then says how many binds were refused and how many passed.
const bindEnv = "MAMORI_NET_BIND"

func bindHelper(cgDir string) int {
	if err := os.WriteFile(cgDir+"/cgroup.procs", []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("inside", os.Getpid())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 4 && f[0] == "bench" {
			port, _ := strconv.Atoi(f[2])
			n, _ := strconv.Atoi(f[3])
			start := time.Now()
			for range n {
				tryBind(f[1], port)
			}
			fmt.Println(time.Since(start).Nanoseconds() / int64(max(n, 1)))
			continue
		}
		if len(f) == 3 && f[0] == "loop" {
			done := make(chan struct{})
			go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
			port, _ := strconv.Atoi(f[2])
			refused, passed := 0, 0
			for {
				select {
				case <-done:
					fmt.Printf("refused=%d passed=%d\n", refused, passed)
					return 0
				default:
				}
				if errors.Is(tryBind(f[1], port), unix.EPERM) {
					refused++
				} else {
					passed++
				}
			}
		}
		var err error
		switch {
		case len(f) == 1 && f[0] == "send4":
			err = sendUnbound()
		case len(f) == 2:
			port, _ := strconv.Atoi(f[1])
			err = tryBind(f[0], port)
		default:
			err = fmt.Errorf("bad line %q", in.Text())
		}
		switch {
		case err == nil:
			fmt.Println("ok")
		case errors.Is(err, unix.EPERM):
			fmt.Println("eperm")
		default:
			fmt.Println("error:", err)
		}
	}
	return 0
}

// tryBind binds a socket of kind ("tcp4", "tcp6", "udp4", "udp6",
// "mptcp4": Multipath TCP, which Go's listeners use where the kernel has
// it) to port on the wildcard address, and listens on a stream one.
func tryBind(kind string, port int) error {
	fam, typ, proto := unix.AF_INET, unix.SOCK_STREAM, 0
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: port}
	if strings.HasSuffix(kind, "6") {
		fam, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: port}
	}
	if strings.HasPrefix(kind, "udp") {
		typ = unix.SOCK_DGRAM
	}
	if strings.HasPrefix(kind, "mptcp") {
		proto = unix.IPPROTO_MPTCP
	}
	fd, err := unix.Socket(fam, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, sa); err != nil {
		return err
	}
	if typ == unix.SOCK_STREAM {
		return unix.Listen(fd, 1)
	}
	return nil
}

func sendUnbound() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Sendto(fd, []byte("x"), 0, &unix.SockaddrInet4{Port: 9, Addr: [4]byte{127, 0, 0, 1}})
}

// binder is a bind helper running in its own cgroup and network
// namespace (so that no port of the machine's is taken).
type binder struct {
	t     testing.TB
	cg    uint64
	pid   int
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Scanner
}

var binders atomic.Int64 // names each helper's cgroup apart

func newBinder(t testing.TB, root, name string) *binder {
	t.Helper()
	dir := filepath.Join(root, fmt.Sprintf("mamori-test-bind-%s-%d-%d", name, os.Getpid(), binders.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	b := &binder{t: t, cg: fi.Sys().(*syscall.Stat_t).Ino}
	b.cmd = exec.Command("unshare", "-n", "sh", "-c", `ip link set lo up && exec "$0"`, self)
	b.cmd.Env = append(os.Environ(), bindEnv+"="+dir)
	b.in, _ = b.cmd.StdinPipe()
	out, _ := b.cmd.StdoutPipe()
	b.cmd.Stderr = os.Stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.in.Close()
		b.cmd.Process.Kill()
		b.cmd.Wait()
		os.Remove(dir)
	})
	b.lines = bufio.NewScanner(out)
	if !b.lines.Scan() || !strings.HasPrefix(b.lines.Text(), "inside ") {
		t.Fatalf("bind helper did not start: %q", b.lines.Text())
	}
	b.pid, _ = strconv.Atoi(strings.TrimPrefix(b.lines.Text(), "inside "))
	return b
}

func (b *binder) do(line string) string {
	b.t.Helper()
	fmt.Fprintln(b.in, line)
	if !b.lines.Scan() {
		b.t.Fatalf("bind helper: no answer to %q", line)
	}
	return b.lines.Text()
}

func newTestNet(t *testing.T) (*Net, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root, err := probe.Cgroup2Root()
	if err != nil {
		t.Skip(err)
	}
	n, err := NewNet(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Binds(); err != nil {
		t.Skipf("bind() cannot be judged on this kernel: %v", err)
	}
	return n, root
}

// TestNetRefusesBinds: a cgroup whose rule lists ports may bind those and
// port 0 (and send from an unbound socket), and nothing else: bind()
// fails with EPERM, counted and reported with the process, protocol,
// address and port. A cgroup without a port list, and the same cgroup
// once released, bind freely.
func TestNetRefusesBinds(t *testing.T) {
	n, root := newTestNet(t)
	_, err := os.Stat("/proc/sys/net/mptcp/enabled")
	mptcp := err == nil
	ruled, free := newBinder(t, root, "ruled"), newBinder(t, root, "free")
	rule := NetRule{Ports: []PortRange{{"tcp", 8080, 8080}, {"udp", 53, 53}, {"tcp", 30000, 30010}}}
	if err := n.ProtectCgroup(ruled.cg, rule); err != nil {
		t.Fatal(err)
	}
	// A rule without ports leaves binds alone.
	if err := n.ProtectCgroup(free.cg, NetRule{Block: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}); err != nil {
		t.Fatal(err)
	}
	refusals := 0
	for _, tc := range []struct {
		b          *binder
		line, want string
	}{
		{ruled, "tcp4 8080", "ok"},
		{ruled, "tcp6 8080", "ok"},
		{ruled, "tcp4 9090", "eperm"},
		{ruled, "tcp6 9090", "eperm"},
		{ruled, "udp4 53", "ok"},
		{ruled, "udp6 53", "ok"},
		{ruled, "udp4 8080", "eperm"}, // 8080 is listed for tcp only
		{ruled, "tcp4 53", "eperm"},
		{ruled, "tcp4 30000", "ok"},
		{ruled, "tcp4 30010", "ok"},
		{ruled, "tcp4 30011", "eperm"},
		{ruled, "tcp4 0", "ok"}, // the kernel picks the port
		{ruled, "udp6 0", "ok"},
		{ruled, "send4", "ok"}, // an implicit bind, no bind() call
		{free, "tcp4 9090", "ok"},
		{free, "udp4 8080", "ok"},
		{ruled, "mptcp4 8080", "ok"},
		{ruled, "mptcp4 9090", "eperm"}, // judged as the TCP it is
	} {
		if strings.HasPrefix(tc.line, "mptcp") && !mptcp {
			continue // no Multipath TCP in this kernel
		}
		if got := tc.b.do(tc.line); got != tc.want {
			t.Errorf("%s in %s: %s, want %s", tc.line, map[*binder]string{ruled: "the ruled cgroup", free: "the free one"}[tc.b], got, tc.want)
		}
		if tc.want == "eperm" {
			refusals++
		}
	}
	if got := n.BindsRefused(ruled.cg); got != uint64(refusals) {
		t.Errorf("refused binds counted %d, want %d", got, refusals)
	}
	var got []string
	timeout := time.After(5 * time.Second)
	for len(got) < refusals {
		select {
		case v := <-n.BindVerdicts():
			if v.CgroupID != ruled.cg || v.PID != uint32(ruled.pid) || v.Comm == "" {
				t.Errorf("verdict %+v, want cgroup %d pid %d", v, ruled.cg, ruled.pid)
			}
			got = append(got, fmt.Sprintf("%s %s %d", v.Protocol, v.Addr, v.Port))
		case <-timeout:
			t.Fatalf("%d verdicts for %d refusals: %v", len(got), refusals, got)
		}
	}
	want := []string{"tcp 0.0.0.0 9090", "tcp :: 9090", "udp 0.0.0.0 8080", "tcp 0.0.0.0 53", "tcp 0.0.0.0 30011", "tcp 0.0.0.0 9090"}
	if !mptcp {
		want = want[:len(want)-1]
	}
	if !slices.Equal(got, want) {
		t.Errorf("verdicts %v, want %v", got, want)
	}
	n.Release(ruled.cg)
	if got := ruled.do("tcp4 9090"); got != "ok" {
		t.Errorf("after Release: %s", got)
	}
}

// TestNetPortsReprotectMakesBeforeBreak replaces a cgroup's rule 3000
// times, each with another port beside 8080 (a policy reload), while a
// process in it binds 8080 in a tight loop: not one bind may be refused.
// The last rule adds 9090, which may then be bound.
func TestNetPortsReprotectMakesBeforeBreak(t *testing.T) {
	n, root := newTestNet(t)
	b := newBinder(t, root, "reprotect")
	rule := func(i int) NetRule {
		return NetRule{Ports: []PortRange{{"tcp", 8080, 8080}, {"udp", uint16(10000 + i), uint16(10000 + i)}},
			Block: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}
	}
	if err := n.ProtectCgroup(b.cg, rule(0)); err != nil {
		t.Fatal(err)
	}
	if got := b.do("tcp4 9090"); got != "eperm" {
		t.Fatalf("9090 before the reloads: %s", got)
	}
	fmt.Fprintln(b.in, "loop tcp4 8080")
	time.Sleep(10 * time.Millisecond)
	for i := 1; i <= 3000; i++ {
		if err := n.ProtectCgroup(b.cg, rule(i)); err != nil {
			t.Fatal(err)
		}
	}
	final := rule(3001)
	final.Ports = append(final.Ports, PortRange{"tcp", 9090, 9090})
	if err := n.ProtectCgroup(b.cg, final); err != nil {
		t.Fatal(err)
	}
	b.in.Close()
	var last string
	for b.lines.Scan() {
		last = b.lines.Text()
	}
	var refused, passed int
	if _, err := fmt.Sscanf(last, "refused=%d passed=%d", &refused, &passed); err != nil {
		t.Fatalf("bind loop said %q", last)
	}
	if refused != 0 || passed == 0 {
		t.Errorf("during 3001 rule replacements: %d binds of 8080 refused (want 0), %d passed", refused, passed)
	}
	t.Logf("%d binds of 8080 passed during 3001 replacements", passed)
	// The helper has exited; a new one in the same cgroup binds 9090.
	b2 := newBinder(t, root, "reprotect-after")
	if err := n.ProtectCgroup(b2.cg, final); err != nil {
		t.Fatal(err)
	}
	if got := b2.do("tcp4 9090"); got != "ok" {
		t.Errorf("9090 after the rule that adds it: %s", got)
	}
	if got := b2.do("tcp4 9091"); got != "eperm" {
		t.Errorf("9091, on no rule: %s", got)
	}
}

func TestPortKeys(t *testing.T) {
	for _, tc := range []struct {
		r    PortRange
		want []string // first port/prefix bits of the 16
	}{
		{PortRange{"tcp", 8080, 8080}, []string{"8080/16"}},
		{PortRange{"udp", 8000, 8100}, []string{"8000/10", "8064/11", "8096/14", "8100/16"}},
		{PortRange{"tcp", 1, 65535}, []string{"1/16", "2/15", "4/14", "8/13", "16/12", "32/11", "64/10", "128/9", "256/8", "512/7", "1024/6", "2048/5", "4096/4", "8192/3", "16384/2", "32768/1"}},
	} {
		keys, err := portKeys(7, tc.r)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, k := range keys {
			if k.List != 7 || (tc.r.Protocol == "tcp") != (k.Proto == unix.IPPROTO_TCP) {
				t.Errorf("key %+v", k)
			}
			got = append(got, fmt.Sprintf("%d/%d", int(k.Port[0])<<8|int(k.Port[1]), k.Prefixlen-40))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v: %v, want %v", tc.r, got, tc.want)
		}
	}
	if _, err := portKeys(1, PortRange{"sctp", 1, 2}); err == nil {
		t.Error("sctp accepted")
	}
}

// BenchmarkBind measures a TCP socket, bind() and listen() in a cgroup:
// without the programs, with them attached and no rule for the cgroup,
// with a rule of 100 port ranges that allows the port, and one that
// refuses it (the refusal's report included).
func BenchmarkBind(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	root, err := probe.Cgroup2Root()
	if err != nil {
		b.Skip(err)
	}
	var n *Net
	run := func(b *testing.B, name string, setup func(cg uint64)) {
		b.Run(name, func(b *testing.B) {
			bd := newBinder(b, root, name)
			if setup != nil {
				setup(bd.cg)
			}
			var s0 *ebpf.ProgramStats
			if n != nil {
				s0, _ = n.objs.Bind4.Stats()
			}
			b.ResetTimer()
			fmt.Fprintf(bd.in, "bench tcp4 8080 %d\n", b.N)
			if !bd.lines.Scan() {
				b.Fatal("no answer")
			}
			ns, _ := strconv.ParseFloat(bd.lines.Text(), 64)
			b.ReportMetric(ns, "ns/bind")
			// The program's own time, as the kernel counts it.
			if s0 != nil {
				if s1, err := n.objs.Bind4.Stats(); err == nil && s1.RunCount > s0.RunCount {
					b.ReportMetric(float64(s1.Runtime-s0.Runtime)/float64(s1.RunCount-s0.RunCount), "ns/prog-run")
				}
			}
		})
	}
	run(b, "no-programs", nil)
	if st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		defer st.Close() // counting stops with it
	}
	n, err = NewNet(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	go func() {
		for range n.BindVerdicts() {
		}
	}()
	ranges := func(with8080 bool) []PortRange {
		var rs []PortRange
		for i := range 99 {
			rs = append(rs, PortRange{"tcp", uint16(10000 + 7*i), uint16(10003 + 7*i)})
		}
		if with8080 {
			return append(rs, PortRange{"tcp", 8080, 8080})
		}
		return append(rs, PortRange{"udp", 8080, 8080})
	}
	run(b, "no-rule", nil)
	run(b, "allowed", func(cg uint64) { n.ProtectCgroup(cg, NetRule{Ports: ranges(true)}) })
	run(b, "refused", func(cg uint64) { n.ProtectCgroup(cg, NetRule{Ports: ranges(false)}) })
}
