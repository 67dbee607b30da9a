package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// keyFinder is a FileAnalyzer and FSAnalyzer written for these tests: it
// flags files holding the planted access key id, and reads files through
// the image's fs.FS, so that the plug-in points are exercised end to end.
type keyFinder struct{ fsSeen map[string]string }

func (*keyFinder) Name() string { return "test-keys" }

func (*keyFinder) AnalyzeFile(_ context.Context, f File, r io.Reader) ([]Finding, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != f.Size {
		return nil, fmt.Errorf("%s: read %d bytes, size %d", f.Path, len(data), f.Size)
	}
	var out []Finding
	for i, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, plantedKeyID) {
			out = append(out, Finding{Category: Secret, Rule: "aws-access-key", Severity: High, Title: "AWS access key", Line: i + 1})
		}
	}
	return out, nil
}

func (k *keyFinder) AnalyzeFS(_ context.Context, fsys fs.FS, r *Report) error {
	k.fsSeen = map[string]string{}
	for _, p := range []string{"etc/passwd", "bin/extra", "usr/bin/login"} {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		k.fsSeen[p] = string(data)
	}
	link, err := fs.ReadLink(fsys, "usr/bin/editor")
	if err != nil {
		return err
	}
	k.fsSeen["editor ->"] = link
	if _, err := fs.Stat(fsys, "var/cache/app/old.sh"); err == nil {
		return fmt.Errorf("old.sh is visible through the opaque directory")
	}
	r.Packages = append(r.Packages, Package{Name: "tool", Version: "2", Type: "generic"})
	return nil
}

func scan(t *testing.T, ref string, analyzers ...Analyzer) *Report {
	t.Helper()
	rep, err := Scan(context.Background(), ref, Options{Analyzers: analyzers, TempDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Scan(%s): %v", ref, err)
	}
	return rep
}

func findings(rep *Report, rule string) []Finding {
	var out []Finding
	for _, f := range rep.Findings {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

// checkPlanted asserts everything planted in the image was found, the
// same way whatever the image was read from.
func checkPlanted(t *testing.T, rep *Report) {
	t.Helper()
	want := map[string]string{ // rule -> path ("" for config findings)
		RuleRootUser:          "",
		RuleEnvSecret:         "",
		RuleNoHealthcheck:     "",
		RuleSetuid:            "/usr/bin/su",
		RuleWorldWritablePath: "/opt/tools",
		RulePackageManager:    "/usr/bin/apt-get",
	}
	for rule, p := range want {
		fs := findings(rep, rule)
		if len(fs) == 0 {
			t.Errorf("no %s finding; findings: %+v", rule, rep.Findings)
			continue
		}
		if p != "" && !slices.ContainsFunc(fs, func(f Finding) bool { return f.Path == p }) {
			t.Errorf("%s findings %+v, want one at %s", rule, fs, p)
		}
	}
	// login is a hard link to su: setuid too.
	if su := findings(rep, RuleSetuid); len(su) != 2 {
		t.Errorf("setuid findings %+v, want su and its hard link login", su)
	}
	// The secret's value must not leak into the report.
	js, _ := json.Marshal(rep)
	if bytes.Contains(js, []byte(plantedSecret)) {
		t.Errorf("the report carries the ENV secret's value")
	}

	b := rep.Baseline
	type version struct {
		layer      int
		state      string
		stateLayer int
		kind       string
	}
	versions := func(p string) []version {
		var out []version
		for _, f := range b.Lookup(p) {
			out = append(out, version{f.Layer, f.State, f.StateLayer, f.Kind})
		}
		return out
	}
	cases := map[string][]version{
		"/usr/local/bin/tool":   {{0, Modified, 1, KindScript}, {1, Present, 0, KindScript}},
		"/usr/local/bin/gone":   {{0, Deleted, 1, KindELF}},
		"/var/cache/app/old.sh": {{0, Deleted, 1, KindScript}},
		"/var/cache/app/new.sh": {{1, Present, 0, KindScript}},
		"/bin/extra":            {{1, Present, 0, KindELF}},
		"/usr/bin/su":           {{0, Present, 0, KindELF}},
		"/usr/bin/login":        {{0, Present, 0, KindELF}},
		"/usr/bin/extra":        nil, // not written through the /bin symlink
	}
	for p, want := range cases {
		if got := versions(p); !slices.Equal(got, want) {
			t.Errorf("baseline %s: %+v, want %+v", p, got, want)
		}
	}
	su := b.Lookup("/usr/bin/su")
	if len(su) == 1 && (!su[0].Setuid || su[0].Mode != "4755" || su[0].ELF != "DYN x86-64") {
		t.Errorf("su: %+v", su[0])
	}
	// Which of two hard-linked names is "the link" depends on the order
	// the layer lists them (a tar: su first; a directory: by name).
	if login := b.Lookup("/usr/bin/login"); len(login) == 1 && (login[0].SHA256 != su[0].SHA256 || login[0].Link+su[0].Link != "/usr/bin/su" && login[0].Link+su[0].Link != "/usr/bin/login") {
		t.Errorf("login: %+v, su %+v, want one a hard link to the other", login[0], su[0])
	}
	if tool := b.Lookup("/usr/local/bin/tool"); len(tool) == 2 && (tool[0].Interpreter != "/usr/bin/env" || tool[1].Interpreter != "/bin/sh" || tool[1].Change != "modified") {
		t.Errorf("tool: %+v", tool)
	}
	if rep.Executables != 6 { // su, login, apt-get, tool, new.sh, extra
		t.Errorf("%d executables present, want 6: %+v", rep.Executables, b.Present())
	}
	if rep.Image.User != "" || rep.Image.Labels["team"] != "shop" || len(rep.Image.Layers) != 2 {
		t.Errorf("image info %+v", rep.Image)
	}
}

func TestScanOCILayout(t *testing.T) {
	img := plantedImage(t)
	dir := writeLayout(t, img, "v1")
	kf := &keyFinder{}
	rep := scan(t, "oci:"+dir+":v1", kf)
	checkPlanted(t, rep)
	digest, _ := img.Digest()
	if rep.Image.Digest != digest.String() || rep.Baseline.Image.Digest != digest.String() {
		t.Errorf("digest %s, baseline %s, want %s", rep.Image.Digest, rep.Baseline.Image.Digest, digest)
	}
	if len(findings(rep, RuleLatestTag)) > 0 || len(findings(rep, RuleNoDigest)) > 0 {
		t.Errorf("a layout directory is not a mutable reference: %+v", rep.Findings)
	}
	// The key in /root/.aws/credentials was deleted by layer 1 but ships
	// in layer 0.
	keys := findings(rep, "aws-access-key")
	if len(keys) != 1 || keys[0].Path != "/root/.aws/credentials" || keys[0].Line != 2 || keys[0].Layer != 0 ||
		keys[0].Removed == nil || *keys[0].Removed != (Change{Layer: 1, How: Deleted}) || keys[0].Analyzer != "test-keys" {
		t.Errorf("key findings %+v", keys)
	}
	if kf.fsSeen["usr/bin/login"] != fakeELF("su") || !strings.HasPrefix(kf.fsSeen["etc/passwd"], "root:x:0:0") ||
		kf.fsSeen["bin/extra"] != fakeELF("extra") || kf.fsSeen["editor ->"] != "apt-get" {
		t.Errorf("through the fs.FS: %q", kf.fsSeen)
	}
	if len(rep.Packages) != 1 {
		t.Errorf("packages %+v", rep.Packages)
	}
	// Without the tag, the only image is taken.
	if rep2 := scan(t, "oci:"+dir); rep2.Image.ID != rep.Image.ID {
		t.Errorf("untagged: id %s, want %s", rep2.Image.ID, rep.Image.ID)
	}
	if _, err := Scan(context.Background(), "oci:"+dir+":nope", Options{}); err == nil || !strings.Contains(err.Error(), `no image tagged "nope"`) {
		t.Errorf("missing tag: %v", err)
	}
}

func TestScanDockerArchive(t *testing.T) {
	img := plantedImage(t)
	file := filepath.Join(t.TempDir(), "planted.tar")
	tag, _ := name.NewTag("registry.example/shop/planted:v1")
	if err := tarball.WriteToFile(file, tag, img); err != nil {
		t.Fatal(err)
	}
	rep := scan(t, "archive:"+file)
	checkPlanted(t, rep)
	id, _ := img.ConfigName()
	if rep.Image.ID != id.String() {
		t.Errorf("id %s, want %s", rep.Image.ID, id)
	}
}

func TestScanOCIArchive(t *testing.T) {
	dir := writeLayout(t, plantedImage(t), "v1")
	file := filepath.Join(t.TempDir(), "planted-oci.tar")
	tarDir(t, dir, file)
	tmp := t.TempDir()
	rep, err := Scan(context.Background(), "archive:"+file, Options{TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	checkPlanted(t, rep)
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the unpacked archive was left in %s: %v", tmp, left)
	}
}

func TestScanRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	img := plantedImage(t)
	ref := u.Host + "/shop/planted:v1"
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	rep := scan(t, "registry:"+ref)
	checkPlanted(t, rep)
	digest, _ := img.Digest()
	if rep.Image.Digest != digest.String() {
		t.Errorf("digest %s, want %s", rep.Image.Digest, digest)
	}
	if len(findings(rep, RuleNoDigest)) != 1 || len(findings(rep, RuleLatestTag)) != 0 {
		t.Errorf("by tag v1: want no-digest only: %+v", rep.Findings)
	}
	if rep.Stats.StoredBytes == 0 || rep.Stats.StoredBytes != rep.Image.Layers[0].Size+rep.Image.Layers[1].Size {
		t.Errorf("stored bytes %d, layers %+v", rep.Stats.StoredBytes, rep.Image.Layers)
	}
	// By digest, pinned: neither finding.
	rep = scan(t, "registry:"+u.Host+"/shop/planted@"+digest.String())
	if len(findings(rep, RuleNoDigest)) != 0 || len(findings(rep, RuleLatestTag)) != 0 {
		t.Errorf("by digest: %+v", rep.Findings)
	}
	// A bare reference falls through to the registry when podman does not
	// have it (an empty podman root here).
	rep, err = Scan(context.Background(), u.Host+"/shop/planted", Options{PodmanRoot: t.TempDir()})
	if err == nil {
		t.Errorf("bare ref to a missing latest tag: no error")
	}
	if err := remote.Write(tag.Context().Tag("latest"), img); err != nil {
		t.Fatal(err)
	}
	rep, err = Scan(context.Background(), u.Host+"/shop/planted", Options{PodmanRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Image.Transport != Registry || len(findings(rep, RuleLatestTag)) != 1 {
		t.Errorf("bare ref: transport %s, findings %+v", rep.Image.Transport, rep.Findings)
	}
}
