package api

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/mamori-dev/mamori/console/falco"
)

// falcoPath is where Falco's http_output posts (http_output.url).
const falcoPath = "/api/v1/falco"

// maxFalcoBody bounds one Falco alert.
const maxFalcoBody = 1 << 20

// falco is POST /api/v1/falco[?cluster=NAME]: one alert in Falco's JSON,
// stored as an agent's alert would be (its uuid, or one derived from its
// content, makes a retried post stored once).
func (s *server) falco(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFalcoBody))
	if err != nil {
		s.fail(w, apiError{"body: " + err.Error()})
		return
	}
	cluster := r.URL.Query().Get("cluster")
	if cluster == "" {
		cluster = "falco"
	}
	a, err := falco.FromFalco(body, cluster)
	if err != nil {
		s.fail(w, apiError{err.Error()})
		return
	}
	raw, _ := json.Marshal(a)
	if err := s.cfg.Ingest(a, raw); err != nil {
		s.log.Error("falco alert not taken", "err", err)
		httpError(w, http.StatusServiceUnavailable, "the console could not take the alert now; retry")
		return
	}
	writeJSON(w, map[string]string{"uuid": a.UUID})
}
