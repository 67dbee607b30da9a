package container

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	"log/slog"
)

// The runtimes' metadata is written by podman and containerd, but from
// what users ask for: names, labels, annotations and image configs come
// from whoever runs a container or builds an image. These fuzzers lay out
// a runtime's files with arbitrary contents and read a container back:
// whatever the files hold, the reader answers with the container's id, an
// error, or both, and never panics.

const (
	fuzzCtrID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	fuzzImgID = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

// FuzzPodmanMetadata: libpod's container config in bolt_state.db,
// c/storage's containers.json and images.json, and the image's config.
func FuzzPodmanMetadata(f *testing.F) {
	f.Add([]byte(`{"id":"`+fuzzCtrID+`","name":"web","RawImageName":"localhost/app:1","rootfsImageID":"`+fuzzImgID+`","labels":{"app":"web"},"privileged":true,"createdTime":"2024-05-01T10:00:00Z"}`),
		[]byte(`[{"id":"`+fuzzCtrID+`","names":["web"],"image":"`+fuzzImgID+`","metadata":"{\"image-name\":\"localhost/app:1\"}"}]`),
		[]byte(`[{"id":"`+fuzzImgID+`","digest":"sha256:ab"}]`),
		[]byte(`{"os":"linux","architecture":"amd64","config":{"Labels":{"a":"b"}}}`))
	f.Add([]byte(`{"labels":null,"createdTime":"yesterday"}`), []byte(`[{"metadata":"{"}]`), []byte(`{}`), []byte(`[]`))
	f.Add([]byte(`null`), []byte(`null`), []byte(`null`), []byte(`null`))
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, config, containers, images, imageConfig []byte) {
		os.Remove(filepath.Join(root, "libpod", "bolt_state.db"))
		for _, d := range []string{"libpod", "overlay-containers", filepath.Join("overlay-images", fuzzImgID)} {
			os.MkdirAll(filepath.Join(root, d), 0o700)
		}
		db, err := bolt.Open(filepath.Join(root, "libpod", "bolt_state.db"), 0o600, noSync)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			ctr, err := tx.CreateBucketIfNotExists([]byte("ctr"))
			if err != nil {
				return err
			}
			b, err := ctr.CreateBucketIfNotExists([]byte(fuzzCtrID))
			if err != nil {
				return err
			}
			return b.Put([]byte("config"), config)
		})
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, "overlay-containers", "containers.json"), containers, 0o600)
		os.WriteFile(filepath.Join(root, "overlay-images", "images.json"), images, 0o600)
		os.WriteFile(filepath.Join(root, "overlay-images", fuzzImgID, bigDataFile("sha256:"+fuzzImgID)), imageConfig, 0o600)

		p := newPodmanStore(root, 0)
		c, _ := p.container(fuzzCtrID)
		if c == nil || c.ID != fuzzCtrID {
			t.Errorf("container() = %+v", c)
		}
		p.imageConfig(fuzzImgID)
		// With the DB unreadable, c/storage answers alone.
		os.WriteFile(filepath.Join(root, "libpod", "bolt_state.db"), config, 0o600)
		if c, _ := newPodmanStore(root, 0).container(fuzzCtrID); c == nil || c.ID != fuzzCtrID {
			t.Errorf("container() from c/storage = %+v", c)
		}
	})
}

// FuzzContainerdMetadata: the task's OCI bundle config.json, the
// container's record in meta.db (image name and labels) and the image's
// manifest or index in the content store.
func FuzzContainerdMetadata(f *testing.F) {
	f.Add([]byte(`{"annotations":{"io.kubernetes.cri.container-name":"nginx","io.kubernetes.cri.sandbox-name":"web","io.kubernetes.cri.sandbox-namespace":"shop"}}`),
		"docker.io/library/nginx:1", "app", "web",
		[]byte(`{"config":{"digest":"sha256:`+fuzzImgID+`"}}`))
	f.Add([]byte(`{"annotations":null}`), "", "", "",
		[]byte(`{"manifests":[{"digest":"sha256:`+fuzzImgID+`","platform":{"os":"linux","architecture":"amd64"}}]}`))
	f.Add([]byte(`[`), "x", "\x00", "\xff", []byte(`{"manifests":[]}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, bundle []byte, image, labelKey, labelValue string, manifest []byte) {
		state, root := filepath.Join(dir, "state"), filepath.Join(dir, "root")
		os.RemoveAll(state)
		os.RemoveAll(root)
		task := filepath.Join(state, "io.containerd.runtime.v2.task", "default", fuzzCtrID)
		os.MkdirAll(task, 0o700)
		os.WriteFile(filepath.Join(task, "config.json"), bundle, 0o600)
		sum := sha256.Sum256(manifest)
		digest := "sha256:" + hex.EncodeToString(sum[:])
		blobs := filepath.Join(root, "io.containerd.content.v1.content", "blobs", "sha256")
		os.MkdirAll(blobs, 0o700)
		os.WriteFile(filepath.Join(blobs, hex.EncodeToString(sum[:])), manifest, 0o600)
		// An index's platform manifest is the same blob again: nesting ends.
		os.WriteFile(filepath.Join(blobs, fuzzImgID), manifest, 0o600)
		metaDir := filepath.Join(root, "io.containerd.metadata.v1.bolt")
		os.MkdirAll(metaDir, 0o700)
		db, err := bolt.Open(filepath.Join(metaDir, "meta.db"), 0o600, noSync)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			ns, err := nested(tx, "v1", "default")
			if err != nil {
				return err
			}
			c, err := nestedCreate(ns, "containers", fuzzCtrID)
			if err != nil {
				return err
			}
			c.Put([]byte("image"), []byte(image))
			if labelKey != "" {
				l, err := c.CreateBucketIfNotExists([]byte("labels"))
				if err != nil {
					return err
				}
				l.Put([]byte(labelKey), []byte(labelValue))
			}
			if image != "" {
				tb, err := nestedCreate(ns, "images", image, "target")
				if err != nil {
					return err
				}
				tb.Put([]byte("digest"), []byte(digest))
			}
			return nil
		})
		db.Close()
		if err != nil {
			return // a name bbolt refuses (too long, empty)
		}
		s := newContainerdStore(state, root, slog.New(slog.DiscardHandler))
		defer s.close()
		c, _ := s.container("default", fuzzCtrID)
		if c == nil || c.ID != fuzzCtrID {
			t.Errorf("container() = %+v", c)
		}
	})
}

// noSync spares the fuzzers an fsync per input: the files are thrown away.
var noSync = &bolt.Options{NoSync: true, NoFreelistSync: true}

func nested(tx *bolt.Tx, names ...string) (*bolt.Bucket, error) {
	b, err := tx.CreateBucketIfNotExists([]byte(names[0]))
	if err != nil {
		return nil, err
	}
	return nestedCreate(b, names[1:]...)
}

func nestedCreate(b *bolt.Bucket, names ...string) (*bolt.Bucket, error) {
	for _, n := range names {
		var err error
		if b, err = b.CreateBucketIfNotExists([]byte(n)); err != nil {
			return nil, err
		}
	}
	return b, nil
}
