package image

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mamori-dev/mamori/image/malware"
	"github.com/mamori-dev/mamori/image/malware/clamdtest"
	"github.com/mamori-dev/mamori/image/secrets"
	"github.com/mamori-dev/mamori/image/vuln"
	"github.com/mamori-dev/mamori/policy"
)

// TestAnalyzers scans the planted image with a Debian package that the
// OSV fixture calls vulnerable and the EICAR test file added on top, with
// every analyzer wired in: the SBOM lists the package, the vulnerability
// matcher finds the fixture's advisory, a real clamd with the test's EICAR
// signatures catches the file, the secret scanner finds the AWS key that a
// later layer deleted, and the built-in policy refuses the image for each.
func TestAnalyzers(t *testing.T) {
	clamd := clamdtest.Start(t, clamdtest.Config{})
	cl, err := malware.NewClamd(malware.ClamdConfig{Address: clamd.Socket})
	if err != nil {
		t.Fatal(err)
	}
	db, err := vuln.Load(t.Context(), "vuln/testdata/osv", vuln.LoadConfig{})
	if err != nil {
		t.Fatal(err)
	}
	extra := tarOf(t,
		dir("etc/", 0o755), file("etc/os-release", 0o644, "ID=debian\nVERSION_ID=\"12\"\n"),
		dir("var/", 0o755), dir("var/lib/", 0o755), dir("var/lib/dpkg/", 0o755),
		file("var/lib/dpkg/status", 0o644, "Package: example\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\n\n"),
		dir("srv/", 0o755), file("srv/eicar.com", 0o644, string(clamdtest.EICAR())),
	)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(extra)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(plantedImage(t), l)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeLayout(t, img, "v1")
	analyzers := []Analyzer{
		SBOMAnalyzer{},
		VulnerabilityAnalyzer{DB: db},
		SecretAnalyzer{Scanner: secrets.New(secrets.Config{})},
		&MalwareAnalyzer{Scanner: malware.New(malware.Config{Clamd: cl})},
	}
	rep, err := Scan(context.Background(), "oci:"+dir, Options{Analyzers: analyzers, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rep.Packages, func(p Package) bool { return p.Name == "example" && p.Version == "1.0-1" && p.Ecosystem == "Debian:12" }) {
		t.Errorf("packages %+v", rep.Packages)
	}
	byCat := map[Category][]Finding{}
	for _, f := range rep.Findings {
		byCat[f.Category] = append(byCat[f.Category], f)
	}
	if v := byCat[Vulnerability]; len(v) == 0 || v[0].Rule != "MAMORI-DEB-2099-0001" || v[0].Severity != Critical || v[0].FixedIn != "1.0-2" || v[0].Analyzer != "vuln" {
		t.Errorf("vulnerabilities %+v", v)
	}
	if m := byCat[Malware]; len(m) != 1 || m[0].Path != "/srv/eicar.com" || m[0].Layer != 2 || !strings.Contains(m[0].Rule, clamdtest.EICARHashName) {
		t.Errorf("malware %+v", m)
	}
	var key *Finding
	for i, s := range byCat[Secret] {
		if s.Path == "/root/.aws/credentials" && s.Rule == "aws-access-key" {
			key = &byCat[Secret][i]
		}
	}
	if key == nil || key.Layer != 0 || key.Removed == nil || key.Removed.How != Deleted || key.Analyzer != "secrets" {
		t.Errorf("secrets %+v", byCat[Secret])
	}

	v := Judge(rep, nil)
	var rules []string
	for _, r := range v.Reasons {
		if !slices.Contains(rules, r.Rule) {
			rules = append(rules, r.Rule)
		}
	}
	slices.Sort(rules)
	if v.Compliant || !slices.Equal(rules, []string{"blockMalware", "blockSecrets", "blockWorldWritablePath", "maxSeverity"}) {
		t.Errorf("verdict %v, rules %v", v.Compliant, rules)
	}
	// A policy that ignores the advisory (by its CVE alias) and allows up
	// to high judges the vulnerability fine.
	ps, err := policy.ParseAssurance("p.yaml", []byte("apiVersion: mamori.dev/v1\nkind: ImageAssurancePolicy\nmetadata: {name: p}\nspec:\n  scope: {image: {}}\n  rules: {maxSeverity: high, ignoreVulnerabilities: [CVE-2099-0001]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	v = Judge(rep, ps)
	for _, r := range v.Reasons {
		if r.Finding.Rule == "MAMORI-DEB-2099-0001" {
			t.Errorf("an ignored advisory breaks the policy: %+v", r)
		}
	}
}
