package policy

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles creates files under dir from name → content.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func named(name, body string) string {
	return "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: " + name + "}\nspec:\n" + body
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"b.yml":        named("b", scopeAll+"  controls: {forkGuard: {maxProcesses: 5}}\n"),
		"a.yaml":       named("a1", scopeAll+"  controls: {forkGuard: {maxProcesses: 9}}\n") + "---\n" + named("a2", scopeAll+"  controls: {readOnlyRootFilesystem: {}}\n"),
		"notes.txt":    "not a policy",
		".hidden.yaml": "not: [valid",
		"sub/c.yaml":   "not: [valid", // directories are not recursed into
	})
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range s.Policies() {
		names = append(names, p.Name())
	}
	if got := strings.Join(names, ","); got != "mamori-default,a1,a2,b" {
		t.Errorf("policies %s, want mamori-default,a1,a2,b", got)
	}
	if s.Policy("a2") == nil || s.Policy("nope") != nil || !strings.HasPrefix(s.Digest(), "sha256:") {
		t.Error("Policy or Digest")
	}
	if len(s.Files()) != 3 { // the directory, a.yaml, b.yml
		t.Errorf("files %v", s.Files())
	}
}

func TestLoadLists(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"policies/ip.yaml": named("ip", scopeAll+"  mode: enforce\n  controls:\n    ipReputation:\n      lists: [../lists/bad.netset]\n      block: [198.51.100.0/24]\n"+
			"    blockUnregisteredImages: {registeredImages: [../lists/registered.txt]}\n"),
		"lists/bad.netset":     "# feed\n203.0.113.0/24\n",
		"lists/registered.txt": "# registered images\nregistry.example.com/shop/**\nnginx:1.27\n",
	})
	s, err := Load(filepath.Join(dir, "policies"))
	if err != nil {
		t.Fatal(err)
	}
	e := s.Effective(shopTarget())
	r := e.Enforce.Controls.IPReputation
	if list, ok := r.Blocked(netip.MustParseAddr("203.0.113.9")); !ok || !strings.HasSuffix(list, "lists/bad.netset") {
		t.Errorf("Blocked from the list file: %q %v", list, ok)
	}
	if list, ok := r.Blocked(netip.MustParseAddr("198.51.100.1")); !ok || !strings.HasPrefix(list, "ip ") {
		t.Errorf("Blocked inline: %q %v", list, ok)
	}
	if _, ok := r.Blocked(netip.MustParseAddr("192.0.2.1")); ok {
		t.Error("an address on no list is blocked")
	}
	b := e.Enforce.Controls.BlockUnregisteredImages
	for ref, want := range map[string]bool{
		"registry.example.com/shop/web:1.4": true, "nginx:1.27": true, "docker.io/library/nginx:1.27": true,
		"nginx:1.26": false, "nginx": false, "registry.example.com/other/x:1": false,
	} {
		img := ParseImageRef(ref)
		if got := b.Registered(img); got != want {
			t.Errorf("Registered(%s) = %v, want %v", ref, got, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"missing-list.yaml": named("m", scopeAll+"  controls:\n    ipReputation: {lists: [nope.netset]}\n"),
		"bad-list.yaml":     named("b", scopeAll+"  controls:\n    ipReputation: {lists: [bad.netset]}\n"),
		"bad.netset":        "10.0.0.1\n10.0.0.x\n",
		"dup.yaml":          named("b", scopeAll+"  controls: {forkGuard: {maxProcesses: 5}}\n"),
		"typo.yaml":         named("t", scopeAll+"  controls: {forkGuard: {maxProcesses: 5}, readOnlyRootFs: {}}\n"),
	})
	_, err := Load(dir, filepath.Join(dir, "absent.yaml"))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		dir + "/absent.yaml: cannot open the policy path: no such file or directory; check --policy",
		dir + "/bad.netset:2:1: \"10.0.0.x\" is not an IP address, CIDR or range; fix or delete the line (list named at " + dir + "/bad-list.yaml:7:28)",
		dir + "/dup.yaml:3:18: policy \"b\" is already defined at " + dir + "/bad-list.yaml:3:18",
		dir + "/missing-list.yaml:7:28: cannot read list file " + dir + "/nope.netset: no such file or directory",
		dir + "/typo.yaml:6:44: unknown key \"readOnlyRootFs\" in controls; did you mean \"readOnlyRootFilesystem\"?",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if n := len(Errors(err)); n != 5 {
		t.Errorf("%d errors, want 5:\n%s", n, msg)
	}
}
