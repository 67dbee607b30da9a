package k8s

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCRDFiles fails when the committed CustomResourceDefinitions differ
// from what the policy types make of them: run `go generate ./k8s`.
func TestCRDFiles(t *testing.T) {
	for _, r := range Resources {
		want, err := CRDFile(r)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("..", "deploy", "helm", "mamori", "crds", r.Plural+".yaml")
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s is stale: run `go generate ./k8s` and commit it", path)
		}
	}
}
