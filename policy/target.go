package policy

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/event"
)

// Target describes what a policy's scope is matched against: one
// container with its image, Kubernetes identity and the node it runs on,
// or the node itself (Container nil). A fact left empty matches no
// selector that asks about it.
type Target struct {
	Container  *ContainerFacts `json:"container,omitempty"`
	Image      ImageFacts      `json:"image"`
	Kubernetes KubernetesFacts `json:"kubernetes"`
	Host       HostFacts       `json:"host"`
}

// ContainerFacts are what the runtime says about the container.
type ContainerFacts struct {
	ID     string            `json:"id"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Env    []string          `json:"env,omitempty"` // environment variable names, never values
}

// ImageFacts describe the container's image. Name is registry/repository
// ("docker.io/library/nginx"); Ref is the reference as the runtime gave it.
type ImageFacts struct {
	Ref          string            `json:"ref,omitempty"`
	Name         string            `json:"name,omitempty"`
	Registry     string            `json:"registry,omitempty"`
	Repository   string            `json:"repository,omitempty"`
	Tag          string            `json:"tag,omitempty"`
	Digest       string            `json:"digest,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	OS           string            `json:"os,omitempty"`
	Architecture string            `json:"architecture,omitempty"`
}

// KubernetesFacts are the pod's identity; Namespace is empty outside
// Kubernetes.
type KubernetesFacts struct {
	Namespace  string            `json:"namespace,omitempty"`
	Pod        string            `json:"pod,omitempty"`
	Deployment string            `json:"deployment,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"` // the pod's labels
}

// HostFacts describe the node.
type HostFacts struct {
	Hostname string       `json:"hostname,omitempty"`
	IPs      []netip.Addr `json:"ips,omitempty"`
	Groups   []string     `json:"groups,omitempty"` // node groups the operator assigns, e.g. "prod-eu"
}

// Fact adds something the caller knows beyond event.Container to a Target.
type Fact func(*Target)

// WithEnv sets the container's environment variable names (from the OCI
// config's process.env, names only).
func WithEnv(names ...string) Fact {
	return func(t *Target) {
		if t.Container != nil {
			t.Container.Env = names
		}
	}
}

// WithImage sets the image facts the image store knows: its labels, OS and
// architecture (the image config's "config.Labels", "os", "architecture").
func WithImage(labels map[string]string, os, arch string) Fact {
	return func(t *Target) { t.Image.Labels, t.Image.OS, t.Image.Architecture = labels, os, arch }
}

// WithPod sets the pod's labels, and its deployment if the caller knows
// it from the owner references; with deployment "" it is derived.
func WithPod(labels map[string]string, deployment string) Fact {
	return func(t *Target) { t.Kubernetes.Labels, t.Kubernetes.Deployment = labels, deployment }
}

// WithHost sets the node's facts.
// LocalHost returns the facts host scopes match on this machine: its name
// (the hostname when name is empty), the addresses of its interfaces but
// loopback, sorted (so that an unchanged set compares equal), and the
// node groups the operator assigns. The agent and the login check use it
// alike, so a host scope means the same to both.
func LocalHost(name string, groups []string) (HostFacts, error) {
	h := HostFacts{Hostname: name, Groups: groups}
	if h.Hostname == "" {
		n, err := os.Hostname()
		if err != nil {
			return h, fmt.Errorf("read the hostname: %w", err)
		}
		h.Hostname = n
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return h, fmt.Errorf("list the host's addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && !ip.Unmap().IsLoopback() {
				h.IPs = append(h.IPs, ip.Unmap())
			}
		}
	}
	slices.SortFunc(h.IPs, netip.Addr.Compare)
	h.IPs = slices.Compact(h.IPs)
	return h, nil
}

func WithHost(h HostFacts) Fact { return func(t *Target) { t.Host = h } }

// TargetFromContainer builds a Target from what event.Container carries:
// id, name and labels; the image reference split into registry,
// repository and tag, and its digest; the pod's namespace and name from
// the CRI labels, and the deployment derived from the pod name (see
// DeploymentOf). A nil or host container gives the host's Target.
//
// event.Container does not carry environment variable names, image labels,
// OS and architecture, pod labels or node facts: pass them as Facts
// (WithEnv from the OCI config, WithImage from the image store, WithPod
// from the sandbox's labels, WithHost once per node).
func TargetFromContainer(c *event.Container, facts ...Fact) *Target {
	t := &Target{}
	if !c.IsHost() {
		t.Container = &ContainerFacts{ID: c.ID, Name: c.Name, Labels: c.Labels}
		t.Image = ParseImageRef(c.Image)
		if c.ImageDigest != "" {
			t.Image.Digest = c.ImageDigest
		}
		if t.Image.Name != "" && t.Image.Tag == "" && t.Image.Digest == "" {
			t.Image.Tag = "latest"
		}
		if c.Pod != nil {
			t.Kubernetes.Namespace, t.Kubernetes.Pod = c.Pod.Namespace, c.Pod.Name
		}
	}
	for _, f := range facts {
		f(t)
	}
	if t.Kubernetes.Deployment == "" && t.Kubernetes.Pod != "" {
		t.Kubernetes.Deployment = DeploymentOf(t.Kubernetes.Pod, t.Kubernetes.Labels)
	}
	return t
}

// ParseImageRef splits an image reference as Docker and podman normalise
// it: "nginx" is docker.io/library/nginx, "localhost/shop:1.4" is registry
// localhost, repository shop, tag 1.4. A bare image id (64 hex digits,
// optionally "sha256:") has no name. A missing tag stays empty.
func ParseImageRef(ref string) ImageFacts {
	f := ImageFacts{Ref: ref}
	rest := ref
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		f.Digest, rest = rest[i+1:], rest[:i]
	}
	if isHex(strings.TrimPrefix(rest, "sha256:"), 64) {
		return f
	}
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		f.Tag, rest = rest[i+1:], rest[:i]
	}
	if rest == "" {
		return f
	}
	first, path, ok := strings.Cut(rest, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		f.Registry, f.Repository = first, path
	} else {
		f.Registry, f.Repository = "docker.io", rest
		if !ok {
			f.Repository = "library/" + rest
		}
	}
	f.Name = f.Registry + "/" + f.Repository
	return f
}

// DeploymentOf derives the Deployment that owns a pod. A Deployment's pods
// are named <deployment>-<pod-template-hash>-<5 characters>; when the pod's
// labels carry pod-template-hash the name is cut there, otherwise both
// suffixes must look like Kubernetes' generated ones (consonants and digits
// without vowels or 0, 1, 3, the alphabet Kubernetes uses so that names
// spell no words). A pod of a StatefulSet, DaemonSet or Job, or a bare pod,
// gives "".
func DeploymentOf(pod string, labels map[string]string) string {
	if h := labels["pod-template-hash"]; h != "" {
		if i := strings.LastIndex(pod, "-"+h+"-"); i > 0 && len(pod)-i-len(h)-2 == 5 {
			return pod[:i]
		}
		return ""
	}
	parts := strings.Split(pod, "-")
	if len(parts) < 3 {
		return ""
	}
	hash, suffix := parts[len(parts)-2], parts[len(parts)-1]
	if len(suffix) != 5 || len(hash) < 6 || len(hash) > 10 || !generated(hash) || !generated(suffix) {
		return ""
	}
	return strings.Join(parts[:len(parts)-2], "-")
}

// generated reports whether s uses only Kubernetes' rand.SafeEncodeString
// alphabet.
func generated(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("bcdfghjklmnpqrstvwxz2456789", rune(s[i])) {
			return false
		}
	}
	return true
}
