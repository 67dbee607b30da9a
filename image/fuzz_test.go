package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/mamori-dev/mamori/image/secrets"
)

// An image is whatever its author made it: every byte of its layers,
// manifests, configs and archives is untrusted. These fuzzers feed each
// kind of input through the scanner a user runs (`mamori image scan`):
// whatever it holds, the scan ends with a report or an error, and never
// panics.

// fuzzOptions are a scan's options for fuzzing: the analyzers that read
// file contents, and a temporary directory of the fuzzer's.
func fuzzOptions(dir string) Options {
	return Options{TempDir: dir, Analyzers: []Analyzer{SBOMAnalyzer{}, SecretAnalyzer{Scanner: secrets.New(secrets.Config{})}}}
}

// FuzzLayerBlob reads arbitrary bytes as a stored layer: gzip, zstd or
// no compression, then a tar with whatever names, types, links and
// whiteouts it holds.
func FuzzLayerBlob(f *testing.F) {
	for _, l := range plantedLayers(f) {
		f.Add(l)
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(l)
		zw.Close()
		f.Add(gz.Bytes())
		zs, _ := zstd.NewWriter(nil)
		f.Add(zs.EncodeAll(l, nil))
	}
	f.Add(tarOf(f, file("../../etc/passwd", 0o644, "x"), symlink("a", "/"), file("a/b", 0o755, "\x7fELF"), file(".wh..wh..opq", 0o644, "")))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0})
	f.Fuzz(func(t *testing.T, blob []byte) {
		opts := fuzzOptions(t.TempDir())
		s := &scanner{ctx: context.Background(), opts: &opts, rep: &Report{Config: &v1.ConfigFile{}}, t: newTree()}
		l := layerSource{open: func(func(int64)) (layerReader, io.Closer, error) {
			rc, err := decompress(bytes.NewReader(blob))
			if err != nil {
				return nil, nil, err
			}
			return tarLayer{rc}, rc, nil
		}}
		if err := s.readLayer(0, l, nil); err != nil {
			return
		}
		s.finish()
	})
}

// layoutSeed is the planted image's OCI layout: its index.json and each
// blob by digest.
func layoutSeed(t testing.TB) (index []byte, blobs map[string][]byte) {
	dir := writeLayout(t, plantedImage(t), "v1")
	index, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	blobs = map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		blobs[filepath.Base(p)] = b
	}
	return index, blobs
}

// blobKinds picks the planted image's manifest and config out of its
// blobs, for seeds that change them.
func blobKinds(blobs map[string][]byte) (manifest, config []byte) {
	for _, b := range blobs {
		switch {
		case bytes.Contains(b, []byte(`"layers"`)):
			manifest = b
		case bytes.Contains(b, []byte(`"rootfs"`)):
			config = b
		}
	}
	return manifest, config
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// FuzzOCILayout reads an OCI layout whose index.json, manifest and
// config are arbitrary: each blob is stored under its own digest, beside
// the planted image's, so that an index or manifest that still names
// them reaches the layers.
func FuzzOCILayout(f *testing.F) {
	index, blobs := layoutSeed(f)
	manifest, config := blobKinds(blobs)
	f.Add(index, manifest, config)
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:`+digestOf(index)+`","size":1}]}`), manifest, config)
	f.Add([]byte(`{"manifests":[]}`), []byte(`{}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, index, manifest, config []byte) {
		dir := t.TempDir()
		shas := filepath.Join(dir, "blobs", "sha256")
		os.MkdirAll(shas, 0o755)
		for d, b := range blobs {
			os.WriteFile(filepath.Join(shas, d), b, 0o644)
		}
		for _, b := range [][]byte{index, manifest, config} {
			os.WriteFile(filepath.Join(shas, digestOf(b)), b, 0o644)
		}
		os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
		os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644)
		Scan(context.Background(), "oci:"+dir, fuzzOptions(t.TempDir()))
	})
}

// FuzzArchive reads arbitrary bytes as an image archive: a docker archive
// (manifest.json and layer tars) or an OCI archive (a layout in a tar).
func FuzzArchive(f *testing.F) {
	img := plantedImage(f)
	dir := f.TempDir()
	docker := filepath.Join(dir, "docker.tar")
	tag, _ := name.NewTag("registry.example/shop/planted:v1")
	if err := tarball.WriteToFile(docker, tag, img); err != nil {
		f.Fatal(err)
	}
	oci := filepath.Join(dir, "oci.tar")
	tarDir(f, writeLayout(f, img, "v1"), oci)
	for _, p := range []string{docker, oci} {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add(tarOf(f, file("manifest.json", 0o644, `[{"Config":"../../../etc/passwd","Layers":["/dev/zero"]}]`)))
	f.Add(tarOf(f, file("index.json", 0o644, `{"manifests":[{"digest":"sha256:x"}]}`), file("oci-layout", 0o644, "{}")))
	f.Fuzz(func(t *testing.T, data []byte) {
		tmp := t.TempDir()
		p := filepath.Join(tmp, "image.tar")
		os.WriteFile(p, data, 0o644)
		Scan(context.Background(), "archive:"+p, fuzzOptions(tmp))
	})
}

// FuzzRegistryManifest serves an arbitrary manifest (of an arbitrary
// media type) and config from a registry, as any registry a user pulls
// from may: the planted image's blobs are there too.
func FuzzRegistryManifest(f *testing.F) {
	_, blobs := layoutSeed(f)
	manifest, config := blobKinds(blobs)
	f.Add(manifest, "application/vnd.oci.image.manifest.v1+json", config)
	f.Add(manifest, "application/vnd.docker.distribution.manifest.v2+json", []byte(`{"rootfs":{"diff_ids":[]},"config":{"User":"0"}}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:`+digestOf(manifest)+`","size":`+strconv.Itoa(len(manifest))+`,"platform":{"os":"linux","architecture":"amd64"}}]}`),
		"application/vnd.oci.image.index.v1+json", config)
	f.Add([]byte(`{"schemaVersion":1}`), "application/vnd.docker.distribution.manifest.v1+prettyjws", []byte(`{}`))
	var mu sync.Mutex
	var cur struct {
		manifest  []byte
		mediaType string
		config    []byte
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case strings.HasPrefix(r.URL.Path, "/v2/fuzz/img/manifests/"):
			ref := strings.TrimPrefix(r.URL.Path, "/v2/fuzz/img/manifests/")
			body, mt := cur.manifest, cur.mediaType
			if d := strings.TrimPrefix(ref, "sha256:"); d != ref {
				if b, ok := blobs[d]; ok && d != digestOf(cur.manifest) {
					body, mt = b, "application/vnd.oci.image.manifest.v1+json"
				}
			}
			w.Header().Set("Content-Type", mt)
			w.Header().Set("Docker-Content-Digest", "sha256:"+digestOf(body))
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			if r.Method != http.MethodHead {
				w.Write(body)
			}
		case strings.HasPrefix(r.URL.Path, "/v2/fuzz/img/blobs/sha256:"):
			d := strings.TrimPrefix(r.URL.Path, "/v2/fuzz/img/blobs/sha256:")
			b, ok := blobs[d]
			if d == digestOf(cur.config) {
				b, ok = cur.config, true
			}
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Write(b)
		default:
			http.NotFound(w, r)
		}
	}))
	f.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	f.Fuzz(func(t *testing.T, manifest []byte, mediaType string, config []byte) {
		mu.Lock()
		cur.manifest, cur.mediaType, cur.config = manifest, mediaType, config
		mu.Unlock()
		Scan(context.Background(), "registry:"+u.Host+"/fuzz/img:t", fuzzOptions(t.TempDir()))
	})
}
