package imagestore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/policy"
	"github.com/mamori-dev/mamori/workload"
)

// TestCheckerWithStore runs the image controls as the agent's hook and the
// admission webhook do, with this store: without list files the store
// decides; with one, an image must be registered and listed; without a
// store, a list-less blockUnregisteredImages refuses what it cannot tell.
func TestCheckerWithStore(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "images.db"), Options{})
	good, bad, other := reg.host+"/shop/good:1", reg.host+"/shop/bad:1", reg.host+"/shop/other:1"
	goodDigest := reg.push(t, "shop/good", "1", "good", "app")
	reg.push(t, "shop/bad", "1", "bad", "")
	reg.push(t, "shop/other", "1", "other", "app")
	for _, rep := range []struct{ ref, policy string }{{good, ""}, {bad, strict}} {
		if _, err := s.Register(ctx, scan(t, rep.ref, rep.policy)); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	doc := func(name, controls string) string {
		return "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: " + name + "}\nspec:\n  mode: enforce\n  scope: {container: {}}\n  controls:\n" + controls
	}
	for name, body := range map[string]string{
		"store.yaml":  doc("store", "    blockUnregisteredImages: {}\n    blockNonCompliantImages: {}\n"),
		"listed.yaml": doc("listed", "    blockUnregisteredImages: {registeredImages: [registered.txt]}\n"),
		// The list names good and other: other is listed but not in the store.
		"registered.txt": good + "\n" + other + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	load := func(files ...string) *policy.Set {
		var paths []string
		for _, f := range files {
			paths = append(paths, filepath.Join(dir, f))
		}
		set, err := policy.Load(paths...)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	storeOnly, both := load("store.yaml"), load("store.yaml", "listed.yaml")

	tests := []struct {
		name   string
		set    *policy.Set
		images workload.Images
		image  string
		want   []string // control: part of the reason; nil for none
	}{
		{"registered and compliant", storeOnly, s, good, nil},
		{"by digest", storeOnly, s, reg.host + "/shop/good@" + goodDigest, nil},
		{"unregistered", storeOnly, s, other, []string{
			"blockUnregisteredImages: which is not registered; register it with `mamori image register`",
			"blockNonCompliantImages: which has no scan verdict"}},
		{"non-compliant", storeOnly, s, bad, []string{
			"blockNonCompliantImages: which is not compliant: no USER: the image runs as root (policy strict, requireNonRoot)"}},
		{"listed and registered", both, s, good, nil},
		{"listed, not registered", both, s, other, []string{
			"blockUnregisteredImages: which is not registered",
			"blockNonCompliantImages: which has no scan verdict"}},
		{"registered, not listed", both, s, bad, []string{
			"blockUnregisteredImages: which is not on the registered-images lists",
			"blockNonCompliantImages: which is not compliant"}},
		{"no store, no lists", storeOnly, nil, good, []string{
			"blockUnregisteredImages: whose registration mamori cannot tell: no image store was given",
			"blockNonCompliantImages: whose compliance mamori cannot tell"}},
		{"no store, listed", both, nil, good, []string{
			"blockNonCompliantImages: whose compliance mamori cannot tell"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &workload.Spec{Kind: "Container", Name: "c", Containers: []workload.Container{{Name: "c", Image: tt.image}}}
			k := workload.Checker{Images: tt.images}
			got := k.Check(spec, &tt.set.Effective(spec.Target(&spec.Containers[0])).Enforce.Controls)
			if len(got) != len(tt.want) {
				t.Fatalf("findings %v, want %d: %v", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				control, reason, _ := strings.Cut(w, ": ")
				if got[i].Control != control || !strings.Contains(got[i].Reason, reason) {
					t.Errorf("finding %d: %s: %s; want %s: ...%s...", i, got[i].Control, got[i].Reason, control, reason)
				}
			}
		})
	}
}
