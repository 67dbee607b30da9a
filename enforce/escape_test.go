package enforce

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/internal/podmantest"
)

// escape is a shell prefix that moves the shell out of its container's
// cgroup into the root one, as a privileged container can, and says where
// it went.
const escape = "mkdir -p /mnt/cg && { grep -q ' /mnt/cg ' /proc/mounts || mount -t cgroup2 none /mnt/cg; } && echo $$ >/mnt/cg/cgroup.procs && grep ^0:: /proc/self/cgroup && "

// escaped runs script after escape in the container, checks that the
// shell did leave its cgroup, and returns the output and error.
func (b *box) escaped(t *testing.T, script string) (string, error) {
	t.Helper()
	out, err := b.run("sh", "-c", escape+script)
	if !strings.Contains(out, "0::/\n") {
		t.Fatalf("the shell did not leave its cgroup (%v): %q", err, out)
	}
	return out, err
}

func escapedVerdict(t *testing.T, e *env, b *box, reason Reason, action Action) Verdict {
	t.Helper()
	v := e.waitFor(t, string(reason), func(v Verdict) bool { return v.Reason == reason })
	checkVerdict(t, v, b.ID, reason, action, SIGKILL)
	if !v.OutsideCgroup || !strings.Contains(v.Detail, "outside its container's cgroup") {
		t.Errorf("verdict %+v does not say the process was outside its cgroup", v)
	}
	return v
}

// TestCgroupEscape: a privileged container's process that moves itself to
// the root cgroup keeps its container's enforcement. The sigkill line
// kills its memfd exec and its exec from a tmpfs it mounted after
// Protect (no fanotify mark there), naming the container; fanotify's
// marks, which are on the container's mounts, still refuse a dropped
// file on the root. On a kernel line keyed by cgroup alone all three ran
// as the host's.
func TestCgroupEscape(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t, podmantest.Args("--privileged"))
	protect(t, e, b.ref(Enforce))

	b.escapedBlocked(t, "/tmp/m-memfd", helperPath+" memfd /bin/busybox touch /tmp/m-memfd")
	v := escapedVerdict(t, e, b, Memfd, Blocked)
	if !strings.HasPrefix(v.Name, "memfd:payload") {
		t.Errorf("memfd verdict names %q", v.Name)
	}

	b.escapedBlocked(t, "/tmp/m-tmpfs", "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && cp /bin/busybox /mnt/t/touch && /mnt/t/touch /tmp/m-tmpfs")
	escapedVerdict(t, e, b, Volume, Blocked)

	out := b.escapedBlocked(t, "/tmp/m-root", "cp /bin/busybox /tmp/x && /tmp/x touch /tmp/m-root")
	if !strings.Contains(strings.ToLower(out), "not permitted") {
		t.Errorf("want EPERM from fanotify, got %q", out)
	}
	checkVerdict(t, e.waitVerdict(t, "/tmp/x"), b.ID, UpperLayer, Blocked, Fanotify)
}

// escapedBlocked runs script outside the container's cgroup and asserts
// that it failed and did not create marker.
func (b *box) escapedBlocked(t *testing.T, marker, script string) string {
	t.Helper()
	out, err := b.escaped(t, script)
	if err == nil {
		t.Fatalf("%s ran outside its cgroup in a protected container: %s", script, out)
	}
	if b.exists(marker) {
		t.Fatalf("%s failed (%v) but created %s: the program ran", script, err, marker)
	}
	return out
}

// TestCgroupEscapeAudit: in audit mode the escaped process's drift runs
// and is reported with its container's identity.
func TestCgroupEscapeAudit(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t, podmantest.Args("--privileged"))
	protect(t, e, b.ref(Audit))
	if out, err := b.escaped(t, helperPath+" memfd /bin/busybox touch /tmp/m-memfd && mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && cp /bin/busybox /mnt/t/touch && /mnt/t/touch /tmp/m-tmpfs"); err != nil {
		t.Fatalf("audit mode stopped a program: %v: %s", err, out)
	}
	for _, m := range []string{"/tmp/m-memfd", "/tmp/m-tmpfs"} {
		if !b.exists(m) {
			t.Errorf("audit mode: %s was not created", m)
		}
	}
	escapedVerdict(t, e, b, Memfd, Audited)
	escapedVerdict(t, e, b, Volume, Audited)
}

// TestCgroupEscapeNestedPIDNS: a PID namespace made after the escape is a
// child of the container's, and still the container's.
func TestCgroupEscapeNestedPIDNS(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t, podmantest.Args("--privileged"))
	protect(t, e, b.ref(Enforce))
	b.escapedBlocked(t, "/tmp/m-memfd", "unshare -p -f -m --mount-proc sh -c 'unshare -p -f "+helperPath+" memfd /bin/busybox touch /tmp/m-memfd'")
	escapedVerdict(t, e, b, Memfd, Blocked)
}

// TestCgroupEscapeHostPID: a container sharing the host's PID namespace
// is recognised by its mount namespace.
func TestCgroupEscapeHostPID(t *testing.T) {
	e := newEnv(t, Config{})
	b := startBox(t, podmantest.Args("--privileged", "--pid", "host"))
	protect(t, e, b.ref(Enforce))
	b.escapedBlocked(t, "/tmp/m-memfd", helperPath+" memfd /bin/busybox touch /tmp/m-memfd")
	v := escapedVerdict(t, e, b, Memfd, Blocked)
	if !strings.Contains(v.Detail, "mount namespace") {
		t.Errorf("verdict %+v: want it found by its mount namespace", v)
	}
	// The host's own processes share that PID namespace and are not the
	// container's.
	if out, err := exec.Command(helperBin, "memfd", "/bin/true", "true").CombinedOutput(); err != nil {
		t.Fatalf("a memfd program of the host was stopped: %v %s", err, out)
	}
}

// TestNestedCgroup: a process in a cgroup the container made below its
// own is the container's, and not outside it.
func TestNestedCgroup(t *testing.T) {
	e := newEnv(t, Config{NoFanotify: true})
	b := startBox(t, podmantest.Args("--privileged"))
	protect(t, e, b.ref(Enforce))
	script := "mkdir -p /mnt/cg && mount -t cgroup2 none /mnt/cg && d=/mnt/cg$(sed -n 's/^0:://p' /proc/self/cgroup) && " +
		"mkdir $d/inner && echo $$ >$d/inner/cgroup.procs && grep ^0:: /proc/self/cgroup && " + helperPath + " memfd /bin/busybox touch /tmp/m-memfd"
	out, err := b.run("sh", "-c", script)
	if err == nil || b.exists("/tmp/m-memfd") {
		t.Fatalf("a memfd program ran in a nested cgroup: %v %q", err, out)
	}
	if !strings.Contains(out, "/inner") {
		t.Fatalf("the shell did not move to the nested cgroup: %q", out)
	}
	v := e.waitFor(t, "memfd", func(v Verdict) bool { return v.Reason == Memfd })
	checkVerdict(t, v, b.ID, Memfd, Blocked, SIGKILL)
	if v.OutsideCgroup {
		t.Errorf("verdict %+v: a nested cgroup is not outside the container's", v)
	}
}

// TestReusedNamespaceNumber: the kernel gives a dead namespace's inode
// number to the next namespace made, at once, so a new container's PID
// namespace may carry the number of a protected container's that just
// died, before the agent unprotects it. Its processes are its own, not
// the dead container's: here another container's namespace is given
// the protected one's entry under its own number, as the reuse would,
// and its programs, a memfd one too, run, with no verdict. Before the
// entry named the namespace's init, every one of them was killed as an
// escapee of the protected container.
func TestReusedNamespaceNumber(t *testing.T) {
	e := newEnv(t, Config{})
	prot := startBox(t, podmantest.Args("--privileged"))
	ref := prot.ref(Enforce)
	protect(t, e, ref)
	other := startBox(t)
	own, err := nsInode(fmt.Sprintf("/proc/%d/ns/pid", prot.info.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var entry driftNsOwner
	if err := e.d.k.objs.NsOwners.Lookup(uint32(own), &entry); err != nil {
		t.Fatalf("the protected container's PID namespace has no owner entry: %v", err)
	}
	if entry.ReaperStart == 0 {
		t.Errorf("the owner entry %+v does not name the namespace's init", entry)
	}
	drawn, err := nsInode(fmt.Sprintf("/proc/%d/ns/pid", other.info.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.d.k.objs.NsOwners.Put(uint32(drawn), entry); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.d.k.objs.NsOwners.Delete(uint32(drawn)) })
	other.mustRun(t, "sh", "-c", "true; touch /tmp/m-plain")
	other.mustRun(t, helperPath, "memfd", "/bin/busybox", "touch", "/tmp/m-memfd")
	for _, m := range []string{"/tmp/m-plain", "/tmp/m-memfd"} {
		if !other.exists(m) {
			t.Errorf("%s was not created in the unprotected container", m)
		}
	}
	time.Sleep(200 * time.Millisecond)
	for _, v := range e.verdicts() {
		t.Errorf("a verdict for the unprotected container's process: %+v", v)
	}
	// The protected container is still judged by its own namespace.
	prot.escapedBlocked(t, "/tmp/m-memfd", helperPath+" memfd /bin/busybox touch /tmp/m-memfd")
}
