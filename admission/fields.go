package admission

import (
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/mamori-dev/mamori/internal/textdist"
)

// kindTypes are the Go types the API server decodes each kind into.
var kindTypes = map[string]reflect.Type{
	"Pod":                   reflect.TypeFor[corev1.Pod](),
	"Deployment":            reflect.TypeFor[appsv1.Deployment](),
	"StatefulSet":           reflect.TypeFor[appsv1.StatefulSet](),
	"DaemonSet":             reflect.TypeFor[appsv1.DaemonSet](),
	"ReplicaSet":            reflect.TypeFor[appsv1.ReplicaSet](),
	"ReplicationController": reflect.TypeFor[corev1.ReplicationController](),
	"Job":                   reflect.TypeFor[batchv1.Job](),
	"CronJob":               reflect.TypeFor[batchv1.CronJob](),
}

// unknownField describes a field path the kind does not have: the field's
// name, where it sits, and the known field it is most likely a typo of
// ("" when none is close).
func unknownField(kind, path string) (name, parent, meant string) {
	segs := splitPath(path)
	if len(segs) == 0 {
		return path, "", ""
	}
	name = segs[len(segs)-1]
	parent = strings.TrimSuffix(strings.TrimSuffix(path, name), ".")
	t, ok := kindTypes[kind]
	if !ok {
		return name, parent, ""
	}
	for _, seg := range segs[:len(segs)-1] {
		if t = fieldType(t, seg); t == nil {
			return name, parent, ""
		}
	}
	return name, parent, textdist.Nearest(name, jsonFields(t))
}

// fieldType is the type one path segment leads to from t: a field of a
// struct by its JSON name, an element of a list ("[2]") or of a map.
func fieldType(t reflect.Type, seg string) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return t.Elem()
	case reflect.Struct:
		for _, f := range structFields(t) {
			if f.name == seg {
				return f.typ
			}
		}
	}
	return nil
}

// jsonFields lists the JSON names of t's fields, inlined ones included.
func jsonFields(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for _, f := range structFields(t) {
		names = append(names, f.name)
	}
	return names
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// structFields are a struct's fields as encoding/json sees them: by the
// name in their json tag, embedded and ",inline" structs flattened.
func structFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if (f.Anonymous && name == "" || strings.Contains(opts, "inline")) && ft.Kind() == reflect.Struct {
			out = append(out, structFields(ft)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name, f.Type})
	}
	return out
}
