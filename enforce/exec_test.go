package enforce

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/internal/podmantest"
	"golang.org/x/sys/unix"
)

// runAs runs argv in the container as user (uid[:gid]) and returns its
// combined output and error.
func (b *box) runAs(user string, argv ...string) (string, error) {
	out, err := exec.Command("podman", append([]string{"exec", "--user", user, b.ID}, argv...)...).CombinedOutput()
	return string(out), err
}

func TestExecBlocklistByName(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t)
	ref := b.ref(Off)
	ref.Exec.Blocked = func(p string) bool { return filepath.Base(p) == "xmrig" }
	protect(t, e, ref)
	if !e.d.Refusing(b.ID) {
		t.Fatal("Refusing is false for a container with exec checks")
	}
	// Drift is off: a dropped program under another name runs.
	b.mustRun(t, "sh", "-c", "mkdir /tmp/d && cp /bin/busybox /tmp/d/touch && /tmp/d/touch /tmp/ran")
	if !b.exists("/tmp/ran") {
		t.Fatal("a dropped program did not run with drift off")
	}
	out := b.blocked(t, "/tmp/marker", "sh", "-c", "mkdir /tmp/x && cp /bin/busybox /tmp/x/xmrig && ln -s xmrig /tmp/x/touch && /tmp/x/touch /tmp/marker")
	if !strings.Contains(strings.ToLower(out), "not permitted") {
		t.Errorf("want EPERM from exec, got %q", out)
	}
	checkVerdict(t, e.waitVerdict(t, "/tmp/x/xmrig"), b.ID, Blocklisted, Blocked, Fanotify)
	for _, v := range e.verdicts() {
		if v.Reason.Drift() {
			t.Errorf("drift verdict with drift off: %+v", v)
		}
	}
}

func TestExecBlocklistByDigest(t *testing.T) {
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("host busybox: %v", err)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	e := newEnv(t, Config{})
	b := startBox(t)
	ref := b.ref(Off)
	ref.Exec.BlockedSHA256 = map[string]bool{digest: true}
	protect(t, e, ref)
	// The image's own busybox has that content: every applet is refused,
	// under any name, and so is a copy.
	b.blocked(t, "/marker", "/bin/touch", "/marker")
	v := e.waitVerdict(t, "/bin/busybox")
	checkVerdict(t, v, b.ID, Blocklisted, Blocked, Fanotify)
	if v.SHA256 != digest {
		t.Errorf("verdict digest %q, want %q", v.SHA256, digest)
	}
	// A program with other content runs (the cache does not confuse
	// files): the helper prints its usage.
	if out, _ := b.run(helperPath); !strings.Contains(out, "usage") {
		t.Errorf("a program with another digest did not run: %q", out)
	}
}

// setCaps gives the file at p (a host path) the capability cap in its
// permitted and effective sets: a version 2 security.capability attribute.
func setCaps(t *testing.T, p string, cap uint) {
	t.Helper()
	var v [20]byte
	binary.LittleEndian.PutUint32(v[0:], 0x02000000|0x1) // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
	binary.LittleEndian.PutUint32(v[4:], 1<<cap)         // permitted, low word
	if err := unix.Setxattr(p, "security.capability", v[:], 0); err != nil {
		t.Skipf("cannot set file capabilities here: %v", err)
	}
}

func TestNoNewPrivileges(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t)
	b.mustRun(t, "sh", "-c", "mkdir /tmp/s /tmp/c && cp /bin/busybox /tmp/s/touch && chmod 4755 /tmp/s/touch && cp /bin/busybox /tmp/c/touch && chmod 755 /tmp/c/touch && chmod 1777 /tmp")
	setCaps(t, fmt.Sprintf("/proc/%d/root/tmp/c/touch", b.info.Pid), 13) // CAP_NET_RAW
	ref := b.ref(Off)
	ref.Exec.NoNewPrivileges = true
	protect(t, e, ref)

	// Root running a set-user-ID-root program gains nothing.
	b.mustRun(t, "/tmp/s/touch", "/tmp/root-ran")
	// An ordinary user would become root: refused.
	out, err := b.runAs("1000:1000", "/tmp/s/touch", "/tmp/user-ran")
	if err == nil || b.exists("/tmp/user-ran") {
		t.Fatalf("a set-user-ID program raised uid 1000 to root: %v %q", err, out)
	}
	v := e.waitVerdict(t, "/tmp/s/touch")
	checkVerdict(t, v, b.ID, NewPrivileges, Blocked, Fanotify)
	if !strings.Contains(v.Detail, "set-user-ID to uid 0") {
		t.Errorf("verdict detail %q", v.Detail)
	}
	// File capabilities are new privileges for an ordinary user too.
	if out, err := b.runAs("1000:1000", "/tmp/c/touch", "/tmp/cap-ran"); err == nil || b.exists("/tmp/cap-ran") {
		t.Fatalf("a program with file capabilities ran for uid 1000: %v %q", err, out)
	}
	checkVerdict(t, e.waitVerdict(t, "/tmp/c/touch"), b.ID, NewPrivileges, Blocked, Fanotify)
	// Ordinary programs run for the ordinary user.
	if out, err := b.runAs("1000:1000", "/bin/touch", "/tmp/plain-ran"); err != nil {
		t.Fatalf("an ordinary program failed for uid 1000: %v %q", err, out)
	}
	if !b.exists("/tmp/root-ran") || !b.exists("/tmp/plain-ran") {
		t.Error("programs that gain nothing did not run")
	}
}

// TestAllowMatch: a pattern allows what the kernel's exact-path map cannot
// hold, and the kernel is told in time: the sigkill line must not kill
// what fanotify let through.
func TestAllowMatch(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t)
	ref := b.ref(Enforce)
	ref.AllowMatch = func(p string) bool { return strings.HasPrefix(p, "/opt/tools/") }
	protect(t, e, ref)
	b.mustRun(t, "sh", "-c", "mkdir -p /opt/tools && cp /bin/busybox /opt/tools/touch && /opt/tools/touch /opt/tools/marker")
	if !b.exists("/opt/tools/marker") {
		t.Fatal("a program the pattern allows did not run")
	}
	b.mustRun(t, "/opt/tools/touch", "/opt/tools/again") // the path is in the kernel map now
	b.blocked(t, "/tmp/marker", "sh", "-c", "cp /bin/busybox /tmp/touch && /tmp/touch /tmp/marker")
	checkVerdict(t, e.waitVerdict(t, "/tmp/touch"), b.ID, UpperLayer, Blocked, Fanotify)
	for _, v := range e.verdicts() {
		if strings.HasPrefix(v.Path, "/opt/tools/") || strings.HasPrefix(v.Name, "touch") && v.Mechanism == SIGKILL {
			t.Errorf("verdict against an allowed program: %+v", v)
		}
	}
}

func TestVolumesExec(t *testing.T) {
	e := newEnv(t, Config{})
	vol := t.TempDir()
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("host busybox: %v", err)
	}
	if err := os.WriteFile(filepath.Join(vol, "touch"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	b := startBox(t, podmantest.Args("-v", vol+":/vol"))
	ref := b.ref(Enforce)
	ref.VolumesExec = true
	protect(t, e, ref)
	b.mustRun(t, "/vol/touch", "/vol/marker")
	if !b.exists("/vol/marker") {
		t.Fatal("a program on a volume did not run with VolumesExec")
	}
	// The runtime's own mounts are not volumes.
	mounts, err := readMountinfo(fmt.Sprintf("/proc/%d/mountinfo", b.info.Pid))
	if err != nil {
		t.Fatal(err)
	}
	root := fmt.Sprintf("/proc/%d/root", b.info.Pid)
	var vols []string
	for _, m := range mounts {
		if m.point != "/" && isVolume(root, m) {
			vols = append(vols, m.point)
		}
	}
	if len(vols) != 1 || vols[0] != "/vol" {
		t.Errorf("volumes %q, want only /vol", vols)
	}
}

// TestExecAllowlist: with an allow list only the listed programs run: an
// image program off the list is refused before it runs, like a dropped
// one, and the verdict is not drift.
func TestExecAllowlist(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t)
	ref := b.ref(Off)
	ref.Exec.Allowed = func(p string) bool { return p == "/bin/busybox" }
	protect(t, e, ref)
	b.mustRun(t, "sh", "-c", "touch /tmp/ok")
	// A second program in the container, not on the list.
	b.mustRun(t, "sh", "-c", "mkdir /tmp/x && cp /bin/busybox /tmp/x/touch")
	out := b.blocked(t, "/tmp/marker", "/tmp/x/touch", "/tmp/marker")
	if !strings.Contains(strings.ToLower(out), "not permitted") {
		t.Errorf("want EPERM from exec, got %q", out)
	}
	checkVerdict(t, e.waitVerdict(t, "/tmp/x/touch"), b.ID, NotAllowlisted, Blocked, Fanotify)
	for _, v := range e.verdicts() {
		if v.Reason.Drift() {
			t.Errorf("drift verdict with drift off: %+v", v)
		}
	}
}
