package container

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

// copyPodmanRoot copies the metadata files the Resolver reads into a
// private graph root, so a test can lock or break them without touching
// the podman that other tests and users run.
func copyPodmanRoot(t *testing.T) string {
	t.Helper()
	src, dst := "/var/lib/containers/storage", t.TempDir()
	for _, rel := range []string{"libpod/bolt_state.db", "overlay-containers/containers.json", "overlay-images/images.json"} {
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o700); err != nil {
			t.Fatal(err)
		}
		in, err := os.Open(filepath.Join(src, rel))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			t.Fatal(err)
		}
		// podman may be writing the DB; a shared lock keeps the copy whole.
		_ = unix.Flock(int(in.Fd()), unix.LOCK_SH)
		_, err = io.Copy(out, in)
		in.Close()
		out.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestLookupWhilePodmanHoldsItsDB: with the libpod DB locked, the answer
// comes from c/storage (all but the labels), and is completed once the
// lock is gone.
func TestLookupWhilePodmanHoldsItsDB(t *testing.T) {
	podmantest.Require(t)
	c := podmantest.Run(t, kubeLabels...)
	info := podmantest.Inspect(t, c)
	root := copyPodmanRoot(t)
	r := newResolver(t, Config{PodmanRoot: root, RetryAfter: 50 * time.Millisecond, BoltTimeout: 5 * time.Millisecond})

	db, err := os.OpenFile(filepath.Join(root, "libpod", "bolt_state.db"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := unix.Flock(int(db.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	id := cgroupOf(t, r, info.Pid)
	start := time.Now()
	got := r.Lookup(id, uint32(info.Pid))
	t.Logf("lookup with the DB locked took %v", time.Since(start))
	partial := wantFromInspect(info)
	partial.Labels = nil
	assertContainer(t, got, partial)

	if err := unix.Flock(int(db.Fd()), unix.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if again := r.Lookup(id, 0); again != got {
		t.Error("an incomplete answer was not served from the cache before RetryAfter")
	}
	time.Sleep(60 * time.Millisecond)
	want := wantFromInspect(info)
	want.Pod = &event.Pod{Name: "web-7d9f", Namespace: "shop", Container: "nginx", UID: "0b4e2c5a-7c1e-4f0e-9d3a-2f5b8c9d1e0f"}
	assertContainer(t, r.Lookup(id, 0), want)
}

// TestLookupWithoutPodmanMetadata: nothing readable on disk still gives the
// container id and runtime from the cgroup path, and no panic.
func TestLookupWithoutPodmanMetadata(t *testing.T) {
	podmantest.Require(t)
	c := podmantest.Run(t)
	info := podmantest.Inspect(t, c)
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "libpod"), 0o700)
	os.MkdirAll(filepath.Join(root, "overlay-containers"), 0o700)
	// Garbage where the DB and c/storage files should be.
	os.WriteFile(filepath.Join(root, "libpod", "bolt_state.db"), []byte("not a bolt db, not at all, really not"), 0o600)
	os.WriteFile(filepath.Join(root, "overlay-containers", "containers.json"), []byte("[{"), 0o600)
	r := newResolver(t, Config{PodmanRoot: root})
	got := r.Lookup(cgroupOf(t, r, info.Pid), uint32(info.Pid))
	assertContainer(t, got, &event.Container{ID: info.ID, Runtime: Podman})
}

func TestDecodeStorageFiles(t *testing.T) {
	ctrs, err := decodeStorageContainers([]byte(`[{"id":"a","names":["web"],"image":"i1","metadata":"{\"image-name\":\"localhost/x:1\"}"},
		{"id":"b","names":[],"image":"","metadata":"not json"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if got := ctrs["a"]; got != (storageContainer{name: "web", imageID: "i1", imageName: "localhost/x:1"}) {
		t.Errorf("container a = %+v", got)
	}
	if got := ctrs["b"]; got != (storageContainer{}) {
		t.Errorf("container b = %+v", got)
	}
	images, err := decodeImages([]byte(`[{"id":"i1","digest":"sha256:ab"},{"id":"i2"}]`))
	if err != nil || images["i1"] != "sha256:ab" || images["i2"] != "" {
		t.Errorf("decodeImages = %v, %v", images, err)
	}
	for _, bad := range []string{"", "{", `{"id":"x"}`} {
		if _, err := decodeImages([]byte(bad)); err == nil {
			t.Errorf("decodeImages(%q) succeeded", bad)
		}
	}
}

// TestIncompleteAnswerOutlivesItsContainer: when the retry of an incomplete
// answer finds the cgroup gone, the old answer stays.
func TestIncompleteAnswerOutlivesItsContainer(t *testing.T) {
	podmantest.Require(t)
	c := podmantest.Run(t)
	info := podmantest.Inspect(t, c)
	root := t.TempDir() // no metadata at all: the answer is the id only
	r := newResolver(t, Config{PodmanRoot: root, RetryAfter: time.Millisecond})
	id := cgroupOf(t, r, info.Pid)
	if got := r.Lookup(id, 0); got.ID != info.ID {
		t.Fatalf("Lookup = %+v, want id %s", got, info.ID)
	}
	if out, err := exec.Command("podman", "rm", "-f", "-t", "0", c.ID).CombinedOutput(); err != nil {
		t.Fatalf("podman rm: %v: %s", err, out)
	}
	time.Sleep(5 * time.Millisecond)
	if got := r.Lookup(id, 0); got.ID != info.ID || got.Runtime != Podman {
		t.Errorf("after the container died: Lookup = %+v, want id %s", got, info.ID)
	}
}
