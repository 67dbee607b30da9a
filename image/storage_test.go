package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mamori-dev/mamori/internal/podmantest"
)

// plantedArchive writes the planted image as a docker archive tagged tag.
func plantedArchive(t *testing.T, tag string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "planted.tar")
	tg, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(file, tg, plantedImage(t)); err != nil {
		t.Fatal(err)
	}
	return file
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestScanPodmanStorage loads the planted image into podman, whose
// overlay driver turns the whiteouts into character devices and the
// opaque directory into an extended attribute, and scans it from
// containers/storage: the findings and baseline must be the same as from
// the archive.
func TestScanPodmanStorage(t *testing.T) {
	podmantest.Require(t)
	tag := fmt.Sprintf("localhost/mamori-image-test/planted:%d", os.Getpid())
	run(t, "podman", "load", "-q", "-i", plantedArchive(t, tag))
	t.Cleanup(func() { _ = exec.Command("podman", "rmi", "-f", tag).Run() })

	rep := scan(t, "podman:"+tag)
	checkPlanted(t, rep)
	id := strings.TrimSpace(run(t, "podman", "image", "inspect", "-f", "{{.Id}}", tag))
	digest := strings.TrimSpace(run(t, "podman", "image", "inspect", "-f", "{{.Digest}}", tag))
	if rep.Image.ID != "sha256:"+id || rep.Image.Digest != digest || rep.Image.Transport != Podman {
		t.Errorf("image %+v, want id %s digest %s", rep.Image, id, digest)
	}
	archive := scan(t, "archive:"+plantedArchive(t, tag))
	if !slices.EqualFunc(rep.Baseline.Files, archive.Baseline.Files, sameVersion) {
		t.Errorf("podman baseline differs from the archive's:\n%+v\n%+v", rep.Baseline.Files, archive.Baseline.Files)
	}

	// A bare reference finds it in podman's storage first; so do its id
	// and a short name resolved the way podman resolves it.
	for _, ref := range []string{tag, id[:12], "sha256:" + id} {
		if r := scan(t, ref); r.Image.ID != rep.Image.ID || r.Image.Transport != Podman {
			t.Errorf("%s: %+v", ref, r.Image)
		}
	}
}

// sameVersion compares baseline entries but not which of two hard-linked
// names is the link: a directory lists them by name, a tar as written.
func sameVersion(a, b BaselineFile) bool {
	a.Link, b.Link = "", ""
	return a == b
}

// TestScanContainerdStorage imports the planted image with ctr and reads
// it from containerd's content store and metadata DB.
func TestScanContainerdStorage(t *testing.T) {
	podmantest.Require(t) // installs and starts containerd too
	if out, err := exec.Command("ctr", "version").CombinedOutput(); err != nil {
		t.Skipf("containerd is not usable: ctr version: %v: %s", err, out)
	}
	const ns = "mamori-image-test"
	tag := fmt.Sprintf("localhost/mamori-image-test/planted:%d", os.Getpid())
	run(t, "ctr", "-n", ns, "images", "import", plantedArchive(t, tag))
	t.Cleanup(func() { _ = exec.Command("ctr", "-n", ns, "images", "rm", tag).Run() })

	rep, err := Scan(t.Context(), "containerd:"+tag, Options{ContainerdNamespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	checkPlanted(t, rep)
	var digest string
	for _, line := range strings.Split(run(t, "ctr", "-n", ns, "images", "ls"), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == tag {
			digest = f[2]
		}
	}
	if rep.Image.Digest != digest || rep.Image.Transport != Containerd {
		t.Errorf("image %+v, want digest %s", rep.Image, digest)
	}
	if _, err := Scan(t.Context(), "containerd:"+tag, Options{ContainerdNamespace: "no-such-namespace"}); err == nil {
		t.Errorf("an image in another namespace was found")
	}
}
