package sbom

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Extract lists the packages installed in fsys: OS packages from the dpkg,
// apk and rpm databases (named with the distribution from etc/os-release),
// Go modules compiled into executables, Python distributions (.dist-info
// and .egg-info), and npm packages (node_modules and package-lock.json).
//
// A file that cannot be read or parsed does not stop the scan: Extract
// returns what it found together with an *ExtractError naming each file
// it skipped. Any other error (the tree's root unreadable, ctx done) comes
// with no packages.
func Extract(ctx context.Context, fsys fs.FS) ([]Package, error) {
	var errs fileErrors
	d := readDistro(fsys)
	var pkgs []Package
	pkgs = append(pkgs, extractDpkg(fsys, d, &errs)...)
	pkgs = append(pkgs, extractAPK(fsys, d, &errs)...)
	pkgs = append(pkgs, extractRPM(ctx, fsys, d, &errs)...)

	var npm npmPackages
	err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			errs.add(p, err)
			return nil
		}
		if e.IsDir() {
			if skipDir(p) {
				return fs.SkipDir
			}
			return ctx.Err()
		}
		if !e.Type().IsRegular() {
			return nil
		}
		name := e.Name()
		parent := path.Base(path.Dir(p))
		switch {
		case name == "METADATA" && strings.HasSuffix(parent, ".dist-info"),
			name == "PKG-INFO" && (strings.HasSuffix(parent, ".egg-info") || parent == "EGG-INFO"),
			strings.HasSuffix(name, ".egg-info"):
			if pkg, ok := readPythonMetadata(fsys, p, &errs); ok {
				pkgs = append(pkgs, pkg)
			}
		case name == "package.json" && inNodeModules(p):
			npm.readPackageJSON(fsys, p, &errs)
		case name == "package-lock.json" && !strings.Contains(p, "node_modules/"):
			npm.readLockfile(fsys, p, &errs)
		default:
			pkgs = append(pkgs, readGoBinary(fsys, p, e, &errs)...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk filesystem: %w", err)
	}
	pkgs = append(pkgs, npm.packages()...)
	sortPackages(pkgs)
	return pkgs, errs.err()
}

// skipDir says whether a directory holds nothing installed: the kernel's
// and the package managers' own trees at the root of a host filesystem.
func skipDir(p string) bool {
	switch p {
	case "proc", "sys", "dev", "var/lib/dpkg", "lib/apk", "var/lib/rpm", "usr/lib/sysimage/rpm":
		return true
	}
	return false
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// FileError is a file that Extract could not read or parse.
type FileError struct {
	Path string // inside the scanned tree, starting with "/"
	Err  error
}

func (e FileError) Error() string { return e.Path + ": " + e.Err.Error() }

// ExtractError lists the files Extract skipped. The packages returned with
// it are still valid.
type ExtractError struct {
	Files []FileError
}

func (e *ExtractError) Error() string {
	const show = 3
	var b strings.Builder
	fmt.Fprintf(&b, "%d file(s) could not be read for the SBOM: ", len(e.Files))
	for i, f := range e.Files {
		if i == show {
			fmt.Fprintf(&b, "; and %d more", len(e.Files)-show)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	return b.String()
}

// Unwrap gives the files' errors to errors.Is and errors.As.
func (e *ExtractError) Unwrap() []error {
	out := make([]error, len(e.Files))
	for i, f := range e.Files {
		out[i] = f
	}
	return out
}

// fileErrors collects the files skipped during one Extract.
type fileErrors []FileError

func (fe *fileErrors) add(p string, err error) {
	*fe = append(*fe, FileError{Path: "/" + strings.TrimPrefix(p, "/"), Err: err})
}

func (fe fileErrors) err() error {
	if len(fe) == 0 {
		return nil
	}
	return &ExtractError{Files: fe}
}
