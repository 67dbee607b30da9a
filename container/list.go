package container

import "github.com/mamori-dev/mamori/event"

// Containers returns the containers the Resolver knows now, each once:
// those whose cgroups it has resolved and not yet seen removed. The
// answers are shared: do not modify them.
func (r *Resolver) Containers() []*event.Container {
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := make(map[string]bool, len(r.entries))
	out := make([]*event.Container, 0, len(r.entries))
	for _, e := range r.entries {
		c := e.c
		if c == nil || c.IsHost() || c.ID == UnknownID || seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		out = append(out, c)
	}
	return out
}
