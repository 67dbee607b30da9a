package image

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// openArchive reads an image archive: a docker archive (`docker save`,
// `podman save --format docker-archive`: manifest.json and layer tars) or
// an OCI archive (`podman save --format oci-archive`: an OCI layout in a
// tar). A file with both is read as a docker archive.
func openArchive(file string, opts *Options) (*source, error) {
	names, err := tarNames(file)
	if err != nil {
		return nil, err
	}
	switch {
	case names["manifest.json"]:
		img, err := tarball.ImageFromPath(file, nil)
		if err != nil {
			return nil, fmt.Errorf("docker archive %s: %w", file, err)
		}
		return fromV1(Archive, "", img, true)
	case names["index.json"] && names["oci-layout"]:
		dir, err := os.MkdirTemp(opts.TempDir, "mamori-oci-archive-")
		if err != nil {
			return nil, err
		}
		if err := untar(file, dir); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("OCI archive %s: %w", file, err)
		}
		src, err := openLayout(dir, "", opts.Platform)
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("OCI archive %s: %w", file, err)
		}
		src.transport = Archive
		src.cleanup = func() error { return os.RemoveAll(dir) }
		return src, nil
	}
	return nil, fmt.Errorf("%s is neither a docker archive (no manifest.json) nor an OCI archive (no index.json and oci-layout)", file)
}

// tarNames lists the top-level regular files of a tar.
func tarNames(file string) (map[string]bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: not a readable tar: %w", file, err)
		}
		names[cleanName(h.Name)] = true
	}
}

// untar extracts the regular files and directories of a tar below dir;
// names cannot climb out of it.
func untar(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		rel := cleanName(h.Name)
		if rel == "" {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(rel))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg, tar.TypeRegA:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		}
	}
}
