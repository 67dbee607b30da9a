package defaults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/syscalls"
)

// TestRuntimeOverrides loads the overrides after each upstream file alone,
// after the three together and after mamori's own rules: they keep only
// the entries the files define, load, and extend the lists.
func TestRuntimeOverrides(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "corpora", "falco")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("upstream Falco rules not found in ../shared/corpora: ", err)
	}
	read := func(names ...string) []rules.File {
		var fs []rules.File
		for _, n := range names {
			f, err := rules.ReadFiles(filepath.Join(dir, n))
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f...)
		}
		return fs
	}
	for _, tc := range []struct {
		files []rules.File
		kept  []string // entries kept, as "list docker_binaries"
	}{
		{read("falco_rules.yaml"), []string{"list: docker_binaries"}},
		{read("falco-incubating_rules.yaml"), []string{"list: docker_binaries", "list: k8s_binaries", "list: bpf_profiled_binaries"}},
		{read("falco-sandbox_rules.yaml"), []string{"list: docker_binaries", "macro: user_known_write_below_etc_activities",
			"macro: user_known_create_hidden_file_activities"}},
		{read("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"),
			[]string{"list: docker_binaries", "list: k8s_binaries", "macro: user_known_write_below_etc_activities",
				"macro: user_known_create_hidden_file_activities", "list: bpf_profiled_binaries"}},
		{[]rules.File{File()}, nil},
	} {
		f, ok, err := RuntimeOverrides(tc.files)
		if err != nil {
			t.Fatal(err)
		}
		if ok != (len(tc.kept) > 0) {
			t.Errorf("%s: applied %v", tc.files[0].Name, ok)
			continue
		}
		if !ok {
			continue
		}
		if n := strings.Count(string(f.Data), "override:"); n != len(tc.kept) {
			t.Errorf("%s: %d entries kept, want %v:\n%s", tc.files[0].Name, n, tc.kept, f.Data)
		}
		for _, k := range tc.kept {
			if !strings.Contains(string(f.Data), k) {
				t.Errorf("%s: %q not kept:\n%s", tc.files[0].Name, k, f.Data)
			}
		}
		rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{syscalls.New()}}, append(tc.files, f)...)
		if err != nil {
			t.Fatalf("%s: %v", tc.files[0].Name, err)
		}
		if l, _ := rs.List("docker_binaries"); !strings.Contains(strings.Join(l.Items, " "), "conmon") {
			t.Errorf("%s: docker_binaries = %q", tc.files[0].Name, l.Items)
		}
	}
}
