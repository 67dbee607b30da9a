package imagestore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEmptyStoreFile: a 0-byte database file (truncated, or made by hand)
// is reported, not read as "no image registered" (nor silently turned
// into an empty database).
func TestEmptyStoreFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "images.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{ReadOnly: true}, {}} {
		_, err := Open(path, opts)
		if err == nil || !strings.Contains(err.Error(), "image store "+path+" is empty (0 bytes)") ||
			!strings.Contains(err.Error(), "remove it") {
			t.Errorf("Open(%+v): %v", opts, err)
		}
	}
	if fi, _ := os.Stat(path); fi.Size() != 0 {
		t.Errorf("the empty file was written to: %d bytes", fi.Size())
	}
}

// TestCorruptStoreFile: a file that is not a whole SQLite database (cut
// short, overwritten) fails the integrity check on open.
func TestCorruptStoreFile(t *testing.T) {
	reg := newRegistry(t)
	path := filepath.Join(t.TempDir(), "images.db")
	s := open(t, path, Options{})
	reg.push(t, "shop/api", "1", "v1", "")
	if _, err := s.Register(context.Background(), scan(t, reg.host+"/shop/api:1", "")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	data, _ := os.ReadFile(path)
	for i := len(data) / 2; i < len(data); i++ {
		data[i] = 0xa5 // the later pages overwritten
	}
	os.WriteFile(path, data, 0o644)
	if _, err := Open(path, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "failed its integrity check") {
		t.Errorf("Open of a damaged store: %v", err)
	}
}

// TestStoreReplacedInPlace: a database copied over the store's file (same
// inode, new content) is answered from, not from the copy read before.
func TestStoreReplacedInPlace(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	dir := t.TempDir()
	a, b := reg.host+"/shop/a:1", reg.host+"/shop/b:1"
	reg.push(t, "shop/a", "1", "a", "")
	reg.push(t, "shop/b", "1", "b", "")
	for _, tc := range []struct{ file, ref string }{{"one.db", a}, {"two.db", b}} {
		w, err := Open(filepath.Join(dir, tc.file), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Register(ctx, scan(t, tc.ref, "")); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	path := filepath.Join(dir, "one.db")
	r := open(t, path, Options{ReadOnly: true})
	if _, ok := r.Lookup(a); !ok {
		t.Fatal("a not registered in one.db")
	}
	before, _ := os.Stat(path)
	two, _ := os.ReadFile(filepath.Join(dir, "two.db"))
	if err := os.WriteFile(path, two, 0o644); err != nil { // in place: the same inode
		t.Fatal(err)
	}
	if after, _ := os.Stat(path); inode(after) != inode(before) {
		t.Fatal("the copy made a new inode; this test wants the same one")
	}
	if _, ok := r.Lookup(b); !ok {
		t.Error("after the copy, b (registered in the new content) is not found")
	}
	if _, ok := r.Lookup(a); ok {
		t.Error("after the copy, a (only in the old content) is still found")
	}
}
