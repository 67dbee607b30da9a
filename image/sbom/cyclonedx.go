package sbom

import (
	"fmt"
	"io"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"
)

// Subject names what an SBOM describes, typically an image.
type Subject struct {
	Name    string // e.g. the image reference "docker.io/library/debian:12"
	Version string // e.g. the image digest "sha256:..."
}

// WriteCycloneDX writes pkgs as a CycloneDX 1.6 JSON document describing
// subject as a container. Each package is a library component with its
// package URL, its location as an evidence occurrence, and its ecosystem
// and source package as mamori: properties.
func WriteCycloneDX(w io.Writer, subject Subject, pkgs []Package) error {
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuid.NewString()
	bom.Metadata = &cdx.Metadata{
		Timestamp: time.Now().UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{
			{Type: cdx.ComponentTypeApplication, Name: "mamori"},
		}},
		Component: &cdx.Component{
			BOMRef:  "subject",
			Type:    cdx.ComponentTypeContainer,
			Name:    subject.Name,
			Version: subject.Version,
		},
	}
	refs := uniqueRefs(pkgs)
	comps := make([]cdx.Component, len(pkgs))
	deps := make([]string, len(pkgs))
	for i, p := range pkgs {
		var props []cdx.Property
		addProp := func(name, value string) {
			if value != "" {
				props = append(props, cdx.Property{Name: "mamori:" + name, Value: value})
			}
		}
		addProp("type", string(p.Type))
		addProp("ecosystem", p.Ecosystem)
		addProp("source-name", p.SourceName)
		addProp("source-version", p.SourceVersion)
		addProp("arch", p.Arch)
		comps[i] = cdx.Component{
			BOMRef:     refs[i],
			Type:       cdx.ComponentTypeLibrary,
			Name:       p.Name,
			Version:    p.Version,
			PackageURL: p.PURL,
			Properties: &props,
			Evidence: &cdx.Evidence{
				Occurrences: &[]cdx.EvidenceOccurrence{{Location: p.Location}},
			},
		}
		deps[i] = refs[i]
	}
	bom.Components = &comps
	bom.Dependencies = &[]cdx.Dependency{{Ref: "subject", Dependencies: &deps}}
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return fmt.Errorf("write CycloneDX: %w", err)
	}
	return nil
}

// uniqueRefs gives each package a reference unique in the document: its
// package URL, with "#2", "#3"... when the same package is installed in
// several places.
func uniqueRefs(pkgs []Package) []string {
	seen := map[string]int{}
	refs := make([]string, len(pkgs))
	for i, p := range pkgs {
		base := p.PURL
		if base == "" {
			base = string(p.Type) + ":" + p.Name
		}
		seen[base]++
		refs[i] = base
		if n := seen[base]; n > 1 {
			refs[i] = fmt.Sprintf("%s#%d", base, n)
		}
	}
	return refs
}
