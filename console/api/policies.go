package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/console/profile"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/policy"
)

// PolicyFile is one central policy file.
type PolicyFile struct {
	Name     string    `json:"name"`
	Revision uint64    `json:"revision"`
	Content  string    `json:"content,omitempty"`
	Policies []string  `json:"policies,omitempty"` // the policies it defines
	Updated  time.Time `json:"updated"`
}

// Policies is the console's central policy store.
type Policies interface {
	Policies(ctx context.Context) ([]PolicyFile, error)
	// Apply validates files with the rest of the set and stores them
	// (and removes the files named in remove) only if all is valid.
	Apply(ctx context.Context, files []PolicyFile, remove []string) ([]PolicyFile, error)
}

// UserError is a mistake of the client, answered 400 with its text.
func UserError(msg string) error { return apiError{msg} }

// ApplyRequest is the body of POST /api/v1/policies.
type ApplyRequest struct {
	Files  []PolicyFile `json:"files"`
	Remove []string     `json:"remove,omitempty"`
}

func (s *server) policies(w http.ResponseWriter, r *http.Request) {
	files, err := s.cfg.Policies.Policies(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	if files == nil {
		files = []PolicyFile{}
	}
	writeJSON(w, map[string]any{"files": files})
}

// maxPolicyBody bounds POST /api/v1/policies.
const maxPolicyBody = 4 << 20

func (s *server) applyPolicies(w http.ResponseWriter, r *http.Request) {
	var req ApplyRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPolicyBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.fail(w, apiError{"body: " + err.Error()})
		return
	}
	if len(req.Files) == 0 && len(req.Remove) == 0 {
		s.fail(w, apiError{"no files to apply or remove"})
		return
	}
	applied, err := s.cfg.Policies.Apply(r.Context(), req.Files, req.Remove)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("policies applied", "files", len(applied), "removed", len(req.Remove), "by", who(r))
	s.markEnforcedProfiles(r, req.Files)
	writeJSON(w, map[string]any{"applied": applied, "removed": req.Remove})
}

// NodePolicies is what one node enforces of the central policies.
type NodePolicies struct {
	Cluster  string    `json:"cluster"`
	Node     string    `json:"node"`
	LastSeen time.Time `json:"last_seen"`
	// Files maps each central policy file to the revision the node
	// enforces; absent when it enforces none of it.
	Files map[string]uint64 `json:"files"`
	// Current is true when every file is at its latest revision.
	Current bool   `json:"current"`
	Error   string `json:"policy_error,omitempty"`
}

// policyStatus is GET /api/v1/policies/status: which node runs what.
func (s *server) policyStatus(w http.ResponseWriter, r *http.Request) {
	files, err := s.cfg.Policies.Policies(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	nodes, err := s.cfg.Store.Nodes(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	out := []NodePolicies{}
	for _, n := range nodes {
		np := NodePolicies{Cluster: n.Cluster, Node: n.Node, LastSeen: n.LastSeen, Files: map[string]uint64{}, Current: true}
		if hb := n.Heartbeat; hb != nil {
			np.Error = hb.PolicyError
			for _, p := range hb.Policies {
				if f, ok := strings.CutPrefix(p.Source, "console:"); ok {
					if rev, err := strconv.ParseUint(p.Version, 10, 64); err == nil {
						np.Files[f] = rev
					}
				}
			}
		}
		for _, f := range files {
			if np.Files[f.Name] != f.Revision {
				np.Current = false
			}
		}
		if len(np.Files) > len(files) {
			np.Current = false // it still enforces a file that was removed
		}
		out = append(out, np)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cluster+"/"+out[i].Node < out[j].Cluster+"/"+out[j].Node })
	latest := map[string]uint64{}
	for _, f := range files {
		latest[f.Name] = f.Revision
	}
	writeJSON(w, map[string]any{"latest": latest, "nodes": out})
}

// markEnforcedProfiles marks enforced the behaviour profiles whose export
// was just applied in enforce mode (a policy labelled mamori.dev/profile):
// a person applying it is the decision to enforce.
func (s *server) markEnforcedProfiles(r *http.Request, files []PolicyFile) {
	for _, f := range files {
		set, err := policy.LoadFrom(strings.NewReader(f.Content), "-")
		if err != nil {
			continue
		}
		for _, p := range set.Policies() {
			id := p.Metadata.Labels[profile.Label]
			if id == "" || p.Spec.Mode != policy.Enforce {
				continue
			}
			cur, err := s.cfg.Store.Profile(r.Context(), id)
			if err != nil || cur.State == store.Enforced {
				continue
			}
			if _, err := s.cfg.Store.SetProfileState(r.Context(), cur.ID, store.Enforced, who(r)+" (policy apply "+f.Name+")", time.Now()); err != nil {
				s.log.Error("profile: cannot mark it enforced", "profile", id, "err", err)
			}
		}
	}
}
