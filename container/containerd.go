package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mamori-dev/mamori/event"
)

// containerdStore reads what containerd 1.6 keeps on disk:
//
//   - <state>/io.containerd.runtime.v2.task/<namespace>/<id>/config.json, the
//     OCI bundle written before the task (and its cgroup) is created; its
//     annotations carry the CRI's pod identity and, for `ctr run`, the
//     container labels.
//   - <root>/io.containerd.metadata.v1.bolt/meta.db, the metadata DB with
//     each container's image and labels and each image's manifest digest.
//     containerd holds an exclusive flock on it for as long as it runs, so
//     it is read from a private copy, taken again when a container is
//     missing from the copy and the DB has changed since.
//   - <root>/io.containerd.content.v1.content/blobs/sha256/<hex>, the image
//     manifest, for the image id (the config digest).
type containerdStore struct {
	state, root string
	log         *slog.Logger

	mu       sync.Mutex
	tmpDir   string
	snap     *bolt.DB
	snapSize int64
	snapTime time.Time
}

func newContainerdStore(state, root string, log *slog.Logger) *containerdStore {
	return &containerdStore{state: state, root: root, log: log}
}

func (s *containerdStore) tasks() string {
	return filepath.Join(s.state, "io.containerd.runtime.v2.task")
}

// find returns the namespace of the task with the id, looking in every
// namespace when ns is empty (kubepods paths do not carry it).
func (s *containerdStore) find(ns, id string) (string, bool) {
	if ns != "" {
		return ns, exists(filepath.Join(s.tasks(), ns, id, "config.json"))
	}
	dirs, err := os.ReadDir(s.tasks())
	if err != nil {
		return "", false
	}
	for _, d := range dirs {
		if exists(filepath.Join(s.tasks(), d.Name(), id, "config.json")) {
			return d.Name(), true
		}
	}
	return "", false
}

// CRI annotations on the OCI spec of a Kubernetes container.
const (
	criContainerName = "io.kubernetes.cri.container-name"
	criSandboxName   = "io.kubernetes.cri.sandbox-name"
	criSandboxNS     = "io.kubernetes.cri.sandbox-namespace"
	criSandboxUID    = "io.kubernetes.cri.sandbox-uid"
	criImageName     = "io.kubernetes.cri.image-name"
)

func (s *containerdStore) container(ns, id string) (*event.Container, error) {
	c := &event.Container{ID: id, Name: id, Runtime: Containerd}
	var errs []error

	spec := filepath.Join(s.tasks(), ns, id, "config.json")
	var bundle struct {
		Annotations map[string]string `json:"annotations"`
	}
	if data, err := os.ReadFile(spec); err != nil {
		errs = append(errs, err)
	} else if err := json.Unmarshal(data, &bundle); err != nil {
		errs = append(errs, fmt.Errorf("decode %s: %w", spec, err))
	}
	a := bundle.Annotations
	if n := a[criContainerName]; n != "" {
		c.Name = n
	}
	c.Image = a[criImageName]

	md, err := s.metadata(ns, id)
	if err != nil {
		errs = append(errs, err)
	}
	if md.image != "" {
		c.Image = md.image
	}
	c.ImageDigest, c.ImageID = md.imageDigest, md.imageID
	labels := map[string]string{}
	maps.Copy(labels, md.labels)
	// The CRI keeps the pod identity in annotations; present it as the
	// labels other runtimes use, so podOf reads one vocabulary.
	for k, l := range map[string]string{
		criSandboxName: "io.kubernetes.pod.name", criSandboxNS: "io.kubernetes.pod.namespace",
		criContainerName: "io.kubernetes.container.name", criSandboxUID: "io.kubernetes.pod.uid",
	} {
		if v := a[k]; v != "" && labels[l] == "" {
			labels[l] = v
		}
	}
	if md.labels == nil {
		// Without the DB, `ctr run` labels are still in the annotations.
		for k, v := range a {
			if _, ok := labels[k]; !ok {
				labels[k] = v
			}
		}
	}
	if len(labels) > 0 {
		c.Labels = labels
	}
	c.Pod = podOf(labels)
	if sandbox := a[criSandboxID]; c.Pod != nil && sandbox != "" && sandbox != id {
		pod, err := s.sandboxLabels(ns, sandbox)
		if err != nil {
			errs = append(errs, fmt.Errorf("labels of pod sandbox %s: %w", sandbox, err))
		} else if len(pod) > 0 {
			c.Pod.Labels = pod
		}
	}
	return c, errors.Join(errs...)
}

type containerdMeta struct {
	image, imageDigest, imageID string
	labels                      map[string]string
}

// metadata reads the container from the DB copy, refreshing the copy once
// if the container is not in it.
func (s *containerdStore) metadata(ns, id string) (containerdMeta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap != nil {
		if md, err := s.readMeta(ns, id); err == nil {
			return md, nil
		}
	}
	if err := s.refresh(); err != nil {
		return containerdMeta{}, err
	}
	return s.readMeta(ns, id)
}

func (s *containerdStore) readMeta(ns, id string) (md containerdMeta, err error) {
	defer func() {
		// A copy torn by a concurrent write can make bbolt panic on a bad
		// page; that is a failed read, not a crash.
		if p := recover(); p != nil {
			err = fmt.Errorf("read containerd metadata copy: %v", p)
		}
	}()
	err = s.snap.View(func(tx *bolt.Tx) error {
		nsb := bucket(tx, "v1", ns)
		if nsb == nil {
			return fmt.Errorf("containerd namespace %s not in meta.db", ns)
		}
		cb := nestedBucket(nsb, "containers", id)
		if cb == nil {
			return fmt.Errorf("containerd container %s/%s not in meta.db", ns, id)
		}
		md.image = string(cb.Get([]byte("image")))
		if lb := cb.Bucket([]byte("labels")); lb != nil {
			md.labels = map[string]string{}
			_ = lb.ForEach(func(k, v []byte) error {
				md.labels[string(k)] = string(v)
				return nil
			})
		}
		if md.image == "" {
			return nil
		}
		if tb := nestedBucket(nsb, "images", md.image, "target"); tb != nil {
			md.imageDigest = string(tb.Get([]byte("digest")))
		}
		return nil
	})
	if err != nil {
		return md, err
	}
	if md.imageDigest != "" {
		id, idErr := s.imageConfigDigest(md.imageDigest)
		md.imageID = id
		err = idErr
	}
	return md, err
}

// refresh copies meta.db unless the copy is current. A write during the copy
// changes the file's size or time; then it copies again.
func (s *containerdStore) refresh() error {
	src := filepath.Join(s.root, "io.containerd.metadata.v1.bolt", "meta.db")
	before, err := os.Stat(src)
	if err != nil {
		return err
	}
	if s.snap != nil && before.Size() == s.snapSize && before.ModTime().Equal(s.snapTime) {
		return nil
	}
	if s.tmpDir == "" {
		if s.tmpDir, err = os.MkdirTemp("", "mamori-containerd-meta-"); err != nil {
			return err
		}
	}
	dst := filepath.Join(s.tmpDir, "meta.db")
	for attempt := 0; ; attempt++ {
		if err := s.closeSnap(); err != nil {
			return err
		}
		if err := copyFile(dst, src); err != nil {
			return err
		}
		after, err := os.Stat(src)
		if err != nil {
			return err
		}
		if after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
			if attempt < 3 {
				before = after
				continue
			}
			return fmt.Errorf("copy %s: it keeps changing", src)
		}
		db, err := bolt.Open(dst, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			return fmt.Errorf("open copy of %s: %w", src, err)
		}
		s.snap, s.snapSize, s.snapTime = db, after.Size(), after.ModTime()
		return nil
	}
}

func (s *containerdStore) closeSnap() error {
	if s.snap == nil {
		return nil
	}
	err := s.snap.Close()
	s.snap = nil
	return err
}

func (s *containerdStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.closeSnap()
	if s.tmpDir != "" {
		err = errors.Join(err, os.RemoveAll(s.tmpDir))
		s.tmpDir = ""
	}
	return err
}

// imageConfigDigest reads the manifest (or the platform's manifest from an
// index) from the content store and returns its config digest, the id
// `crictl images` shows.
func (s *containerdStore) imageConfigDigest(digest string) (string, error) {
	for depth := 0; depth < 2; depth++ {
		var m struct {
			Config struct {
				Digest string `json:"digest"`
			} `json:"config"`
			Manifests []struct {
				Digest   string `json:"digest"`
				Platform struct {
					OS           string `json:"os"`
					Architecture string `json:"architecture"`
				} `json:"platform"`
			} `json:"manifests"`
		}
		if err := s.readBlob(digest, &m); err != nil {
			return "", err
		}
		if m.Config.Digest != "" {
			return m.Config.Digest, nil
		}
		next := ""
		for _, d := range m.Manifests {
			if d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
				next = d.Digest
				break
			}
		}
		if next == "" {
			return "", fmt.Errorf("image %s: no manifest for linux/%s", digest, runtime.GOARCH)
		}
		digest = next
	}
	return "", fmt.Errorf("image %s: nested indexes", digest)
}

func (s *containerdStore) readBlob(digest string, v any) error {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || !isDigestHex(hex) {
		return fmt.Errorf("unsupported digest %q", digest)
	}
	path := filepath.Join(s.root, "io.containerd.content.v1.content", "blobs", "sha256", hex)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// Manifests are small; a huge blob is a layer, not what we want.
	if err := json.NewDecoder(io.LimitReader(f, 4<<20)).Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

func isDigestHex(s string) bool { return isContainerID(s) }

func bucket(tx *bolt.Tx, names ...string) *bolt.Bucket {
	b := tx.Bucket([]byte(names[0]))
	if b == nil {
		return nil
	}
	return nestedBucket(b, names[1:]...)
}

func nestedBucket(b *bolt.Bucket, names ...string) *bolt.Bucket {
	for _, n := range names {
		if b = b.Bucket([]byte(n)); b == nil {
			return nil
		}
	}
	return b
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
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
