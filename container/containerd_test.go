package container

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

const ctrNamespace = "default"

// requireContainerd skips unless ctr can talk to a running containerd and
// the test image is imported into it.
func requireContainerd(t *testing.T) {
	t.Helper()
	podmantest.Require(t) // installs and starts containerd, builds the image
	if out, err := exec.Command("ctr", "version").CombinedOutput(); err != nil {
		t.Skipf("containerd is not usable: ctr version: %v: %s", err, out)
	}
	dir, err := podmantest.ScriptsDir()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(dir, "build-test-image.sh"))
	cmd.Env = append(os.Environ(), "IMPORT_CONTAINERD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("import test image into containerd: %v: %s", err, out)
	}
}

func ctr(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ctr", append([]string{"-n", ctrNamespace}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ctrRun starts a detached containerd container and removes it when the
// test ends; it returns the pid of its init process.
func ctrRun(t *testing.T, id string, args ...string) int {
	t.Helper()
	cleanup := func() {
		_ = exec.Command("ctr", "-n", ctrNamespace, "task", "kill", "-s", "SIGKILL", id).Run()
		for range 50 {
			if exec.Command("ctr", "-n", ctrNamespace, "task", "rm", id).Run() == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = exec.Command("ctr", "-n", ctrNamespace, "containers", "rm", id).Run()
	}
	cleanup()
	t.Cleanup(cleanup)
	ctr(t, append(append([]string{"run", "-d"}, args...), podmantest.Image, id, "sleep", "3600")...)
	for _, line := range strings.Split(ctr(t, "task", "ls"), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("task ls: %q", line)
			}
			return pid
		}
	}
	t.Fatalf("task %s not in ctr task ls", id)
	return 0
}

// ctrInfo is what `ctr containers info` and `ctr images ls` say.
func ctrInfo(t *testing.T, id string) (image string, labels map[string]string, digest string) {
	t.Helper()
	var info struct {
		Image  string
		Labels map[string]string
	}
	if err := json.Unmarshal([]byte(ctr(t, "containers", "info", id)), &info); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(ctr(t, "images", "ls"), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == info.Image {
			digest = f[2]
		}
	}
	return info.Image, info.Labels, digest
}

func podmanImageID(t *testing.T) string {
	out, err := exec.Command("podman", "image", "inspect", "-f", "{{.Id}}", podmantest.Image).Output()
	if err != nil {
		t.Fatal(err)
	}
	// The image was exported from podman: its config blob, whose digest is
	// containerd's image id, is podman's image id.
	return "sha256:" + strings.TrimSpace(string(out))
}

func TestLookupContainerdContainer(t *testing.T) {
	requireContainerd(t)
	r := newResolver(t, Config{})
	id := "mamori-test-" + strconv.Itoa(os.Getpid())
	pid := ctrRun(t, id, "--label", "dev.mamori.tier=backend", "--label", "io.kubernetes.pod.name=api-0",
		"--label", "io.kubernetes.pod.namespace=prod")

	image, labels, digest := ctrInfo(t, id)
	want := &event.Container{
		ID: id, Name: id, Image: image, ImageID: podmanImageID(t), ImageDigest: digest,
		Runtime: Containerd, Labels: labels,
		Pod: &event.Pod{Name: "api-0", Namespace: "prod"},
	}
	cg := cgroupOf(t, r, pid)
	if p, _ := r.cgroups.path(cg, 0); p != "/"+ctrNamespace+"/"+id {
		t.Fatalf("containerd put the container in cgroup %s, not /%s/%s", p, ctrNamespace, id)
	}
	start := time.Now()
	got := r.Lookup(cg, uint32(pid))
	t.Logf("cold lookup: %v", time.Since(start))
	assertContainer(t, got, want)
}

// TestLookupContainerdCRIContainer stands in for a Kubernetes pod: the
// kubepods cgroup and CRI annotations that containerd's CRI plugin sets,
// made with plain ctr.
func TestLookupContainerdCRIContainer(t *testing.T) {
	requireContainerd(t)
	r := newResolver(t, Config{})
	var b [32]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	podUID := "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
	cgroup := "/kubepods/besteffort/pod" + podUID + "/" + id
	t.Cleanup(func() {
		for p := filepath.Join(r.cfg.CgroupRoot, cgroup); p != r.cfg.CgroupRoot; p = filepath.Dir(p) {
			os.Remove(p)
		}
	})
	pid := ctrRun(t, id, "--cgroup", cgroup,
		"--annotation", "io.kubernetes.cri.container-type=container",
		"--annotation", "io.kubernetes.cri.container-name=worker",
		"--annotation", "io.kubernetes.cri.sandbox-name=batch-6c4f",
		"--annotation", "io.kubernetes.cri.sandbox-namespace=jobs",
		"--annotation", "io.kubernetes.cri.sandbox-uid="+podUID,
		"--annotation", "io.kubernetes.cri.image-name=docker.io/library/busybox:latest")

	image, labels, digest := ctrInfo(t, id)
	labels["io.kubernetes.pod.name"] = "batch-6c4f"
	labels["io.kubernetes.pod.namespace"] = "jobs"
	labels["io.kubernetes.container.name"] = "worker"
	labels["io.kubernetes.pod.uid"] = podUID
	want := &event.Container{
		ID: id, Name: "worker", Image: image, ImageID: podmanImageID(t), ImageDigest: digest,
		Runtime: Containerd, Labels: labels,
		Pod: &event.Pod{Name: "batch-6c4f", Namespace: "jobs", Container: "worker", UID: podUID},
	}
	got := r.Lookup(cgroupOf(t, r, pid), uint32(pid))
	assertContainer(t, got, want)
}

// TestLookupContainerdFirstEvent looks a containerd container up the moment
// its cgroup appears.
func TestLookupContainerdFirstEvent(t *testing.T) {
	requireContainerd(t)
	r := newResolver(t, Config{})
	id := "mamori-test-race-" + strconv.Itoa(os.Getpid())
	cgDir := filepath.Join(r.cfg.CgroupRoot, ctrNamespace, id)

	done := make(chan int, 1)
	go func() {
		done <- ctrRunNoFail(id, "--label", "io.kubernetes.pod.name=first", "--label", "io.kubernetes.pod.namespace=ev")
	}()
	t.Cleanup(func() {
		_ = exec.Command("ctr", "-n", ctrNamespace, "task", "kill", "-s", "SIGKILL", id).Run()
		for range 50 {
			if exec.Command("ctr", "-n", ctrNamespace, "task", "rm", id).Run() == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = exec.Command("ctr", "-n", ctrNamespace, "containers", "rm", id).Run()
	})
	var (
		got   *event.Container
		procs string
	)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		st, err := os.Stat(cgDir)
		if err != nil {
			continue
		}
		data, _ := os.ReadFile(filepath.Join(cgDir, "cgroup.procs"))
		for _, pid := range strings.Fields(string(data)) {
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			procs += pid + ":" + strings.TrimSpace(string(comm)) + " "
		}
		got = r.Lookup(inodeOf(st), 0)
		break
	}
	if pid := <-done; pid == 0 {
		t.Fatal("ctr run failed")
	}
	if got == nil {
		t.Fatalf("cgroup %s never appeared", cgDir)
	}
	t.Logf("processes in the cgroup at lookup: %q", procs)
	image, labels, digest := ctrInfo(t, id)
	assertContainer(t, got, &event.Container{
		ID: id, Name: id, Image: image, ImageID: podmanImageID(t), ImageDigest: digest,
		Runtime: Containerd, Labels: labels, Pod: &event.Pod{Name: "first", Namespace: "ev"},
	})
}

// ctrRunNoFail is ctr run for a goroutine: it reports failure as pid 0.
func ctrRunNoFail(id string, args ...string) int {
	cmd := exec.Command("ctr", append(append([]string{"-n", ctrNamespace, "run", "-d"}, args...), podmantest.Image, id, "sleep", "3600")...)
	if err := cmd.Run(); err != nil {
		return 0
	}
	return 1
}
