package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAssurance(t *testing.T) {
	ps, err := ParseAssurance("images.yaml", []byte(`apiVersion: mamori.dev/v1
kind: ImageAssurancePolicy
metadata: {name: production}
spec:
  scope:
    image: {registry: registry.internal, tag: ["v*"]}
  rules:
    maxSeverity: medium
    ignoreVulnerabilities: [CVE-2024-3094]
    blockMalware: true
    requireNonRoot: true
    forbidSetuid: true
    allowSetuid: [/usr/bin/su]
---
apiVersion: mamori.dev/v1
kind: ImageAssurancePolicy
metadata: {name: everything-else}
spec:
  scope: {not: {image: {registry: registry.internal}}}
  rules: {blockLatestTag: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("%d policies", len(ps))
	}
	p := ps[0]
	r := p.Spec.Rules
	if r.MaxSeverity != "medium" || !r.BlockMalware || !r.RequireNonRoot || !r.AllowSetuid.Match("/usr/bin/su") || r.BlockSecrets {
		t.Errorf("rules %+v", r)
	}
	if got := p.At("spec.rules.requireNonRoot").String(); got != "images.yaml:11:21" {
		t.Errorf("position %s", got)
	}
	internal := ParseImageRef("registry.internal/shop/api:v1.2")
	hub := ParseImageRef("nginx:1.27")
	if !p.Matches(internal) || p.Matches(hub) || ps[1].Matches(internal) || !ps[1].Matches(hub) {
		t.Errorf("scopes: %v %v %v %v", p.Matches(internal), p.Matches(hub), ps[1].Matches(internal), ps[1].Matches(hub))
	}
}

func TestParseAssuranceErrors(t *testing.T) {
	cases := []struct{ doc, want string }{
		{"apiVersion: mamori.dev/v1\nkind: ImageAssurancePolicy\nmetadata: {name: x}\nspec:\n  scope: {image: {}}\n  rules: {maxSeverity: severe}\n",
			`x.yaml:6:24: unknown severity "severe"`},
		{"apiVersion: mamori.dev/v1\nkind: ImageAssurancePolicy\nmetadata: {name: x}\nspec:\n  scope: {image: {}}\n  rules: {blockMalwear: true}\n",
			`x.yaml:6:11: unknown key "blockMalwear" in rules; did you mean "blockMalware"?`},
		{"apiVersion: mamori.dev/v1\nkind: ImageAssurancePolicy\nmetadata: {name: x}\nspec:\n  scope: {container: {}}\n  rules: {blockMalware: true}\n",
			`x.yaml:5:11: an image assurance policy's scope selects images; container selectors do not apply`},
		{"apiVersion: mamori.dev/v1\nkind: ImageAssurancePolicy\nmetdata: {name: x}\n",
			`x.yaml:3:1: unknown key "metdata" in an ImageAssurancePolicy; did you mean "metadata"?`},
		{"apiVersion: mamori.dev/v1\nkind: ImageAssurancePolicy\nmetadata: {name: x}\nspec:\n  scope: {image: {}}\n",
			`x.yaml:4:1: spec.rules is missing`},
		{"apiVersion: mamori.dev/v1\nkind: ImageAssurancePolicy\nmetadata: {name: x}\nspec:\n  scope: {image: {}}\n  rules: {requireNonRoot: yes please}\n",
			`x.yaml:6:27: requireNonRoot must be true or false`},
		{"apiVersion: mamori.dev/v1\nkind: ImageAssurancePolicy\nmetadata: {name: x}\nspec:\n  scope: {image: {}}\n  rules: {allowSetuid: [/bin/su]}\n",
			`x.yaml:6:11: allowSetuid without forbidSetuid`},
	}
	for _, c := range cases {
		_, err := ParseAssurance("x.yaml", []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v\nwant %s", err, c.want)
		}
	}
}

func TestBuiltinAssurance(t *testing.T) {
	p := BuiltinAssurance()
	if !p.Builtin() || p.Spec.Rules.MaxSeverity != "high" || !p.Spec.Rules.BlockMalware || !p.Matches(ParseImageRef("anything:1")) {
		t.Errorf("built-in: %+v", p.Spec)
	}
	if !strings.HasPrefix(p.At("spec.rules.blockMalware").String(), BuiltinAssuranceFile+":") {
		t.Errorf("position %s", p.At("spec.rules.blockMalware"))
	}
}

func TestLoadAssurance(t *testing.T) {
	dir := t.TempDir()
	doc := "apiVersion: mamori.dev/v1\nkind: ImageAssurancePolicy\nmetadata: {name: same}\nspec:\n  scope: {image: {}}\n  rules: {blockMalware: true}\n"
	for _, f := range []string{"a.yaml", "b.yml"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := LoadAssurance(dir)
	if err == nil || !strings.Contains(err.Error(), `b.yml:3:18: policy name "same" already used at `+filepath.Join(dir, "a.yaml")+":3:18") {
		t.Errorf("duplicate names: %v", err)
	}
	if _, err := LoadAssurance(filepath.Join(dir, "none.yaml")); err == nil {
		t.Errorf("a missing file loads")
	}
	ps, err := LoadAssurance(filepath.Join(dir, "a.yaml"))
	if err != nil || len(ps) != 1 {
		t.Errorf("%v %v", ps, err)
	}
}

func FuzzParseAssurance(f *testing.F) {
	f.Add([]byte("apiVersion: mamori.dev/v1\nkind: ImageAssurancePolicy\nmetadata: {name: x}\nspec:\n  scope: {any: [{image: {tag: latest}}, {not: {image: {}}}]}\n  rules: {maxSeverity: none, ignoreVulnerabilities: [a], forbidSetuid: true, allowSetuid: '*'}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := ParseAssurance("f.yaml", data)
		for _, e := range Errors(err) {
			if e.Pos.File != "f.yaml" {
				t.Fatalf("error without the file: %v", e)
			}
		}
		for _, p := range ps {
			p.Matches(ParseImageRef("x/y:z"))
		}
	})
}

// TestMixedKinds: runtime and image assurance policies may share a file
// (and a directory): each loader takes its own kind and leaves the other.
func TestMixedKinds(t *testing.T) {
	doc := `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: rt}
spec:
  mode: audit
  scope: {container: {}}
  controls: {driftPrevention: {}}
---
apiVersion: mamori.dev/v1
kind: ImageAssurancePolicy
metadata: {name: img}
spec:
  scope: {image: {}}
  rules: {blockMalware: true}
`
	rt, err := Parse("mixed.yaml", []byte(doc))
	if err != nil || len(rt) != 1 || rt[0].Metadata.Name != "rt" {
		t.Errorf("Parse: %v, %d policies", err, len(rt))
	}
	img, err := ParseAssurance("mixed.yaml", []byte(doc))
	if err != nil || len(img) != 1 || img[0].Metadata.Name != "img" {
		t.Errorf("ParseAssurance: %v, %d policies", err, len(img))
	}
}
