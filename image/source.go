package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// source is an opened image: its identity, raw config and layers, ready to
// be read base first.
type source struct {
	transport string
	name      string // image name for the reference checks; "" for files
	digest    string // manifest digest, when there is one
	id        string // config digest
	config    []byte
	layers    []layerSource
	cleanup   func() error
}

// layerSource opens one layer. count is called with the bytes read as
// stored (compressed for a registry layer), for the progress bar.
type layerSource struct {
	info LayerInfo
	open func(count func(int64)) (layerReader, io.Closer, error)
}

// open finds the image a reference names.
func open(ctx context.Context, ref Ref, opts *Options) (*source, error) {
	switch ref.Transport {
	case Podman:
		return openPodman(opts.podmanRoot(), ref.Name)
	case Containerd:
		return openContainerd(opts.containerdRoot(), opts.containerdNamespace(), ref.Name, opts.platform())
	case OCI:
		return openLayout(ref.Name, ref.Tag, opts.platform())
	case Archive:
		return openArchive(ref.Name, opts)
	case Registry:
		return openRemote(ctx, ref.Name, opts)
	}
	src, err := openPodman(opts.podmanRoot(), ref.Name)
	if err == nil {
		return src, nil
	}
	if !errors.Is(err, errNotFound) {
		return nil, err
	}
	if fi, statErr := os.Stat(ref.Name); statErr == nil {
		hint := "archive:"
		if fi.IsDir() {
			hint = "oci:"
		}
		return nil, fmt.Errorf("%q is a local path, not an image name; write %s%s", ref.Name, hint, ref.Name)
	}
	src, rerr := openRemote(ctx, ref.Name, opts)
	if rerr != nil {
		return nil, fmt.Errorf("%s is not in podman's storage (%v), and from the registry: %w", ref.Name, err, rerr)
	}
	return src, nil
}

// errNotFound marks "no such image here", so a bare reference can try the
// next place.
var errNotFound = errors.New("image not found")

// fromV1 turns a go-containerregistry image into a source. A layer is read
// as stored and decompressed here, so that the progress bar counts the
// bytes that really move; uncompressed says the image's layers are plain
// tars that Uncompressed gives without work (a docker archive).
func fromV1(transport, name string, img v1.Image, uncompressed bool) (*source, error) {
	src := &source{transport: transport, name: name}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read image config: %w", err)
	}
	src.config = raw
	id, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("image config digest: %w", err)
	}
	src.id = id.String()
	if !uncompressed {
		d, err := img.Digest()
		if err != nil {
			return nil, fmt.Errorf("image digest: %w", err)
		}
		src.digest = d.String()
	}
	ls, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("image layers: %w", err)
	}
	for i, l := range ls {
		info := LayerInfo{Index: i}
		if mt, err := l.MediaType(); err == nil && !isLayer(mt) {
			return nil, fmt.Errorf("layer %d has media type %s, which is not a filesystem layer", i, mt)
		}
		if !uncompressed {
			if d, err := l.Digest(); err == nil {
				info.Digest = d.String()
			}
			if n, err := l.Size(); err == nil {
				info.Size = n
			}
		}
		src.layers = append(src.layers, layerSource{info: info, open: func(count func(int64)) (layerReader, io.Closer, error) {
			var rc io.ReadCloser
			var err error
			if uncompressed {
				rc, err = l.Uncompressed()
			} else {
				rc, err = l.Compressed()
			}
			if err != nil {
				return nil, nil, err
			}
			tr, err := decompress(&countingReader{r: rc, count: count})
			if err != nil {
				rc.Close()
				return nil, nil, err
			}
			return tarLayer{tr}, multiCloser{tr, rc}, nil
		}})
	}
	return src, nil
}

func isLayer(mt types.MediaType) bool {
	s := string(mt)
	return mt.IsLayer() || strings.Contains(s, "layer") || strings.Contains(s, "rootfs")
}

type countingReader struct {
	r     io.Reader
	count func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && c.count != nil {
		c.count(int64(n))
	}
	return n, err
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var errs []error
	for _, c := range m {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// platformOf parses "os/arch[/variant]"; empty means linux and the
// architecture mamori runs on.
func platformOf(s string) (v1.Platform, error) {
	if s == "" {
		return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, nil
	}
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("platform %q: %w", s, err)
	}
	return *p, nil
}

// pickManifest chooses the manifest for platform among an index's.
func pickManifest(im *v1.IndexManifest, want v1.Platform) (v1.Descriptor, error) {
	var seen []string
	for _, d := range im.Manifests {
		if d.Platform == nil {
			continue
		}
		seen = append(seen, d.Platform.String())
		if d.Platform.Satisfies(want) {
			return d, nil
		}
	}
	if len(im.Manifests) == 1 && im.Manifests[0].Platform == nil {
		return im.Manifests[0], nil
	}
	return v1.Descriptor{}, fmt.Errorf("no image for platform %s (the index has %s); choose one with --platform", want.String(), strings.Join(seen, ", "))
}
