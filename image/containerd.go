package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	bolt "go.etcd.io/bbolt"
)

// openContainerd reads an image from containerd's local storage without
// containerd's API:
//
//   - <root>/io.containerd.metadata.v1.bolt/meta.db, bucket
//     v1/<namespace>/images/<name>/target: the digest and media type of
//     the image's manifest or index. A running containerd holds the DB's
//     lock, so a copy is read, as container/ does;
//   - <root>/io.containerd.content.v1.content/blobs/sha256/<hex>: the
//     index, manifests, config and compressed layers.
//
// containerd can be configured to discard layer blobs once unpacked
// (discard_unpacked_layers); such an image cannot be scanned from here.
func openContainerd(root, namespace, want, platform string) (*source, error) {
	db := filepath.Join(root, "io.containerd.metadata.v1.bolt", "meta.db")
	names, err := containerdImages(db, namespace)
	if err != nil {
		return nil, err
	}
	var target *containerdTarget
	cands := nameCandidates(want)
	for _, c := range cands {
		if t, ok := names[c]; ok {
			target = &t
			want = c
			break
		}
	}
	if target == nil {
		return nil, fmt.Errorf("containerd namespace %q has no image %s (tried %s; `ctr -n %s images ls` lists them): %w",
			namespace, want, strings.Join(cands, ", "), namespace, errNotFound)
	}
	store := blobDir(filepath.Join(root, "io.containerd.content.v1.content"))
	plat, err := platformOf(platform)
	if err != nil {
		return nil, err
	}
	img, err := store.image(target.digest, types.MediaType(target.mediaType), plat)
	if err != nil {
		return nil, fmt.Errorf("containerd image %s: %w", want, err)
	}
	src, err := fromV1(Containerd, want, img, false)
	if err != nil {
		return nil, fmt.Errorf("containerd image %s: %w", want, err)
	}
	return src, nil
}

type containerdTarget struct{ digest, mediaType string }

// containerdImages lists a namespace's images from a copy of meta.db.
func containerdImages(db, namespace string) (map[string]containerdTarget, error) {
	if _, err := os.Stat(db); err != nil {
		return nil, fmt.Errorf("no containerd metadata at %s: %w", db, errNotFound)
	}
	tmp, err := os.MkdirTemp("", "mamori-containerd-meta-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	cp := filepath.Join(tmp, "meta.db")
	if err := copyFile(cp, db); err != nil {
		return nil, fmt.Errorf("copy %s: %w", db, err)
	}
	bdb, err := bolt.Open(cp, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open copy of %s: %w", db, err)
	}
	defer bdb.Close()
	out := map[string]containerdTarget{}
	err = bdb.View(func(tx *bolt.Tx) (err error) {
		defer func() {
			// A copy torn by a concurrent write can make bbolt panic.
			if p := recover(); p != nil {
				err = fmt.Errorf("read copy of %s: %v", db, p)
			}
		}()
		b := tx.Bucket([]byte("v1"))
		if b != nil {
			b = b.Bucket([]byte(namespace))
		}
		if b != nil {
			b = b.Bucket([]byte("images"))
		}
		if b == nil {
			return fmt.Errorf("containerd namespace %q has no images in %s: %w", namespace, db, errNotFound)
		}
		return b.ForEach(func(k, _ []byte) error {
			ib := b.Bucket(k)
			if ib == nil {
				return nil
			}
			if tb := ib.Bucket([]byte("target")); tb != nil {
				out[string(k)] = containerdTarget{digest: string(tb.Get([]byte("digest"))), mediaType: string(tb.Get([]byte("mediatype")))}
			}
			return nil
		})
	})
	return out, err
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// blobDir is a content-addressed store laid out as blobs/sha256/<hex>:
// containerd's content store and an OCI layout's blobs.
type blobDir string

func (b blobDir) path(h v1.Hash) (string, error) {
	if h.Algorithm != "sha256" || len(h.Hex) != 64 || !isHex(h.Hex) {
		return "", fmt.Errorf("unsupported digest %s", h)
	}
	return filepath.Join(string(b), "blobs", "sha256", h.Hex), nil
}

// read returns a small blob (an index, a manifest, a config).
func (b blobDir) read(digest string) ([]byte, error) {
	h, err := v1.NewHash(digest)
	if err != nil {
		return nil, err
	}
	p, err := b.path(h)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("blob %s is missing from %s", digest, b)
		}
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 8<<20))
}

// image follows a manifest or index digest to a v1.Image.
func (b blobDir) image(digest string, mt types.MediaType, plat v1.Platform) (v1.Image, error) {
	for range 3 {
		raw, err := b.read(digest)
		if err != nil {
			return nil, err
		}
		if mt == "" {
			var probe struct {
				MediaType string          `json:"mediaType"`
				Manifests json.RawMessage `json:"manifests"`
			}
			_ = json.Unmarshal(raw, &probe)
			mt = types.MediaType(probe.MediaType)
			if mt == "" && probe.Manifests != nil {
				mt = types.OCIImageIndex
			}
		}
		if !mt.IsIndex() {
			return partial.CompressedToImage(&storedImage{store: b, manifest: raw, mediaType: mt})
		}
		im, err := v1.ParseIndexManifest(strings.NewReader(string(raw)))
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", digest, err)
		}
		d, err := pickManifest(im, plat)
		if err != nil {
			return nil, err
		}
		digest, mt = d.Digest.String(), d.MediaType
	}
	return nil, fmt.Errorf("indexes nested too deep at %s", digest)
}

// storedImage is an image whose manifest, config and layers are blobs of
// a blobDir.
type storedImage struct {
	store     blobDir
	manifest  []byte
	mediaType types.MediaType
	parsed    *v1.Manifest
}

func (s *storedImage) RawManifest() ([]byte, error)        { return s.manifest, nil }
func (s *storedImage) MediaType() (types.MediaType, error) { return s.mediaType, nil }

func (s *storedImage) man() (*v1.Manifest, error) {
	if s.parsed == nil {
		m, err := v1.ParseManifest(strings.NewReader(string(s.manifest)))
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		s.parsed = m
	}
	return s.parsed, nil
}

func (s *storedImage) RawConfigFile() ([]byte, error) {
	m, err := s.man()
	if err != nil {
		return nil, err
	}
	return s.store.read(m.Config.Digest.String())
}

func (s *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := s.man()
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if l.Digest == h {
			return &storedLayer{store: s.store, desc: l}, nil
		}
	}
	return nil, fmt.Errorf("layer %s not in the manifest", h)
}

type storedLayer struct {
	store blobDir
	desc  v1.Descriptor
}

func (l *storedLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *storedLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *storedLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

func (l *storedLayer) Compressed() (io.ReadCloser, error) {
	p, err := l.store.path(l.desc.Digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("layer blob %s is missing from %s (containerd may discard unpacked layers; pull the image again with its content kept)", l.desc.Digest, l.store)
	}
	return f, err
}
