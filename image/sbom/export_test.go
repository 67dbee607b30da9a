package sbom

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

func exportFixture(t *testing.T) []Package {
	pkgs := extract(t, "testdata/lang")
	alpine := extract(t, "testdata/alpine")
	pkgs = append(pkgs, alpine...)
	// The same package installed twice must still get distinct references.
	return append(pkgs, pkgs[0])
}

func TestCycloneDX(t *testing.T) {
	pkgs := exportFixture(t)
	var buf bytes.Buffer
	if err := WriteCycloneDX(&buf, Subject{Name: "example.invalid/app:1", Version: "sha256:00"}, pkgs); err != nil {
		t.Fatal(err)
	}
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(&buf, cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.SpecVersion != cdx.SpecVersion1_6 || !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") {
		t.Errorf("header: format %q spec %v serial %q", bom.BOMFormat, bom.SpecVersion, bom.SerialNumber)
	}
	if bom.Metadata == nil || bom.Metadata.Component == nil || bom.Metadata.Component.Type != cdx.ComponentTypeContainer || bom.Metadata.Component.Version != "sha256:00" {
		t.Fatalf("metadata: %+v", bom.Metadata)
	}
	if _, err := time.Parse(time.RFC3339, bom.Metadata.Timestamp); err != nil {
		t.Errorf("timestamp: %v", err)
	}
	if bom.Components == nil || len(*bom.Components) != len(pkgs) {
		t.Fatalf("components: got %v, want %d", bom.Components, len(pkgs))
	}
	refs := map[string]bool{}
	for i, c := range *bom.Components {
		p := pkgs[i]
		if c.Name != p.Name || c.Version != p.Version || c.PackageURL != p.PURL {
			t.Errorf("component %d: %s %s %s, want %s %s %s", i, c.Name, c.Version, c.PackageURL, p.Name, p.Version, p.PURL)
		}
		if c.Evidence == nil || c.Evidence.Occurrences == nil || (*c.Evidence.Occurrences)[0].Location != p.Location {
			t.Errorf("component %d: no occurrence at %s", i, p.Location)
		}
		if refs[c.BOMRef] {
			t.Errorf("bom-ref %q repeated", c.BOMRef)
		}
		refs[c.BOMRef] = true
	}
	deps := (*bom.Dependencies)[0]
	if deps.Ref != "subject" || len(*deps.Dependencies) != len(pkgs) {
		t.Errorf("dependencies of the subject: %+v", deps)
	}
	for _, d := range *deps.Dependencies {
		if !refs[d] {
			t.Errorf("dependency %q names no component", d)
		}
	}
}

// TestSPDXRequiredFields checks the document against the fields SPDX 2.3
// requires (clauses 6 and 7 of the specification) and the JSON schema's
// shapes for identifiers and references.
func TestSPDXRequiredFields(t *testing.T) {
	pkgs := exportFixture(t)
	var buf bytes.Buffer
	if err := WriteSPDX(&buf, Subject{Name: "example.invalid/app:1", Version: "sha256:00"}, pkgs); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	str := func(m map[string]any, k string) string {
		s, _ := m[k].(string)
		return s
	}
	for k, want := range map[string]string{"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT"} {
		if got := str(doc, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if str(doc, "name") == "" {
		t.Error("document name missing")
	}
	if ns := str(doc, "documentNamespace"); !regexp.MustCompile(`^https://[^#\s]+$`).MatchString(ns) {
		t.Errorf("documentNamespace %q is not a URI without '#'", ns)
	}
	ci, _ := doc["creationInfo"].(map[string]any)
	if _, err := time.Parse("2006-01-02T15:04:05Z", str(ci, "created")); err != nil {
		t.Errorf("creationInfo.created: %v", err)
	}
	creators, _ := ci["creators"].([]any)
	if len(creators) == 0 || !regexp.MustCompile(`^(Tool|Organization|Person): .+`).MatchString(creators[0].(string)) {
		t.Errorf("creators %v", creators)
	}
	idPattern := regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.-]+$`)
	ids := map[string]bool{"SPDXRef-DOCUMENT": true}
	packages, _ := doc["packages"].([]any)
	if len(packages) != len(pkgs)+1 {
		t.Fatalf("%d packages, want %d and the subject", len(packages), len(pkgs))
	}
	purls := 0
	for _, x := range packages {
		p := x.(map[string]any)
		id := str(p, "SPDXID")
		if !idPattern.MatchString(id) || ids[id] {
			t.Errorf("SPDXID %q invalid or repeated", id)
		}
		ids[id] = true
		if str(p, "name") == "" || str(p, "downloadLocation") == "" {
			t.Errorf("package %s lacks name or downloadLocation", id)
		}
		if fa, ok := p["filesAnalyzed"].(bool); !ok || fa {
			t.Errorf("package %s: filesAnalyzed must be false without a verification code", id)
		}
		refs, _ := p["externalRefs"].([]any)
		for _, r := range refs {
			r := r.(map[string]any)
			if str(r, "referenceCategory") != "PACKAGE-MANAGER" || str(r, "referenceType") != "purl" || !strings.HasPrefix(str(r, "referenceLocator"), "pkg:") {
				t.Errorf("package %s: external ref %v", id, r)
			}
			purls++
		}
	}
	if purls != len(pkgs) {
		t.Errorf("%d purl references, want %d", purls, len(pkgs))
	}
	rels, _ := doc["relationships"].([]any)
	describes := false
	for _, x := range rels {
		r := x.(map[string]any)
		if !ids[str(r, "spdxElementId")] || !ids[str(r, "relatedSpdxElement")] {
			t.Errorf("relationship %v names an unknown element", r)
		}
		describes = describes || (str(r, "spdxElementId") == "SPDXRef-DOCUMENT" && str(r, "relationshipType") == "DESCRIBES")
	}
	if !describes {
		t.Error("the document DESCRIBES nothing")
	}
}
