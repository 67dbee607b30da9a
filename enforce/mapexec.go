package enforce

import "log/slog"

// Programs loaded without execve. The dynamic loader run on a file (ld.so
// /tmp/x), LD_PRELOAD and dlopen map a file's code with mmap(PROT_EXEC)
// and never exec it, so neither fanotify's FAN_OPEN_EXEC_PERM nor
// sched_process_exec sees it. drift.bpf.c judges such a mapping with the
// same classification as an exec:
//
//   - lsm: lsm/mmap_file returns -EPERM where BPF LSM loads; mmap fails,
//     the loader reports an error and the process goes on.
//   - sigkill: tp_btf/sys_enter, for mmap (and the 32-bit mmap2 and
//     old_mmap), sends SIGKILL from the calling task before the mapping
//     exists; the process dies on its way back to user space, before any
//     instruction of the file runs. Audit mode reports only.
//
// The sigkill line reads the file behind the mmap's fd at syscall entry; a
// second thread that replaces that fd (dup2) between then and the
// kernel's own lookup maps a file that was not judged. Standard loaders do
// not race with themselves, and a program written to race could as well
// load its code into anonymous memory; lsm/mmap_file judges the file
// itself and has no such window.
//
// mprotect(PROT_EXEC) of a mapping made without PROT_EXEC is not judged:
// a program that can call mprotect can as well copy the code into
// anonymous memory, which no file rule can judge, and .NET's JIT maps a
// memfd PROT_NONE and mprotects it executable (its W^X double mapping),
// which would be killed as memfd drift.

// MappingMechanism names what stops a drifted file mapped executable on
// this node: LSM where lsm/mmap_file loaded, else SIGKILL.
func (d *Drift) MappingMechanism() Mechanism {
	if d.k.lsmMmapErr == nil {
		return LSM
	}
	return SIGKILL
}

func logMappingLine(log *slog.Logger, k *kernel) {
	if k.lsmMmapErr != nil {
		log.Info("drift: BPF LSM mmap_file unavailable; a drifted file mapped executable (ld.so, LD_PRELOAD, dlopen) is killed at mmap entry",
			"reason", k.lsmMmapErr)
		return
	}
	log.Info("drift: BPF LSM mmap_file attached; a drifted file mapped executable fails with EPERM")
}
