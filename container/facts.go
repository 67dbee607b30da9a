package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// Facts are what a container's own files say about it beyond
// event.Container, for matching policy scopes: read once per container
// (and once per image), not on the event path.
type Facts struct {
	// Env are the names of the environment variables of the container's
	// process, from its OCI config.json; never their values.
	Env []string
	// Image is what the image config says.
	Image ImageConfig
	// PodLabels are the Kubernetes pod's labels where the runtime keeps
	// them apart from the container's (containerd's CRI plugin, on the
	// pod's sandbox); nil where it does not.
	PodLabels map[string]string
}

// ImageConfig is the part of an OCI image config that policy scopes match:
// "config.Labels", "os" and "architecture".
type ImageConfig struct {
	Labels       map[string]string `json:"labels,omitempty"`
	OS           string            `json:"os,omitempty"`
	Architecture string            `json:"architecture,omitempty"`
}

// factCache keeps Facts readings. Image configs are content-addressed and
// never change, so they are kept by image id; a container's config.json is
// kept with its file identity and read again when that changes (containerd
// ids are names that a new container may reuse). Its zero value is ready.
type factCache struct {
	mu     sync.Mutex
	env    map[string]envEntry    // by runtime + "/" + container id
	images map[string]ImageConfig // by runtime + "/" + image id
}

type envEntry struct {
	id    fileID
	names []string
	pod   map[string]string
}

// fileID tells a rewritten or replaced file from the one read before.
type fileID struct {
	ino, size uint64
	mtime     time.Time
}

func statID(path string) (fileID, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	return fileID{ino: inodeOf(st), size: uint64(st.Size()), mtime: st.ModTime()}, nil
}

// maxSpecBytes bounds the read of an OCI config.json or image config:
// both are a few KiB; a huge one is not what we look for.
const maxSpecBytes = 4 << 20

// Facts reads what container c's OCI config and image config say: its
// environment variable names, its image's labels, OS and architecture, and
// for containerd's Kubernetes containers their pod's labels. c is what
// Lookup or Describe returned. It reads files only (the runtime's bundle
// config.json and its image store), caches what it read, and is safe for
// concurrent use. On an error it still returns what it could read.
func (r *Resolver) Facts(c *event.Container) (Facts, error) {
	if c.IsHost() || c.ID == UnknownID {
		return Facts{}, nil
	}
	var f Facts
	var errs []error
	spec, err := r.specPath(c)
	if err == nil {
		f.Env, f.PodLabels, err = r.envFacts(c.Runtime, spec)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("environment of container %s: %w", c.ID, err))
	}
	if c.ImageID != "" {
		f.Image, err = r.imageFacts(c.Runtime, c.ImageID)
	} else {
		err = errors.New("the runtime did not say which image it is")
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("image config of container %s: %w", c.ID, err))
	}
	return f, errors.Join(errs...)
}

// specPath is where the runtime keeps the container's OCI config.json: the
// bundle the runtime was given.
func (r *Resolver) specPath(c *event.Container) (string, error) {
	switch c.Runtime {
	case Podman:
		return r.podman.specPath(c.ID)
	case Containerd:
		ns, ok := r.containerd.find("", c.ID)
		if !ok {
			return "", fmt.Errorf("no containerd bundle under %s", r.containerd.tasks())
		}
		return filepath.Join(r.containerd.tasks(), ns, c.ID, "config.json"), nil
	}
	return "", fmt.Errorf("reading the OCI config of a %q container is not supported", c.Runtime)
}

func (r *Resolver) envFacts(runtime, spec string) ([]string, map[string]string, error) {
	id, err := statID(spec)
	if err != nil {
		return nil, nil, err
	}
	key := runtime + "/" + spec
	r.factCache.mu.Lock()
	e, ok := r.factCache.env[key]
	r.factCache.mu.Unlock()
	if ok && e.id == id {
		return e.names, e.pod, nil
	}
	s, err := readSpec(spec)
	if err != nil {
		return nil, nil, err
	}
	e = envEntry{id: id, names: EnvNames(s.Process.Env)}
	if sandbox := s.Annotations[criSandboxID]; runtime == Containerd && sandbox != "" {
		ns := filepath.Base(filepath.Dir(filepath.Dir(spec)))
		e.pod, err = r.containerd.sandboxLabels(ns, sandbox)
		if err != nil {
			// The env is good; the pod's labels are retried next time.
			return e.names, nil, fmt.Errorf("labels of pod sandbox %s: %w", sandbox, err)
		}
	}
	r.factCache.mu.Lock()
	if r.factCache.env == nil || len(r.factCache.env) >= r.cfg.MaxEntries {
		// Dropping them all is simple and rare: a reading is one small file.
		r.factCache.env = map[string]envEntry{}
	}
	r.factCache.env[key] = e
	r.factCache.mu.Unlock()
	return e.names, e.pod, nil
}

// ociSpec is the part of an OCI runtime config that Facts reads.
type ociSpec struct {
	Process struct {
		Env []string `json:"env"`
	} `json:"process"`
	Annotations map[string]string `json:"annotations"`
	Mounts      []ociMount        `json:"mounts"`
}

type ociMount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type"`
	Source      string   `json:"source"`
	Options     []string `json:"options"`
}

// bindMounts returns the host paths a spec binds into container id, as
// Falco's container.mount* fields describe them; the runtime's own binds
// (of files it keeps for the container, which carry its id in their path:
// /etc/hosts, /etc/resolv.conf, /run/.containerenv, /dev/shm) are left out.
func bindMounts(s ociSpec, id string) []event.BindMount {
	var out []event.BindMount
	for _, m := range s.Mounts {
		bind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
		if !bind || !strings.HasPrefix(m.Source, "/") || (id != "" && strings.Contains(m.Source, id)) {
			continue
		}
		em := event.BindMount{Source: m.Source, Destination: m.Destination, RW: true}
		for _, o := range m.Options {
			switch o {
			case "ro":
				em.RW = false
			case "z", "Z":
				em.Mode = o
			case "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable":
				em.Propagation = o
			}
		}
		out = append(out, em)
	}
	return out
}

// mounts reads the host paths bound into c from its OCI config.
func (r *Resolver) mounts(c *event.Container) ([]event.BindMount, error) {
	spec, err := r.specPath(c)
	if err != nil {
		return nil, err
	}
	s, err := readSpec(spec)
	if err != nil {
		return nil, err
	}
	return bindMounts(s, c.ID), nil
}

func readSpec(path string) (ociSpec, error) {
	var s ociSpec
	f, err := os.Open(path)
	if err != nil {
		return s, err
	}
	defer f.Close()
	if err := json.NewDecoder(io.LimitReader(f, maxSpecBytes)).Decode(&s); err != nil {
		return s, fmt.Errorf("decode %s: %w", path, err)
	}
	return s, nil
}

// EnvNames returns the names of "NAME=value" entries, in order and without
// repeats; the values are dropped, never kept.
func EnvNames(env []string) []string {
	names := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

func (r *Resolver) imageFacts(runtime, imageID string) (ImageConfig, error) {
	key := runtime + "/" + imageID
	r.factCache.mu.Lock()
	ic, ok := r.factCache.images[key]
	r.factCache.mu.Unlock()
	if ok {
		return ic, nil
	}
	var err error
	switch runtime {
	case Podman:
		ic, err = r.podman.imageConfig(imageID)
	case Containerd:
		ic, err = r.containerd.imageConfig(imageID)
	default:
		err = fmt.Errorf("reading the image config of a %q container is not supported", runtime)
	}
	if err != nil {
		return ImageConfig{}, err
	}
	r.factCache.mu.Lock()
	if r.factCache.images == nil || len(r.factCache.images) >= r.cfg.MaxEntries {
		r.factCache.images = map[string]ImageConfig{}
	}
	r.factCache.images[key] = ic
	r.factCache.mu.Unlock()
	return ic, nil
}

// imageConfigJSON is an OCI (or Docker) image config, as far as Facts reads it.
type imageConfigJSON struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Config       struct {
		Labels map[string]string `json:"Labels"`
	} `json:"config"`
}

func (j imageConfigJSON) facts() ImageConfig {
	return ImageConfig{Labels: j.Config.Labels, OS: j.OS, Architecture: j.Architecture}
}
