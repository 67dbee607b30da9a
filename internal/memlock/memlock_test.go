package memlock

import "testing"

func TestMemcgAccounting(t *testing.T) {
	for release, want := range map[string]bool{
		"6.18.0-1-cloud-amd64": true, "5.11.0": true, "5.15.153.1-microsoft-standard-WSL2": true,
		"5.10.220-209.869.amzn2.x86_64": false, "4.19.0-27-amd64": false, "5": false, "garbage": false, "10.0": true,
	} {
		if got := memcgAccounting(release); got != want {
			t.Errorf("memcgAccounting(%q) = %v, want %v", release, got, want)
		}
	}
}

// TestRemove: on the kernels mamori's tests run on (5.11 and later) there
// is nothing to raise, and Remove must not fail where the process may not
// raise its limits.
func TestRemove(t *testing.T) {
	if err := Remove(); err != nil {
		t.Fatal(err)
	}
}
