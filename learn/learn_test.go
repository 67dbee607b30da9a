package learn

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mamori-dev/mamori/event"
)

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

var ctr = &event.Container{ID: "c1", Name: "worker-1", Image: "localhost/worker:1", ImageDigest: "sha256:1111"}

func execEvent(pid uint32, exe string, ino uint64) *event.Event {
	return &event.Event{Type: event.Exec, Time: time.Now(), Container: ctr,
		Process: event.Process{PID: pid, Exe: exe, ExeInode: ino, ExeUpperLayer: true,
			Ancestors: []event.Process{{PID: 1, Exe: "/bin/sh"}}}}
}

func itemOf(o *event.Observation, kind, key string) *event.ObservedItem {
	for i := range o.Items {
		if o.Items[i].Kind == kind && o.Items[i].Key == key {
			return &o.Items[i]
		}
	}
	return nil
}

// TestShortLivedProgramHashed: a program whose process exited before its
// exec event was handled is recorded with its digest, read through a live
// process of its container (here this test's own, whose root is the
// host's).
func TestShortLivedProgramHashed(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "quick")
	copyFile(t, "/bin/true", prog)
	cmd := exec.Command(prog)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	gone := uint32(cmd.Process.Pid)
	l := New(Config{Cluster: "lab", Node: "n1"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	l.Observe(&event.Event{Type: event.Fork, Time: time.Now(), Container: ctr, Process: event.Process{PID: 1, ChildPID: uint32(os.Getpid())}})
	l.Observe(execEvent(gone, prog, 1))
	obs := l.Flush(time.Now(), time.Minute)
	if len(obs) != 1 {
		t.Fatalf("observations: %+v", obs)
	}
	it := itemOf(obs[0], event.ItemExec, prog)
	if it == nil || it.Digest != fileSum(t, prog) || !it.Drifted || it.Parent != "/bin/sh" {
		t.Fatalf("short-lived program: %+v", it)
	}
	if obs[0].Workload.ImageDigest != "sha256:1111" || obs[0].Node != "n1" || obs[0].Containers[0] != "c1" {
		t.Errorf("observation: %+v", obs[0])
	}
}

// TestProgramHeldUntilHashed: a program deleted after it started is still
// hashed, as it was when it ran: the exec event holds it open.
func TestProgramHeldUntilHashed(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "sleeper")
	copyFile(t, "/bin/sleep", prog)
	want := fileSum(t, prog)
	cmd := exec.Command(prog, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := New(Config{Cluster: "lab", Node: "n1"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	l.Observe(execEvent(uint32(cmd.Process.Pid), prog, 1))
	cmd.Process.Kill()
	cmd.Wait()
	os.Remove(prog)
	obs := l.Flush(time.Now(), time.Minute)
	if len(obs) != 1 {
		t.Fatalf("observations: %+v", obs)
	}
	if it := itemOf(obs[0], event.ItemExec, prog); it == nil || it.Digest != want {
		t.Fatalf("deleted program: %+v, want digest %s", it, want)
	}
}

// TestObserveItems: connections, listens and writes become items; a
// refused connection is a flow, not behaviour; flows count per minute.
func TestObserveItems(t *testing.T) {
	l := New(Config{Cluster: "lab", Node: "n1"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	at := time.Date(2026, 12, 1, 10, 0, 30, 0, time.UTC)
	ev := func(typ event.Type, n *event.Network, f *event.File, result int64) {
		l.Observe(&event.Event{Type: typ, Time: at, Container: ctr, Network: n, File: f, Result: result})
	}
	out := &event.Network{Family: "inet", Protocol: "tcp", DstIP: "10.0.0.7", DstPort: 5432}
	ev(event.Connect, out, nil, 0)
	ev(event.Connect, out, nil, -115) // EINPROGRESS: a non-blocking connect
	ev(event.Connect, &event.Network{Family: "inet", Protocol: "tcp", DstIP: "203.0.113.9", DstPort: 443}, nil, -1)
	ev(event.Connect, &event.Network{Family: "inet", Protocol: "tcp", DstIP: "127.0.0.1", DstPort: 80}, nil, 0)
	ev(event.Accept, &event.Network{Family: "inet", Protocol: "tcp", SrcIP: "10.0.0.9", SrcPort: 40000, DstIP: "10.0.0.5", DstPort: 8080}, nil, 5)
	ev(event.Listen, &event.Network{Family: "inet", Protocol: "tcp", SrcIP: "0.0.0.0", SrcPort: 8080}, nil, 0)
	ev(event.Open, nil, &event.File{Path: "/var/cache/app/x.tmp", Flags: "O_WRONLY|O_CREAT", Created: true}, 3)
	ev(event.Open, nil, &event.File{Path: "/etc/passwd", Flags: "O_RDONLY", Layer: "lower"}, 3)
	ev(event.Open, nil, &event.File{Path: "/var/lib/containers/storage/overlay/x/merged/etc/hosts", Flags: "O_WRONLY", Layer: "upper"}, 3)
	// The runtime's exec of the entrypoint, seen with "/" as its path,
	// is no program of the workload's.
	l.Observe(execEvent(uint32(os.Getpid()), "/", 1))
	obs := l.Flush(at.Add(time.Second), time.Minute)
	if len(obs) != 1 {
		t.Fatalf("observations: %+v", obs)
	}
	o := obs[0]
	if it := itemOf(o, event.ItemEgress, "10.0.0.7:5432/tcp"); it == nil || it.Count != 2 {
		t.Errorf("egress: %+v", it)
	}
	if itemOf(o, event.ItemEgress, "203.0.113.9:443/tcp") != nil || itemOf(o, event.ItemEgress, "127.0.0.1:80/tcp") != nil {
		t.Errorf("a refused or loopback connection learnt: %+v", o.Items)
	}
	if itemOf(o, event.ItemIngress, "10.0.0.9->8080/tcp") == nil || itemOf(o, event.ItemListen, "8080/tcp") == nil {
		t.Errorf("inbound or listen missing: %+v", o.Items)
	}
	if itemOf(o, event.ItemFile, "/var/cache/app") == nil || len(o.Items) != 4 {
		t.Errorf("written directories: %+v", o.Items)
	}
	verdicts := map[string]int64{}
	for _, f := range o.Flows {
		if !f.Minute.Equal(at.Truncate(time.Minute)) {
			t.Errorf("flow minute %v", f.Minute)
		}
		verdicts[f.DstIP+" "+f.Verdict] += f.Count
	}
	if verdicts["10.0.0.7 allowed"] != 2 || verdicts["203.0.113.9 refused"] != 1 || len(verdicts) != 2 {
		t.Errorf("flows: %v", verdicts)
	}
	// Nothing new: nothing to send.
	if obs := l.Flush(at.Add(2*time.Second), time.Minute); len(obs) != 0 {
		t.Errorf("a second flush sent %+v", obs)
	}
}

func TestWorkloadOf(t *testing.T) {
	k8s := &event.Container{ID: "x", ImageDigest: "sha256:2", Labels: map[string]string{"pod-template-hash": "7d4b9c8f6"},
		Pod: &event.Pod{Name: "web-7d4b9c8f6-x2x4z", Namespace: "shop", Container: "app"}}
	if w := WorkloadOf("prod", k8s); w.Owner != "web/app" || w.Namespace != "shop" || w.Key() != "prod/shop/web/app/sha256:2" {
		t.Errorf("deployment pod: %+v", w)
	}
	ds := &event.Container{ID: "y", ImageDigest: "sha256:3", Pod: &event.Pod{Name: "fluentd-x2x4z", Namespace: "logging"}}
	if w := WorkloadOf("prod", ds); w.Owner != "fluentd" {
		t.Errorf("daemonset pod: %+v", w)
	}
	plain := &event.Container{ID: "z", Name: "web-1", ImageDigest: "sha256:4"}
	other := &event.Container{ID: "w", Name: "web-2", ImageDigest: "sha256:4"}
	if WorkloadOf("prod", plain).Key() != WorkloadOf("prod", other).Key() {
		t.Error("two plain containers of one image digest are two workloads")
	}
}

func BenchmarkObserveConnect(b *testing.B) {
	l := New(Config{Cluster: "lab", Node: "n1"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	e := &event.Event{Type: event.Connect, Time: time.Now(), Container: ctr,
		Network: &event.Network{Family: "inet", Protocol: "tcp", DstIP: "10.0.0.7", DstPort: 5432}}
	b.ReportAllocs()
	for b.Loop() {
		l.Observe(e)
	}
}

func BenchmarkObserveExec(b *testing.B) {
	l := New(Config{Cluster: "lab", Node: "n1"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	e := execEvent(uint32(os.Getpid()), "/usr/bin/app", 1)
	b.ReportAllocs()
	for b.Loop() {
		l.Observe(e)
	}
}

// TestHashedInsideTheRoot: a program hashed through a live process is
// looked up in that process's root: a container's symbolic link to an
// absolute path names its own file, never the host's; and a FIFO does not
// block the flush.
func TestHashedInsideTheRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "etc"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	copyFile(t, "/bin/busybox", filepath.Join(root, "bin", "busybox"))
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("the container's own\n"), 0o644)
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "bin", "link")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(root, "bin", "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("chroot", root, "/bin/busybox", "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := uint32(cmd.Process.Pid)
	// chroot execs busybox: wait until the process runs in its root.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if r, _ := os.Readlink("/proc/" + strconv.Itoa(int(pid)) + "/root"); r == root {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the chrooted process never ran in its root")
		}
	}
	d := newDigests()
	if got, want := d.get("c", pid, "/bin/link", 0, time.Time{}), fileSum(t, filepath.Join(root, "etc", "passwd")); got != want {
		t.Errorf("digest through the container's link = %q, want its own /etc/passwd's %q", got, want)
	}
	if s := d.get("c", pid, "/bin/fifo", 0, time.Time{}); s != "" {
		t.Errorf("a FIFO hashed: %q", s)
	}
}

// TestObserveWhileFlushing: the event path and the flush run at once
// (go test -race).
func TestObserveWhileFlushing(t *testing.T) {
	l := New(Config{Cluster: "lab", Node: "n1"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			l.Observe(&event.Event{Type: event.Connect, Time: time.Now(), Container: ctr,
				Network: &event.Network{Family: "inet", Protocol: "tcp", DstIP: "10.0.0.7", DstPort: uint16(1000 + i%50)}})
			l.Observe(&event.Event{Type: event.Fork, Time: time.Now(), Container: ctr, Process: event.Process{PID: 1, ChildPID: uint32(os.Getpid())}})
		}
	}()
	var n int64
	for flushing := true; flushing; {
		select {
		case <-done:
			flushing = false
		default:
		}
		for _, o := range l.Flush(time.Now(), time.Minute) {
			for _, f := range o.Flows {
				n += f.Count
			}
		}
	}
	if n != 2000 {
		t.Errorf("flows counted %d connections, want 2000", n)
	}
}

// TestLearnPortsTaken: a port the workload binds is learnt as a listening
// port, UDP servers' too (they never listen); a bind to port 0, a failed
// bind and a raw socket's are not.
func TestLearnPortsTaken(t *testing.T) {
	l := New(Config{Cluster: "lab", Node: "n1"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	at := time.Date(2026, 12, 1, 10, 0, 30, 0, time.UTC)
	ev := func(typ event.Type, proto string, port uint16, result int64) {
		l.Observe(&event.Event{Type: typ, Time: at, Container: ctr, Result: result,
			Network: &event.Network{Family: "inet6", Protocol: proto, SrcIP: "::", SrcPort: port}})
	}
	ev(event.Bind, "udp", 53, 0)
	ev(event.Bind, "tcp", 8080, 0)
	ev(event.Listen, "tcp", 8080, 0)
	ev(event.Bind, "proto_262", 8443, 0) // Multipath TCP
	ev(event.Bind, "tcp", 0, 0)
	ev(event.Bind, "tcp", 9090, -1)  // refused
	ev(event.Bind, "udp", 5353, -98) // in use
	ev(event.Bind, "raw", 7, 0)
	obs := l.Flush(at.Add(time.Second), time.Minute)
	if len(obs) != 1 {
		t.Fatalf("observations: %+v", obs)
	}
	var got []string
	for _, it := range obs[0].Items {
		got = append(got, it.Kind+" "+it.Key+" "+strconv.Itoa(int(it.Count)))
	}
	sort.Strings(got)
	want := []string{"listen 53/udp 1", "listen 8080/tcp 2", "listen 8443/tcp 1"}
	if !slices.Equal(got, want) {
		t.Errorf("items %v, want %v", got, want)
	}
}
