// Package k8stest runs a real Kubernetes control plane for tests: etcd and
// kube-apiserver on loopback (Start), and on request a node, containerd
// and the kubelet (StartNode), all built from the Go module proxy by
// scripts/k8s-build.sh into a cache that outlives the checkout. Tests talk
// to it with real clients: client-go, and the kubectl built beside it.
//
// It owns nothing but test clusters: it must not be imported by non-test
// code.
package k8stest

import (
	"bytes"
	"context"
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

// StrictEnv names the environment variable that turns "no cluster can be
// built here" from a skip into a failure, so that CI cannot pass by
// skipping.
const StrictEnv = "MAMORI_REQUIRE_K8S"

// binDir builds the binaries once per test binary: the first build takes
// minutes, later ones find the cache.
var binDir = sync.OnceValues(func() (string, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return "", fmt.Errorf("no go on PATH to build Kubernetes with")
	}
	script := filepath.Join(RepoDir(), "scripts", "k8s-build.sh")
	var stderr bytes.Buffer
	cmd := exec.Command(script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w\n%s", script, err, stderr.Bytes())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
})

// RepoDir is the repository's root, found from this source file.
func RepoDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// skip skips t, or fails it under MAMORI_REQUIRE_K8S=1.
func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := "k8stest: " + fmt.Sprintf(format, args...)
	if os.Getenv(StrictEnv) == "1" {
		t.Fatalf("%s (%s=1)", msg, StrictEnv)
	}
	t.Skip(msg)
}

// Bin returns the directory of kube-apiserver, kubelet, kubectl, etcd and
// helm, building them on first use; it skips t when they cannot be built
// or it is not root.
func Bin(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		skip(t, "a cluster needs root (the kubelet and containerd run as root)")
	}
	if testing.Short() {
		skip(t, "building and starting a cluster takes minutes: not in -short")
	}
	dir, err := binDir()
	if err != nil {
		skip(t, "cannot build the Kubernetes binaries: %v", err)
	}
	return dir
}

// freePort returns a loopback port nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a process the cluster started; stop ends it and waits.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func startProc(t testing.TB, dir, name string, argv []string, env ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) stop() {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// tail is the end of p's log, for a failure message.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitFor polls ok until it is true, or fails t after limit with what the
// processes logged.
func waitFor(t testing.TB, what string, limit time.Duration, ok func(context.Context) error, procs ...*proc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var last error
	for {
		if last = ok(ctx); last == nil {
			return
		}
		for _, p := range procs {
			if p.exited() {
				t.Fatalf("%s exited while waiting for %s:\n%s", p.name, what, p.tail())
			}
		}
		select {
		case <-ctx.Done():
			var logs strings.Builder
			for _, p := range procs {
				fmt.Fprintf(&logs, "--- %s\n%s\n", p.name, p.tail())
			}
			t.Fatalf("%s: not within %s: %v\n%s", what, limit, last, logs.String())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
