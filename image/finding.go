package image

import "github.com/mamori-dev/mamori/image/sbom"

// Package is one OS or language package the SBOM analyzer found, as
// package sbom describes it (name, version, ecosystem, purl, location).
type Package = sbom.Package
