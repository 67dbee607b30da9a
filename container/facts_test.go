package container

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

// imageFactsFromPodman is what `podman image inspect` says about the test
// image: the facts Facts must find on disk.
func imageFactsFromPodman(t *testing.T) ImageConfig {
	t.Helper()
	out, err := exec.Command("podman", "image", "inspect", podmantest.Image).Output()
	if err != nil {
		t.Fatal(err)
	}
	var imgs []struct {
		Labels       map[string]string
		Os           string
		Architecture string
	}
	if err := json.Unmarshal(out, &imgs); err != nil || len(imgs) != 1 {
		t.Fatalf("podman image inspect: %v: %s", err, out)
	}
	return ImageConfig{Labels: imgs[0].Labels, OS: imgs[0].Os, Architecture: imgs[0].Architecture}
}

func assertImageFacts(t *testing.T, got, want ImageConfig) {
	t.Helper()
	if got.OS != want.OS || got.Architecture != want.Architecture || !maps.Equal(got.Labels, want.Labels) {
		t.Errorf("image facts = %+v, want %+v", got, want)
	}
	// The test image's own labels (scripts/build-test-image.sh), so that
	// the comparison above cannot pass on two empty answers.
	if got.Labels["dev.mamori.test"] != "true" || got.OS != "linux" || got.Architecture == "" {
		t.Errorf("image facts lack the test image's label, os or architecture: %+v", got)
	}
}

func assertEnvNames(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("env names %v lack %s", got, w)
		}
	}
	for _, n := range got {
		if strings.Contains(n, "=") || strings.Contains(n, "s3cr3t") {
			t.Errorf("env names carry a value: %q", n)
		}
	}
}

// TestFactsPodman reads a real podman container's environment names from
// its bundle's config.json and its image's config from c/storage.
func TestFactsPodman(t *testing.T) {
	podmantest.Require(t)
	r := newResolver(t, Config{})
	c := podmantest.Run(t, podmantest.Env("API_TOKEN", "s3cr3t"), podmantest.Env("MODE", "batch"))
	info := podmantest.Inspect(t, c)
	ctr := r.Lookup(cgroupOf(t, r, info.Pid), uint32(info.Pid))
	if ctr.ID != c.ID {
		t.Fatalf("Lookup = %+v, want container %s", ctr, c.ID)
	}
	f, err := r.Facts(ctr)
	if err != nil {
		t.Fatal(err)
	}
	assertEnvNames(t, f.Env, "API_TOKEN", "MODE", "PATH")
	assertImageFacts(t, f.Image, imageFactsFromPodman(t))
	if f.PodLabels != nil {
		t.Errorf("pod labels for a podman container: %v", f.PodLabels)
	}
	// Concurrent readers (the guard and the OCI hook) share the cache;
	// under -race this checks the locking.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if g, err := r.Facts(ctr); err != nil || !slices.Equal(g.Env, f.Env) || g.Image.OS != f.Image.OS {
				t.Errorf("concurrent Facts = %+v, %v", g, err)
			}
		})
	}
	wg.Wait()

	// The second reading comes from the cache: it survives the files'
	// disappearance from a private copy of the graph root.
	root := t.TempDir()
	imgDir := filepath.Join(root, "overlay-images", info.ImageID)
	copyDir(t, filepath.Join("/var/lib/containers/storage/overlay-images", info.ImageID), imgDir)
	r2 := newResolver(t, Config{PodmanRoot: root})
	img, err := r2.imageFacts(Podman, info.ImageID)
	if err != nil {
		t.Fatal(err)
	}
	assertImageFacts(t, img, f.Image)
	os.RemoveAll(imgDir)
	if again, err := r2.imageFacts(Podman, info.ImageID); err != nil || !maps.Equal(again.Labels, img.Labels) {
		t.Errorf("cached image facts: %+v, %v", again, err)
	}
}

// TestFactsPodmanByManifest: an image whose config is not stored under its
// id is found through the manifest's config digest.
func TestFactsPodmanByManifest(t *testing.T) {
	root := t.TempDir()
	id := strings.Repeat("a", 64)
	cfgDigest := "sha256:" + strings.Repeat("b", 64)
	dir := filepath.Join(root, "overlay-images", id)
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "manifest"), []byte(`{"schemaVersion":2,"config":{"digest":"`+cfgDigest+`"}}`), 0o600)
	os.WriteFile(filepath.Join(dir, bigDataFile(cfgDigest)),
		[]byte(`{"os":"linux","architecture":"arm64","config":{"Labels":{"team":"shop"}}}`), 0o600)
	p := newPodmanStore(root, 0)
	got, err := p.imageConfig(id)
	if err != nil {
		t.Fatal(err)
	}
	if got.OS != "linux" || got.Architecture != "arm64" || got.Labels["team"] != "shop" {
		t.Errorf("imageConfig = %+v", got)
	}
	if _, err := p.imageConfig(strings.Repeat("c", 64)); err == nil {
		t.Error("a missing image gave no error")
	}
	if _, err := p.imageConfig("../../etc"); err == nil {
		t.Error("a path as image id gave no error")
	}
}

func TestBigDataFile(t *testing.T) {
	for key, want := range map[string]string{
		"manifest": "manifest",
		"sha256:13f7d62f36be5b29aba7cdfa1a051d84c86d92596351b3a8a704ef8d82fd83cc": "=c2hhMjU2OjEzZjdkNjJmMzZiZTViMjlhYmE3Y2RmYTFhMDUxZDg0Yzg2ZDkyNTk2MzUxYjNhOGE3MDRlZjhkODJmZDgzY2M=",
		"signature-0d4e": "=c2lnbmF0dXJlLTBkNGU=",
	} {
		if got := bigDataFile(key); got != want {
			t.Errorf("bigDataFile(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestEnvNames(t *testing.T) {
	got := EnvNames([]string{"PATH=/bin", "TOKEN=a=b", "EMPTY=", "BARE", "PATH=/usr/bin", "=x"})
	if want := []string{"PATH", "TOKEN", "EMPTY", "BARE"}; !slices.Equal(got, want) {
		t.Errorf("EnvNames = %q, want %q", got, want)
	}
}

// TestFactsContainerd reads a real containerd container's environment
// names from its task bundle and its image config from the content store.
func TestFactsContainerd(t *testing.T) {
	requireContainerd(t)
	r := newResolver(t, Config{})
	id := "mamori-facts-" + strconv.Itoa(os.Getpid())
	ctrRun(t, id, "--env", "API_TOKEN=s3cr3t", "--env", "MODE=batch")
	c, err := r.Describe(Containerd, id)
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.Facts(c)
	if err != nil {
		t.Fatal(err)
	}
	assertEnvNames(t, f.Env, "API_TOKEN", "MODE", "PATH")
	assertImageFacts(t, f.Image, imageFactsFromPodman(t))
	if f.PodLabels != nil {
		t.Errorf("pod labels for a container outside Kubernetes: %v", f.PodLabels)
	}
}

// TestFactsContainerdPodLabels stands in for a Kubernetes pod on
// containerd, made with plain ctr: a sandbox container that carries the
// pod's labels, as the kubelet asks the CRI plugin to, and a container
// that names it in the CRI's sandbox-id annotation.
func TestFactsContainerdPodLabels(t *testing.T) {
	requireContainerd(t)
	r := newResolver(t, Config{})
	pid := strconv.Itoa(os.Getpid())
	sandbox, id := "mamori-sandbox-"+pid, "mamori-podctr-"+pid
	ctrRun(t, sandbox, "--label", "app=shop", "--label", "tier=web",
		"--label", "io.kubernetes.pod.name=shop-0", "--label", "io.cri-containerd.kind=sandbox")
	ctrRun(t, id, "--env", "MODE=web",
		"--annotation", "io.kubernetes.cri.sandbox-id="+sandbox,
		"--annotation", "io.kubernetes.cri.sandbox-name=shop-0",
		"--annotation", "io.kubernetes.cri.sandbox-namespace=shop")
	c, err := r.Describe(Containerd, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Pod == nil || c.Pod.Namespace != "shop" {
		t.Fatalf("Describe = %+v, want pod shop/shop-0", c)
	}
	f, err := r.Facts(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"app": "shop", "tier": "web"}; !maps.Equal(f.PodLabels, want) {
		t.Errorf("pod labels = %v, want %v", f.PodLabels, want)
	}
	assertEnvNames(t, f.Env, "MODE")
}

func TestFactsOfHost(t *testing.T) {
	r := newResolver(t, Config{})
	for _, c := range []*event.Container{nil, {ID: event.HostID}, {ID: UnknownID}} {
		if f, err := r.Facts(c); err != nil || f.Env != nil || f.Image.OS != "" {
			t.Errorf("Facts(%+v) = %+v, %v", c, f, err)
		}
	}
	if _, err := r.Facts(&event.Container{ID: "x", Runtime: "cri-o"}); err == nil {
		t.Error("an unsupported runtime gave no error")
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBindMounts reads the mounts Falco's container.mount* fields describe
// from a podman OCI config: the user's binds, without podman's own.
func TestBindMounts(t *testing.T) {
	id := "f00d" + strings.Repeat("0", 60)
	var s ociSpec
	raw := `{"mounts":[
	 {"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
	 {"destination":"/etc/hosts","type":"bind","source":"/var/lib/containers/storage/overlay-containers/` + id + `/userdata/hosts","options":["bind","rprivate"]},
	 {"destination":"/hostetc","type":"bind","source":"/etc","options":["ro","rbind","rprivate"]},
	 {"destination":"/var/run/docker.sock","source":"/run/docker.sock","options":["rbind","rshared","Z"]},
	 {"destination":"/dev/shm","type":"bind","source":"/var/lib/containers/storage/overlay-containers/` + id + `/userdata/shm","options":["bind"]}]}`
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	got := bindMounts(s, id)
	want := []event.BindMount{
		{Source: "/etc", Destination: "/hostetc", RW: false, Propagation: "rprivate"},
		{Source: "/run/docker.sock", Destination: "/var/run/docker.sock", RW: true, Mode: "Z", Propagation: "rshared"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mounts %+v\nwant %+v", got, want)
	}
}
