package policy

import (
	"net/netip"
	"slices"
)

// Scope says which targets a policy applies to. Every part that is set
// must match (container, image, kubernetes, host, all, any, not); within a
// selector every field that is set must match; a field with several
// patterns matches when any of them does.
//
//	scope: {container: {}}                       # every container
//	scope:
//	  kubernetes: {namespace: [shop, "shop-*"]}
//	  not: {image: {registry: registry.internal}}
type Scope struct {
	Container  *ContainerSelector  `yaml:"container" json:"container,omitempty"`
	Image      *ImageSelector      `yaml:"image" json:"image,omitempty"`
	Kubernetes *KubernetesSelector `yaml:"kubernetes" json:"kubernetes,omitempty"`
	Host       *HostSelector       `yaml:"host" json:"host,omitempty"`
	All        []*Scope            `yaml:"all" json:"all,omitempty"`
	Any        []*Scope            `yaml:"any" json:"any,omitempty"`
	Not        *Scope              `yaml:"not" json:"not,omitempty"`
}

// ContainerSelector matches containers; empty, it matches every container
// and never the host itself.
type ContainerSelector struct {
	Name   Patterns            `yaml:"name" json:"name,omitzero"`
	Labels map[string]Patterns `yaml:"labels" json:"labels,omitempty"`
	// Env matches when the container has an environment variable whose
	// name matches.
	Env Patterns `yaml:"env" json:"env,omitzero"`
	// Image matches the image reference as the runtime gave it.
	Image Patterns `yaml:"image" json:"image,omitzero"`
}

// ImageSelector matches a container's image.
type ImageSelector struct {
	Name         Patterns            `yaml:"name" json:"name,omitzero"` // registry/repository
	Registry     Patterns            `yaml:"registry" json:"registry,omitzero"`
	Repository   Patterns            `yaml:"repository" json:"repository,omitzero"`
	Tag          Patterns            `yaml:"tag" json:"tag,omitzero"`
	Digest       Patterns            `yaml:"digest" json:"digest,omitzero"`
	Labels       map[string]Patterns `yaml:"labels" json:"labels,omitempty"`
	OS           Patterns            `yaml:"os" json:"os,omitzero"`
	Architecture Patterns            `yaml:"architecture" json:"architecture,omitzero"`
}

// KubernetesSelector matches pods; empty, it matches every target that
// runs in Kubernetes.
type KubernetesSelector struct {
	Namespace  Patterns            `yaml:"namespace" json:"namespace,omitzero"`
	Pod        Patterns            `yaml:"pod" json:"pod,omitzero"`
	Deployment Patterns            `yaml:"deployment" json:"deployment,omitzero"`
	Labels     map[string]Patterns `yaml:"labels" json:"labels,omitempty"`
}

// HostSelector matches the node a target runs on (or is).
type HostSelector struct {
	Hostname Patterns `yaml:"hostname" json:"hostname,omitzero"`
	// IP lists addresses and CIDRs; it matches when any of the node's
	// addresses is inside one.
	IP    []string `yaml:"ip" json:"ip,omitempty"`
	Group Patterns `yaml:"group" json:"group,omitzero"`

	prefixes []netip.Prefix
}

// Match reports whether the scope covers t.
func (s *Scope) Match(t *Target) bool {
	if s.Container != nil && !s.Container.match(t) ||
		s.Image != nil && !s.Image.match(t) ||
		s.Kubernetes != nil && !s.Kubernetes.match(t) ||
		s.Host != nil && !s.Host.match(t) {
		return false
	}
	for _, c := range s.All {
		if !c.Match(t) {
			return false
		}
	}
	if len(s.Any) > 0 && !slices.ContainsFunc(s.Any, func(c *Scope) bool { return c.Match(t) }) {
		return false
	}
	return s.Not == nil || !s.Not.Match(t)
}

// field matches one fact: an unset selector field matches anything, a set
// one needs a fact that matches.
func fieldMatch(ps Patterns, fact string) bool {
	return ps.IsZero() || fact != "" && ps.Match(fact)
}

func labels(sel map[string]Patterns, have map[string]string) bool {
	for k, ps := range sel {
		v, ok := have[k]
		if !ok || !ps.Match(v) {
			return false
		}
	}
	return true
}

func (c *ContainerSelector) match(t *Target) bool {
	ct := t.Container
	if ct == nil {
		return false
	}
	return fieldMatch(c.Name, ct.Name) && labels(c.Labels, ct.Labels) &&
		(c.Env.IsZero() || c.Env.MatchAny(ct.Env)) && fieldMatch(c.Image, t.Image.Ref)
}

func (s *ImageSelector) match(t *Target) bool {
	i := &t.Image
	return fieldMatch(s.Name, i.Name) && fieldMatch(s.Registry, i.Registry) && fieldMatch(s.Repository, i.Repository) &&
		fieldMatch(s.Tag, i.Tag) && fieldMatch(s.Digest, i.Digest) && labels(s.Labels, i.Labels) &&
		fieldMatch(s.OS, i.OS) && fieldMatch(s.Architecture, i.Architecture)
}

func (s *KubernetesSelector) match(t *Target) bool {
	k := &t.Kubernetes
	return k.Namespace != "" && fieldMatch(s.Namespace, k.Namespace) && fieldMatch(s.Pod, k.Pod) &&
		fieldMatch(s.Deployment, k.Deployment) && labels(s.Labels, k.Labels)
}

func (s *HostSelector) match(t *Target) bool {
	h := &t.Host
	if !fieldMatch(s.Hostname, h.Hostname) || !s.Group.IsZero() && !s.Group.MatchAny(h.Groups) {
		return false
	}
	if len(s.prefixes) == 0 {
		return true
	}
	for _, a := range h.IPs {
		for _, p := range s.prefixes {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
	}
	return false
}

func (s *Scope) validate(v *validator, path string) {
	if s.Container == nil && s.Image == nil && s.Kubernetes == nil && s.Host == nil &&
		s.All == nil && s.Any == nil && s.Not == nil {
		v.errorf(path, "empty scope; name what the policy applies to, e.g. `{container: {}}` for every container")
		return
	}
	for _, l := range []struct {
		key  string
		list []*Scope
	}{{"all", s.All}, {"any", s.Any}} {
		p := path + "." + l.key
		if l.list != nil && len(l.list) == 0 {
			v.errorf(p, "%s is an empty list; list at least one scope or remove it", l.key)
		}
		for i, c := range l.list {
			if c == nil {
				v.errorf(p+"["+itoa(i)+"]", "empty scope in %s; remove it or give it a selector", l.key)
				continue
			}
			c.validate(v, p+"["+itoa(i)+"]")
		}
	}
	if s.Not != nil {
		s.Not.validate(v, path+".not")
	}
	if s.Container != nil {
		v.labelSelector(path+".container.labels", s.Container.Labels)
	}
	if s.Image != nil {
		v.labelSelector(path+".image.labels", s.Image.Labels)
	}
	if s.Kubernetes != nil {
		v.labelSelector(path+".kubernetes.labels", s.Kubernetes.Labels)
	}
	if h := s.Host; h != nil {
		v.checkf(h.IP != nil && len(h.IP) == 0, path+".host.ip", "ip is an empty list; list addresses or CIDRs or remove it")
		for i, ip := range h.IP {
			if p, ok := v.prefix(path+".host.ip["+itoa(i)+"]", ip); ok {
				h.prefixes = append(h.prefixes, p)
			}
		}
	}
}

func (v *validator) labelSelector(path string, sel map[string]Patterns) {
	if sel != nil && len(sel) == 0 {
		v.errorf(path, "labels is empty; give label: pattern pairs (\"*\" for any value) or remove it")
	}
}
