package sigma

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// corpora is ../shared/corpora beside the repository.
func corpora(t testing.TB, parts ...string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(append([]string{filepath.Dir(file), "..", "..", "..", "shared", "corpora"}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("upstream data %s is absent (%v): it lives in ../shared/corpora beside the repository", p, err)
	}
	return p
}
