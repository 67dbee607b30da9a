package policy

import (
	"testing"
)

func TestBuiltinLoads(t *testing.T) {
	ps := Builtin()
	if len(ps) != 1 || ps[0].Name() != "mamori-default" || ps[0].Mode() != Audit || !ps[0].Builtin() {
		t.Fatalf("built-in policies: %+v", ps)
	}
	dp := ps[0].Spec.Controls.DriftPrevention
	if !dp.On() {
		t.Fatal("the built-in default does not turn Drift Prevention on")
	}
	e := Merge(&Target{Container: &ContainerFacts{ID: "c"}}, ps)
	if e.Mode("driftPrevention") != Audit {
		t.Errorf("every container: driftPrevention mode %q, want audit", e.Mode("driftPrevention"))
	}
	if e := Merge(&Target{}, ps); e.Mode("driftPrevention") != "" {
		t.Errorf("the host: driftPrevention mode %q, want none", e.Mode("driftPrevention"))
	}
}
