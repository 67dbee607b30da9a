package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/imagestore"
	"github.com/mamori-dev/mamori/policy"
)

// Images is the registered-images store the console reads (the file
// `mamori image register` writes).
type Images interface {
	List(ctx context.Context) ([]imagestore.Record, error)
}

// images is GET /api/v1/images: every registered image with its verdict,
// its findings by severity and the size of its executables baseline.
func (s *server) images(w http.ResponseWriter, r *http.Request) {
	recs, err := s.cfg.Images.List(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	if recs == nil {
		recs = []imagestore.Record{}
	}
	writeJSON(w, map[string]any{"images": recs})
}

// cloudFields are the output fields the cloud view groups each audit
// source's alerts by, under the names the view shows.
var cloudFields = map[string][][2]string{
	"aws_cloudtrail": {{"account", "ct.user.accountid"}, {"identity", "ct.user.identitytype"}, {"region", "ct.region"},
		{"user", "ct.user"}, {"event", "ct.name"}, {"source_ip", "ct.srcip"}},
	"k8s_audit": {{"user", "ka.user.name"}, {"namespace", "ka.target.namespace"}, {"resource", "ka.target.resource"},
		{"verb", "ka.verb"}},
}

// maxCloudScan bounds how many alerts one GET /api/v1/cloud reads.
const maxCloudScan = 20000

// CloudGroup is how many alerts share one value of one field.
type CloudGroup struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// CloudSource is one audit source's alerts, grouped.
type CloudSource struct {
	Source string                  `json:"source"`
	Alerts int64                   `json:"alerts"` // occurrences: folded alerts count as many
	By     map[string][]CloudGroup `json:"by"`     // field (account, region, user, ...) → groups, largest first
	Rules  []CloudGroup            `json:"rules"`
}

// cloud is GET /api/v1/cloud: CloudTrail and Kubernetes audit alerts
// grouped by account, identity, region and user (Kubernetes: user,
// namespace, resource, verb), with the alert filters (cluster, since,
// until, ...). It reads at most the newest 20,000 of each source;
// "truncated" says when there were more.
func (s *server) cloud(w http.ResponseWriter, r *http.Request) {
	f, err := filterOf(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	if f.Since.IsZero() {
		f.Since = time.Now().Add(-24 * time.Hour)
	}
	out := struct {
		Since     time.Time     `json:"since"`
		Sources   []CloudSource `json:"sources"`
		Truncated bool          `json:"truncated"`
	}{Since: f.Since.UTC(), Sources: []CloudSource{}}
	for _, src := range []string{"aws_cloudtrail", "k8s_audit"} {
		if f.Source != "" && f.Source != src {
			continue
		}
		q := store.AlertQuery{Filter: f, Limit: 1000}
		q.Source = src
		cs := CloudSource{Source: src, By: map[string][]CloudGroup{}}
		counts := map[string]map[string]int64{}
		rules := map[string]int64{}
		scanned := 0
		for {
			page, err := s.cfg.Store.Alerts(r.Context(), q)
			if err != nil {
				s.fail(w, err)
				return
			}
			for _, raw := range page.Alerts {
				var a event.Alert
				if json.Unmarshal(raw, &a) != nil {
					continue
				}
				n := int64(max(a.Count, 1))
				cs.Alerts += n
				rules[a.Rule] += n
				for _, fl := range cloudFields[src] {
					v, _ := a.OutputFields[fl[1]].(string)
					if v == "" {
						continue
					}
					if counts[fl[0]] == nil {
						counts[fl[0]] = map[string]int64{}
					}
					counts[fl[0]][v] += n
				}
			}
			scanned += len(page.Alerts)
			if page.Next == "" {
				break
			}
			if scanned >= maxCloudScan {
				out.Truncated = true
				break
			}
			q.Cursor = page.Next
		}
		for _, fl := range cloudFields[src] {
			cs.By[fl[0]] = groups(counts[fl[0]])
		}
		cs.Rules = groups(rules)
		out.Sources = append(out.Sources, cs)
	}
	writeJSON(w, out)
}

func groups(m map[string]int64) []CloudGroup {
	out := make([]CloudGroup, 0, len(m))
	for v, n := range m {
		out = append(out, CloudGroup{v, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Value < out[j].Value
	})
	return out
}

// AffectedContainer is a running container a policy file's scopes cover.
type AffectedContainer struct {
	Cluster   string           `json:"cluster"`
	Node      string           `json:"node"`
	Container *event.Container `json:"container"`
	// Policies are the file's policies whose scope covers it.
	Policies   []string `json:"policies"`
	Protection string   `json:"protection"` // as the agent last reported it
}

// policyContainers is GET /api/v1/policies/{file}/containers: the running
// containers the file's policies cover, matched as agents match them
// (policy.TargetFromContainer with the node's name; facts only an agent
// has, such as the node's addresses or an image's labels, are not known
// here). The console shows them before a policy is switched to enforce.
func (s *server) policyContainers(w http.ResponseWriter, r *http.Request) {
	files, err := s.cfg.Policies.Policies(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	name := r.PathValue("file")
	var pols []*policy.Policy
	found := false
	for _, f := range files {
		if f.Name == name {
			found = true
			pols, err = policy.Parse(f.Name, []byte(f.Content))
			if err != nil {
				s.fail(w, apiError{err.Error()})
				return
			}
		}
	}
	if !found {
		s.fail(w, store.ErrNotFound)
		return
	}
	running := true
	rows, err := s.cfg.Store.Containers(r.Context(), store.ContainerQuery{Running: &running})
	if err != nil {
		s.fail(w, err)
		return
	}
	out := []AffectedContainer{}
	for _, row := range rows {
		if row.State == nil || row.State.Container == nil {
			continue
		}
		t := policy.TargetFromContainer(row.State.Container, policy.WithHost(policy.HostFacts{Hostname: row.Node}))
		var names []string
		for _, p := range pols {
			if p.Spec.Scope != nil && p.Spec.Scope.Match(t) {
				names = append(names, p.Name())
			}
		}
		if len(names) > 0 {
			out = append(out, AffectedContainer{Cluster: row.Cluster, Node: row.Node, Container: row.State.Container,
				Policies: names, Protection: row.State.Protection})
		}
	}
	writeJSON(w, map[string]any{"file": name, "containers": out})
}
