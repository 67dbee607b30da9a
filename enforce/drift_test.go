package enforce

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/container"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

// helperBin is testdata/drifthelper, built static so that it runs in the
// busybox test image.
var helperBin string

// childEnv makes the test binary a stand-in agent: it protects the
// container "ID:PID" named by the variable, says "ready" and waits to be
// killed.
const childEnv = "MAMORI_DRIFT_CHILD"

func TestMain(m *testing.M) {
	if target := os.Getenv(childEnv); target != "" {
		os.Exit(childMain(target))
	}
	if cg := os.Getenv(connectLoopEnv); cg != "" {
		os.Exit(connectLoop(cg))
	}
	if cg := os.Getenv(bindEnv); cg != "" {
		os.Exit(bindHelper(cg))
	}
	dir, err := os.MkdirTemp("", "mamori-enforce-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	helperBin = filepath.Join(dir, "drifthelper")
	cmd := exec.Command("go", "build", "-o", helperBin, "./testdata/drifthelper")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build drifthelper: %v\n%s", err, out)
		os.Exit(1)
	}
	fds := openFDs()
	code := m.Run()
	if after := openFDs(); code == 0 && after > fds {
		fmt.Fprintf(os.Stderr, "the tests leaked %d file descriptors\n", after-fds)
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

func childMain(target string) int {
	id, pid, _ := strings.Cut(target, ":")
	var rootPID int
	fmt.Sscan(pid, &rootPID)
	d, err := NewDrift(Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if err := d.Protect(context.Background(), ContainerRef{ID: id, RootPID: rootPID, Mode: Enforce}); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("ready")
	select {}
}

// helperPath is where tests copy drifthelper in a container; it is on the
// upper layer, so every test that runs it allows it, which exercises the
// allow list on both mechanisms.
const helperPath = "/drifthelper"

// env is one test's Drift Prevention and the verdicts it has delivered.
type env struct {
	d  *Drift
	mu sync.Mutex
	vs []Verdict
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	podmantest.Require(t)
	d, err := NewDrift(cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatalf("NewDrift: %v", err)
	}
	e := &env{d: d}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for v := range d.Verdicts() {
			e.mu.Lock()
			e.vs = append(e.vs, v)
			e.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		<-done
	})
	return e
}

// waitVerdict waits for a verdict about path (exactly as the verdict says
// it) and returns it.
func (e *env) waitVerdict(t *testing.T, path string) Verdict {
	t.Helper()
	return e.waitFor(t, "path "+path, func(v Verdict) bool { return v.Path == path })
}

func (e *env) waitFor(t *testing.T, what string, match func(Verdict) bool) Verdict {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, v := range e.verdicts() {
			if match(v) {
				return v
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no verdict for %s; have %+v", what, e.verdicts())
	return Verdict{}
}

func (e *env) verdicts() []Verdict {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Verdict(nil), e.vs...)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// box is a running test container.
type box struct {
	*podmantest.Container
	info podmantest.Info
}

func startBox(t testing.TB, opts ...podmantest.Option) *box {
	t.Helper()
	c := podmantest.Run(t, opts...)
	b := &box{Container: c, info: podmantest.Inspect(t, c)}
	if out, err := exec.Command("podman", "cp", helperBin, c.ID+":"+helperPath).CombinedOutput(); err != nil {
		t.Fatalf("podman cp drifthelper: %v: %s", err, out)
	}
	return b
}

// run runs argv in the container and returns its combined output and
// error; unlike podmantest.Exec a failure is a result, not a test failure.
func (b *box) run(argv ...string) (string, error) {
	out, err := exec.Command("podman", append([]string{"exec", b.ID}, argv...)...).CombinedOutput()
	return string(out), err
}

func (b *box) mustRun(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := b.run(argv...)
	if err != nil {
		t.Fatalf("%s in the container: %v: %s", strings.Join(argv, " "), err, out)
	}
	return out
}

// exists looks at the container's file system from the host, so that the
// check needs no exec in the container.
func (b *box) exists(p string) bool {
	_, err := os.Lstat(filepath.Join(fmt.Sprintf("/proc/%d/root", b.info.Pid), p))
	return err == nil
}

func (b *box) ref(mode Mode, allow ...string) ContainerRef {
	return ContainerRef{ID: b.ID, RootPID: b.info.Pid, Mode: mode, Allow: append([]string{helperPath}, allow...)}
}

func protect(t *testing.T, e *env, ref ContainerRef) {
	t.Helper()
	start := time.Now()
	if err := e.d.Protect(context.Background(), ref); err != nil {
		t.Fatalf("Protect: %v", err)
	}
	t.Logf("Protect took %v", time.Since(start))
}

// blocked asserts that running argv failed and that marker was not created.
func (b *box) blocked(t *testing.T, marker string, argv ...string) string {
	t.Helper()
	out, err := b.run(argv...)
	if err == nil {
		t.Fatalf("%s ran in a protected container: %s", strings.Join(argv, " "), out)
	}
	if b.exists(marker) {
		t.Fatalf("%s failed (%v) but created %s: the program ran", strings.Join(argv, " "), err, marker)
	}
	return out
}

func checkVerdict(t *testing.T, v Verdict, id string, reason Reason, action Action, mech Mechanism) {
	t.Helper()
	if v.Container != id || v.Reason != reason || v.Action != action || v.Mechanism != mech {
		t.Errorf("verdict %+v: want container %.12s, %s, %s, %s", v, id, reason, action, mech)
	}
	if v.PID == 0 || v.CgroupID == 0 || v.Time.IsZero() {
		t.Errorf("verdict %+v lacks pid, cgroup or time", v)
	}
}

func TestEnforceImageProgramsRun(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t)
	protect(t, e, b.ref(Enforce))
	b.mustRun(t, "/bin/sh", "-c", "true")
	if out := b.mustRun(t, "ls", "/"); !strings.Contains(out, "bin") {
		t.Errorf("ls / printed %q", out)
	}
	b.mustRun(t, "sh", "-c", "echo a | grep a >/dev/null && id -u >/dev/null")
	b.mustRun(t, helperPath, "bench", "3", "/bin/true") // allowed, although dropped
	for _, v := range e.verdicts() {
		t.Errorf("unexpected verdict for an image or allowed program: %+v", v)
	}
}

func TestEnforcePodmanCp(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t)
	protect(t, e, b.ref(Enforce))
	if out, err := exec.Command("podman", "cp", "/bin/busybox", b.ID+":/usr-local-touch").CombinedOutput(); err != nil {
		t.Fatalf("podman cp: %v: %s", err, out)
	}
	out := b.blocked(t, "/marker", "/usr-local-touch", "/marker")
	if !strings.Contains(strings.ToLower(out), "not permitted") {
		t.Errorf("want EPERM from exec, got %q", out)
	}
	checkVerdict(t, e.waitVerdict(t, "/usr-local-touch"), b.ID, UpperLayer, Blocked, Fanotify)
}

func TestEnforceShellDrop(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t)
	protect(t, e, b.ref(Enforce))
	out := b.blocked(t, "/tmp/marker", "sh", "-c", "cp /bin/busybox /tmp/touch && /tmp/touch /tmp/marker")
	if !strings.Contains(strings.ToLower(out), "not permitted") {
		t.Errorf("want EPERM from exec, got %q", out)
	}
	checkVerdict(t, e.waitVerdict(t, "/tmp/touch"), b.ID, UpperLayer, Blocked, Fanotify)
	// A script is refused too: its own open for exec is judged, not only
	// the interpreter's.
	b.blocked(t, "/tmp/marker2", "sh", "-c", "printf '#!/bin/sh\\ntouch /tmp/marker2\\n' >/tmp/s.sh && chmod +x /tmp/s.sh && /tmp/s.sh")
	checkVerdict(t, e.waitVerdict(t, "/tmp/s.sh"), b.ID, UpperLayer, Blocked, Fanotify)
}

func TestEnforceCopyUp(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t)
	protect(t, e, b.ref(Enforce))
	// chmod copies the image's busybox up: from then on it is the
	// container's own file, and every applet (all links to it) is drift.
	b.mustRun(t, "chmod", "0755", "/bin/busybox")
	b.blocked(t, "/marker", "/bin/touch", "/marker")
	checkVerdict(t, e.waitVerdict(t, "/bin/busybox"), b.ID, UpperLayer, Blocked, Fanotify)
}

func TestEnforceMemfd(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t)
	protect(t, e, b.ref(Enforce))
	for _, variant := range [][]string{{}, {"-proc"}} {
		marker := "/tmp/marker-memfd" + strings.Join(variant, "")
		argv := append([]string{helperPath, "memfd"}, variant...)
		argv = append(argv, "/bin/busybox", "touch", marker)
		out := b.blocked(t, marker, argv...)
		t.Logf("%v: %q", argv, out)
		v := e.waitFor(t, "memfd", func(v Verdict) bool { return v.Reason == Memfd && strings.HasPrefix(v.Name, "memfd:payload") })
		checkVerdict(t, v, b.ID, Memfd, Blocked, SIGKILL)
		e.mu.Lock()
		e.vs = nil
		e.mu.Unlock()
	}
}

func TestEnforceDeleted(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t)
	protect(t, e, b.ref(Enforce))
	// Exec a file through an fd after its last name is gone. Fanotify
	// sees it (it is on the root mount) and says why.
	b.blocked(t, "/tmp/marker", "sh", "-c", "cp /bin/busybox /tmp/gone && exec 3</tmp/gone && rm /tmp/gone && /proc/self/fd/3 touch /tmp/marker")
	v := e.waitVerdict(t, "/tmp/gone (deleted)")
	checkVerdict(t, v, b.ID, Deleted, Blocked, Fanotify)
}

func TestEnforceVolume(t *testing.T) {
	e := newEnv(t, Config{})
	vol, progs := t.TempDir(), t.TempDir()
	for _, dir := range []string{vol, progs} {
		data, err := os.ReadFile("/bin/busybox")
		if err != nil {
			t.Skipf("host busybox: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "touch"), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b := startBox(t, podmantest.Args("-v", vol+":/vol", "-v", progs+":/progs"))
	ref := b.ref(Enforce)
	ref.ExecMounts = []string{"/progs"}
	protect(t, e, ref)
	b.blocked(t, "/vol/marker", "/vol/touch", "/vol/marker")
	checkVerdict(t, e.waitVerdict(t, "/vol/touch"), b.ID, Volume, Blocked, Fanotify)
	b.mustRun(t, "/progs/touch", "/progs/marker")
	if !b.exists("/progs/marker") {
		t.Error("a program on a declared exec mount did not run")
	}
}

func TestAllowList(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t)
	protect(t, e, b.ref(Enforce, "/tmp/ok/touch"))
	b.mustRun(t, "sh", "-c", "mkdir /tmp/ok && cp /bin/busybox /tmp/ok/touch && /tmp/ok/touch /tmp/ok/marker")
	if !b.exists("/tmp/ok/marker") {
		t.Fatal("an allowed dropped program did not run")
	}
	// The same file under another name is not allowed.
	b.blocked(t, "/tmp/marker", "sh", "-c", "cp /tmp/ok/touch /tmp/touch && /tmp/touch /tmp/marker")
}

// TestSigkillLine runs without fanotify: the kernel program alone must stop
// every kind of drift before it runs.
func TestSigkillLine(t *testing.T) {
	e := newEnv(t, Config{NoFanotify: true})
	b := startBox(t)
	protect(t, e, b.ref(Enforce, "/tmp/ok/touch"))
	b.mustRun(t, "/bin/sh", "-c", "true")
	out := b.blocked(t, "/tmp/marker", "sh", "-c", "cp /bin/busybox /tmp/touch && /tmp/touch /tmp/marker")
	if !strings.Contains(out, "Killed") {
		t.Logf("shell said %q", out)
	}
	checkVerdict(t, e.waitVerdict(t, "/tmp/touch"), b.ID, UpperLayer, Blocked, SIGKILL)
	b.mustRun(t, "sh", "-c", "mkdir /tmp/ok && cp /bin/busybox /tmp/ok/touch && /tmp/ok/touch /tmp/ok/marker")
	if !b.exists("/tmp/ok/marker") {
		t.Fatal("the allow list does not work in the kernel")
	}
	b.mustRun(t, "chmod", "0755", "/bin/busybox")
	b.blocked(t, "/marker", "/bin/touch", "/marker")
	checkVerdict(t, e.waitVerdict(t, "/bin/touch"), b.ID, UpperLayer, Blocked, SIGKILL)
}

func TestAudit(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t)
	protect(t, e, b.ref(Audit))
	b.mustRun(t, "sh", "-c", "cp /bin/busybox /tmp/touch && /tmp/touch /tmp/marker")
	if !b.exists("/tmp/marker") {
		t.Fatal("audit mode blocked a program")
	}
	checkVerdict(t, e.waitVerdict(t, "/tmp/touch"), b.ID, UpperLayer, Audited, SIGKILL)
	b.mustRun(t, helperPath, "memfd", "/bin/busybox", "touch", "/tmp/marker-memfd")
	if !b.exists("/tmp/marker-memfd") {
		t.Fatal("audit mode blocked a memfd program")
	}
	found := false
	for _, v := range e.verdicts() {
		if v.Reason == Memfd {
			found = true
			checkVerdict(t, v, b.ID, Memfd, Audited, SIGKILL)
		}
	}
	if !found {
		t.Error("no memfd verdict in audit mode")
	}
}

func TestUnprotectedAndRelease(t *testing.T) {
	e := newEnv(t, Config{})
	protected, other := startBox(t), startBox(t)
	protect(t, e, protected.ref(Enforce))
	drop := []string{"sh", "-c", "cp /bin/busybox /tmp/touch && /tmp/touch /tmp/marker"}
	other.mustRun(t, drop...)
	if !other.exists("/tmp/marker") {
		t.Fatal("a container that is not protected was affected")
	}
	protected.blocked(t, "/tmp/marker", drop...)
	if err := e.d.Release(protected.ID); err != nil {
		t.Fatal(err)
	}
	protected.mustRun(t, "/tmp/touch", "/tmp/marker")
	if !protected.exists("/tmp/marker") {
		t.Fatal("a released container still cannot run its dropped program")
	}
	if n := len(e.verdicts()); n != 1 {
		t.Errorf("want 1 verdict, got %+v", e.verdicts())
	}
}

// attempt is one line of `drifthelper drop`.
type attempt struct {
	Path   string `json:"path"`
	Start  int64  `json:"start"`
	Err    string `json:"err"`
	Exit   int    `json:"exit"`
	Signal string `json:"signal"`
}

func (b *box) drop(t testing.TB, n int) []attempt {
	t.Helper()
	cmd := exec.Command("podman", "exec", b.ID, helperPath, "drop", fmt.Sprint(n), "/bin/busybox", "touch", "/tmp/drop/%d/marker")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var as []attempt
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var a attempt
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("drifthelper: %v: %s", err, sc.Bytes())
		}
		as = append(as, a)
	}
	io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("drifthelper drop: %v: %s", err, stderr.String())
	}
	if len(as) != n {
		t.Fatalf("drifthelper made %d attempts, want %d", len(as), n)
	}
	return as
}

// TestRace drops a new program and execs it at once, 1000 times, with both
// mechanisms and with the kernel line alone: none may run.
func TestRace(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		mech Mechanism
	}{{"fanotify", Config{}, Fanotify}, {"sigkill", Config{NoFanotify: true}, SIGKILL}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			b := startBox(t)
			protect(t, e, b.ref(Enforce))
			const n = 1000
			as := b.drop(t, n)
			ran := 0
			for i, a := range as {
				if a.Exit == 0 && a.Err == "" || b.exists(fmt.Sprintf("/tmp/drop/%d/marker", i)) {
					ran++
				}
			}
			if ran > 0 {
				t.Fatalf("%d of %d dropped programs ran", ran, n)
			}
			deadline := time.Now().Add(5 * time.Second)
			for len(e.verdicts()) < n && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			vs := e.verdicts()
			if len(vs) != n {
				t.Errorf("%d verdicts for %d blocked execs (stats %+v)", len(vs), n, e.d.Stats())
			}
			for _, v := range vs {
				if v.Mechanism != tc.mech || v.Action != Blocked {
					t.Errorf("verdict %+v: want %s, blocked", v, tc.mech)
					break
				}
			}
			t.Logf("first attempt: %+v", as[0])
		})
	}
}

// TestAgentDeath kills a process holding Drift Prevention with SIGKILL: the
// container must be able to exec again at once, since both the fanotify
// group and the BPF links are file descriptors that die with it. (A
// stopped agent, by contrast, would hold execs on the marked mounts: see
// the package documentation.)
func TestAgentDeath(t *testing.T) {
	podmantest.Require(t)
	b := startBox(t)
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d", childEnv, b.ID, b.info.Pid))
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("stand-in agent: %q", line)
	}
	drop := []string{"sh", "-c", "cp /bin/busybox /tmp/touch && /tmp/touch /tmp/marker"}
	b.blocked(t, "/tmp/marker", drop...)
	child.Process.Kill()
	child.Wait()
	b.mustRun(t, "/tmp/touch", "/tmp/marker")
	if !b.exists("/tmp/marker") {
		t.Fatal("the container cannot exec its dropped program after the agent died")
	}
}

// TestChroot checks that a chroot inside the container (CAP_SYS_CHROOT is
// in podman's default set) neither forges an allowed path nor makes a
// volume count as the root, in the kernel line alone.
func TestChroot(t *testing.T) {
	e := newEnv(t, Config{NoFanotify: true})
	vol := t.TempDir()
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("host busybox: %v", err)
	}
	if err := os.WriteFile(filepath.Join(vol, "touch"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	b := startBox(t, podmantest.Args("-v", vol+":/vol"))
	protect(t, e, b.ref(Enforce, "/x/touch"))
	b.blocked(t, "/tmp/fake/m", "sh", "-c", "mkdir -p /tmp/fake/x && cp /bin/busybox /tmp/fake/x/touch && chroot /tmp/fake /x/touch /m")
	checkVerdict(t, e.waitVerdict(t, "/x/touch"), b.ID, UpperLayer, Blocked, SIGKILL)
	b.blocked(t, "/vol/m", "chroot", "/vol", "/touch", "/m")
	checkVerdict(t, e.waitVerdict(t, "/touch"), b.ID, Volume, Blocked, SIGKILL)
}

// TestProtectRefusesTheHostMountNamespace: a process in a container's
// cgroup but still in the host's mount namespace (runc before pivot_root)
// must not be protected: its mounts are the host's, and marking them would
// refuse execs on the whole node.
func TestProtectRefusesTheHostMountNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root, err := container.FindCgroup2Mount("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	dir := filepath.Join(root, fmt.Sprintf("mamori-test-hostns-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(sleeper.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := NewDrift(Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Protect(context.Background(), ContainerRef{ID: "hostns", RootPID: sleeper.Process.Pid, Mode: Enforce})
	if !errors.Is(err, ErrHostMountNS) {
		t.Fatalf("Protect of a host-namespace process: %v, want ErrHostMountNS", err)
	}
	if out, err := exec.Command("/bin/true").CombinedOutput(); err != nil {
		t.Fatalf("the host can no longer exec: %v %s", err, out)
	}
}

// TestReprotectMakesBeforeBreak re-protects a container again and again
// (what a policy reload or a change of the node's addresses does) while
// it drops and runs new programs and runs a blocklisted image program in
// tight loops: the new protection is in place before the old one goes, so
// not one of them runs.
func TestReprotectMakesBeforeBreak(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t)
	// A program the image would not stop (allowed as drift) that the
	// block list refuses: image programs here are all busybox.
	if out, err := exec.Command("podman", "cp", helperBin, b.ID+":/listed").CombinedOutput(); err != nil {
		t.Fatalf("podman cp: %v: %s", err, out)
	}
	ref := func(i int) ContainerRef {
		r := b.ref(Enforce, "/listed", fmt.Sprintf("/opt/allowed-%d", i)) // a different policy each time
		r.Exec.Blocked = func(p string) bool { return p == "/listed" }
		return r
	}
	protect(t, e, ref(0))

	// Rounds of the loops until 50 re-protections happened during them:
	// on a quiet machine one round of 300 takes as little as 19.
	n, round := 0, 0
	for ; n < 50 && round < 20; round++ {
		if round > 0 { // the last round's programs and markers
			if out, err := exec.Command("podman", "exec", b.ID, "rm", "-rf", "/tmp/drop").CombinedOutput(); err != nil {
				t.Fatalf("podman exec rm: %v: %s", err, out)
			}
		}
		var wg sync.WaitGroup
		var drops []attempt
		var listed string
		stop := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			drops = b.drop(t, 300)
		}()
		go func() {
			defer wg.Done()
			listed, _ = b.run("sh", "-c", "i=0; while [ $i -lt 300 ]; do /listed bench 1 /bin/true >/dev/null 2>&1 && echo RAN; i=$((i+1)); done")
		}()
		go func() { wg.Wait(); close(stop) }()
		for done := false; !done; {
			select {
			case <-stop:
				done = true
			default:
				n++
				if err := e.d.Protect(context.Background(), ref(n)); err != nil {
					t.Fatalf("re-protect %d: %v", n, err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		ran := 0
		for i, a := range drops {
			if a.Exit == 0 && a.Err == "" || b.exists(fmt.Sprintf("/tmp/drop/%d/marker", i)) {
				ran++
			}
		}
		if ran > 0 {
			t.Errorf("round %d: %d of %d dropped programs ran during %d re-protections", round, ran, len(drops), n)
		}
		if c := strings.Count(listed, "RAN"); c > 0 {
			t.Errorf("round %d: the blocklisted /listed ran %d of 300 times during %d re-protections", round, c, n)
		}
	}
	if n < 50 {
		t.Errorf("only %d re-protections happened during %d rounds of the loops; the test proves little", n, round)
	}
	t.Logf("%d re-protections in %d rounds", n, round)
}

// TestPlainRootIsNotJudged: a container run from a plain directory
// (podman --rootfs) has no upper layer to tell new files from the image's.
// Its programs must run (they were once refused: the upper directory,
// unknown, was taken for the host's root), and RootJudged says that drift
// on its root is not judged, so that the agent can say so.
func TestPlainRootIsNotJudged(t *testing.T) {
	e := newEnv(t, Config{})
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip(err)
	}
	os.WriteFile(filepath.Join(root, "bin", "busybox"), busybox, 0o755)
	for _, applet := range []string{"sh", "sleep", "true"} {
		os.Symlink("busybox", filepath.Join(root, "bin", applet))
	}
	c := podmantest.Run(t, podmantest.Args("--network", "none"), podmantest.Rootfs(root))
	info := podmantest.Inspect(t, c)
	protect(t, e, ContainerRef{ID: c.ID, RootPID: info.Pid, Mode: Enforce})
	if e.d.RootJudged(c.ID) {
		t.Error("RootJudged on a plain-directory root")
	}
	if out, err := exec.Command("podman", "exec", c.ID, "/bin/true").CombinedOutput(); err != nil {
		t.Errorf("an image program was refused on a plain root: %v: %s", err, out)
	}
	b := startBox(t)
	protect(t, e, b.ref(Enforce))
	if !e.d.RootJudged(b.ID) {
		t.Error("RootJudged false on an overlay root")
	}
}

func TestParentPID(t *testing.T) {
	if got, err := parentPID(os.Getpid()); err != nil || got != os.Getppid() {
		t.Fatalf("parentPID(self) = %d, %v; want %d", got, err, os.Getppid())
	}
}
