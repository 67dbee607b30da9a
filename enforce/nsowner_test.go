package enforce

import (
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// TestLSMSharesEveryMap: the LSM programs are loaded on their own; every
// map of the object must be handed to them, or they would judge from
// empty copies.
func TestLSMSharesEveryMap(t *testing.T) {
	spec, err := loadDrift()
	if err != nil {
		t.Fatal(err)
	}
	shared := (&kernel{}).maps()
	for name := range spec.Maps {
		if strings.HasPrefix(name, ".") {
			continue // global variables: the LSM programs use none
		}
		if _, ok := shared[name]; !ok {
			t.Errorf("map %s is not shared with the LSM programs", name)
		}
	}
}

// TestNamespaceOwners: a namespace named by two policies (containers
// sharing a PID namespace, or a policy replaced before the old one is
// removed) keeps its entry until both are gone, naming the latest.
func TestNamespaceOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	k, err := loadKernel(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer k.close()
	owner := nsOwner{inum: 4026999999, kind: nsPID, cgroupLevel: 2}
	a := kernelPolicy{cgroupID: 1001, owner: owner}
	b := kernelPolicy{cgroupID: 1002, owner: owner}
	lookup := func() uint64 {
		var v driftNsOwner
		if err := k.objs.NsOwners.Lookup(owner.inum, &v); errors.Is(err, ebpf.ErrKeyNotExist) {
			return 0
		} else if err != nil {
			t.Fatal(err)
		}
		if v.Kind != nsPID || v.CgroupLevel != 2 {
			t.Errorf("entry %+v", v)
		}
		return v.CgroupId
	}
	steps := []struct {
		put  bool
		p    kernelPolicy
		want uint64
	}{
		{true, a, 1001}, {true, b, 1002}, {false, b, 1001}, {true, b, 1002}, {false, a, 1002}, {false, b, 0},
		{true, a, 1001}, {true, a, 1001}, {false, a, 1001}, {false, a, 0}, {false, a, 0},
	}
	for i, s := range steps {
		if s.put {
			err = k.put(s.p)
		} else {
			err = k.remove(s.p)
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := lookup(); got != s.want {
			t.Fatalf("step %d (put %v, cgroup %d): owner %d, want %d", i, s.put, s.p.cgroupID, got, s.want)
		}
	}
}
