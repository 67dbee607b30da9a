package policy

import (
	"path/filepath"
	"testing"
)

// TestBlockUnregisteredImagesWithoutLists: the control needs no list
// files (the image store decides); merged with a policy that names a list,
// the list stays: an image must be registered and on it.
func TestBlockUnregisteredImagesWithoutLists(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"store-only.yaml":      named("store-only", scopeAll+"  mode: enforce\n  controls:\n    blockUnregisteredImages: {}\n    blockNonCompliantImages: {}\n"),
		"lists/registered.txt": "nginx:1.27\n",
	})
	s, err := Load(filepath.Join(dir, "store-only.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Effective(shopTarget()).Enforce.Controls
	if b := c.BlockUnregisteredImages; !b.On() || len(b.RegisteredImages) != 0 || !b.Registered(ParseImageRef("anything:1")) {
		t.Errorf("without lists: %+v; want on, with the store alone deciding", b)
	}
	if !c.BlockNonCompliantImages.On() {
		t.Error("blockNonCompliantImages is off")
	}

	writeFiles(t, dir, map[string]string{
		"listed.yaml": named("listed", scopeAll+"  mode: enforce\n  controls:\n    blockUnregisteredImages: {registeredImages: [lists/registered.txt]}\n"),
	})
	if s, err = Load(filepath.Join(dir, "store-only.yaml"), filepath.Join(dir, "listed.yaml")); err != nil {
		t.Fatal(err)
	}
	b := s.Effective(shopTarget()).Enforce.Controls.BlockUnregisteredImages
	if !b.On() || len(b.RegisteredImages) != 1 {
		t.Fatalf("merged: %+v; want enforce with the list", b)
	}
	if !b.Registered(ParseImageRef("nginx:1.27")) || b.Registered(ParseImageRef("nginx:1.28")) {
		t.Error("merged control does not hold to the list")
	}
}
