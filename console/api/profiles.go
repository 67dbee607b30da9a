package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/mamori-dev/mamori/console/profile"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

// Profiles configures the behaviour profiles' calls.
type Profiles struct {
	// StableAfter is how long a profile learns nothing new before it is
	// stable (and may be exported without force).
	StableAfter time.Duration
}

func (s *server) profiles(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ps, err := s.cfg.Store.Profiles(r.Context(), store.ProfileQuery{Cluster: q.Get("cluster"), Namespace: q.Get("namespace"), State: q.Get("state")})
	if err != nil {
		s.fail(w, err)
		return
	}
	if ps == nil {
		ps = []store.Profile{}
	}
	writeJSON(w, map[string]any{"profiles": ps, "stable_after": s.cfg.Profiles.StableAfter.String()})
}

func (s *server) profile(w http.ResponseWriter, r *http.Request) {
	p, err := s.cfg.Store.Profile(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, p)
}

// ExportResponse is GET /api/v1/profiles/{id}/export: the policy file.
type ExportResponse struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

func (s *server) exportOptions(r *http.Request) (profile.Options, error) {
	q := r.URL.Query()
	o := profile.Options{Mode: policy.Mode(q.Get("mode")), StableAfter: s.cfg.Profiles.StableAfter, Now: time.Now()}
	if o.Mode != "" && o.Mode != policy.Enforce && o.Mode != policy.Audit {
		return o, apiError{"mode: enforce or audit"}
	}
	o.Force, _ = strconv.ParseBool(q.Get("force"))
	return o, nil
}

func (s *server) exportProfile(w http.ResponseWriter, r *http.Request) {
	o, err := s.exportOptions(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	p, err := s.cfg.Store.Profile(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	doc, err := profile.Export(p, o)
	if err != nil {
		s.failExport(w, err)
		return
	}
	writeJSON(w, ExportResponse{Name: profile.Name(p) + ".yaml", Content: string(doc)})
}

func (s *server) failExport(w http.ResponseWriter, err error) {
	var l profile.ErrLearning
	if errors.As(err, &l) {
		httpError(w, http.StatusConflict, err.Error())
		return
	}
	s.fail(w, err)
}

// DryRunRequest is the body of POST /api/v1/profiles/{id}/dryrun: a
// policy file (by default the profile's export) and how far back to look.
type DryRunRequest struct {
	Policy string `json:"policy,omitempty"`
	Since  string `json:"since,omitempty"` // RFC 3339 or a duration; 24h when empty
}

func (s *server) dryRun(w http.ResponseWriter, r *http.Request) {
	var req DryRunRequest
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPolicyBody)).Decode(&req); err != nil {
			s.fail(w, apiError{"body: " + err.Error()})
			return
		}
	}
	if req.Since == "" {
		req.Since = "24h"
	}
	since, err := timeParam(req.Since)
	if err != nil {
		s.fail(w, apiError{"since: " + err.Error()})
		return
	}
	p, err := s.cfg.Store.Profile(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	doc := []byte(req.Policy)
	if len(doc) == 0 {
		if doc, err = profile.Export(p, profile.Options{Mode: policy.Enforce, Force: true}); err != nil {
			s.fail(w, err)
			return
		}
	}
	m, err := s.cfg.Store.NetworkMap(r.Context(), store.FlowQuery{Cluster: p.Workload.Cluster, Since: since, Limit: 5000})
	if err != nil {
		s.fail(w, err)
		return
	}
	evs, err := s.profileEvents(r.Context(), p.ID, since)
	if err != nil {
		s.fail(w, err)
		return
	}
	res, err := profile.DryRun(p, m, evs, doc, since)
	if err != nil {
		s.fail(w, apiError{err.Error()})
		return
	}
	writeJSON(w, res)
}

// ProfileAction is the body of POST /api/v1/profiles/{id}.
type ProfileAction struct {
	// Action is relearn (forget what was learnt and learn again; deleted
	// items stay deleted), stable (stop learning now), or enforce
	// (export in enforce mode, apply centrally, mark enforced).
	Action string `json:"action"`
}

func (s *server) profileAction(w http.ResponseWriter, r *http.Request) {
	var req ProfileAction
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&req); err != nil {
		s.fail(w, apiError{`body: {"action": "relearn|stable|enforce"}`})
		return
	}
	id, now := r.PathValue("id"), time.Now()
	var p *store.Profile
	var file string
	var err error
	switch req.Action {
	case "relearn":
		p, err = s.cfg.Store.SetProfileState(r.Context(), id, store.Learning, who(r), now)
	case "stable":
		p, err = s.cfg.Store.SetProfileState(r.Context(), id, store.Stable, who(r), now)
	case "enforce":
		if s.cfg.Policies == nil {
			s.fail(w, apiError{"this console keeps no central policies"})
			return
		}
		p, file, err = profile.Enforce(r.Context(), s.cfg.Store, s.applyOne, id, who(r), s.cfg.Profiles.StableAfter, now)
	default:
		s.fail(w, apiError{`action: relearn, stable or enforce`})
		return
	}
	if err != nil {
		s.failExport(w, err)
		return
	}
	s.log.Info("profile "+req.Action, "profile", p.ID, "policy_file", file, "by", who(r))
	writeJSON(w, map[string]any{"profile": p, "policy_file": file})
}

func (s *server) applyOne(ctx context.Context, name, content string) error {
	_, err := s.cfg.Policies.Apply(ctx, []PolicyFile{{Name: name, Content: content}}, nil)
	return err
}

func (s *server) deleteProfileItem(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind, key := q.Get("kind"), q.Get("key")
	if kind == "" || key == "" {
		s.fail(w, apiError{"kind and key name the item (as GET /api/v1/profiles/{id} lists them)"})
		return
	}
	if err := s.cfg.Store.DeleteProfileItem(r.Context(), r.PathValue("id"), kind, key, who(r), time.Now()); err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("profile item deleted", "profile", r.PathValue("id"), "kind", kind, "key", key, "by", who(r))
	writeJSON(w, map[string]any{"deleted": map[string]string{"kind": kind, "key": key}})
}

func (s *server) networkMap(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fq := store.FlowQuery{Cluster: q.Get("cluster"), Namespace: q.Get("namespace"), Workload: q.Get("workload")}
	var err error
	if fq.Since, fq.Until, err = rangeParams(q); err != nil {
		s.fail(w, err)
		return
	}
	if fq.Since.IsZero() {
		fq.Since = time.Now().Add(-time.Hour)
	}
	if l := q.Get("limit"); l != "" {
		if fq.Limit, err = strconv.Atoi(l); err != nil || fq.Limit < 1 || fq.Limit > 5000 {
			s.fail(w, apiError{"limit: a number from 1 to 5000"})
			return
		}
	}
	m, err := s.cfg.Store.NetworkMap(r.Context(), fq)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, m)
}

// Bounds of what one dry run reads of stored events.
const (
	dryRunContainers = 50
	dryRunEvents     = 10000
)

// profileEvents reads the stored exec, connect, bind and listen events of
// the profile's containers since (agents with --console-events store
// them), oldest first, at most dryRunEvents of each of the
// dryRunContainers most recently seen containers.
func (s *server) profileEvents(ctx context.Context, id string, since time.Time) ([]event.Event, error) {
	cs, err := s.cfg.Store.ProfileContainers(ctx, id, since, dryRunContainers)
	if err != nil {
		return nil, err
	}
	var out []event.Event
	for _, c := range cs {
		raws, err := s.cfg.Store.Events(ctx, store.EventQuery{Cluster: c.Cluster, Node: c.Node, Container: c.ID, Since: since, Limit: dryRunEvents})
		if err != nil {
			return nil, err
		}
		for _, raw := range raws {
			var e event.Event
			if json.Unmarshal(raw, &e) == nil && (e.Type == event.Exec || e.Type == event.Connect || e.Type == event.Bind || e.Type == event.Listen) {
				out = append(out, e)
			}
		}
	}
	return out, nil
}
