// Package memlock lifts the locked-memory limit that Linux before 5.11
// charges BPF maps and programs against (later kernels charge the memory
// cgroup instead, and the limit does not matter).
//
// It replaces cilium/ebpf/rlimit, whose feature test runs at package
// initialisation and creates a BPF map in every process that links it:
// in mamori's one binary that was every command, including the OCI hook
// and the PAM check that run once per container and per login. Here
// nothing happens until Remove is called, by the code that loads BPF.
package memlock

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Remove makes the locked-memory limit no obstacle to loading BPF: on
// Linux 5.11 and later it does nothing, since BPF memory is charged to the
// memory cgroup; before, it raises RLIMIT_MEMLOCK to infinity, which needs
// CAP_SYS_RESOURCE (root has it).
func Remove() error {
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil && memcgAccounting(unix.ByteSliceToString(u.Release[:])) {
		return nil
	}
	inf := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &inf); err != nil {
		return fmt.Errorf("raise the locked-memory limit (RLIMIT_MEMLOCK) for BPF: %w", err)
	}
	return nil
}

// memcgAccounting reports whether a kernel release ("6.18.0-foo") charges
// BPF memory to the memory cgroup: 5.11 and later.
func memcgAccounting(release string) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return false
	}
	return major > 5 || major == 5 && minor >= 11
}
