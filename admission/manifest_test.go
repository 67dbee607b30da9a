package admission

import (
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/mamori-dev/mamori/workload"
)

const helmOutput = `---
# Source: shop/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
---
# Source: shop/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      hostPID: true
      containers:
        - name: web
          image: nginx
          securityContext:
            privileged: true
---
---
apiVersion: v1
kind: List
items:
  - apiVersion: batch/v1
    kind: Job
    metadata: {name: migrate}
    spec:
      template:
        spec:
          volumes:
            - name: sock
              hostPath: {path: /var/run/docker.sock}
          containers: [{name: m, image: "reg.example/m:1"}]
`

// TestParseManifestsLines: documents, comments, an empty document and a
// List are read; field paths turn into the lines of the fields, and a
// missing field into the line of the nearest thing present.
func TestParseManifestsLines(t *testing.T) {
	ms := ParseManifests("shop.yaml", []byte(helmOutput))
	if len(ms.Errors) != 0 || ms.Skipped != 1 || len(ms.Objects) != 2 {
		t.Fatalf("objects %d, skipped %d, errors %v", len(ms.Objects), ms.Skipped, ms.Errors)
	}
	dep, job := ms.Objects[0], ms.Objects[1]
	if dep.Object.Kind != "Deployment" || dep.Line != 9 || job.Object.Kind != "Job" || job.Object.Name != "migrate" {
		t.Fatalf("objects: %+v %+v", dep.Object, job.Object)
	}
	for _, tc := range []struct {
		m         *Manifest
		path      string
		line, col int
	}{
		{dep, "spec.template.spec.hostPID", 17, 7},
		{dep, "spec.template.spec.containers[0].image", 20, 11},
		{dep, "spec.template.spec.containers[0].securityContext.privileged", 22, 13},
		{dep, "spec.template.spec.containers[0].securityContext.runAsNonRoot", 21, 11}, // missing: its securityContext
		{dep, "spec.template.spec.containers[3].image", 18, 7},                         // no such container: the list
		{job, "spec.template.spec.volumes[0].hostPath.path", 36, 26},
	} {
		if l, c := tc.m.Position(tc.path); l != tc.line || c != tc.col {
			t.Errorf("%s: %d:%d, want %d:%d", tc.path, l, c, tc.line, tc.col)
		}
	}
}

func TestParseManifestsErrors(t *testing.T) {
	for _, tc := range []struct {
		text, want string
		line       int
	}{
		{"kind: Pod\nspec:\n  containers: [\n", "did not find expected node content", 4},
		{"kind: Pod\nspec:\n  containers:\n  - name: a\n    image: b\n   securityContext: {}\n", "did not find expected key (while parsing a block mapping that starts at 3:3)", 6},
		{"apiVersion: v1\nkind: Pod\nspec:\n  hostPID: maybe\n", "cannot unmarshal string", 1},
		{"- 1\n- 2\n", "not a Kubernetes object", 1},
		{"apiVersion: v1\nmetadata: {name: x}\n", "has no kind", 1},
		{"apiVersion: v1\nkind: List\nitems: {a: b}\n", "items is not a list", 3},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: a, image: b}]}\n---\n{{ .Values.broken }}\n", "", 6},
	} {
		ms := ParseManifests("m.yaml", []byte(tc.text))
		if len(ms.Errors) != 1 || !strings.Contains(ms.Errors[0].Msg, tc.want) || ms.Errors[0].Line != tc.line {
			t.Errorf("%q: errors %v, want one at line %d with %q", tc.text, ms.Errors, tc.line, tc.want)
		}
	}
}

// FuzzParseManifests: no input makes the manifest reader or the checks
// panic, and every field a finding names resolves to a line in the file.
func FuzzParseManifests(f *testing.F) {
	f.Add([]byte(helmOutput))
	f.Add([]byte("apiVersion: v1\nkind: Pod\nspec: {hostNetwork: true, containers: [{name: a, image: b, ports: [{containerPort: 22, hostPort: 22}]}]}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("kind: CronJob\nspec: {jobTemplate: {spec: {template: {spec: {securityContext: {runAsUser: 0}}}}}}\n"))
	f.Add([]byte("kind: DeploymentList\nitems: [{kind: List, items: [{kind: Pod}]}]\n"))
	f.Add([]byte(`{"kind":"Pod","spec":{"containers":[{"name":"x","image":"y","securityContext":{"privileged":true}}]}}`))
	policies := DefaultPolicies()
	f.Fuzz(func(t *testing.T, data []byte) {
		ms := ParseManifests("fuzz.yaml", data)
		lines := strings.Count(string(data), "\n") + 1
		for _, m := range ms.Objects {
			for _, r := range (&workload.Checker{}).Evaluate(m.Object.Spec("default"), policies).Results {
				if l, _ := m.Position(r.Field); l < 1 || l > lines {
					t.Fatalf("finding %v at line %d of %d", r.Finding, l, lines)
				}
			}
		}
	})
}

// FuzzReview: no AdmissionReview body makes the webhook panic, and every
// review it accepts gets a response with the request's uid.
func FuzzReview(f *testing.F) {
	obj, _ := wrap("CronJob", "nightly", badPod(), map[string]string{"app": "nightly"})
	req := request(f, obj, "batch")
	b, _ := json.Marshal(&admissionv1.AdmissionReview{Request: req})
	f.Add(strings.Replace(string(b), `{"request"`, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request"`, 1))
	f.Add(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"kind":"Pod"},"operation":"CREATE","object":{"spec":{"containers":[{}]}}}}`)
	f.Add(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"kind":"Pod"},"operation":"CREATE","object":null}}`)
	rv := NewReviewer(Config{Policies: staticSource{DefaultPolicies()}})
	f.Fuzz(func(t *testing.T, body string) {
		review, err := DecodeReview([]byte(body))
		if err != nil {
			return
		}
		resp := rv.Review(review.Request)
		if resp == nil || resp.UID != review.Request.UID || !resp.Allowed && resp.Result == nil {
			t.Fatalf("response %+v to %s", resp, body)
		}
	})
}

// TestParseManifestsUnknownFields: a misspelt field is an error at its
// key, with the field meant, and the object is not checked (kubectl would
// refuse it); without this, "imagee" left a container with no image.
func TestParseManifestsUnknownFields(t *testing.T) {
	const text = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      securityContxt: {runAsNonRoot: true}
      containers:
      - name: a
        imagee: nginx:1.27
      - name: b
        image: nginx:1.27
        securityContext: {zzzzzzzz: true}
`
	ms := ParseManifests("m.yaml", []byte(text))
	var got []string
	for _, e := range ms.Errors {
		got = append(got, e.Error())
	}
	want := []string{
		`m.yaml:7:7: Deployment web: unknown field "securityContxt" in spec.template.spec; did you mean "securityContext"?`,
		`m.yaml:10:9: Deployment web: unknown field "imagee" in spec.template.spec.containers[0]; did you mean "image"?`,
		`m.yaml:13:27: Deployment web: unknown field "zzzzzzzz" in spec.template.spec.containers[1].securityContext; remove it or fix its name (kubectl apply refuses the object)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(ms.Objects) != 0 {
		t.Errorf("%d objects checked, want none", len(ms.Objects))
	}
}
