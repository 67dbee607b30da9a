// Package kernelbtf decodes the kernel's BTF once for all of a process's
// BPF loads. The feature probes, the sensor and the enforcers each load
// programs whose relocations or attach targets need the kernel's types,
// and cilium/ebpf decodes /sys/kernel/btf/vmlinux afresh for every load
// that is not given a shared btf.Cache: nine times, about 40 ms each, in
// an agent's start-up before this package.
//
// The decoded types take several megabytes, so the agent releases them
// once it is ready; a load after that (a BPF LSM program attached on a
// later policy) decodes them again, as it would have anyway.
package kernelbtf

import (
	"sync"

	"github.com/cilium/ebpf/btf"
)

var (
	mu    sync.Mutex
	cache *btf.Cache
)

// Cache returns the shared cache, for ebpf.CollectionOptions.Cache. The
// kernel's types are decoded by its first use.
func Cache() *btf.Cache {
	mu.Lock()
	defer mu.Unlock()
	if cache == nil {
		cache = btf.NewCache()
	}
	return cache
}

// Release drops the shared cache, so that the decoded types can be freed
// once no load needs them; a later Cache starts a new one.
func Release() {
	mu.Lock()
	cache = nil
	mu.Unlock()
}
