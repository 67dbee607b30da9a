package enforce

import (
	"time"
)

// Reason says why an executable is not part of the container's image.
type Reason string

const (
	// UpperLayer: the file is on the overlayfs upper layer: written after
	// the container started, or an image file that was modified or
	// chmod'ed (copied up).
	UpperLayer Reason = "upper-layer"
	// Memfd: the program was executed from an anonymous memory file.
	Memfd Reason = "memfd"
	// Deleted: the file had no name left when it was executed.
	Deleted Reason = "deleted"
	// Volume: the file is on a writable mount other than the root that
	// was not declared as holding programs.
	Volume Reason = "volume"
	// Mapped: a drifted file was mapped executable by a program that
	// was not exec'd from it: the dynamic loader run on it (ld.so
	// /tmp/x), LD_PRELOAD or dlopen of a dropped library. FileReason says
	// why the file is drift; Path is the file's path in the container.
	Mapped Reason = "mapped"
	// Blocklisted: the program's path, name or digest is on the
	// container's executable block list (ExecChecks.Blocked,
	// BlockedSHA256). Not drift: the file may come with the image.
	Blocklisted Reason = "blocklisted"
	// NewPrivileges: the program would raise its caller's privileges
	// (ExecChecks.NoNewPrivileges). Not drift.
	NewPrivileges Reason = "new-privileges"
	// NotAllowlisted: the program is not on the container's executable
	// allow list (ExecChecks.Allowed). Not drift: the file may come with
	// the image.
	NotAllowlisted Reason = "not-allowlisted"
)

// Drift reports whether r is a Drift Prevention reason, as opposed to one
// of the ExecChecks.
func (r Reason) Drift() bool {
	return r != Blocklisted && r != NewPrivileges && r != NotAllowlisted && r != ""
}

// Action says what was done about a drifted exec.
type Action string

const (
	// Blocked: the program did not run (execve failed, or the process was
	// killed before its first instruction).
	Blocked Action = "blocked"
	// Audited: the program ran; the container is in audit mode.
	Audited Action = "audited"
	// BlockFailed: enforce mode, but the kernel refused to deliver the
	// kill. Rare (e.g. the task was already exiting); always worth an alert.
	BlockFailed Action = "block-failed"
)

// Mechanism names what acted.
type Mechanism string

const (
	LSM      Mechanism = "lsm"
	Fanotify Mechanism = "fanotify"
	SIGKILL  Mechanism = "sigkill"
)

// Verdict reports one exec that was not part of the container's image.
type Verdict struct {
	Time      time.Time `json:"time"`
	Container string    `json:"container"` // ContainerRef.ID
	CgroupID  uint64    `json:"cgroup_id"`
	PID       uint32    `json:"pid"`
	// Path is the executable's path inside the container when known
	// (fanotify), else the name given to execve (sigkill, lsm), which may
	// be relative or /proc/self/fd/N for a memfd.
	Path string `json:"path"`
	// Name is the executable's own file name as the kernel knows it
	// (sigkill, lsm): "memfd:NAME" for a memfd.
	Name   string `json:"name,omitempty"`
	Inode  uint64 `json:"inode,omitempty"`
	SHA256 string `json:"sha256,omitempty"` // when a digest was computed
	// Detail says more about Reason: the privilege gained, the digest
	// matched.
	Detail    string    `json:"detail,omitempty"`
	Reason    Reason    `json:"reason"`
	Action    Action    `json:"action"`
	Mechanism Mechanism `json:"mechanism"`
	// FileReason, for Reason Mapped, says why the mapped file is drift:
	// UpperLayer, Memfd, Deleted or Volume.
	FileReason Reason `json:"file_reason,omitempty"`
	// OutsideCgroup: the process had left its container's cgroup (a
	// privileged container can move itself); it was recognised by its
	// PID namespace (or, for a container without one, its mount
	// namespace), and CgroupID is still the container's. Always worth a
	// Critical alert of its own: the container escaped its cgroup.
	OutsideCgroup bool `json:"outside_cgroup,omitempty"`
}
