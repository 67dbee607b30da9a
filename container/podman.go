package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/mamori-dev/mamori/event"
)

// podmanStore reads what rootful podman 4.x keeps on disk, without running
// podman. `podman create` writes all of it before the container's cgroup
// exists, so the first event of a container finds it:
//
//   - libpod/bolt_state.db, bucket ctr/<id>, key "config": the container's
//     JSON config with name, labels (image labels merged in), image name and
//     image id. podman opens this bolt DB for each operation and holds an
//     exclusive flock meanwhile; a read-only open takes a shared flock, so
//     it waits at most Config.BoltTimeout and is closed at once to never
//     block podman.
//   - overlay-containers/containers.json (c/storage): id, names, image id and,
//     in "metadata", the image name. The fallback when the DB is busy.
//   - overlay-images/images.json (c/storage): image id to manifest digest,
//     what `podman inspect` calls .ImageDigest.
type podmanStore struct {
	root        string // graph root, /var/lib/containers/storage
	boltTimeout time.Duration

	mu     sync.Mutex
	images cachedJSON[map[string]string] // image id -> digest
	ctrs   cachedJSON[map[string]storageContainer]
}

func newPodmanStore(root string, boltTimeout time.Duration) *podmanStore {
	return &podmanStore{
		root:        root,
		boltTimeout: boltTimeout,
		images:      cachedJSON[map[string]string]{path: filepath.Join(root, "overlay-images", "images.json"), decode: decodeImages},
		ctrs:        cachedJSON[map[string]storageContainer]{path: filepath.Join(root, "overlay-containers", "containers.json"), decode: decodeStorageContainers},
	}
}

// libpodConfig is the part of libpod's ContainerConfig that mamori reads.
type libpodConfig struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	RawImageName    string            `json:"RawImageName"`
	RootfsImageID   string            `json:"rootfsImageID"`
	RootfsImageName string            `json:"rootfsImageName"`
	Labels          map[string]string `json:"labels"`
	Privileged      bool              `json:"privileged"`
	CreatedTime     time.Time         `json:"createdTime"`
}

// container returns what podman knows about the container. On an error it
// still returns what it could learn, with ID always set.
func (p *podmanStore) container(id string) (*event.Container, error) {
	c := &event.Container{ID: id, Runtime: Podman}
	cfg, dbErr := p.readBolt(id)
	if dbErr == nil {
		c.Name = cfg.Name
		c.Image = cfg.RawImageName
		if c.Image == "" {
			c.Image = cfg.RootfsImageName
		}
		c.ImageID = cfg.RootfsImageID
		c.Labels = cfg.Labels
		c.Privileged = cfg.Privileged
		c.Created = cfg.CreatedTime
	} else {
		// c/storage knows all but the labels.
		ctrs, err := p.storageContainers()
		if err != nil {
			return c, errors.Join(dbErr, err)
		}
		sc, ok := ctrs[id]
		if !ok {
			return c, errors.Join(dbErr, fmt.Errorf("container %s not in %s", id, p.ctrs.path))
		}
		c.Name, c.Image, c.ImageID = sc.name, sc.imageName, sc.imageID
	}
	var digestErr error
	if c.ImageID != "" {
		c.ImageDigest, digestErr = p.imageDigest(c.ImageID)
	}
	return c, errors.Join(dbErr, digestErr)
}

func (p *podmanStore) readBolt(id string) (libpodConfig, error) {
	path := filepath.Join(p.root, "libpod", "bolt_state.db")
	db, err := openLocked(path, p.boltTimeout)
	if err != nil {
		return libpodConfig{}, err
	}
	defer db.Close()
	var cfg libpodConfig
	err = db.View(func(tx *bolt.Tx) error {
		ctrs := tx.Bucket([]byte("ctr"))
		if ctrs == nil {
			return fmt.Errorf("no ctr bucket")
		}
		b := ctrs.Bucket([]byte(id))
		if b == nil {
			return fmt.Errorf("container not in the DB")
		}
		raw := b.Get([]byte("config"))
		if raw == nil {
			return fmt.Errorf("container has no config")
		}
		return json.Unmarshal(raw, &cfg)
	})
	if err != nil {
		return libpodConfig{}, fmt.Errorf("read %s ctr/%s: %w", path, id, err)
	}
	return cfg, nil
}

// errLocked says that a runtime's database stayed locked by its owner
// longer than a lookup waits.
var errLocked = errors.New("locked by its owner")

// openLocked opens a bolt DB read-only, retrying its shared lock every
// millisecond for up to timeout. bbolt's own retry sleeps 50ms between
// tries, too coarse for an event path; podman holds its lock only for the
// length of one short transaction.
func openLocked(path string, timeout time.Duration) (*bolt.DB, error) {
	deadline := time.Now().Add(timeout)
	for {
		// Any positive Timeout makes bbolt try the lock exactly once.
		db, err := bolt.Open(path, 0, &bolt.Options{ReadOnly: true, Timeout: time.Nanosecond})
		if err == nil {
			return db, nil
		}
		if !errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("open %s: %w for over %v", path, errLocked, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func (p *podmanStore) imageDigest(imageID string) (string, error) {
	p.mu.Lock()
	images, err := p.images.get()
	p.mu.Unlock()
	if err != nil {
		return "", err
	}
	d, ok := images[imageID]
	if !ok {
		return "", fmt.Errorf("image %s not in %s", imageID, p.images.path)
	}
	return d, nil
}

func (p *podmanStore) storageContainers() (map[string]storageContainer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ctrs.get()
}

func decodeImages(data []byte) (map[string]string, error) {
	var images []struct {
		ID     string `json:"id"`
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal(data, &images); err != nil {
		return nil, err
	}
	m := make(map[string]string, len(images))
	for _, img := range images {
		m[img.ID] = img.Digest
	}
	return m, nil
}

type storageContainer struct {
	name, imageID, imageName string
}

func decodeStorageContainers(data []byte) (map[string]storageContainer, error) {
	var ctrs []struct {
		ID       string   `json:"id"`
		Names    []string `json:"names"`
		Image    string   `json:"image"`
		Metadata string   `json:"metadata"` // JSON in a string
	}
	if err := json.Unmarshal(data, &ctrs); err != nil {
		return nil, err
	}
	m := make(map[string]storageContainer, len(ctrs))
	for _, c := range ctrs {
		sc := storageContainer{imageID: c.Image}
		if len(c.Names) > 0 {
			sc.name = c.Names[0]
		}
		var md struct {
			ImageName string `json:"image-name"`
		}
		if json.Unmarshal([]byte(c.Metadata), &md) == nil {
			sc.imageName = md.ImageName
		}
		m[c.ID] = sc
	}
	return m, nil
}

// cachedJSON holds a decoded file and decodes it again only when its size or
// modification time changes. c/storage replaces these files by rename, so
// a reader never sees half a file.
type cachedJSON[T any] struct {
	path   string
	decode func([]byte) (T, error)

	value  T
	size   int64
	mtime  time.Time
	ino    uint64
	loaded bool
}

func (c *cachedJSON[T]) get() (T, error) {
	st, err := os.Stat(c.path)
	if err != nil {
		var zero T
		return zero, err
	}
	ino := inodeOf(st)
	if c.loaded && st.Size() == c.size && st.ModTime().Equal(c.mtime) && ino == c.ino {
		return c.value, nil
	}
	data, err := os.ReadFile(c.path)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := c.decode(data)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("decode %s: %w", c.path, err)
	}
	c.value, c.size, c.mtime, c.ino, c.loaded = v, st.Size(), st.ModTime(), ino, true
	return v, nil
}

func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
