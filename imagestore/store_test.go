package imagestore

import (
	"archive/tar"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mamori-dev/mamori/image"
	"github.com/mamori-dev/mamori/image/record"
	"github.com/mamori-dev/mamori/policy"
)

// testRegistry is go-containerregistry's registry served by the test; the
// images registered in these tests are pushed there and scanned back
// from it, as `mamori image register registry:...` would.
type testRegistry struct{ host string }

func newRegistry(t testing.TB) *testRegistry {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return &testRegistry{host: u.Host}
}

// push builds a one-layer image whose /bin/app prints version, running
// as user ("" is root), pushes it as repo:tag and returns its manifest
// digest.
func (r *testRegistry) push(t testing.TB, repo, tag, version, user string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		body string
	}{{"bin/", 0o755, ""}, {"bin/app", 0o755, "#!/bin/sh\necho " + version + "\n"}, {"etc/passwd", 0o644, "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n"}} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(f.name, "/") {
			hdr.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64",
		Config: v1.Config{User: user, Entrypoint: []string{"/bin/app"}}, RootFS: v1.RootFS{Type: "layers"}})
	if err != nil {
		t.Fatal(err)
	}
	// mutate.ConfigFile replaced the diff ids; put the layer's back.
	diff, _ := layer.DiffID()
	cfg, _ := img.ConfigFile()
	cfg.RootFS.DiffIDs = []v1.Hash{diff}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(r.host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

// scan scans ref from the registry and judges it by the assurance policy
// YAML given ("" for the built-in default).
func scan(t *testing.T, ref, assurance string) *record.Scanned {
	t.Helper()
	return scanReport(t, ref, assurance).Scanned()
}

// scanReport scans ref and judges it against assurance.
func scanReport(t *testing.T, ref, assurance string) *image.Report {
	t.Helper()
	rep, err := image.Scan(context.Background(), "registry:"+ref, image.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatalf("scan %s: %v", ref, err)
	}
	var ps []*policy.AssurancePolicy
	if assurance != "" {
		if ps, err = policy.ParseAssurance("test-assurance.yaml", []byte(assurance)); err != nil {
			t.Fatal(err)
		}
	}
	image.Judge(rep, ps)
	return rep
}

const strict = `apiVersion: mamori.dev/v1
kind: ImageAssurancePolicy
metadata: {name: strict}
spec:
  scope: {image: {}}
  rules:
    requireNonRoot: true
    requireHealthcheck: true
`

func open(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestKey(t *testing.T) {
	const hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct{ ref, key string }{
		{"nginx", "docker.io/library/nginx:latest"},
		{"nginx:1.27", "docker.io/library/nginx:1.27"},
		{"docker.io/library/nginx:1.27", "docker.io/library/nginx:1.27"},
		{"library/nginx:1.27", "docker.io/library/nginx:1.27"},
		{" nginx:1.27 ", "docker.io/library/nginx:1.27"},
		{"bitnami/redis:7", "docker.io/bitnami/redis:7"},
		{"localhost/mamori-test-busybox", "localhost/mamori-test-busybox:latest"},
		{"localhost/mamori-test-busybox:latest", "localhost/mamori-test-busybox:latest"},
		{"registry:5000/a/b:v2", "registry:5000/a/b:v2"},
		{"ghcr.io/org/app@sha256:" + hex, "sha256:" + hex},
		{"ghcr.io/org/app:1.2@sha256:" + strings.ToUpper(hex), "sha256:" + hex},
		{"sha256:" + hex, "sha256:" + hex},
		{hex, "sha256:" + hex},
		{"", ""},
		{"app@sha256:123", ""},
		{"app@md5:0123456789abcdef0123456789abcdef", ""},
		{"ngi nx:1.27", ""},
	}
	for _, tt := range tests {
		if got := Key(tt.ref); got != tt.key {
			t.Errorf("Key(%q) = %q, want %q", tt.ref, got, tt.key)
		}
	}
}

// TestMigrateFromEmpty: a missing file and an empty database become the
// current schema; a read-only store over an empty database brings it up
// to date too; a database from a newer mamori is refused with what to do.
// (An empty file, 0 bytes, is not a database: TestEmptyStoreFile.)
func TestMigrateFromEmpty(t *testing.T) {
	dir := t.TempDir()
	created := filepath.Join(dir, "new", "sub", "images.db")
	s := open(t, created, Options{})
	if v := version(t, created); v != SchemaVersion() {
		t.Errorf("new database at schema %d, want %d", v, SchemaVersion())
	}
	if recs, err := s.List(context.Background()); err != nil || len(recs) != 0 {
		t.Errorf("List on a new database: %v, %v", recs, err)
	}
	var mode string
	db, _ := sql.Open("sqlite", created)
	db.QueryRow("PRAGMA journal_mode").Scan(&mode)
	db.Close()
	if mode != "wal" {
		t.Errorf("journal mode %q, want wal", mode)
	}

	empty := filepath.Join(dir, "empty.db")
	db, _ = sql.Open("sqlite", empty)
	db.Exec("CREATE TABLE t(x); DROP TABLE t") // a database with no table, at schema 0
	db.Close()
	r := open(t, empty, Options{ReadOnly: true})
	if _, ok := r.Lookup("nginx"); ok {
		t.Error("an empty database knows an image")
	}
	if v := version(t, empty); v != SchemaVersion() {
		t.Errorf("read-only open left an empty database at schema %d", v)
	}

	newer := filepath.Join(dir, "newer.db")
	db, _ = sql.Open("sqlite", newer)
	db.Exec("PRAGMA user_version = 99")
	db.Close()
	_, err := Open(newer, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer mamori") {
		t.Errorf("opening a schema-99 database: %v", err)
	}
}

func version(t *testing.T, path string) int {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestLookupNormalisation: an image registered by one spelling is found
// by every spelling that means the same image, and by its digests.
func TestLookupNormalisation(t *testing.T) {
	reg := newRegistry(t)
	digest := reg.push(t, "shop/app", "1.0", "v1", "app")
	s := open(t, filepath.Join(t.TempDir(), "images.db"), Options{})
	rep := scan(t, reg.host+"/shop/app:1.0", "")
	rec, err := s.Register(context.Background(), rep)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Digest != digest || rec.ID != rep.ID || !slices.Equal(rec.Names, []string{reg.host + "/shop/app:1.0"}) {
		t.Errorf("record %+v; want digest %s, id %s", rec, digest, rep.ID)
	}
	// A second scan of the same image as podman storage would name a
	// pulled nginx: the registry cannot be docker.io here.
	nginx := scanReport(t, reg.host+"/shop/app:1.0", "")
	nginx.Image.Name = "nginx:1.27"
	if _, err := s.Register(context.Background(), nginx.Scanned()); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(rep.ID, "sha256:")
	tests := []struct {
		ref  string
		want bool
	}{
		{reg.host + "/shop/app:1.0", true},
		{reg.host + "/shop/app@" + digest, true},
		{reg.host + "/shop/app:1.0@" + digest, true},
		{"elsewhere.example/other@" + digest, true}, // a digest names content, whatever the name
		{"sha256:" + id, true},
		{id, true},
		{"nginx:1.27", true},
		{"docker.io/library/nginx:1.27", true},
		{"library/nginx:1.27", true},
		{"nginx", false}, // latest, not 1.27
		{"nginx:1.28", false},
		{reg.host + "/shop/app", false},
		{reg.host + "/shop/app:2.0", false},
		{"shop/app:1.0", false}, // docker.io/shop/app
		{"sha256:" + strings.Repeat("0", 64), false},
		{"", false},
	}
	for _, tt := range tests {
		st, ok := s.Lookup(tt.ref)
		if ok != tt.want {
			t.Errorf("Lookup(%q) registered = %v, want %v", tt.ref, ok, tt.want)
			continue
		}
		if ok && (st.Digest != digest || !st.Scanned || !st.Compliant || st.User != "app") {
			t.Errorf("Lookup(%q) = %+v", tt.ref, st)
		}
	}
	recs, err := s.List(context.Background())
	if err != nil || len(recs) != 1 {
		t.Fatalf("List: %d records, %v; want the one image", len(recs), err)
	}
	if want := []string{reg.host + "/shop/app:1.0", "docker.io/library/nginx:1.27"}; !slices.Equal(recs[0].Names, want) {
		t.Errorf("names %v, want %v", recs[0].Names, want)
	}
}

// TestReRegisterReplacesVerdict: a re-scan under a stricter policy turns
// the verdict for the next lookup, keeps the first registration time,
// and a tag pushed anew moves to the new image while the old one stays
// registered by digest.
func TestReRegisterReplacesVerdict(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "images.db"), Options{})
	ref := reg.host + "/shop/api:2"
	reg.push(t, "shop/api", "2", "v1", "")
	first, err := s.Register(ctx, scan(t, ref, ""))
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := s.Lookup(ref); !ok || !st.Compliant || len(st.Reasons) != 0 || st.User != "" {
		t.Fatalf("after register under the built-in policy: %+v, %v", st, ok)
	}
	again, err := s.Register(ctx, scan(t, ref, strict))
	if err != nil {
		t.Fatal(err)
	}
	st, ok := s.Lookup(ref)
	if !ok || st.Compliant || len(st.Reasons) != 2 {
		t.Fatalf("after re-register under %q: %+v, %v; want non-compliant for root and healthcheck", "strict", st, ok)
	}
	if !strings.Contains(st.Reasons[0]+st.Reasons[1], "(policy strict, requireNonRoot)") {
		t.Errorf("reasons %q do not name the policy and rule", st.Reasons)
	}
	if !again.Registered.Equal(first.Registered) || !again.Scanned.After(first.Scanned) {
		t.Errorf("times: first %v/%v, again %v/%v", first.Registered, first.Scanned, again.Registered, again.Scanned)
	}
	got, _, err := s.Get(ctx, ref)
	if err != nil || !slices.Equal(got.Policies, []string{"strict"}) || got.Findings.BySeverity["medium"] == 0 || got.Executables != 1 {
		t.Errorf("stored record %+v, %v", got, err)
	}

	// The tag moves; the old image is still known by its digest.
	newDigest := reg.push(t, "shop/api", "2", "v2", "app")
	if _, err := s.Register(ctx, scan(t, ref, strict)); err != nil {
		t.Fatal(err)
	}
	if st, ok := s.Lookup(ref); !ok || st.Digest != newDigest {
		t.Errorf("tag after the push: %+v, want digest %s", st, newDigest)
	}
	if st, ok := s.Lookup(first.ID); !ok || st.Digest != first.Digest || st.Compliant {
		t.Errorf("old image by id: %+v, %v", st, ok)
	}
	recs, _ := s.List(ctx)
	if len(recs) != 2 || len(recs[1].Names) != 0 {
		t.Errorf("List: %+v, want the new image with the tag and the old one without", recs)
	}

	// Unregister by name removes the image with its digests.
	rm, ok, err := s.Remove(ctx, ref)
	if err != nil || !ok || rm.Digest != newDigest {
		t.Fatalf("Remove: %+v, %v, %v", rm, ok, err)
	}
	if _, ok := s.Lookup(newDigest); ok {
		t.Error("removed image still found by digest")
	}
	if _, ok, err := s.Remove(ctx, ref); ok || err != nil {
		t.Errorf("second Remove: %v, %v", ok, err)
	}
}

func TestBaseline(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "images.db"), Options{})
	ref := reg.host + "/shop/app:1"
	reg.push(t, "shop/app", "1", "v1", "app")
	rep := scan(t, ref, "")
	if _, err := s.Register(ctx, rep); err != nil {
		t.Fatal(err)
	}
	b, ok, err := s.Baseline(ctx, ref)
	if err != nil || !ok {
		t.Fatalf("Baseline: %v, %v", ok, err)
	}
	if len(b.Files) != 1 || b.Files[0].Path != "/bin/app" || b.Files[0] != rep.Baseline.Files[0] || b.Image.ID != rep.ID {
		t.Errorf("baseline %+v, want %+v", b, rep.Baseline)
	}
	if _, ok, _ := s.Baseline(ctx, reg.host+"/shop/other:1"); ok {
		t.Error("baseline of an unregistered image")
	}
	// ImageFile, by content as the agent asks it.
	id := rep.ID
	if sha, shipped, known := s.ImageFile(id, "/bin/app"); !known || !shipped || sha != rep.Baseline.Files[0].SHA256 {
		t.Errorf("ImageFile(%s, /bin/app) = %q, %v, %v", id, sha, shipped, known)
	}
	if _, shipped, known := s.ImageFile(id, "/tmp/miner"); !known || shipped {
		t.Errorf("ImageFile of a path the image does not ship: shipped %v known %v", shipped, known)
	}
	if _, _, known := s.ImageFile("sha256:"+strings.Repeat("0", 64), "/bin/app"); known {
		t.Error("ImageFile knows an unregistered image")
	}
}

// TestConcurrentReaderWhileWriting: a read-only store opened before the
// database exists (as the agent starts before the first registration)
// finds the image once it is registered, and readers looking it up while
// a writer flips its verdict see one whole record each time, never an
// error; the last verdict is what they see at the end.
func TestConcurrentReaderWhileWriting(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db", "images.db")
	var logs syncBuffer
	reader := open(t, path, Options{ReadOnly: true, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	ref := reg.host + "/shop/web:3"
	if _, ok := reader.Lookup(ref); ok {
		t.Fatal("a missing database knows an image")
	}
	if _, err := reader.Register(ctx, &record.Scanned{}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Register on a read-only store: %v", err)
	}
	reg.push(t, "shop/web", "3", "v1", "")
	lenient, strictRep := scan(t, ref, ""), scan(t, ref, strict)
	writer := open(t, path, Options{})
	if _, err := writer.Register(ctx, lenient); err != nil {
		t.Fatal(err)
	}
	if st, ok := reader.Lookup(ref); !ok || !st.Compliant {
		t.Fatalf("reader after the first registration: %+v, %v", st, ok)
	}

	const writes = 60
	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[bool]int{}
	var bad []string
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				st, ok := reader.Lookup(ref)
				mu.Lock()
				switch {
				case !ok:
					bad = append(bad, "not registered")
				case st.Compliant != (len(st.Reasons) == 0), !st.Compliant && len(st.Reasons) != 2:
					bad = append(bad, "torn record: "+strings.Join(st.Reasons, "; "))
				default:
					seen[st.Compliant]++
				}
				mu.Unlock()
			}
		}()
	}
	for i := range writes {
		rep := lenient
		if i%2 == 0 {
			rep = strictRep
		}
		if _, err := writer.Register(ctx, rep); err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	close(done)
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("%d bad reads, first: %s", len(bad), bad[0])
	}
	if seen[true]+seen[false] == 0 {
		t.Error("no reads completed while writing")
	}
	t.Logf("reads while writing: %d compliant, %d not", seen[true], seen[false])
	if st, _ := reader.Lookup(ref); !st.Compliant {
		t.Errorf("last write was compliant; reader sees %+v", st)
	}
	if logs.String() != "" {
		t.Errorf("reader logged:\n%s", logs.String())
	}

	// The database removed and made anew: the reader follows the file.
	writer.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	if _, ok := reader.Lookup(ref); ok {
		t.Error("reader still finds the image in a removed database")
	}
	w2 := open(t, path, Options{})
	if _, err := w2.Register(ctx, strictRep); err != nil {
		t.Fatal(err)
	}
	if st, ok := reader.Lookup(ref); !ok || st.Compliant {
		t.Errorf("reader after the database was made anew: %+v, %v", st, ok)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// BenchmarkLookup is what each container creation and admission request
// pays per image: one read of the database through a read-only store, as
// the agent holds it.
func BenchmarkLookup(b *testing.B) {
	reg := newRegistry(b)
	path := filepath.Join(b.TempDir(), "images.db")
	w, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var digest string
	for i := range 50 {
		repo := "shop/app" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		d := reg.push(b, repo, "1", repo, "app")
		rep, err := image.Scan(context.Background(), "registry:"+reg.host+"/"+repo+":1", image.Options{})
		if err != nil {
			b.Fatal(err)
		}
		image.Judge(rep, nil)
		if _, err := w.Register(context.Background(), rep.Scanned()); err != nil {
			b.Fatal(err)
		}
		digest = d
	}
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for _, bc := range []struct{ name, ref string }{
		{"tag", reg.host + "/shop/appaa:1"},
		{"digest", "other/name@" + digest},
		{"unregistered", "nginx:1.27"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				r.Lookup(bc.ref)
			}
		})
	}
}
