package enforce

import (
	"fmt"
	"path"
	"strings"
)

const (
	fnvOffset = 0xcbf29ce484222325
	fnvPrime  = 0x100000001b3
)

// pathHash is the key of an allowed path in the kernel's allow map. It is
// what path_hash in drift.bpf.c computes while walking from a file up to the
// task's root: FNV-1a 64 over the components leaf first, each followed by
// '/' ("c/b/a/" for /a/b/c). Hashing leaf first lets the kernel hash as it
// walks, without building the path.
func pathHash(p string) uint64 {
	var h uint64 = fnvOffset
	comps := strings.Split(strings.Trim(p, "/"), "/")
	for i := len(comps) - 1; i >= 0; i-- {
		if comps[i] == "" {
			continue
		}
		for j := 0; j < len(comps[i]); j++ {
			h ^= uint64(comps[i][j])
			h *= fnvPrime
		}
		h ^= '/'
		h *= fnvPrime
	}
	return h
}

// cleanAllow checks and normalises the allow list: absolute paths, no
// patterns. A relative path would match nothing the kernel sees, so it is
// refused rather than silently ignored.
func cleanAllow(paths []string) ([]string, error) {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if !path.IsAbs(p) {
			return nil, fmt.Errorf("allow %q: must be an absolute path inside the container", p)
		}
		if strings.ContainsAny(p, "*?[") {
			return nil, fmt.Errorf("allow %q: patterns are not supported, name the file", p)
		}
		out = append(out, path.Clean(p))
	}
	return out, nil
}
