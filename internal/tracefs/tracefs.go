// Package tracefs mounts the kernel's tracing file system where a node
// has not. A tracepoint is attached through it (its events' ids), and
// cilium/ebpf looks for its mount once a process and keeps what it found:
// had anything attached a tracepoint, or tried, before the mount, every
// later attach would fail for want of it. Ensure runs before the first.
package tracefs

import (
	"os"

	"golang.org/x/sys/unix"
)

// Path is where the tracing file system is mounted.
const Path = "/sys/kernel/tracing"

// Ensure mounts the tracing file system at Path unless its events are
// there already, and says whether it mounted it.
func Ensure() (mounted bool, err error) {
	if _, err := os.Stat(Path + "/events"); err == nil {
		return false, nil
	}
	if err := unix.Mount("nodev", Path, "tracefs", 0, ""); err != nil {
		return false, &os.PathError{Op: "mount tracefs", Path: Path, Err: err}
	}
	return true, nil
}
