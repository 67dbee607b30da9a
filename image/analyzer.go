package image

import (
	"context"
	"io"
	"io/fs"
)

// Analyzer is a check the caller plugs into a scan (an SBOM extractor, a
// vulnerability matcher, a malware or secret scanner). It implements
// FileAnalyzer, FSAnalyzer or both; the scan finds out which by type
// assertion. Analyzers run in the order Options lists them, so a
// vulnerability matcher placed after the SBOM extractor sees its packages.
type Analyzer interface {
	// Name says what raised a finding, in reports ("secrets", "clamav").
	Name() string
}

// FileAnalyzer looks at regular files while the layers are read: every
// version of every file, including those a later layer modifies or
// deletes (they still ship in the image). Findings without a Path or
// Layer get the file's.
type FileAnalyzer interface {
	Analyzer
	AnalyzeFile(ctx context.Context, f File, r io.Reader) ([]Finding, error)
}

// File describes the file a FileAnalyzer is given.
type File struct {
	Path   string      // absolute in the image
	Size   int64       //
	Mode   fs.FileMode // permissions with setuid/setgid/sticky
	Layer  int         // index of the layer it comes from
	SHA256 string      // hex
}

// FSAnalyzer looks at the final filesystem once all layers are read. fsys
// is the squashed image (symlinks inside it are followed inside it; it
// also implements fs.ReadLinkFS). It adds findings and packages to r.
type FSAnalyzer interface {
	Analyzer
	AnalyzeFS(ctx context.Context, fsys fs.FS, r *Report) error
}

// FileFilter is an optional interface for a FileAnalyzer that only wants
// some files: the scan skips reading a file again for an analyzer whose
// WantFile says no.
type FileFilter interface {
	WantFile(f File) bool
}
