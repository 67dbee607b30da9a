package container

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// specPath is the container's OCI config.json: podman's bundle is the
// container's c/storage userdata directory, written before the runtime
// creates the container.
func (p *podmanStore) specPath(id string) (string, error) {
	if !isContainerID(id) {
		return "", fmt.Errorf("%q is not a podman container id", id)
	}
	return filepath.Join(p.root, "overlay-containers", id, "userdata", "config.json"), nil
}

// imageConfig reads the image's config from c/storage. The image's
// directory overlay-images/<id>/ holds its "big data" items, one file per
// key: the config under its digest, "sha256:<id>" for the images podman
// pulls and builds (an image's id is its config's digest); otherwise the
// manifest ("manifest") names the config's digest.
func (p *podmanStore) imageConfig(imageID string) (ImageConfig, error) {
	id := strings.TrimPrefix(imageID, "sha256:")
	if !isContainerID(id) {
		return ImageConfig{}, fmt.Errorf("%q is not a podman image id", imageID)
	}
	dir := filepath.Join(p.root, "overlay-images", id)
	var cfg imageConfigJSON
	err := readJSON(filepath.Join(dir, bigDataFile("sha256:"+id)), &cfg)
	if errors.Is(err, fs.ErrNotExist) {
		var m struct {
			Config struct {
				Digest string `json:"digest"`
			} `json:"config"`
		}
		if err = readJSON(filepath.Join(dir, bigDataFile("manifest")), &m); err != nil {
			return ImageConfig{}, err
		}
		if m.Config.Digest == "" {
			return ImageConfig{}, fmt.Errorf("the manifest of image %s names no config", id)
		}
		err = readJSON(filepath.Join(dir, bigDataFile(m.Config.Digest)), &cfg)
	}
	if err != nil {
		return ImageConfig{}, err
	}
	return cfg.facts(), nil
}

// bigDataFile is the file name c/storage gives a big-data key: the key
// itself when it is made of lower-case letters, digits and dots, otherwise
// "=" and the key in standard base64 (a digest's ':' is not safe in a
// file name everywhere).
func bigDataFile(key string) string {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c != '.' && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') {
			return "=" + base64.StdEncoding.EncodeToString([]byte(key))
		}
	}
	return key
}

// readJSON decodes a small JSON file.
func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := json.NewDecoder(io.LimitReader(f, maxSpecBytes)).Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}
