package agent

import (
	"slices"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

// containerFacts is the guard's Config.Facts: what the container's OCI
// config and image config say (environment variable names, the image's
// labels, OS and architecture) and, for containerd's Kubernetes
// containers, the pod's labels. The guard asks once per container and
// policy change; the OCI hook asks through the guard's Target, so that
// both paths describe a container alike.
func (a *Agent) containerFacts(c *event.Container) []policy.Fact {
	f, err := a.containers.Facts(c)
	if err != nil {
		a.log.Warn("container facts incomplete: policy scopes by environment variable names or image labels, OS or architecture do not match what could not be read",
			"container", c.Name, "id", c.ID, "err", err)
	}
	facts := []policy.Fact{policy.WithEnv(f.Env...), policy.WithImage(f.Image.Labels, f.Image.OS, f.Image.Architecture)}
	if f.PodLabels != nil {
		facts = append(facts, policy.WithPod(f.PodLabels, ""))
	}
	return facts
}

// hostFacts returns what host scopes match on this node (policy.LocalHost)
// with the groups the operator assigned with --host-group.
func hostFacts(node string, groups []string) (policy.HostFacts, error) {
	return policy.LocalHost(node, groups)
}

// refreshHost reads the node's addresses again and hands them to the
// guard when they changed (an interface came up, DHCP gave a new lease).
func (a *Agent) refreshHost() {
	h, err := hostFacts(a.cfg.Node, a.cfg.HostGroups)
	if err != nil {
		a.log.Warn("cannot read the node's addresses; host scopes by IP keep the last ones", "err", err)
		return
	}
	if old := a.guard.Target(nil).Host; !slices.Equal(old.IPs, h.IPs) {
		a.log.Info("node addresses changed; host scopes are matched again", "ips", h.IPs)
		a.guard.SetHost(h)
		a.protect.changed()
	}
}
