package container

import (
	"context"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

func newResolver(t testing.TB, cfg Config) *Resolver {
	t.Helper()
	r, err := New(cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// cgroupOf returns the cgroup v2 id of a process the way the sensor gets it:
// the inode number of its cgroup directory.
func cgroupOf(t testing.TB, r *Resolver, pid int) uint64 {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := unifiedLine(data)
	if !ok {
		t.Fatalf("no cgroup v2 line for pid %d in %q", pid, data)
	}
	id := r.cgroups.inode(p)
	if id == 0 {
		t.Fatalf("stat cgroup %s of pid %d failed", p, pid)
	}
	return id
}

// wantFromInspect is what Lookup must say about a podman container.
func wantFromInspect(info podmantest.Info) *event.Container {
	return &event.Container{
		ID:          info.ID,
		Name:        info.Name,
		Image:       info.Image,
		ImageID:     info.ImageID,
		ImageDigest: info.ImageDigest,
		Runtime:     Podman,
		Labels:      info.Labels,
	}
}

func assertContainer(t *testing.T, got, want *event.Container) {
	t.Helper()
	if got == nil {
		t.Fatal("Lookup returned nil")
	}
	if got.ID != want.ID || got.Name != want.Name || got.Image != want.Image || got.ImageID != want.ImageID ||
		got.ImageDigest != want.ImageDigest || got.Runtime != want.Runtime {
		t.Errorf("Lookup =\n  %+v\nwant\n  %+v", *got, *want)
	}
	if !maps.Equal(got.Labels, want.Labels) {
		t.Errorf("labels = %v, want %v", got.Labels, want.Labels)
	}
	switch {
	case (got.Pod == nil) != (want.Pod == nil):
		t.Errorf("pod = %+v, want %+v", got.Pod, want.Pod)
	case got.Pod != nil && !reflect.DeepEqual(*got.Pod, *want.Pod):
		t.Errorf("pod = %+v, want %+v", *got.Pod, *want.Pod)
	}
}

var kubeLabels = []podmantest.Option{
	podmantest.Label("io.kubernetes.pod.name", "web-7d9f"),
	podmantest.Label("io.kubernetes.pod.namespace", "shop"),
	podmantest.Label("io.kubernetes.container.name", "nginx"),
	podmantest.Label("io.kubernetes.pod.uid", "0b4e2c5a-7c1e-4f0e-9d3a-2f5b8c9d1e0f"),
	podmantest.Label("dev.mamori.tier", "frontend"),
}

func TestLookupPodmanContainer(t *testing.T) {
	podmantest.Require(t)
	r := newResolver(t, Config{})
	c := podmantest.Run(t, append(kubeLabels, podmantest.Env("FOO", "bar"))...)
	info := podmantest.Inspect(t, c)
	want := wantFromInspect(info)
	want.Pod = &event.Pod{Name: "web-7d9f", Namespace: "shop", Container: "nginx", UID: "0b4e2c5a-7c1e-4f0e-9d3a-2f5b8c9d1e0f"}

	id := cgroupOf(t, r, info.Pid)
	start := time.Now()
	got := r.Lookup(id, uint32(info.Pid))
	t.Logf("cold lookup: %v", time.Since(start))
	assertContainer(t, got, want)

	start = time.Now()
	again := r.Lookup(id, uint32(info.Pid))
	t.Logf("cached lookup: %v", time.Since(start))
	if again != got {
		t.Error("second lookup did not come from the cache")
	}

	// Without a pid hint, and for a process exec'd later, the answer is
	// the same.
	r.Forget(id)
	assertContainer(t, r.Lookup(id, 0), want)
	out := podmantest.Exec(t, c, "sh", "-c", "cat /proc/self/cgroup")
	if !strings.Contains(out, c.ID) {
		t.Errorf("exec'd process cgroup %q does not name the container", out)
	}
}

func TestLookupPodmanContainerWithoutLabels(t *testing.T) {
	podmantest.Require(t)
	r := newResolver(t, Config{})
	c := podmantest.Run(t)
	info := podmantest.Inspect(t, c)
	got := r.Lookup(cgroupOf(t, r, info.Pid), uint32(info.Pid))
	assertContainer(t, got, wantFromInspect(info))
}

func TestLookupHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	r := newResolver(t, Config{})
	self := os.Getpid()
	if got := r.Lookup(cgroupOf(t, r, self), uint32(self)); !got.IsHost() || got.ID != event.HostID {
		t.Errorf("own process: Lookup = %+v, want host", got)
	}
	if got := r.Lookup(1, 1); got.ID != event.HostID {
		t.Errorf("cgroup 1: Lookup = %+v, want host", got)
	}

	// Host cgroups that are not the root, including one shaped like
	// containerd's /<namespace>/<id> that no containerd knows.
	for _, rel := range []string{"mamori-test.slice", "mamori-test-ns/not-a-container"} {
		dir := mkCgroup(t, r, rel)
		if got := r.Lookup(r.cgroups.inode(dir), 0); got.ID != event.HostID {
			t.Errorf("cgroup /%s: Lookup = %+v, want host", rel, got)
		}
	}
}

// mkCgroup creates a cgroup below the cgroup2 root and removes it when the
// test ends; it returns its path relative to the root.
func mkCgroup(t testing.TB, r *Resolver, rel string) string {
	t.Helper()
	abs := filepath.Join(r.cfg.CgroupRoot, rel)
	if err := os.MkdirAll(abs, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for p := abs; p != r.cfg.CgroupRoot; p = filepath.Dir(p) {
			os.Remove(p)
		}
	})
	return "/" + rel
}

func TestLookupVanishedCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	r := newResolver(t, Config{})
	dir := mkCgroup(t, r, "mamori-test-vanish")
	id := r.cgroups.inode(dir)
	if err := os.Remove(filepath.Join(r.cfg.CgroupRoot, dir)); err != nil {
		t.Fatal(err)
	}
	if got := r.Lookup(id, uint32(os.Getpid())); got.ID != UnknownID {
		t.Errorf("removed cgroup: Lookup = %+v, want %s", got, UnknownID)
	}
	if got := r.Lookup(1<<62, 0); got.ID != UnknownID {
		t.Errorf("never existed: Lookup = %+v, want %s", got, UnknownID)
	}
	if r.Len() != 0 {
		t.Errorf("vanished cgroups were cached: Len = %d", r.Len())
	}
}

// TestLookupFirstEventOfNewContainer looks a container up the moment its
// cgroup appears, before or while its first process execs, as the sensor
// does with the container's first event.
func TestLookupFirstEventOfNewContainer(t *testing.T) {
	podmantest.Require(t)
	r := newResolver(t, Config{})
	parent := filepath.Join(r.cfg.CgroupRoot, "libpod_parent")
	before := map[string]bool{}
	if entries, err := os.ReadDir(parent); err == nil {
		for _, e := range entries {
			before[e.Name()] = true
		}
	}

	name := "mamori-test-race-" + strconv.Itoa(os.Getpid())
	_ = exec.Command("podman", "rm", "-f", "-t", "0", name).Run()
	t.Cleanup(func() { _ = exec.Command("podman", "rm", "-f", "-t", "0", name).Run() })
	started := make(chan error, 1)
	runStart := time.Now()
	go func() {
		args := []string{"run", "-d", "--name", name}
		for _, l := range []string{"io.kubernetes.pod.name=race", "io.kubernetes.pod.namespace=ns", "io.kubernetes.container.name=c", "io.kubernetes.pod.uid=u"} {
			args = append(args, "--label", l)
		}
		out, err := exec.Command("podman", append(args, podmantest.Image, "sleep", "3600")...).CombinedOutput()
		if err != nil {
			err = &exec.ExitError{Stderr: out}
		}
		started <- err
	}()

	// Other tests may start containers at the same time: look up every new
	// libpod cgroup the moment it appears, and keep ours once podman says
	// which it is.
	type sighting struct {
		got     *event.Container
		procs   string
		after   time.Duration
		elapsed time.Duration
	}
	seen := map[string]*sighting{}
	look := func() {
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			if before[e.Name()] || seen[e.Name()] != nil || !strings.HasPrefix(e.Name(), "libpod-") {
				continue
			}
			dir := filepath.Join(parent, e.Name())
			var procs string
			data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			for _, pid := range strings.Fields(string(data)) {
				comm, _ := os.ReadFile("/proc/" + pid + "/comm")
				procs += pid + ":" + strings.TrimSpace(string(comm)) + " "
			}
			st, err := os.Stat(dir)
			if err != nil {
				continue
			}
			start := time.Now()
			got := r.Lookup(inodeOf(st), 0)
			seen[e.Name()] = &sighting{got: got, procs: procs, after: time.Since(runStart), elapsed: time.Since(start)}
		}
	}
	var runErr error
	deadline := time.Now().Add(30 * time.Second)
	for running := true; running && time.Now().Before(deadline); {
		select {
		case runErr = <-started:
			running = false
		default:
		}
		look()
	}
	if runErr != nil {
		t.Fatalf("podman run: %v", runErr)
	}
	info := podmantest.Inspect(t, &podmantest.Container{ID: name, Name: name})
	ours := seen["libpod-"+info.ID]
	if ours == nil {
		t.Fatalf("the cgroup of %s was not seen while podman run ran", info.ID)
	}
	got := ours.got
	// cgroup.procs at the moment of the lookup: "runc:[2:INIT]" is runc's
	// init, which has not exec'd the entrypoint yet (it waits for
	// `runc start`); "sleep" would mean the entrypoint already ran.
	t.Logf("cgroup of %s seen %v after podman run began; processes in it then: %q; lookup took %v",
		name, ours.after, ours.procs, ours.elapsed)

	want := wantFromInspect(info)
	want.Pod = &event.Pod{Name: "race", Namespace: "ns", Container: "c", UID: "u"}
	assertContainer(t, got, want)
}

func TestConcurrentLookupsShareOneRead(t *testing.T) {
	podmantest.Require(t)
	r := newResolver(t, Config{})
	c := podmantest.Run(t, kubeLabels...)
	info := podmantest.Inspect(t, c)
	id := cgroupOf(t, r, info.Pid)

	var wg sync.WaitGroup
	results := make([]*event.Container, 32)
	for i := range results {
		wg.Go(func() { results[i] = r.Lookup(id, uint32(info.Pid)) })
	}
	wg.Wait()
	for i, got := range results {
		if got != results[0] {
			t.Fatalf("lookup %d returned a different answer: %+v vs %+v", i, got, results[0])
		}
	}
	if results[0].ID != info.ID {
		t.Errorf("Lookup = %+v, want id %s", results[0], info.ID)
	}
}

func TestSweepForgetsRemovedContainers(t *testing.T) {
	podmantest.Require(t)
	r := newResolver(t, Config{SweepInterval: 10 * time.Millisecond})
	c := podmantest.Run(t)
	info := podmantest.Inspect(t, c)
	id := cgroupOf(t, r, info.Pid)
	if got := r.Lookup(id, uint32(info.Pid)); got.ID != info.ID {
		t.Fatalf("Lookup = %+v, want %s", got, info.ID)
	}
	if n := r.Sweep(); n != 0 {
		t.Errorf("Sweep of a live container forgot %d", n)
	}
	// The answer survives the container: late events still get it.
	if out, err := exec.Command("podman", "rm", "-f", "-t", "0", c.Name).CombinedOutput(); err != nil {
		t.Fatalf("podman rm: %v: %s", err, out)
	}
	if got := r.Lookup(id, uint32(info.Pid)); got.ID != info.ID {
		t.Errorf("after rm, before sweep: Lookup = %+v, want %s", got, info.ID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for r.Len() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if r.Len() != 0 {
		t.Errorf("Run did not forget the removed container: Len = %d", r.Len())
	}
}

func TestCacheIsBounded(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	r := newResolver(t, Config{MaxEntries: 8})
	for i := range 20 {
		dir := mkCgroup(t, r, "mamori-test-bound-"+strconv.Itoa(i))
		r.Lookup(r.cgroups.inode(dir), 0)
		if r.Len() > 8 {
			t.Fatalf("after %d lookups Len = %d, want <= 8", i+1, r.Len())
		}
	}
}

func BenchmarkLookupCached(b *testing.B) {
	podmantest.Require(b)
	r := newResolver(b, Config{})
	c := podmantest.Run(b, kubeLabels...)
	info := podmantest.Inspect(b, c)
	id := cgroupOf(b, r, info.Pid)
	r.Lookup(id, 0)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Lookup(id, 0)
		}
	})
}

// BenchmarkLookupCold measures the first lookup of a container: cgroup path,
// libpod DB, image digest.
func BenchmarkLookupCold(b *testing.B) {
	podmantest.Require(b)
	r := newResolver(b, Config{})
	c := podmantest.Run(b, kubeLabels...)
	info := podmantest.Inspect(b, c)
	id := cgroupOf(b, r, info.Pid)
	for b.Loop() {
		r.Forget(id)
		if got := r.Lookup(id, 0); got.ID != info.ID {
			b.Fatalf("Lookup = %+v", got)
		}
	}
}

func BenchmarkLookupHostCold(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	r := newResolver(b, Config{})
	id := r.cgroups.inode(mkCgroup(b, r, "mamori-bench.slice/host.service"))
	for b.Loop() {
		r.Forget(id)
		r.Lookup(id, 0)
	}
}
