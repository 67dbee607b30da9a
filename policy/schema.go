package policy

import (
	"reflect"
)

// Schema is the OpenAPI v3 schema of a policy document's spec, derived
// from the same Go types the decoder fills, so that a Kubernetes
// CustomResourceDefinition built from it cannot drift from what mamori
// reads. kind is Kind or AssuranceKind.
//
// The schema says what a structural OpenAPI schema can: the keys of each
// mapping (unknown keys are pruned by the API server, or refused under
// kubectl's strict field validation), the type of every value, the two
// modes, durations, and that spec.controls sets at least one control.
// Two things it cannot say are left open for mamori's own validation,
// which runs when the policy is loaded: a pattern list is one string or a
// list of strings, which no structural type covers; and scopes nest
// (all, any, not), where a structural schema cannot recurse, so a scope
// inside another is any object. So are the checks between fields (names
// in block lists, CIDRs, globs).
func Schema(kind string) map[string]any {
	var t reflect.Type
	switch kind {
	case Kind:
		t = reflect.TypeFor[Spec]()
	case AssuranceKind:
		t = reflect.TypeFor[AssuranceSpec]()
	default:
		return nil
	}
	s := schemaOf(t, map[reflect.Type]bool{})
	if kind == Kind {
		s["required"] = []string{"controls"}
	} else {
		s["required"] = []string{"rules"}
	}
	return s
}

var (
	modeType     = reflect.TypeFor[Mode]()
	durationType = reflect.TypeFor[Duration]()
	patternsType = reflect.TypeFor[Patterns]()
	controlsType = reflect.TypeFor[Controls]()
)

// goDuration is what time.ParseDuration reads, less the sign.
const goDuration = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

func schemaOf(t reflect.Type, open map[reflect.Type]bool) map[string]any {
	switch t {
	case modeType:
		return map[string]any{"type": "string", "enum": []string{string(Audit), string(Enforce)}}
	case durationType:
		return map[string]any{"type": "string", "pattern": goDuration}
	case patternsType:
		return map[string]any{"x-kubernetes-preserve-unknown-fields": true,
			"description": "a glob, or a list of globs"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem(), open)
	case reflect.Struct:
		if open[t] {
			return map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
		}
		open[t] = true
		defer delete(open, t)
		props := map[string]any{}
		for _, f := range fieldsOf(t) {
			props[f.name] = schemaOf(t.FieldByIndex(f.index).Type, open)
		}
		s := map[string]any{"type": "object", "properties": props}
		if t == controlsType {
			s["minProperties"] = 1
		}
		return s
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), open), "maxItems": maxList}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), open)}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	}
	panic("policy.Schema: no schema for " + t.String())
}
