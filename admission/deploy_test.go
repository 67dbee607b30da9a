package admission

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/mamori-dev/mamori/policy"
	"github.com/mamori-dev/mamori/workload"
)

// TestDeployManifests keeps deploy/admission honest: the policies in its
// ConfigMap load, and the webhook's own Deployment passes both them and
// the default admission policy but for its placeholder image, which is
// not pinned by digest until the operator puts theirs in.
func TestDeployManifests(t *testing.T) {
	dir := filepath.Join("..", "deploy", "admission")
	cmText, err := os.ReadFile(filepath.Join(dir, "policies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(cmText, &cm); err != nil || cm.Data["admission.yaml"] == "" {
		t.Fatalf("policies.yaml: %v", err)
	}
	ps, err := policy.Parse("policies.yaml#admission.yaml", []byte(cm.Data["admission.yaml"]))
	if err != nil {
		t.Fatalf("the ConfigMap's policies do not load: %v", err)
	}

	depText, err := os.ReadFile(filepath.Join(dir, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ms := ParseManifests("deployment.yaml", depText)
	if len(ms.Objects) != 1 || len(ms.Errors) != 0 {
		t.Fatalf("deployment.yaml: %+v", ms)
	}
	spec := ms.Objects[0].Object.Spec("")
	for _, set := range []workload.Policies{&fixed{ps}, DefaultPolicies()} {
		for _, r := range (&workload.Checker{}).Evaluate(spec, set).Results {
			if r.Control != "imageReferences" {
				t.Errorf("the webhook's own Deployment breaks %s/%s: %s", r.Control, r.Check, r.Reason)
			}
		}
	}

	wh, err := os.ReadFile(filepath.Join(dir, "webhook.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"pods", "replicationcontrollers", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs", "cronjobs"} {
		if !strings.Contains(string(wh), kind) {
			t.Errorf("webhook.yaml does not send %s", kind)
		}
	}
	if !strings.Contains(string(wh), "path: "+ValidatePath) || !strings.Contains(string(wh), "values: [mamori]") {
		t.Errorf("webhook.yaml: wrong path or its own namespace is not excluded")
	}
}
