package kernelbtf

import "testing"

// TestCacheIsSharedUntilReleased: every load in a start-up gets the same
// cache (one decoding of the kernel's BTF), and Release lets it go.
func TestCacheIsSharedUntilReleased(t *testing.T) {
	a, b := Cache(), Cache()
	if a != b {
		t.Fatal("two calls gave two caches: each load would decode the kernel's BTF again")
	}
	Release()
	if c := Cache(); c == a {
		t.Fatal("Release kept the cache: the decoded types would stay in memory")
	}
}
