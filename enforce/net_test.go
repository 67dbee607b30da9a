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
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mamori-dev/mamori/probe"
)

// tryConnect connects from a new cgroup under root, and from a network
// namespace that has only loopback, so that nothing the test does can leave
// the machine: a refused connect fails with EPERM before routing, one that
// is let through fails with "network unreachable" (or, on loopback, with
// "connection refused").
func tryConnect(t *testing.T, cgDir, addr string) string {
	t.Helper()
	ap := netip.MustParseAddrPort(addr)
	host, port := ap.Addr().String(), fmt.Sprint(ap.Port())
	script := fmt.Sprintf("echo $$ > %s/cgroup.procs && exec busybox nc -w 1 %s %s </dev/null", cgDir, host, port)
	out, _ := exec.Command("unshare", "-n", "sh", "-c", "ip link set lo up 2>/dev/null; "+script).CombinedOutput()
	return string(out)
}

func TestNetRefusesByCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("needs busybox (busybox-static), which scripts/install-deps.sh installs")
	}
	root, err := probe.Cgroup2Root()
	if err != nil {
		t.Skip(err)
	}
	n, err := NewNet(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	mk := func(name string) (string, *exec.Cmd) {
		dir := filepath.Join(root, fmt.Sprintf("mamori-test-net-%s-%d", name, os.Getpid()))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		sleeper := exec.Command("sh", "-c", "echo $$ > "+dir+"/cgroup.procs && exec sleep 30")
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sleeper.Process.Kill()
			sleeper.Wait()
			// Processes that ran in it have exited; the cgroup can go.
			os.Remove(dir)
		})
		for range 100 { // wait until the sleeper is inside
			if b, _ := os.ReadFile(dir + "/cgroup.procs"); strings.TrimSpace(string(b)) != "" {
				break
			}
			exec.Command("sleep", "0.01").Run()
		}
		return dir, sleeper
	}
	blockDir, blockProc := mk("block")
	allowDir, allowProc := mk("allow")
	freeDir, _ := mk("free")

	if _, err := n.Protect(blockProc.Process.Pid, NetRule{Block: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")}}); err != nil {
		t.Fatal(err)
	}
	cg, err := n.Protect(allowProc.Process.Pid, NetRule{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		dir, addr, want string
	}{
		{blockDir, "198.51.100.9:80", "not permitted"},
		{blockDir, "[2001:db8::7]:80", "not permitted"},
		{blockDir, "203.0.113.5:80", "unreachable"}, // not on the list: routing decides
		{blockDir, "127.0.0.1:9", "refused"},        // loopback always passes
		{allowDir, "198.51.100.9:80", "not permitted"},
		{allowDir, "10.1.2.3:80", "unreachable"},
		{freeDir, "198.51.100.9:80", "unreachable"}, // no rule for this cgroup
	} {
		out := tryConnect(t, tc.dir, tc.addr)
		if !strings.Contains(strings.ToLower(out), tc.want) {
			t.Errorf("%s from %s: %q, want %q", tc.addr, filepath.Base(tc.dir), strings.TrimSpace(out), tc.want)
		}
	}
	if got := n.Refused(cg); got != 1 {
		t.Errorf("refused count of the allow-list cgroup = %d, want 1", got)
	}
	n.Release(cg)
	if out := tryConnect(t, allowDir, "198.51.100.9:80"); !strings.Contains(strings.ToLower(out), "unreachable") {
		t.Errorf("after Release: %q", out)
	}
}

// connectLoopEnv makes the test binary a workload in a cgroup: it moves
// itself into the cgroup named by the variable, connects to a blocked
// address until its standard input closes, and prints how many connects
// were refused (EPERM) and how many got past the rule.
const connectLoopEnv = "MAMORI_NET_CONNECT_LOOP"

func connectLoop(cgDir string) int {
	if err := os.WriteFile(cgDir+"/cgroup.procs", []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
		fmt.Println(err)
		return 1
	}
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	fmt.Println("inside")
	sa := &unix.SockaddrInet4{Port: 80, Addr: [4]byte{198, 51, 100, 9}}
	refused, passed := 0, 0
	for {
		select {
		case <-done:
			fmt.Printf("refused=%d passed=%d\n", refused, passed)
			return 0
		default:
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		if err := unix.Connect(fd, sa); errors.Is(err, unix.EPERM) {
			refused++
		} else {
			passed++ // unreachable in its own network namespace: the rule did not refuse it
		}
		unix.Close(fd)
	}
}

// TestNetReprotectMakesBeforeBreak replaces a cgroup's rule 3000 times
// (a policy reload, a change of the node's addresses) while a process in
// it connects to a blocked address in a tight loop: not one connect may
// get past.
func TestNetReprotectMakesBeforeBreak(t *testing.T) {
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
	defer n.Close()
	dir := filepath.Join(root, fmt.Sprintf("mamori-test-net-reprotect-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	var cg uint64
	if fi, err := os.Stat(dir); err == nil {
		cg = fi.Sys().(*syscall.Stat_t).Ino
	}
	rule := func(i int) NetRule {
		return NetRule{Block: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"),
			netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 32)}, // a different rule each time
			Allow: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)}}
	}
	if err := n.ProtectCgroup(cg, rule(0)); err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	loop := exec.Command("unshare", "-n", self)
	loop.Env = append(os.Environ(), connectLoopEnv+"="+dir)
	stdin, _ := loop.StdinPipe()
	stdout, _ := loop.StdoutPipe()
	if err := loop.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "inside" {
		t.Fatalf("connect loop did not start: %q", lines.Text())
	}
	time.Sleep(10 * time.Millisecond)
	for i := 1; i <= 3000; i++ {
		if err := n.ProtectCgroup(cg, rule(i)); err != nil {
			t.Fatal(err)
		}
	}
	stdin.Close()
	var last string
	for lines.Scan() {
		last = lines.Text()
	}
	if err := loop.Wait(); err != nil {
		t.Fatalf("connect loop: %v: %s", err, last)
	}
	var refused, passed int
	if _, err := fmt.Sscanf(last, "refused=%d passed=%d", &refused, &passed); err != nil {
		t.Fatalf("connect loop said %q", last)
	}
	if refused == 0 || passed != 0 {
		t.Errorf("during 3000 rule replacements: %d connects refused, %d got past (want 0)", refused, passed)
	}
	if got := n.Refused(cg); got < uint64(refused) {
		t.Errorf("the refused count went back to %d across replacements (%d refusals seen)", got, refused)
	}
	t.Logf("%d connects refused", refused)
}
