package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	runtimeDoc   = "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: rt}\nspec:\n  scope: {container: {}}\n  controls: {forkGuard: {maxProcesses: 5}}\n"
	assuranceDoc = "apiVersion: mamori.dev/v1\nkind: ImageAssurancePolicy\nmetadata: {name: img}\nspec:\n  scope: {image: {}}\n  rules: {blockMalware: true}\n"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPathWithoutItsKind: a path with no document of the kind its reader
// takes is an error that says what it holds and where that belongs; it
// used to load as "no policies" (the agent, check) or as the built-in
// default (image scan).
func TestPathWithoutItsKind(t *testing.T) {
	dir := t.TempDir()
	img := writeFile(t, dir, "img.yaml", assuranceDoc)
	rt := writeFile(t, dir, "rt.yaml", runtimeDoc)
	empty := t.TempDir()
	other := writeFile(t, t.TempDir(), "cm.yaml", "apiVersion: v1\nkind: ConfigMap\n")

	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"runtime from an image policy", required(Load(img))(img),
			img + ": holds no RuntimePolicy document but 1 ImageAssurancePolicy document; mamori image scan and image register take --policy with ImageAssurancePolicy documents"},
		{"image from a runtime policy", second(LoadAssurance(rt)),
			rt + ": holds no ImageAssurancePolicy document but 1 RuntimePolicy document; mamori agent, admission serve, check and hostlogin take --policy"},
		{"empty directory", required(Load(empty))(empty), empty + ": holds no *.yaml or *.yml file, so no RuntimePolicy document"},
		{"another kind", second(LoadAssurance(other)), other + `:2:7: kind "ConfigMap" is not an image assurance policy; use "ImageAssurancePolicy"`},
		{"store", storeRequire(t, img), img + ": holds no RuntimePolicy document"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant ...%s...", tc.name, tc.err, tc.want)
		}
	}
	// A directory with both kinds serves each reader.
	if err := required(Load(dir))(dir); err != nil {
		t.Errorf("Load(both kinds): %v", err)
	}
	if _, err := LoadAssurance(dir); err != nil {
		t.Errorf("LoadAssurance(both kinds): %v", err)
	}
}

// TestLoadAny: policy validate checks image assurance policies too, so a
// misspelt key in one is an error, not "valid".
func TestLoadAny(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "img.yaml", strings.Replace(assuranceDoc, "blockMalware", "blockMalwre", 1))
	if _, _, err := LoadAny(nil, bad); err == nil || !strings.Contains(err.Error(), bad+`:6:11: unknown key "blockMalwre" in rules; did you mean "blockMalware"?`) {
		t.Errorf("LoadAny: %v", err)
	}
	good := writeFile(t, t.TempDir(), "img.yaml", assuranceDoc)
	set, aps, err := LoadAny(nil, good, writeFile(t, dir, "rt.yaml", runtimeDoc))
	if err != nil || len(aps) != 1 || len(set.Policies()) != len(Builtin())+1 {
		t.Errorf("LoadAny: %v, %d assurance, %v", err, len(aps), set)
	}
	empty := t.TempDir()
	writeFile(t, empty, "x.yaml", "# nothing yet\n")
	if _, _, err := LoadAny(nil, empty); err == nil || !strings.Contains(err.Error(), empty+": holds no policy document (RuntimePolicy or ImageAssurancePolicy) (no document at all)") {
		t.Errorf("LoadAny(neither): %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestLoadFromStdin: "-" reads the policies from standard input, named
// <stdin> in positions; without one it is an error.
func TestLoadFromStdin(t *testing.T) {
	set, err := LoadFrom(strings.NewReader(runtimeDoc), "-")
	if err != nil || set.Policy("rt") == nil || set.Policy("rt").Source.File != StdinName {
		t.Errorf("LoadFrom(stdin): %v, %v", set, err)
	}
	_, err = LoadFrom(strings.NewReader(strings.Replace(runtimeDoc, "forkGuard", "forkGaurd", 1)), "-")
	if err == nil || !strings.Contains(err.Error(), `<stdin>:6:14: unknown key "forkGaurd"`) {
		t.Errorf("LoadFrom(bad stdin): %v", err)
	}
	if _, err := Load("-"); err == nil || !strings.Contains(err.Error(), "no standard input") {
		t.Errorf("Load(-) without stdin: %v", err)
	}
	aps, err := LoadAssuranceFrom(strings.NewReader(assuranceDoc), "-")
	if err != nil || len(aps) != 1 {
		t.Errorf("LoadAssuranceFrom(stdin): %v, %v", aps, err)
	}
}

// storeRequire opens a Store over path, which does not refuse it (it may
// fill later), and asks its Set to require a RuntimePolicy there.
func storeRequire(t *testing.T, path string) error {
	st, err := Open(nil, path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return st.Current().RequireDocuments(path)
}

// required is what a command does with the paths a user named: load, then
// require a RuntimePolicy in each.
func required(s *Set, err error) func(paths ...string) error {
	return func(paths ...string) error {
		if err != nil {
			return err
		}
		return s.RequireDocuments(paths...)
	}
}
