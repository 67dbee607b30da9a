package vuln

import (
	"os/exec"
	"testing"

	"github.com/google/osv-scalibr/semantic"
)

// orderings lists versions in ascending order per ecosystem, each list
// written from that ecosystem's documented rules. Entries in one inner
// slice are equal.
var orderings = map[string][][]string{
	// deb-version(7): epoch first; then upstream and revision compared
	// in alternating non-digit and digit parts, letters before other
	// characters, "~" before anything, even the end of the string.
	"Debian": {
		{"1.0~~"}, {"1.0~~a"}, {"1.0~"}, {"1.0~rc1"}, {"1.0"}, {"1.0a"}, {"1.0+dfsg"}, {"1.0.1"},
		{"1.0.1-1~bpo12+1"}, {"1.0.1-1"}, {"1.0.1-1+deb12u1"}, {"1.0.1-2"}, {"1.0.1-10"},
		{"1.1~rc1-1"}, {"1.1-1"}, {"1.9-1", "0:1.9-1"}, {"1.10-1"}, {"1:0.1-1"}, {"2:0.0.1"},
	},
	// apk-tools' version ordering: numbers compared numerically, a
	// letter after a number, pre-release suffixes (_alpha, _beta, _pre,
	// _rc) before the release, _p (patch) after it, then -rN revisions.
	"Alpine": {
		{"1.0_alpha1"}, {"1.0_alpha2"}, {"1.0_beta1"}, {"1.0_pre1"}, {"1.0_rc1"}, {"1.0", "1.0-r0"},
		{"1.0-r1"}, {"1.0-r10"}, {"1.0.1"}, {"1.0.1a"}, {"1.2"}, {"1.10"},
		{"3.3.1-r3"}, {"3.3.2-r0"}, {"3.3.10-r0"}, {"20240101"},
	},
	// PEP 440: epoch, release, then .devN < aN < bN < rcN < release <
	// .postN; local versions (+...) above their public version; release
	// segments compared numerically with implied zeros; names are case
	// and spelling insensitive.
	"PyPI": {
		{"1.0.dev1"}, {"1.0a1.dev3"}, {"1.0a1", "1.0alpha1", "1.0.0a1"}, {"1.0a2"}, {"1.0a10"},
		{"1.0b1"}, {"1.0rc1", "1.0c1", "1.0RC1"}, {"1.0", "1.0.0", "1.0.0.0"}, {"1.0+local.1"},
		{"1.0.post1.dev1"}, {"1.0.post1", "1.0-1"}, {"1.0.1"}, {"1.1.dev1"}, {"1.10"}, {"1!0.1"},
	},
	// SemVer 2.0.0 §11: pre-releases below the release, identifiers
	// compared dot by dot, numeric ones numerically and below
	// alphanumeric ones; build metadata ignored.
	"npm": {
		{"0.9.9"}, {"1.0.0-alpha"}, {"1.0.0-alpha.1"}, {"1.0.0-alpha.beta"}, {"1.0.0-beta"},
		{"1.0.0-beta.2"}, {"1.0.0-beta.11"}, {"1.0.0-rc.1"}, {"1.0.0", "1.0.0+build.5"}, {"1.0.1"},
		{"1.2.0"}, {"1.10.0"}, {"2.0.0"},
	},
	// Go module versions: SemVer with a "v"; pseudo-versions are
	// pre-releases of the next patch.
	"Go": {
		{"v0.0.0-20170915032832-14c0d48ead0c"}, {"v0.3.7", "0.3.7"}, {"v0.3.8-0.20220101000000-abcdefabcdef"},
		{"v0.3.8"}, {"v1.21.0-rc.2"}, {"v1.21.0"}, {"v1.26.8"}, {"v2.0.0+incompatible", "v2.0.0"},
	},
}

func compare(t *testing.T, eco, a, b string) int {
	t.Helper()
	v, err := parseVersion(a, eco)
	if err != nil {
		t.Fatalf("%s: parse %q: %v", eco, a, err)
	}
	w, err := parseVersion(b, eco)
	if err != nil {
		t.Fatalf("%s: parse %q: %v", eco, b, err)
	}
	c, err := v.Compare(w)
	if err != nil {
		t.Fatalf("%s: compare %q with %q: %v", eco, a, b, err)
	}
	return c
}

// TestVersionOrdering checks every pair of each table in both directions.
func TestVersionOrdering(t *testing.T) {
	for eco, groups := range orderings {
		for i, gi := range groups {
			for j, gj := range groups {
				for _, a := range gi {
					for _, b := range gj {
						want := 0
						switch {
						case i < j:
							want = -1
						case i > j:
							want = 1
						}
						if got := compare(t, eco, a, b); got != want {
							t.Errorf("%s: compare(%q, %q) = %d, want %d", eco, a, b, got, want)
						}
					}
				}
			}
		}
	}
}

// TestDebianOrderingAgreesWithDpkg asks this machine's dpkg about each
// neighbouring pair of the Debian table (the table test covers every
// pair against the table): the comparison matching uses must be dpkg's.
func TestDebianOrderingAgreesWithDpkg(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg is not installed")
	}
	var all []string
	for _, g := range orderings["Debian"] {
		all = append(all, g...)
	}
	for i := range len(all) - 1 {
		a, b := all[i], all[i+1]
		rel := 1
		if exec.Command(dpkg, "--compare-versions", a, "lt", b).Run() == nil {
			rel = -1
		} else if exec.Command(dpkg, "--compare-versions", a, "eq", b).Run() == nil {
			rel = 0
		}
		if got := compare(t, "Debian", a, b); got != rel {
			t.Errorf("compare(%q, %q) = %d, dpkg says %d", a, b, got, rel)
		}
		if rel == 1 {
			t.Errorf("the table has %q before %q, dpkg says it is greater", a, b)
		}
	}
}

// FuzzVersionOrder: parsing and comparing any strings must not panic, and
// the comparison must be a total order on what parses: reflexive,
// antisymmetric and transitive.
func FuzzVersionOrder(f *testing.F) {
	ecosystems := []string{"Debian", "Alpine", "PyPI", "npm", "Go"}
	for i, eco := range ecosystems {
		g := orderings[eco]
		f.Add(uint8(i), g[0][0], g[len(g)/2][0], g[len(g)-1][0])
	}
	f.Add(uint8(0), "1:", "~", "-")
	f.Add(uint8(2), "1!", "1.0+", "v1.0.post")
	f.Fuzz(func(t *testing.T, which uint8, a, b, c string) {
		eco := ecosystems[int(which)%len(ecosystems)]
		var vs []semantic.Version
		for _, s := range []string{a, b, c} {
			v, err := parseVersion(s, eco)
			if err != nil {
				return
			}
			vs = append(vs, v)
		}
		cmp := func(x, y semantic.Version) int {
			r, err := x.Compare(y)
			if err != nil {
				t.Fatalf("%s: compare: %v", eco, err)
			}
			return r
		}
		for i := range vs {
			if r := cmp(vs[i], vs[i]); r != 0 {
				t.Fatalf("%s: %q compared with itself = %d", eco, []string{a, b, c}[i], r)
			}
			for j := range vs {
				if cmp(vs[i], vs[j]) != -cmp(vs[j], vs[i]) {
					t.Fatalf("%s: not antisymmetric: %q %q", eco, []string{a, b, c}[i], []string{a, b, c}[j])
				}
			}
		}
		// Transitivity over every ordering of the three.
		for _, p := range [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
			x, y, z := vs[p[0]], vs[p[1]], vs[p[2]]
			if cmp(x, y) <= 0 && cmp(y, z) <= 0 && cmp(x, z) > 0 {
				t.Fatalf("%s: not transitive: %q <= %q <= %q but %q > %q", eco, a, b, c, a, c)
			}
		}
	})
}
