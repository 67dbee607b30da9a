package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
)

func (s *server) incidents(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := store.IncidentQuery{Status: v.Get("status"), Cluster: v.Get("cluster"), Namespace: v.Get("namespace"),
		Node: v.Get("node"), Cursor: v.Get("cursor")}
	var err error
	if q.Since, err = timeParam(v.Get("since")); err != nil {
		s.fail(w, apiError{"since: " + err.Error()})
		return
	}
	if l := v.Get("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 1 || q.Limit > 1000 {
			s.fail(w, apiError{"limit: a number from 1 to 1000"})
			return
		}
	}
	page, err := s.cfg.Store.Incidents(r.Context(), q)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, page)
}

func (s *server) incident(w http.ResponseWriter, r *http.Request) {
	d, err := s.cfg.Store.Incident(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, d)
}

// setIncident is POST /api/v1/incidents/{id} with {"status": ..., "note": ...}.
func (s *server) setIncident(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Status string `json:"status"`
		Note   string `json:"note"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		s.fail(w, apiError{"body: " + err.Error() + ` (want {"status": "open|acknowledged|resolved", "note": "..."})`})
		return
	}
	in, err := s.cfg.Store.SetIncident(r.Context(), r.PathValue("id"), body.Status, body.Note, who(r))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, in)
}

// ProcessTree is one process as the stored events show it.
type ProcessTree struct {
	Process   *event.Process    `json:"process"`   // as its latest event shows it
	Ancestors []event.Process   `json:"ancestors"` // nearest first
	Children  []string          `json:"children"`  // their ids, in the order they appeared
	Events    []json.RawMessage `json:"events"`    // its events and its children's, oldest first
}

// process is GET /api/v1/processes/{id}: a process, its ancestry and its
// children, from the events agents sent (--console-events).
func (s *server) process(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	evs, err := s.cfg.Store.Events(r.Context(), store.EventQuery{ProcessID: id, Limit: 5000})
	if err != nil {
		s.fail(w, err)
		return
	}
	t := ProcessTree{Ancestors: []event.Process{}, Children: []string{}, Events: evs}
	seen := map[string]bool{}
	for _, raw := range evs {
		var e event.Event
		if json.Unmarshal(raw, &e) != nil {
			continue
		}
		p := e.Process
		switch {
		case p.ID == id:
			t.Ancestors = p.Ancestors
			p.Ancestors = nil
			t.Process = &p
		case p.ParentID == id && !seen[p.ID]:
			seen[p.ID] = true
			t.Children = append(t.Children, p.ID)
		}
	}
	if t.Process == nil && len(t.Children) == 0 {
		s.fail(w, store.ErrNotFound)
		return
	}
	writeJSON(w, t)
}
