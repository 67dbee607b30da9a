// Package enforce owns mamori's enforcement mechanisms: the kernel-side and
// permission-handler code that refuses what a policy forbids, before it
// happens: Drift Prevention (a container may run only the programs its
// image shipped), the exec checks that share its fanotify handler
// (executable block list by path, name or SHA-256; no new privileges
// through set-user-ID, set-group-ID or file capabilities), and network
// refusal (Net: destinations for connect() and sendmsg(), and the ports
// bind() may take). It must not resolve container metadata (the caller passes
// a ContainerRef) or decide policy (the caller says which containers,
// which mode, which exceptions, and passes matchers for its lists).
//
// # What counts as drift
//
// An exec, or a file mapped executable (mmap with PROT_EXEC: the dynamic
// loader run on a file, LD_PRELOAD, dlopen), whose file is, in the
// kernel's own terms: on the container's overlayfs upper layer (new, or
// an image file copied up by a write or chmod); an anonymous memory file
// (memfd); unlinked; or on a writable mount other than the root that the
// caller did not list in ExecMounts. Read-only mounts are not drift, nor
// is a mapping the kernel refuses itself (a noexec mount). No signatures,
// no hashes of content.
//
// # Which processes are the container's
//
// Those in its cgroup v2 or below it, and those that left it: a
// privileged container can mount cgroup2 and move itself to the root
// cgroup. The kernel programs then recognise the process by its PID
// namespace (Protect records the container's; a task cannot change its
// own, and one it creates is a child that the programs walk up from), or,
// for a container without one of its own (--pid host), by its mount
// namespace, which a task can leave (unshare -m). The verdict names the
// container and says OutsideCgroup.
//
// # Mechanisms, strongest first; every Verdict names the one that acted
//
//   - lsm: lsm/bprm_check_security and lsm/mmap_file return -EPERM.
//     Built and tried at start-up; they load only where BPF LSM is
//     enabled, and are not tested on kernels without it.
//   - fanotify: one FAN_CLASS_CONTENT group per container with
//     FAN_OPEN_EXEC_PERM marks on each of its exec-capable mounts; the
//     handler answers FAN_DENY and execve fails with EPERM. It decides in
//     user space: statx and readlink of the event's fd, then whether the
//     path exists in the overlay's upper directory and, where overlayfs
//     shows lower inode numbers unchanged (checked at Protect), whether the
//     inode is the one the topmost lower layer holds at that path. memfd
//     execs never reach it (the memfd lives on an internal mount nobody can
//     mark), nor do files on mounts made after Protect, nor mappings.
//     The marks are on the container's mounts, so they hold for a process
//     that left the container's cgroup.
//   - sigkill: tp_btf/sched_process_exec reads ovl_inode.__upperdentry,
//     the memfd name, i_nlink and the mount, and sends SIGKILL before the
//     program's first instruction; tp_btf/sys_enter does the same for an
//     mmap with PROT_EXEC of a drifted file, before the mapping exists
//     (see mapexec.go). Always loaded; it alone stops memfd execs and
//     mappings, and it backs fanotify up whenever the handler is late or
//     wrong. Audit mode uses only this line: it reports and never kills.
//
// # Exec checks
//
// ContainerRef.Exec is judged by the fanotify handler only, before drift,
// for every exec on the container's marked mounts, in any drift Mode
// (Off included): there is no kernel-side line for them on a kernel
// without BPF LSM. Refusing says whether the handler is in place. A check
// answered late by the watchdog's allow is reported as block-failed.
//
// # Failure policy
//
// A fanotify decision that takes longer than Config.DecisionTimeout is
// answered by a watchdog: FAN_ALLOW by default (the sigkill line then kills
// a drifted program anyway), FAN_DENY with Config.FailClosed. If the agent
// dies, the kernel closes its fanotify groups (pending and future execs
// are allowed) and its BPF links (no more kills): enforcement ends with
// the agent and no workload is left unable to exec. A stopped agent
// (SIGSTOP, a debugger) is different: execs on marked mounts wait until it
// runs again; supervise the agent with a watchdog that kills it.
//
// # Limits
//
// Execs in a container before Protect returns are not judged; Protect
// takes about a millisecond, and is best called from an OCI hook or the
// runtime's start event. A script an interpreter reads (sh /tmp/x.sh,
// python3 x.py) is neither exec'd nor mapped and is not refused by any
// mechanism here: ScriptArg and Drift.DriftedFile let the caller report
// it; a script run directly (./x.sh) is refused by fanotify, since its own
// open for exec is judged. A mapping made without PROT_EXEC and later
// made executable with mprotect is not judged (see mapexec.go). Allowed
// names and patterns (AllowMatch) are matched by the fanotify handler at
// exec; a mapping never reaches it, so a drifted library is allowed only
// by an exact path in Allow. A process that left its cgroup and also
// joined the host's PID namespace (setns on a host process's namespace
// file, which it must be able to open), or, in a container without its own
// PID namespace, left its mount namespace, is no longer recognised.
package enforce
