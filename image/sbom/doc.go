// Package sbom owns the software bill of materials of a filesystem tree:
// finding the OS packages (dpkg, apk, rpm) and language packages (Go
// binaries, Python distributions, npm packages) installed in it, naming
// each with its OSV ecosystem and package URL, and writing the list as
// CycloneDX or SPDX JSON.
//
// The entry point is Extract, which reads an io/fs.FS (an image's squashed
// filesystem, or a directory through os.DirFS) and never writes to it.
// WriteCycloneDX and WriteSPDX export what it found.
//
// It must not match vulnerabilities (package vuln does), open images or
// layers (package image does, and hands this one a filesystem), or print.
package sbom
