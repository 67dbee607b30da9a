package image

import (
	"fmt"
	"os"
	"strings"
)

// The transports a reference can name.
const (
	Podman     = "podman"
	Containerd = "containerd"
	OCI        = "oci"
	Archive    = "archive"
	Registry   = "registry"
)

// Ref is a parsed image reference:
//
//	podman:NAME          an image in podman's local storage (name, id or digest)
//	containerd:NAME      an image in containerd's content store (namespace from Options)
//	oci:DIR[:TAG]        an OCI image layout directory; TAG picks among several images
//	archive:FILE         an OCI archive (podman save --format oci-archive) or a docker archive (docker save)
//	registry:REF         a registry, e.g. registry:ghcr.io/org/app:1.2 or registry:localhost:5000/app
//	REF                  podman's local storage first, then the registry
type Ref struct {
	// Transport is one of Podman, Containerd, OCI, Archive, Registry, or
	// "" for a bare reference.
	Transport string
	// Name is the image name for podman, containerd and registries, the
	// path for oci and archive.
	Name string
	// Tag picks an image in an OCI layout directory.
	Tag string
	// Given is the reference as written.
	Given string
}

func (r Ref) String() string { return r.Given }

// ParseRef reads an image reference; it does not look the image up.
func ParseRef(s string) (Ref, error) {
	r := Ref{Given: s}
	if strings.TrimSpace(s) == "" {
		return r, fmt.Errorf("empty image reference")
	}
	tr, rest, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		r.Name = s
		return r, nil
	case tr == Podman, tr == Containerd, tr == Registry, tr == Archive:
		r.Transport, r.Name = tr, rest
	case tr == OCI:
		r.Transport, r.Name = tr, rest
		// oci:DIR:TAG, unless DIR itself holds the colon.
		if i := strings.LastIndexByte(rest, ':'); i > 0 && !strings.Contains(rest[i+1:], "/") {
			if _, err := os.Stat(rest); err != nil {
				r.Name, r.Tag = rest[:i], rest[i+1:]
			}
		}
	case tr == "docker", tr == "docker-archive", tr == "oci-archive", tr == "containers-storage":
		return r, fmt.Errorf("transport %q is skopeo's spelling; mamori uses podman:, containerd:, oci:, archive: and registry:", tr)
	default:
		// "localhost:5000/app" or "app:1.2": a bare reference.
		r.Name = s
		return r, nil
	}
	if r.Name == "" {
		return r, fmt.Errorf("%q names no image after %q", s, r.Transport+":")
	}
	return r, nil
}
