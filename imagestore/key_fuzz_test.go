package imagestore

import "testing"

// FuzzKey: any reference a workload may carry (an admission request is
// untrusted) normalises without panicking, and a key is its own key, so
// that what Register files is what Lookup finds.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"nginx", "nginx:1.27", "docker.io/library/nginx:1.27", "localhost/a:b", "registry:5000/a/b:v2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "sha256:abc", "a@b", ":", "/", "@", "a:b:c", "a/b:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		k := Key(ref)
		if k != "" && Key(k) != k {
			t.Errorf("Key(%q) = %q, but Key(%q) = %q", ref, k, k, Key(k))
		}
	})
}
