package sensor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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

	"github.com/mamori-dev/mamori/container"
	"github.com/mamori-dev/mamori/event"
	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary a helper process instead: the sensor
// ignores its own process, so a workload it must see runs in another one.
const helperEnv = "MAMORI_SENSOR_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "storm":
		os.Exit(fileStorm(os.Getenv("STORM_DIR")))
	case "io":
		os.Exit(ioCalls())
	case "changes":
		os.Exit(changeCalls(os.Getenv("CHANGES")))
	case "execs":
		n, _ := strconv.Atoi(os.Getenv("EXECS"))
		os.Exit(runTrue(n))
	default:
		os.Exit(2)
	}
}

// fileStorm creates, writes and unlinks files in dir on two threads until
// its stdin closes (or a minute has passed, should the test die first).
func fileStorm(dir string) int {
	var stop atomic.Bool
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
	}()
	deadline := time.Now().Add(time.Minute)
	done := make(chan struct{})
	for w := range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			buf := make([]byte, 512)
			for i := 0; !stop.Load() && (i%1024 != 0 || time.Now().Before(deadline)); i++ {
				p := filepath.Join(dir, "f"+strconv.Itoa(w)+"-"+strconv.Itoa(i))
				fd, err := syscall.Open(p, syscall.O_CREAT|syscall.O_WRONLY|syscall.O_TRUNC|syscall.O_CLOEXEC, 0o600)
				if err != nil {
					return
				}
				syscall.Write(fd, buf)
				syscall.Close(fd)
				syscall.Unlink(p)
			}
		}()
	}
	<-done
	<-done
	return 0
}

// runTrue forks and execs /bin/true n times, one after the other.
func runTrue(n int) int {
	attr := &syscall.ProcAttr{Env: []string{"PATH=/usr/bin:/bin"}}
	for range n {
		pid, err := syscall.ForkExec("/bin/true", []string{"true"}, attr)
		if err != nil {
			return 1
		}
		var ws syscall.WaitStatus
		for {
			if _, err = syscall.Wait4(pid, &ws, 0, nil); err != syscall.EINTR {
				break
			}
		}
		if err != nil || ws.ExitStatus() != 0 {
			return 1
		}
	}
	return 0
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading the sensor needs root")
	}
}

func helper(mode string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestExecsSurviveAStorm overflows a small ring buffer, read by a reader
// that stalls, with a storm of file events while a known parent runs
// /bin/true 200 times: file events are dropped, and counted per type, but
// every exec arrives.
func TestExecsSurviveAStorm(t *testing.T) {
	needRoot(t)
	const execs = 200
	// 256 KiB for syscall records, which the storm overflows; the rest is
	// the lifecycle reserve, sized for the whole node's execs while the
	// reader stalls: in a whole-suite run other test binaries' containers
	// once took a 64 KiB reserve (44 of their exec records lost).
	s, err := New(Config{RingBufferBytes: 1 << 20, LifecycleReserveBytes: 768 << 10}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	started := time.Now()
	var parent atomic.Uint32
	var got, handled atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- s.Run(ctx, func(r Record) {
			// A reader that falls behind: it stalls every 200 records.
			if handled.Add(1)%200 == 0 {
				time.Sleep(10 * time.Millisecond)
			}
			e := r.Event
			if e.Type == event.Exec && e.Process.PPID == parent.Load() && strings.HasSuffix(e.Process.Exe, "/true") {
				got.Add(1)
			}
		})
	}()

	storm := helper("storm", "STORM_DIR="+shmDir(t))
	stop, err := storm.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := storm.Start(); err != nil {
		t.Fatal(err)
	}
	// The execs start once the storm has filled the ring: from then on
	// every one of them meets a full ring.
	for deadline := time.Now().Add(20 * time.Second); s.Stats().Dropped == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("the storm has not filled the ring in 20 s (%d records handled)", handled.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	runs := helper("execs", "EXECS="+strconv.Itoa(execs))
	if err := runs.Start(); err != nil {
		t.Fatal(err)
	}
	parent.Store(uint32(runs.Process.Pid))
	runErr := runs.Wait()
	stop.Close()
	stormErr := storm.Wait()
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if runErr != nil || stormErr != nil {
		t.Fatalf("helpers failed: execs %v, storm %v", runErr, stormErr)
	}

	st := s.Stats()
	t.Logf("handled %d records, dropped %d: %v", handled.Load(), st.Dropped, st.DroppedByType)
	if st.Dropped == 0 {
		t.Fatalf("the storm dropped nothing: the ring buffer was never full, so the test proves nothing")
	}
	if n := got.Load(); n != execs {
		t.Errorf("%d of %d execs arrived", n, execs)
	}
	var sum uint64
	for _, d := range st.DroppedByType {
		sum += d.Total()
	}
	if sum != st.Dropped {
		t.Errorf("drops by type add up to %d, the total is %d", sum, st.Dropped)
	}
	// The sensor sees the whole machine: other work may lose records of
	// other syscall types too, but no lifecycle record may be lost.
	for _, typ := range []event.Type{event.Exec, event.Fork, event.Exit, event.CgroupMove} {
		if d := st.DroppedByType[typ]; d.Total() > 0 {
			t.Errorf("%d %s records lost", d.Total(), typ)
		}
	}
	for _, typ := range []event.Type{event.Open, event.Unlink} {
		if st.DroppedByType[typ].Reserve == 0 {
			t.Errorf("no %s record was turned away to keep the reserve: %+v", typ, st.DroppedByType[typ])
		}
	}

	blind, ok, err := s.Blindness()
	if err != nil || !ok {
		t.Fatalf("no blind window reported (%v, %v)", ok, err)
	}
	if blind.From.Before(started) || blind.To.Before(blind.From) || blind.To.After(time.Now()) {
		t.Errorf("blind from %v to %v; the test ran from %v", blind.From, blind.To, started)
	}
	if _, again, _ := s.Blindness(); again {
		t.Errorf("a second look reports a blind window although nothing was lost since the first")
	}
	if st.LastDrop.Before(blind.To) {
		t.Errorf("last drop %v, before the blind window's end %v", st.LastDrop, blind.To)
	}
}

// shmDir is a directory on tmpfs, so that the storm is not slowed by a disk.
func shmDir(t *testing.T) string {
	dir, err := os.MkdirTemp("/dev/shm", "mamori-storm-")
	if err != nil {
		dir = t.TempDir()
	} else {
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	return dir
}

// watch runs s until the test ends and sends a copy of every event that
// keep accepts.
func watch(t *testing.T, s *Sensor, keep func(*event.Event) bool) <-chan event.Event {
	ch := make(chan event.Event, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- s.Run(ctx, func(r Record) {
			if keep(r.Event) {
				e := *r.Event
				e.Process.Args = slices.Clone(e.Process.Args)
				select {
				case ch <- e:
				default:
				}
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Error(err)
		}
	})
	return ch
}

func next(t *testing.T, ch <-chan event.Event, what string) event.Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s event within 10s", what)
	}
	panic("unreachable")
}

// nsInode is the inode number of /proc/pid/ns/name: the namespace's id.
func nsInode(t *testing.T, pid int, name string) uint32 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, name), &st); err != nil {
		t.Fatal(err)
	}
	return uint32(st.Ino)
}

// TestCgroupMove moves a shell into a new cgroup v2 child by writing its
// own pid into cgroup.procs, then has it exec sleep: the move names the
// destination by id and path, and both records carry the process's
// namespaces as /proc shows them.
func TestCgroupMove(t *testing.T) {
	needRoot(t)
	root, err := container.FindCgroup2Mount("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	dir, err := os.MkdirTemp(root, "mamori-sensor-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// After the child is gone (deferred below); its exit may take a
		// moment to leave the cgroup empty.
		for i := 0; os.Remove(dir) != nil && i < 100; i++ {
			time.Sleep(10 * time.Millisecond)
		}
	})
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}

	s, err := New(Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // after watch's clean-up, which stops Run
	var child atomic.Int64
	events := watch(t, s, func(e *event.Event) bool {
		pid := uint32(child.Load())
		return e.Type == event.CgroupMove && e.Cgroup.ID == st.Ino ||
			e.Type == event.Exec && e.Process.PID == pid && strings.HasSuffix(e.Process.Exe, "/sleep")
	})

	sh := exec.Command("/bin/sh", "-c", `echo $$ > "$1/cgroup.procs" && exec sleep 30`, "sh", dir)
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	child.Store(int64(sh.Process.Pid))
	defer func() { sh.Process.Kill(); sh.Wait() }()
	pid := sh.Process.Pid

	move := next(t, events, "cgroup_move")
	exe := next(t, events, "exec")
	if move.Type != event.CgroupMove {
		move, exe = exe, move
	}
	pidNS, mntNS := nsInode(t, pid, "pid"), nsInode(t, pid, "mnt")
	c := move.Cgroup
	if c.PID != uint32(pid) || c.Path != "/"+filepath.Base(dir) || c.PidNS != pidNS || c.MntNS != mntNS {
		t.Errorf("cgroup_move %+v; want pid %d, path /%s, pid_ns %d, mnt_ns %d", c, pid, filepath.Base(dir), pidNS, mntNS)
	}
	if move.Process.PID != uint32(pid) || move.Process.PidNS != pidNS || move.Process.MntNS != mntNS {
		t.Errorf("cgroup_move by %+v; want the shell %d itself", move.Process, pid)
	}
	if p := exe.Process; p.PidNS != pidNS || p.MntNS != mntNS {
		t.Errorf("exec: pid_ns %d mnt_ns %d, want %d %d", p.PidNS, p.MntNS, pidNS, mntNS)
	}
}

// TestExecNamespaces checks pid_ns on a process that unshared its pid
// namespace without forking: its children go to the new namespace, but it
// stays where it was, and /proc/PID/ns/pid says so.
func TestExecNamespaces(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip(err)
	}
	s, err := New(Config{Events: []event.Type{event.Exec}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var child atomic.Int64
	events := watch(t, s, func(e *event.Event) bool {
		return e.Type == event.Exec && e.Process.PID == uint32(child.Load()) && strings.HasSuffix(e.Process.Exe, "/sleep")
	})
	cmd := exec.Command("unshare", "--pid", "--mount", "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Store(int64(cmd.Process.Pid))
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	e := next(t, events, "exec")
	pid := cmd.Process.Pid
	pidNS, mntNS := nsInode(t, pid, "pid"), nsInode(t, pid, "mnt")
	if mntNS == nsInode(t, os.Getpid(), "mnt") {
		t.Fatalf("unshare --mount left the mount namespace as it was")
	}
	// pid_for_children names a namespace with no process yet, which /proc
	// does not show (ENOENT): compare with the namespace itself.
	if e.Process.PidNS != pidNS || e.Process.MntNS != mntNS {
		t.Errorf("exec: pid_ns %d mnt_ns %d, want %d %d", e.Process.PidNS, e.Process.MntNS, pidNS, mntNS)
	}
}
