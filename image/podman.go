package image

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mamori-dev/mamori/policy"
)

// podmanStorage reads an image from containers/storage as rootful podman
// keeps it (graph root /var/lib/containers/storage, overlay driver),
// without running podman:
//
//   - overlay-images/images.json: each image's id (its config digest),
//     names, manifest digest, top layer and big-data keys;
//   - overlay-images/<id>/<big-data file>: the config, stored under the
//     key "sha256:<id>" in a file named "=" + base64(key);
//   - overlay-layers/layers.json (and volatile-layers.json): each layer's
//     parent, diff digest and size;
//   - overlay/<layer id>/diff: the layer as a directory.
//
// Nothing is locked: podman rewrites the JSON files atomically, and an
// image removed during the scan fails it with an error.
type storageImage struct {
	ID       string   `json:"id"`
	Digest   string   `json:"digest"`
	Digests  []string `json:"digests"`
	Names    []string `json:"names"`
	Layer    string   `json:"layer"`
	BigNames []string `json:"big-data-names"`
}

type storageLayer struct {
	ID         string `json:"id"`
	Parent     string `json:"parent"`
	DiffDigest string `json:"diff-digest"`
	DiffSize   int64  `json:"diff-size"`
}

func openPodman(root, want string) (*source, error) {
	imagesPath := filepath.Join(root, "overlay-images", "images.json")
	var images []storageImage
	if err := readJSON(imagesPath, &images); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no podman storage at %s: %w", root, errNotFound)
		}
		return nil, err
	}
	img, name, err := findStorageImage(images, want)
	if err != nil {
		return nil, fmt.Errorf("podman storage %s: %w", root, err)
	}
	layers := map[string]storageLayer{}
	for _, f := range []string{"layers.json", "volatile-layers.json"} {
		var ls []storageLayer
		if err := readJSON(filepath.Join(root, "overlay-layers", f), &ls); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, l := range ls {
			layers[l.ID] = l
		}
	}
	var chain []storageLayer
	for id := img.Layer; id != ""; {
		l, ok := layers[id]
		if !ok {
			return nil, fmt.Errorf("podman image %s: layer %s is not in %s", img.ID, id, filepath.Join(root, "overlay-layers"))
		}
		if len(chain) > 1000 {
			return nil, fmt.Errorf("podman image %s: layer chain loops", img.ID)
		}
		chain = append(chain, l)
		id = l.Parent
	}
	cfgKey := ""
	for _, k := range img.BigNames {
		if k == "sha256:"+img.ID {
			cfgKey = k
		}
	}
	if cfgKey == "" {
		return nil, fmt.Errorf("podman image %s has no config in storage (big-data key sha256:%s)", img.ID, img.ID)
	}
	cfg, err := os.ReadFile(filepath.Join(root, "overlay-images", img.ID, bigDataFile(cfgKey)))
	if err != nil {
		return nil, fmt.Errorf("podman image %s config: %w", img.ID, err)
	}
	src := &source{transport: Podman, name: name, digest: img.Digest, id: "sha256:" + img.ID, config: cfg}
	for i := range chain {
		l := chain[len(chain)-1-i] // base first
		dir := filepath.Join(root, "overlay", l.ID, "diff")
		src.layers = append(src.layers, layerSource{
			info: LayerInfo{Index: i, DiffID: l.DiffDigest, Size: l.DiffSize},
			open: func(count func(int64)) (layerReader, io.Closer, error) {
				if _, err := os.Stat(dir); err != nil {
					return nil, nil, fmt.Errorf("podman layer %s: %w", l.ID, err)
				}
				return dirLayer{root: dir, count: count}, io.NopCloser(nil), nil
			},
		})
	}
	return src, nil
}

// findStorageImage looks an image up by name (as podman resolves short
// names to localhost/ and docker.io first), by id or id prefix of at least
// 12 hex digits, or by manifest digest.
func findStorageImage(images []storageImage, want string) (storageImage, string, error) {
	id := strings.TrimPrefix(want, "sha256:")
	var byID []storageImage
	for _, img := range images {
		if img.ID == id || len(id) >= 12 && isHex(id) && strings.HasPrefix(img.ID, id) {
			byID = append(byID, img)
		}
		if strings.HasPrefix(want, "sha256:") && (img.Digest == want || contains(img.Digests, want)) {
			return img, firstName(img), nil
		}
	}
	if len(byID) == 1 {
		return byID[0], firstName(byID[0]), nil
	}
	if len(byID) > 1 {
		return storageImage{}, "", fmt.Errorf("id %s is ambiguous: %d images start with it", want, len(byID))
	}
	cands := nameCandidates(want)
	for _, c := range cands {
		for _, img := range images {
			if contains(img.Names, c) {
				return img, c, nil
			}
			if base, digest, ok := strings.Cut(c, "@"); ok && (img.Digest == digest || contains(img.Digests, digest)) {
				for _, n := range img.Names {
					if strings.HasPrefix(n, base+":") || n == base {
						return img, c, nil
					}
				}
			}
		}
	}
	return storageImage{}, "", fmt.Errorf("no image named %s (tried %s): %w", want, strings.Join(cands, ", "), errNotFound)
}

// nameCandidates lists the full names a short name can mean locally.
func nameCandidates(s string) []string {
	out := []string{s}
	f := policy.ParseImageRef(s)
	if f.Name == "" {
		return out
	}
	suffix := ""
	switch {
	case f.Digest != "":
		suffix = "@" + f.Digest
	case f.Tag != "":
		suffix = ":" + f.Tag
	default:
		suffix = ":latest"
	}
	first, _, _ := strings.Cut(s, "/")
	explicit := strings.ContainsAny(first, ".:") && strings.Contains(s, "/") || first == "localhost"
	if !explicit {
		repo := strings.TrimSuffix(strings.TrimSuffix(s, "@"+f.Digest), ":"+f.Tag)
		out = append(out, "localhost/"+repo+suffix)
	}
	out = append(out, f.Name+suffix)
	return dedupe(out)
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func firstName(img storageImage) string {
	if len(img.Names) > 0 {
		return img.Names[0]
	}
	return ""
}

// bigDataFile is containers/storage's file name for a big-data key: the
// key itself when it is a plain word, else "=" and its base64.
func bigDataFile(key string) string {
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "=" + base64.StdEncoding.EncodeToString([]byte(key))
		}
	}
	return key
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
