package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mamori-dev/mamori/policy"
	"github.com/mamori-dev/mamori/workload"
)

// Config is what a Reviewer needs.
type Config struct {
	// Policies gives the policies in force for each request.
	Policies Source
	// Images is the registered-images store; nil when there is none.
	Images workload.Images
	// Log receives one line per refused or audited request; nil logs
	// nothing.
	Log *slog.Logger
}

// Reviewer answers AdmissionReview requests with the verdict of the
// policies in force. It is an http.Handler for the webhook's path.
type Reviewer struct {
	cfg     Config
	checker workload.Checker
	memo    atomic.Pointer[memo] // for the policies Current returned last
}

// NewReviewer returns a Reviewer for cfg.
func NewReviewer(cfg Config) *Reviewer {
	return &Reviewer{cfg: cfg, checker: workload.Checker{Images: cfg.Images}}
}

// maxReview bounds a request body: the API server sends objects of at
// most a few MiB (etcd's limit is 1.5 MiB, and an UPDATE carries two).
const maxReview = 8 << 20

// Kubernetes truncates warnings longer than this.
const maxWarning = 256

// ServeHTTP decodes an AdmissionReview v1, reviews its request and writes
// the review back with the response.
func (rv *Reviewer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an AdmissionReview (admission.k8s.io/v1)", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		http.Error(w, "Content-Type must be application/json, not "+ct, http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReview+1))
	if err != nil {
		http.Error(w, "read the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxReview {
		http.Error(w, fmt.Sprintf("the AdmissionReview is larger than %d bytes", maxReview), http.StatusRequestEntityTooLarge)
		return
	}
	review, err := DecodeReview(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: rv.Review(review.Request)}
	b, err := json.Marshal(&out)
	if err != nil {
		http.Error(w, "encode the response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// DecodeReview decodes an AdmissionReview v1 that carries a request.
func DecodeReview(body []byte) (*admissionv1.AdmissionReview, error) {
	var review admissionv1.AdmissionReview
	if err := unmarshal(body, &review); err != nil {
		return nil, fmt.Errorf("decode the AdmissionReview: %w", err)
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got %q, %q (set admissionReviewVersions: [v1] in the webhook configuration)", review.APIVersion, review.Kind)
	}
	if review.Request == nil {
		return nil, fmt.Errorf("the AdmissionReview has no request")
	}
	return &review, nil
}

// Review judges one admission request. Requests that create or update a
// workload are checked; everything else (deletes, status and scale
// subresources, kinds that hold no pod) is allowed.
func (rv *Reviewer) Review(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update ||
		req.SubResource != "" && req.SubResource != "ephemeralcontainers" {
		return resp
	}
	obj, ok, err := Decode(req.Kind.Kind, req.Object.Raw)
	if !ok {
		return resp
	}
	if err != nil {
		resp.Allowed = false
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusBadRequest, Reason: metav1.StatusReasonBadRequest,
			Message: fmt.Sprintf("mamori could not read the %s: %v", req.Kind.Kind, err)}
		return resp
	}
	if obj.Name == "" {
		obj.Name = req.Name
	}
	spec := obj.Spec(req.Namespace)
	v := rv.checker.Evaluate(spec, rv.policies())
	enforced, audited := v.Mode(policy.Enforce), v.Mode(policy.Audit)
	for _, r := range audited {
		resp.Warnings = append(resp.Warnings, warning(r))
	}
	what := fmt.Sprintf("%s %s/%s", spec.Kind, spec.Namespace, spec.Name)
	if len(enforced) > 0 {
		resp.Allowed = false
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
			Message: denial(what, enforced)}
	}
	if rv.cfg.Log != nil {
		lvl := slog.LevelInfo
		if len(v.Results) == 0 {
			lvl = slog.LevelDebug
		}
		rv.cfg.Log.Log(context.Background(), lvl, "admission review", "object", what, "operation", string(req.Operation), "uid", string(req.UID),
			"allowed", resp.Allowed, "enforced", len(enforced), "audited", len(audited), "user", req.UserInfo.Username)
	}
	return resp
}

// policies returns the policies in force, with the cache of merged
// controls that belongs to them.
func (rv *Reviewer) policies() workload.Policies {
	cur := rv.cfg.Policies.Current()
	if m := rv.memo.Load(); m != nil && m.policies == cur {
		return m
	}
	m := newMemo(cur)
	rv.memo.Store(m)
	return m
}

// denial is the message kubectl prints: every reason, numbered.
func denial(what string, rs []workload.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mamori refused %s: %d violation", what, len(rs))
	if len(rs) != 1 {
		b.WriteString("s")
	}
	b.WriteString(" of enforcing policies:")
	for i, r := range rs {
		fmt.Fprintf(&b, "\n  %d. %s: %s [%s/%s, policy %s]", i+1, r.Field, r.Reason, r.Control, r.Check, strings.Join(r.Policies, ", "))
	}
	return b.String()
}

func warning(r workload.Result) string {
	s := fmt.Sprintf("mamori audit (%s): %s: %s", strings.Join(r.Policies, ", "), r.Field, r.Reason)
	if len(s) > maxWarning {
		s = strings.ToValidUTF8(s[:maxWarning-3], "") + "..."
	}
	return s
}
