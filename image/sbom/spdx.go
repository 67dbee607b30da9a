package sbom

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The SPDX 2.3 JSON document, limited to what WriteSPDX fills in. Field
// names follow the SPDX 2.3 JSON schema.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	DocumentDescribes []string           `json:"documentDescribes"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID                string            `json:"SPDXID"`
	Name                  string            `json:"name"`
	VersionInfo           string            `json:"versionInfo,omitempty"`
	DownloadLocation      string            `json:"downloadLocation"`
	FilesAnalyzed         bool              `json:"filesAnalyzed"`
	SourceInfo            string            `json:"sourceInfo,omitempty"`
	PrimaryPackagePurpose string            `json:"primaryPackagePurpose,omitempty"`
	ExternalRefs          []spdxExternalRef `json:"externalRefs,omitempty"`
	Comment               string            `json:"comment,omitempty"`
}

type spdxExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

// spdxNoAssertion is SPDX's word for "this tool did not look".
const spdxNoAssertion = "NOASSERTION"

var spdxIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// WriteSPDX writes pkgs as an SPDX 2.3 JSON document: the subject is a
// CONTAINER package the document describes, and it CONTAINS each package,
// named by its package URL (a PACKAGE-MANAGER external reference) with its
// location in the package comment.
func WriteSPDX(w io.Writer, subject Subject, pkgs []Package) error {
	name := subject.Name
	if name == "" {
		name = "unnamed"
	}
	doc := spdxDocument{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              name,
		DocumentNamespace: "https://github.com/mamori-dev/mamori/spdx/" + spdxIDUnsafe.ReplaceAllString(name, "-") + "-" + uuid.NewString(),
		CreationInfo: spdxCreationInfo{
			Created:  time.Now().UTC().Format(time.RFC3339),
			Creators: []string{"Tool: mamori"},
		},
		DocumentDescribes: []string{"SPDXRef-subject"},
		Packages: []spdxPackage{{
			SPDXID:                "SPDXRef-subject",
			Name:                  name,
			VersionInfo:           subject.Version,
			DownloadLocation:      spdxNoAssertion,
			PrimaryPackagePurpose: "CONTAINER",
		}},
		Relationships: []spdxRelationship{{
			SPDXElementID: "SPDXRef-DOCUMENT", RelationshipType: "DESCRIBES", RelatedSPDXElement: "SPDXRef-subject",
		}},
	}
	for i, p := range pkgs {
		id := fmt.Sprintf("SPDXRef-%s-%s-%d", p.Type, spdxIDUnsafe.ReplaceAllString(p.Name, "-"), i+1)
		sp := spdxPackage{
			SPDXID:                id,
			Name:                  p.Name,
			VersionInfo:           p.Version,
			DownloadLocation:      spdxNoAssertion,
			PrimaryPackagePurpose: "LIBRARY",
			Comment:               "found in " + p.Location,
		}
		if p.SourceName != "" {
			sp.SourceInfo = strings.TrimSpace("built from source package " + p.SourceName + " " + p.SourceVersion)
		}
		if p.PURL != "" {
			sp.ExternalRefs = []spdxExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: p.PURL}}
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, spdxRelationship{
			SPDXElementID: "SPDXRef-subject", RelationshipType: "CONTAINS", RelatedSPDXElement: id,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write SPDX: %w", err)
	}
	return nil
}
