// Package enforce owns mamori's enforcement mechanisms: the kernel-side and
// permission-handler code that refuses what a policy forbids, before it
// happens. Today that is Drift Prevention: a container may run only the
// programs its image shipped.
//
// Drift Prevention stacks mechanisms, strongest first, and says which one
// acted in every Verdict:
//
//   - lsm: lsm/bprm_check_security returns -EPERM (only where BPF LSM
//     loads; not on kernels without it, where the probe says so).
//   - fanotify: a FAN_CLASS_CONTENT group per container with
//     FAN_OPEN_EXEC_PERM marks on the container's mounts; the handler
//     answers FAN_DENY and execve fails with EPERM.
//   - sigkill: tp_btf/sched_process_exec sends SIGKILL to a drifted program
//     before its first instruction. Always loaded; it alone sees memfd
//     execs, and it backs fanotify up when the handler is late or wrong.
//
// It decides from the kernel's own facts (overlayfs upper dentry, memfd,
// unlinked inode, the mount) and never signatures or hashes of content. It
// must not resolve container metadata (the caller passes a ContainerRef) or
// decide policy (the caller says which containers, which mode, which
// exceptions).
package enforce
