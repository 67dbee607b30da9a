package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/internal/podmantest"
)

// A chart's rendered output split over two files, the way a repository of
// manifests looks: multi-document YAML, a List, an object that holds no
// pod, and a file that is not YAML.
var checkTree = map[string]string{
	"web.yaml": `# Source: shop/templates/web.yaml
apiVersion: v1
kind: Service
metadata: {name: web}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:latest
          securityContext:
            privileged: true
            runAsNonRoot: true
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
`,
	"jobs/batch.yml": `apiVersion: v1
kind: List
items:
  - apiVersion: batch/v1
    kind: CronJob
    metadata: {name: report}
    spec:
      schedule: "@daily"
      jobTemplate:
        spec:
          template:
            spec:
              hostNetwork: true
              securityContext: {runAsNonRoot: true}
              containers:
                - name: report
                  image: reg.example/report:2@sha256:` + strings.Repeat("ab", 32) + `
                  securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true}
`,
	"README.txt": "not a manifest\n",
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCheckDirectoryLines runs `mamori check --json` over a directory and
// asserts every finding's file, line and column: the privileged field,
// the image field, the pod-level hostNetwork inside a CronJob in a List.
func TestCheckDirectoryLines(t *testing.T) {
	dir := writeTree(t, checkTree)
	var out, errb strings.Builder
	err := execute([]string{"check", "-o", "json", dir}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "4 findings under enforcing policies") {
		t.Fatalf("want an error for 4 enforced findings, got %v\n%s", err, out.String())
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if rep.Files != 2 || rep.Objects != 2 || rep.Skipped != 1 || len(rep.Errors) != 0 {
		t.Errorf("files %d objects %d skipped %d errors %v", rep.Files, rep.Objects, rep.Skipped, rep.Errors)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, fmt.Sprintf("%s:%d:%d %s %s/%s %s", strings.TrimPrefix(f.File, dir+"/"), f.Line, f.Column, f.Mode, f.Control, f.Check, f.Name))
	}
	want := []string{
		"jobs/batch.yml:13:15 enforce limitContainerPrivileges/hostNetwork report",
		"web.yaml:20:13 enforce limitContainerPrivileges/privileged web",
		"web.yaml:18:11 enforce imageReferences/latestTag web",
		"web.yaml:18:11 enforce imageReferences/noDigest web",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The text form: one line per finding, file:line:col first.
	out.Reset()
	errb.Reset()
	execute([]string{"check", filepath.Join(dir, "web.yaml")}, &out, &errb)
	if !strings.Contains(out.String(), "/web.yaml:20:13: refused: Deployment shop/web: container \"web\" is privileged") ||
		!strings.Contains(errb.String(), "1 workload in 1 file (1 other object skipped): 3 refused") {
		t.Errorf("text output:\n%s\n%s", out.String(), errb.String())
	}
}

// TestCheckAuditPolicyPasses: under an auditing policy the same findings
// are warnings and the exit status is 0; a namespace scope that does not
// match leaves the file clean.
func TestCheckAuditPolicyPasses(t *testing.T) {
	dir := writeTree(t, checkTree)
	pol := filepath.Join(t.TempDir(), "audit.yaml")
	os.WriteFile(pol, []byte(`apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: shop-trial}
spec:
  mode: audit
  scope: {kubernetes: {namespace: shop}}
  controls:
    limitContainerPrivileges: {block: [privileged]}
`), 0o644)
	var out, errb strings.Builder
	if err := execute([]string{"check", "--policy", pol, dir}, &out, &errb); err != nil {
		t.Fatalf("audit findings must not fail the check: %v", err)
	}
	if n := strings.Count(out.String(), ": warning: "); n != 1 || !strings.Contains(out.String(), "web.yaml:20:13: warning:") ||
		!strings.Contains(out.String(), "policy shop-trial]") {
		t.Errorf("want one warning for the privileged web container:\n%s", out.String())
	}
}

func TestCheckUsageAndBrokenFiles(t *testing.T) {
	var out, errb strings.Builder
	var uerr usageError
	if err := execute([]string{"check"}, &out, &errb); !errors.As(err, &uerr) {
		t.Errorf("no paths: %v, want a usage error", err)
	}
	if err := execute([]string{"check", "/nonexistent/manifests"}, &out, &errb); !errors.As(err, &uerr) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing path: %v, want a usage error", err)
	}
	dir := writeTree(t, map[string]string{"bad.yaml": "apiVersion: v1\nkind: Pod\nspec:\n  containers: {{ .Values.c }}\n"})
	errb.Reset()
	err := execute([]string{"check", dir}, &out, &errb)
	if err == nil || errors.As(err, &uerr) || !strings.Contains(err.Error(), "1 manifest problem") ||
		!strings.Contains(errb.String(), "bad.yaml:1: Pod: invalid map key") {
		t.Errorf("a broken manifest: %v\n%s", err, errb.String())
	}
}

// TestCheckImageStore: with --image-db, mamori check asks the registered
// images store: a pod of the registered test image passes, one of an
// unregistered image is refused with the line of its image.
func TestCheckImageStore(t *testing.T) {
	podmantest.Require(t)
	db := filepath.Join(t.TempDir(), "images.db")
	if out, err := exec.Command(mamoriBin, "image", "register", "--image-db", db, "podman:"+podmantest.Image).CombinedOutput(); err != nil {
		t.Fatalf("register: %v\n%s", err, out)
	}
	dir := t.TempDir()
	pol := filepath.Join(dir, "registered.yaml")
	os.WriteFile(pol, []byte(`apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: registered}
spec:
  mode: enforce
  scope: {kubernetes: {}}
  controls:
    blockUnregisteredImages: {}
`), 0o644)
	manifest := filepath.Join(dir, "pods.yaml")
	os.WriteFile(manifest, []byte(`apiVersion: v1
kind: Pod
metadata: {name: ok}
spec:
  containers:
  - name: app
    image: `+podmantest.Image+`
---
apiVersion: v1
kind: Pod
metadata: {name: stranger}
spec:
  containers:
  - name: app
    image: docker.io/library/nginx:1.27
`), 0o644)
	var out, errb strings.Builder
	err := execute([]string{"check", "--policy", pol, "--image-db", db, manifest}, &out, &errb)
	if err == nil || strings.Count(out.String(), "not registered") != 1 || !strings.Contains(out.String(), "pods.yaml:15:5: refused") {
		t.Errorf("want one refusal, of the unregistered image at line 15 (err %v):\n%s%s", err, out.String(), errb.String())
	}
}
