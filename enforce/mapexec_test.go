package enforce

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mamori-dev/mamori/internal/podmantest"
)

// ldsoImage holds a dynamic loader, libc, busybox and two programs built
// from testdata/mapped: /bin/marker (dynamic) and /lib/preload.so. The
// busybox test image is static and has no ld.so.
const ldsoImage = "localhost/mamori-test-ldso:v1"

const ldso = "/lib64/ld-linux-x86-64.so.2"

// mappedBins are the same two programs on the host, for dropping into a
// container: marker and preload.so in one directory.
var mappedBins = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "mamori-mapped-")
	if err != nil {
		return "", err
	}
	for _, c := range [][]string{
		{"clang", "-O2", "-o", filepath.Join(dir, "marker"), "testdata/mapped/marker.c"},
		{"clang", "-O2", "-shared", "-fPIC", "-o", filepath.Join(dir, "preload.so"), "testdata/mapped/preload.c"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s: %w: %s", strings.Join(c, " "), err, out)
		}
	}
	return dir, nil
})

var ldsoImageBuilt = sync.OnceValue(func() error {
	if exec.Command("podman", "image", "exists", ldsoImage).Run() == nil {
		return nil
	}
	bins, err := mappedBins()
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "mamori-ldso-root-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	files := map[string]string{ // in the image: from the host
		"/bin/busybox":                    "/bin/busybox",
		ldso:                              ldso,
		"/lib/x86_64-linux-gnu/libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6",
		"/bin/marker":                     filepath.Join(bins, "marker"),
		"/lib/preload.so":                 filepath.Join(bins, "preload.so"),
	}
	for to, from := range files {
		data, err := os.ReadFile(from) // follows the host's symlinks
		if err != nil {
			return err
		}
		p := filepath.Join(root, to)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o755); err != nil {
			return err
		}
	}
	list, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			os.Symlink("busybox", filepath.Join(root, "bin", applet))
		}
	}
	for _, d := range []string{"tmp", "proc", "sys", "dev", "etc"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	tar := root + ".tar"
	defer os.Remove(tar)
	if out, err := exec.Command("tar", "-C", root, "--numeric-owner", "--owner=0", "--group=0", "-cf", tar, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("tar: %w: %s", err, out)
	}
	out, err := exec.Command("podman", "import", "-q", "--change", "ENV PATH=/bin", "--change", `CMD ["/bin/sh"]`, tar, ldsoImage).CombinedOutput()
	if err != nil {
		return fmt.Errorf("podman import: %w: %s", err, out)
	}
	return nil
})

// startLdsoBox starts a container of ldsoImage with marker and preload.so
// dropped into /tmp (the upper layer) as /tmp/x and /tmp/p.so.
func startLdsoBox(t *testing.T, opts ...podmantest.Option) *box {
	t.Helper()
	podmantest.Require(t)
	if _, err := exec.LookPath("clang"); err != nil {
		t.Skip("clang is needed to build the test programs (scripts/install-deps.sh installs it)")
	}
	if err := ldsoImageBuilt(); err != nil {
		t.Fatalf("build %s: %v", ldsoImage, err)
	}
	b := startBox(t, append([]podmantest.Option{podmantest.FromImage(ldsoImage)}, opts...)...)
	bins, _ := mappedBins()
	for from, to := range map[string]string{"marker": "/tmp/x", "preload.so": "/tmp/p.so"} {
		if out, err := exec.Command("podman", "cp", filepath.Join(bins, from), b.ID+":"+to).CombinedOutput(); err != nil {
			t.Fatalf("podman cp %s: %v: %s", from, err, out)
		}
	}
	return b
}

// imageLoads checks that the image's own programs and libraries still load,
// through ld.so and LD_PRELOAD too: no false positive.
func (b *box) imageLoads(t *testing.T) {
	t.Helper()
	for i, argv := range [][]string{
		{"/bin/marker", "/tmp/ok0"},
		{ldso, "/bin/marker", "/tmp/ok1"},
		{"env", "LD_PRELOAD=/lib/preload.so", "PRELOAD_MARKER=/tmp/ok2p", "/bin/marker", "/tmp/ok2"},
	} {
		b.mustRun(t, argv...)
		if !b.exists(fmt.Sprintf("/tmp/ok%d", i)) {
			t.Errorf("%v did not run", argv)
		}
	}
	if !b.exists("/tmp/ok2p") {
		t.Error("an image library in LD_PRELOAD did not run")
	}
}

func checkMapped(t *testing.T, v Verdict, id, path string, action Action) {
	t.Helper()
	checkVerdict(t, v, id, Mapped, action, SIGKILL)
	if v.FileReason != UpperLayer || v.Path != path || v.Name != filepath.Base(path) || v.Inode == 0 {
		t.Errorf("verdict %+v: want file reason %s, path %s", v, UpperLayer, path)
	}
}

// TestMappedEnforce: a dropped program run through the dynamic loader and
// a dropped library in LD_PRELOAD are killed when the loader maps them
// executable, before any of their code runs (their first action would
// create a marker), while the image's programs and libraries load as
// before. Neither is an exec of the dropped file: without the mmap line
// both ran.
func TestMappedEnforce(t *testing.T) {
	e := newEnv(t, Config{})
	b := startLdsoBox(t)
	protect(t, e, b.ref(Enforce))
	b.imageLoads(t)

	b.blocked(t, "/tmp/m1", ldso, "/tmp/x", "/tmp/m1")
	checkMapped(t, e.waitVerdict(t, "/tmp/x"), b.ID, "/tmp/x", Blocked)

	b.blocked(t, "/tmp/m2", "env", "LD_PRELOAD=/tmp/p.so", "PRELOAD_MARKER=/tmp/m2p", "/bin/marker", "/tmp/m2")
	if b.exists("/tmp/m2p") {
		t.Fatal("the dropped library's constructor ran")
	}
	checkMapped(t, e.waitVerdict(t, "/tmp/p.so"), b.ID, "/tmp/p.so", Blocked)

	// The kill lands before mmap returns, every time.
	const n = 100
	out, _ := b.run("sh", "-c", fmt.Sprintf("exec 2>/dev/null; i=0; while [ $i -lt %d ]; do %s /tmp/x /tmp/r$i; i=$((i+1)); done; ls /tmp | grep -c '^r' || true", n, ldso))
	if strings.TrimSpace(out) != "0" {
		t.Fatalf("dropped programs run through ld.so %d times: %s of them ran", n, out)
	}
	for _, v := range e.verdicts() {
		if v.Reason != Mapped || v.Action != Blocked {
			t.Errorf("unexpected verdict %+v", v)
		}
	}
	if got := len(e.verdicts()); got < n+2 {
		t.Errorf("%d verdicts for %d blocked loads", got, n+2)
	}
}

// TestMappedAudit: audit mode reports the same loads and lets them run.
func TestMappedAudit(t *testing.T) {
	e := newEnv(t, Config{})
	b := startLdsoBox(t)
	protect(t, e, b.ref(Audit))
	b.imageLoads(t)
	b.mustRun(t, ldso, "/tmp/x", "/tmp/m1")
	b.mustRun(t, "env", "LD_PRELOAD=/tmp/p.so", "PRELOAD_MARKER=/tmp/m2p", "/bin/marker", "/tmp/m2")
	for _, m := range []string{"/tmp/m1", "/tmp/m2", "/tmp/m2p"} {
		if !b.exists(m) {
			t.Errorf("audit mode: %s was not created", m)
		}
	}
	checkMapped(t, e.waitVerdict(t, "/tmp/x"), b.ID, "/tmp/x", Audited)
	checkMapped(t, e.waitVerdict(t, "/tmp/p.so"), b.ID, "/tmp/p.so", Audited)
	for _, v := range e.verdicts() {
		if v.Path != "/tmp/x" && v.Path != "/tmp/p.so" {
			t.Errorf("unexpected verdict %+v", v)
		}
	}
}

// TestMappedNoexec: a mapping the kernel refuses itself (a noexec mount)
// is not drift: the program that tried is not killed.
func TestMappedNoexec(t *testing.T) {
	e := newEnv(t, Config{NoFanotify: true})
	b := startLdsoBox(t, podmantest.Args("--tmpfs", "/scratch:rw,noexec"))
	protect(t, e, b.ref(Enforce))
	out, err := b.run("sh", "-c", "cp /tmp/x /scratch/x && "+ldso+" /scratch/x /tmp/m; echo status $?")
	if err != nil || !strings.Contains(out, "failed to map segment") || !strings.Contains(out, "status 127") || b.exists("/tmp/m") {
		t.Fatalf("want ld.so refused by the kernel (exit 127), not killed and not run: %v %q", err, out)
	}
	if vs := e.verdicts(); len(vs) > 0 {
		t.Errorf("verdicts for a mapping the kernel refuses: %+v", vs)
	}
}
