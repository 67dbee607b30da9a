package store

import (
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/event"
)

// Match reports whether a passes f, as the stores' queries would decide
// it: the live stream filters with it.
func (f *Filter) Match(a *event.Alert) bool {
	if !f.Since.IsZero() && a.Time.Before(f.Since) || !f.Until.IsZero() && !a.Time.Before(f.Until) {
		return false
	}
	var ns, pod, cid, cname, image string
	if c := a.Container; c != nil {
		cid, cname, image = c.ID, c.Name, c.Image
		if c.Pod != nil {
			ns, pod = c.Pod.Namespace, c.Pod.Name
		}
	}
	for _, c := range [][2]string{{f.Cluster, a.Cluster}, {f.Node, a.Hostname}, {f.Namespace, ns}, {f.Pod, pod},
		{f.Image, image}, {f.Rule, a.Rule}, {f.Source, a.Source}, {f.Action, a.Action}} {
		if c[0] != "" && c[0] != c[1] {
			return false
		}
	}
	switch c := f.Container; {
	case c == "":
	case idFilter(c):
		if !strings.HasPrefix(cid, strings.ToLower(c)) {
			return false
		}
	case c != cname:
		return false
	}
	if f.MinPriority != "" {
		r := PriorityRank(a.Priority)
		if r < 0 || r > PriorityRank(f.MinPriority) {
			return false
		}
	}
	if f.Tag != "" && !slices.Contains(a.Tags, f.Tag) {
		return false
	}
	if t := strings.ToLower(f.Text); t != "" && !strings.Contains(strings.ToLower(a.Output), t) && !strings.Contains(strings.ToLower(a.Rule), t) {
		return false
	}
	return true
}

// idFilter says whether a container filter names an id: 12 to 64
// hexadecimal digits (a full id, or a prefix of one, as runtimes and
// Falco shorten them), compared in lower case. Anything else is a name.
func idFilter(c string) bool {
	if len(c) < 12 || len(c) > 64 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if !('0' <= c[i] && c[i] <= '9' || 'a' <= c[i] && c[i] <= 'f' || 'A' <= c[i] && c[i] <= 'F') {
			return false
		}
	}
	return true
}
