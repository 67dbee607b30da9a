package k8s

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/mamori-dev/mamori/policy"
)

// Group is the API group of mamori's custom resources, the group of the
// policy documents' apiVersion (mamori.dev/v1).
const Group = "mamori.dev"

// Resource describes one of mamori's custom resources.
type Resource struct {
	Kind, Plural, Singular string
	ShortNames             []string
}

// GVR is the resource's group, version and plural name.
func (r Resource) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: Group, Version: "v1", Resource: r.Plural}
}

// Resources are the policy kinds that are Kubernetes objects.
var Resources = []Resource{
	{Kind: policy.Kind, Plural: "runtimepolicies", Singular: "runtimepolicy", ShortNames: []string{"rp"}},
	{Kind: policy.AssuranceKind, Plural: "imageassurancepolicies", Singular: "imageassurancepolicy", ShortNames: []string{"iap"}},
}

// statusSchema is the status every policy object carries: one entry per
// reporter (an agent's node, an admission webhook's pod), each written by
// that reporter alone (server-side apply, a list keyed by name).
var statusSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"reporters": map[string]any{
			"type":                       "array",
			"x-kubernetes-list-type":     "map",
			"x-kubernetes-list-map-keys": []string{"name"},
			"items": map[string]any{
				"type":     "object",
				"required": []string{"name", "state"},
				"properties": map[string]any{
					"name": map[string]any{"type": "string", "description": "the node (agent) or pod (admission webhook) reporting"},
					"state": map[string]any{"type": "string", "enum": []string{StateEnforcing, StateAuditing, StateValid, StateError},
						"description": "Enforcing or Auditing: in force in this mode; Valid: an image assurance policy that loaded; Error: not in force, see message"},
					"observedGeneration": map[string]any{"type": "integer", "format": "int64"},
					"message":            map[string]any{"type": "string"},
					"lastTransitionTime": map[string]any{"type": "string", "format": "date-time"},
				},
			},
		},
	},
}

// CRD is the CustomResourceDefinition of r as YAML: cluster-scoped (a
// policy's own scope says which namespaces it covers), with the spec's
// schema from policy.Schema, a status subresource, and columns that show
// each reporter's state.
func CRD(r Resource) ([]byte, error) {
	crd := map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata": map[string]any{
			"name":   r.Plural + "." + Group,
			"labels": map[string]any{"app.kubernetes.io/name": "mamori", "app.kubernetes.io/component": "policy"},
		},
		"spec": map[string]any{
			"group": Group,
			"scope": "Cluster",
			"names": map[string]any{
				"kind": r.Kind, "listKind": r.Kind + "List", "plural": r.Plural, "singular": r.Singular,
				"shortNames": r.ShortNames, "categories": []string{"mamori"},
			},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"subresources":             map[string]any{"status": map[string]any{}},
				"additionalPrinterColumns": columns(r),
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type":        "object",
					"description": r.Kind + ": a mamori policy document (docs/policies.md) kept in the API server",
					"required":    []string{"spec"},
					"properties": map[string]any{
						"apiVersion": map[string]any{"type": "string"},
						"kind":       map[string]any{"type": "string"},
						"metadata":   map[string]any{"type": "object"},
						"spec":       policy.Schema(r.Kind),
						"status":     statusSchema,
					},
				}},
			}},
		},
	}
	return yaml.Marshal(crd)
}

// CRDFile is CRD with a header saying where it comes from, as committed
// in the Helm chart's crds/ directory.
func CRDFile(r Resource) ([]byte, error) {
	b, err := CRD(r)
	if err != nil {
		return nil, err
	}
	header := "# The " + r.Kind + " CustomResourceDefinition. Generated from package policy's\n" +
		"# types by `go generate ./k8s`: do not edit.\n"
	return append([]byte(header), b...), nil
}

func columns(r Resource) []any {
	var cols []any
	if r.Kind == policy.Kind {
		cols = append(cols, map[string]any{"name": "Mode", "type": "string", "jsonPath": ".spec.mode"})
	}
	return append(cols,
		map[string]any{"name": "Reporters", "type": "string", "jsonPath": ".status.reporters[*].name"},
		map[string]any{"name": "States", "type": "string", "jsonPath": ".status.reporters[*].state"},
		map[string]any{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
	)
}
