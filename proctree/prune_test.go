package proctree

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPrune(t *testing.T) {
	root := t.TempDir()
	for _, pid := range []string{"1", "10"} {
		if err := os.Mkdir(filepath.Join(root, pid), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tr := New(Config{ProcRoot: root}, nil)
	for _, e := range boot { // 1, 10 and 20; 20's exit was lost
		tr.Update(e)
	}
	if n := tr.Prune(); n != 1 {
		t.Errorf("pruned %d, want 1", n)
	}
	if _, exited, ok := tr.Lookup(20); !ok || !exited {
		t.Errorf("20: exited %v ok %v; want kept as exited", exited, ok)
	}
	if _, exited, _ := tr.Lookup(10); exited {
		t.Error("10 is still in /proc but was marked exited")
	}
	if n := tr.Prune(); n != 0 {
		t.Errorf("second prune marked %d", n)
	}
	if s := tr.Stats(); s.Pruned != 1 || s.Exited != 1 || s.Live != 2 {
		t.Errorf("stats %+v", s)
	}
}
