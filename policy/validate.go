package policy

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// validator checks one decoded policy and reports problems at the
// positions the decoder recorded.
type validator struct {
	p    *Policy
	errs *errorList
}

func reflectValue(p *Policy) reflect.Value { return reflect.ValueOf(p).Elem() }

func (v *validator) errorf(path string, format string, args ...any) {
	v.errs.addf(v.p.At(path), format, args...)
}

// set reports whether the document spells out path.
func (v *validator) set(path string) bool {
	_, ok := v.p.pos[path]
	return ok
}

// header checks what every mamori document starts with: apiVersion,
// kind (want, described as what), and metadata.name.
func (v *validator) header(apiVersion, kind, want, what, name string) {
	switch {
	case !v.set("apiVersion"):
		v.errorf("", "apiVersion is missing; add `apiVersion: %s`", APIVersion)
	case apiVersion != APIVersion:
		v.errorf("apiVersion", "apiVersion %q is not supported; use %q", apiVersion, APIVersion)
	}
	switch {
	case !v.set("kind"):
		v.errorf("", "kind is missing; add `kind: %s`", want)
	case kind != want:
		v.errorf("kind", "kind %q is not %s; use %q", kind, what, want)
	}
	switch {
	case name == "":
		v.errorf("metadata", "metadata.name is missing; every policy needs a unique name")
	case len(name) > 253 || !policyName.MatchString(name):
		v.errorf("metadata.name", "metadata.name %q is not a valid name; use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", name)
	}
}

// A name as Kubernetes allows for most objects (RFC 1123 subdomain).
var policyName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func (p *Policy) validate(errs *errorList) {
	v := &validator{p: p, errs: errs}
	v.header(p.APIVersion, p.Kind, Kind, "a policy", p.Metadata.Name)
	if !v.set("spec") {
		v.errorf("", "spec is missing; a policy needs spec.mode, spec.scope and spec.controls")
		return
	}
	if v.set("spec.mode") && !p.Spec.Mode.valid() {
		v.errorf("spec.mode", "unknown mode %q; use %q or %q", p.Spec.Mode, Enforce, Audit)
	}
	if p.Spec.Scope == nil {
		v.errorf("spec", "spec.scope is missing; write `scope: {container: {}}` to apply to every container")
	} else {
		p.Spec.Scope.validate(v, "spec.scope")
	}
	p.Spec.Controls.validate(v, "spec.controls")
}

// checkf reports msg at path when bad is true.
func (v *validator) checkf(bad bool, path, format string, args ...any) {
	if bad {
		v.errorf(path, format, args...)
	}
}

func plural(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %ss", n, one)
}

func itoa(i int) string { return strconv.Itoa(i) }

func containsSlash(s string) bool { return strings.IndexByte(s, '/') >= 0 }

// oneOf checks that every entry of a list is one of the known names.
func (v *validator) oneOf(path string, list []string, known []string, what string) {
	for i, s := range list {
		if !slices.Contains(known, s) {
			v.errorf(path+"["+itoa(i)+"]", "unknown %s %q; %s", what, s, didYouMean(s, known))
		}
	}
}
