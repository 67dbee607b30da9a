// Package natstest runs a real NATS JetStream cluster for tests: three
// nats-server processes on 127.0.0.1, built from the nats-server module
// this repository requires (the binary is cached under
// ~/.cache/mamori-test, never committed). Servers can be killed and
// started again to test what survives.
//
// It owns nothing but test servers: it must not be imported by non-test
// code.
package natstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary builds (once per cache) the nats-server of go.mod's version and
// returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { binPath, buildErr = build() })
	if buildErr != nil {
		t.Fatalf("natstest: build nats-server: %v", buildErr)
	}
	return binPath
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func build() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/nats-io/nats-server/v2").Output()
	if err != nil {
		return "", fmt.Errorf("go list: %w", err)
	}
	version := strings.TrimSpace(string(out))
	home, _ := os.UserHomeDir()
	dir := filepath.Join(home, ".cache", "mamori-test")
	bin := filepath.Join(dir, "nats-server-"+version)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	os.MkdirAll(dir, 0o755)
	cmd := exec.Command("go", "build", "-o", bin+".tmp", "github.com/nats-io/nats-server/v2")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v\n%s", err, b)
	}
	return bin, os.Rename(bin+".tmp", bin)
}

// Cluster is three JetStream servers routed to each other.
type Cluster struct {
	t       testing.TB
	bin     string
	dir     string
	ports   []int // client ports
	cports  []int // cluster ports
	procs   []*exec.Cmd
	Clients []string // nats://127.0.0.1:PORT of each
}

// Start starts a 3-server cluster that stops when the test ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{t: t, bin: Binary(t), dir: t.TempDir()}
	for range 3 {
		c.ports = append(c.ports, freePort(t))
		c.cports = append(c.cports, freePort(t))
	}
	for i := range 3 {
		c.Clients = append(c.Clients, fmt.Sprintf("nats://127.0.0.1:%d", c.ports[i]))
	}
	c.procs = make([]*exec.Cmd, 3)
	for i := range 3 {
		c.StartServer(i)
	}
	t.Cleanup(func() {
		for i := range c.procs {
			c.KillServer(i)
		}
	})
	for i := range 3 {
		c.waitUp(i)
	}
	return c
}

// URL is every server's client URL, comma-separated.
func (c *Cluster) URL() string { return strings.Join(c.Clients, ",") }

// StartServer starts server i (again).
func (c *Cluster) StartServer(i int) {
	c.t.Helper()
	var routes []string
	for j := range 3 {
		if j != i {
			routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", c.cports[j]))
		}
	}
	cmd := exec.Command(c.bin, "-js", "-n", fmt.Sprintf("n%d", i), "--cluster_name", "mamori-test",
		"-a", "127.0.0.1", "-p", fmt.Sprint(c.ports[i]), "-cluster", fmt.Sprintf("nats://127.0.0.1:%d", c.cports[i]),
		"-routes", strings.Join(routes, ","), "-sd", filepath.Join(c.dir, fmt.Sprintf("n%d", i)))
	logf, _ := os.OpenFile(filepath.Join(c.dir, fmt.Sprintf("n%d.log", i)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("natstest: start server %d: %v", i, err)
	}
	c.procs[i] = cmd
}

// KillServer kills server i with SIGKILL, as a crash would.
func (c *Cluster) KillServer(i int) {
	if p := c.procs[i]; p != nil && p.ProcessState == nil {
		p.Process.Kill()
		p.Wait()
	}
}

func (c *Cluster) waitUp(i int) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.ports[i]))
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("n%d.log", i)))
			c.t.Fatalf("natstest: server %d not up after 30s\n%s", i, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log returns server i's log.
func (c *Cluster) Log(i int) string {
	b, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("n%d.log", i)))
	return string(b)
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
