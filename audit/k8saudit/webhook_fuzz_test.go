package k8saudit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
)

// FuzzWebhook posts arbitrary bodies to the audit webhook, as any client
// that can reach it may: the envelope is read as a stream, and whatever
// it holds, the handler answers 200, 400 or 413 and never panics; a 200
// evaluated every item.
func FuzzWebhook(f *testing.F) {
	ev := `{"kind":"Event","auditID":"a","stage":"ResponseStarted","stageTimestamp":"2024-05-01T10:00:00Z","verb":"create","objectRef":{"resource":"pods","subresource":"exec"}}`
	for _, s := range []string{
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + ev + `,` + ev + `]}`,
		`{"items":[` + ev + `],"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1"}`,
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":null}`,
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":{"a":[1]}}`,
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[1,"x",{"kind":0}]} {}`,
		`[` + ev + `]`, `{"kind":"Event"}`, `{`, `{"kind":`, ``, `null`,
	} {
		f.Add([]byte(s))
	}
	rs := load(f, upstreamRules(f))
	f.Fuzz(func(t *testing.T, body []byte) {
		alerts := 0
		w, err := NewWebhook(WebhookConfig{Rules: rs, All: true, MaxBodyBytes: 1 << 16, Alert: func(*event.Alert) { alerts++ }})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if st := w.Stats(); st.Requests != 1 || st.BadEvents != 0 {
				t.Errorf("200 with stats %+v", st)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Errorf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
