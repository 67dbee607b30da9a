package hostlogin

import (
	"github.com/mamori-dev/mamori/policy"
)

// Host returns the facts a host scope is matched against, as the agent
// reads them (policy.LocalHost): the node's name (the hostname when name
// is empty), its addresses but loopback, and the node groups.
func Host(name string, groups []string) (policy.HostFacts, error) {
	return policy.LocalHost(name, groups)
}

// Effective merges the policies that cover the host itself (a host
// target, no container) into its effective controls.
func Effective(set *policy.Set, h policy.HostFacts) *policy.Effective {
	return set.Effective(policy.TargetFromContainer(nil, policy.WithHost(h)))
}
