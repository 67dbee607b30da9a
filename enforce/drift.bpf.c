//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
//
// Drift Prevention's kernel side. For a task of a protected container,
// decide at exec, and when a file is mapped executable (ld.so, LD_PRELOAD,
// dlopen), whether the program came with the container's image, and if
// not, report it and (in enforce mode) kill it.
//
// A task belongs to a protected container when its cgroup v2 id is in the
// `enforced` map, or, when it is not, when its PID namespace (or, for a
// container that shares the host's, its mount namespace) is in `ns_owners`:
// a privileged container can move its processes out of its cgroup, but no
// task can change its own PID namespace.
//
// tp_btf/sched_process_exec runs after the new image is installed and
// before the program's first user-space instruction: a SIGKILL sent here is
// delivered on the way back to user space, so nothing of the program runs.
// This is the last line behind fanotify's FAN_OPEN_EXEC_PERM (which answers
// EPERM earlier and more politely, but cannot see memfd execs) and the
// first line where BPF LSM is absent. Where BPF LSM loads,
// lsm/bprm_check_security refuses the exec with -EPERM instead.
//
// The decision reads only the file's struct file: the same facts whatever
// path or trick was used to reach it.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define SB_RDONLY 1
#define MNT_RO 0x40 /* MNT_READONLY */
#define SIGKILL 9
#define EPERM 1
#define MAX_DEPTH 40
#define NAME_MAX 255
#define FILENAME_LEN 256
#define NAME_LEN 64
#define TASK_COMM_LEN 16
#define PROT_EXEC 0x4
#define MAP_ANONYMOUS 0x20
#define TS_COMPAT 0x0002 /* x86 thread_info.status: a 32-bit syscall is running */
#define MAX_PIDNS_LEVEL 32 /* the kernel's own limit on PID namespace nesting */
#define PATH_BUF 512

/* x86-64 syscall numbers: mmap; and for 32-bit tasks (or int 0x80),
 * old_mmap (arguments in a user-space struct) and mmap2. */
#define NR_MMAP 9
#define NR_IA32_OLD_MMAP 90
#define NR_IA32_MMAP2 192

/* Modes, as user space writes them into struct policy. */
#define MODE_AUDIT 1
#define MODE_ENFORCE 2

/* policy.flags */
#define POLICY_HAS_ALLOW (1 << 0) /* the allow map holds paths for this cgroup */

/* Reasons, in the order they are checked. */
enum reason {
	R_NONE = 0,
	R_MEMFD = 1,
	R_DELETED = 2,
	R_UPPER = 3,
	R_VOLUME = 4,
	R_MAPPED = 5, /* a drifted file mapped executable; file_reason says why it is drift */
};

/* Actions. */
enum action {
	A_AUDITED = 1,
	A_KILLED = 2,
	A_DENIED = 3, /* lsm: the exec failed with EPERM */
	A_KILL_FAILED = 4,
};

/* verdict.flags */
#define VF_OUTSIDE_CGROUP (1 << 0) /* the task is neither in its container's cgroup nor below it */
#define VF_BY_PIDNS (1 << 1)       /* its container was found by its PID namespace */
#define VF_BY_MNTNS (1 << 2)       /* ... by its mount namespace (the container has no PID namespace) */

/* ns_owner.kind */
#define NS_PID 1
#define NS_MNT 2

/* Mechanisms. */
enum mechanism {
	M_SIGKILL = 1,
	M_LSM = 2,
};

struct policy {
	__u32 mode;
	__u32 flags;
	__u32 root_dev; /* s_dev of the container's root overlay, major<<20|minor */
	__u32 pad;
};

struct allow_key {
	__u64 cgroup_id;
	__u64 hash; /* path_hash() of an absolute path in the container */
};

struct mount_key {
	__u64 cgroup_id;
	__u32 mnt_id;
	__u32 pad;
};

/* The container a PID or mount namespace belongs to. */
struct ns_owner {
	__u64 cgroup_id;
	__u32 cgroup_level; /* depth of cgroup_id below the cgroup v2 root */
	__u32 kind;         /* NS_PID or NS_MNT */
	/* For NS_PID: when the namespace's init started, in clock ticks since
	 * boot (as /proc/PID/stat gives it); 0 when unknown. Namespace inode
	 * numbers are reused as soon as a namespace dies: the number alone
	 * would take a new container's namespace for a dead one's. */
	__u64 reaper_start;
};

/* USER_HZ: /proc reports times in hundredths of a second on every
 * architecture the kernel supports today. */
#define NS_PER_TICK 10000000ULL

struct verdict {
	__u64 ts;        /* CLOCK_BOOTTIME ns */
	__u64 cgroup_id; /* the container's, also for a task outside it */
	__u64 ino;
	__u32 pid;       /* tgid */
	__u32 dev;       /* kernel dev_t: major<<20|minor */
	__u32 mnt_id;
	__u8 reason;
	__u8 action;
	__u8 mechanism;
	__u8 flags;       /* VF_* */
	__u8 file_reason; /* for R_MAPPED: why the file is drift */
	__u8 pad[3];
	__u32 ns_inum;    /* the namespace that named the container, with VF_BY_* */
	char comm[TASK_COMM_LEN];   /* the task's name */
	char filename[FILENAME_LEN]; /* as passed to execve; for a mapping, the file's path in the container */
	char name[NAME_LEN];         /* the file's own dentry name */
};

/* bpf2go emits Go types only for types in the object's BTF. */
const struct verdict *unused_verdict __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* cgroup v2 id */
	__type(value, struct policy);
} enforced SEC(".maps");

/* PID namespace or mount namespace inode → the container it belongs to.
 * nsfs gives every namespace of any type a distinct inode number, so both
 * kinds share one map. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct ns_owner);
} ns_owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct allow_key);
	__type(value, __u8);
} allow SEC(".maps");

/* Mounts (other than the root) from which a container may exec, e.g. a
 * writable volume the user declared as holding programs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct mount_key);
	__type(value, __u8);
} exec_mounts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} verdicts SEC(".maps");

/* Counts verdicts the ring buffer had no room for; index 0. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

struct name_buf {
	char b[NAME_MAX + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct name_buf);
} name_scratch SEC(".maps");

struct path_buf {
	/* A name of up to NAME_MAX bytes is written at an offset below
	 * PATH_BUF: the tail keeps every such write inside the buffer. */
	char b[PATH_BUF + NAME_MAX + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_buf);
} path_scratch SEC(".maps");

/* Set by user space once lsm/mmap_file is attached: that program refuses
 * executable mappings in enforce mode, and drift_mmap only reports the
 * audit-mode ones. */
__u32 lsm_mmap = 0;

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* path_hash walks from the file up to the root of the container's root
 * file system (the top of its mount namespace, or the root of the overlay
 * whose s_dev is root_dev), crossing mounts, and hashes the components leaf
 * first, each followed by '/': FNV-1a 64 over "c/b/a/" for /a/b/c.
 * pathHash in allow.go computes the same from a string. The task's own
 * root is deliberately not where the walk stops: a chroot inside the
 * container must not make a dropped file look like an allowed path.
 * A path deeper than MAX_DEPTH or with a component the scratch buffer cannot
 * hold hashes to 0, which no allowed path has. */
static __u64 path_hash(struct path *file, __u32 root_dev)
{
	__u32 zero = 0;
	struct name_buf *nb = bpf_map_lookup_elem(&name_scratch, &zero);
	if (!nb)
		return 0;
	struct dentry *dentry = BPF_CORE_READ(file, dentry);
	struct vfsmount *vfsmnt = BPF_CORE_READ(file, mnt);
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	__u64 h = FNV_OFFSET;

	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		if (dentry == BPF_CORE_READ(vfsmnt, mnt_root)) {
			/* The overlay's own root, not a bind mount of a directory in it. */
			if (BPF_CORE_READ(vfsmnt, mnt_sb, s_dev) == root_dev &&
			    dentry == BPF_CORE_READ(vfsmnt, mnt_sb, s_root))
				return h;
			struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);
			if (parent == mnt)
				return h; /* the top of a namespace the root is not in */
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = parent;
			vfsmnt = &parent->mnt;
			continue;
		}
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
		if (parent == dentry)
			return h;
		__u32 len = BPF_CORE_READ(dentry, d_name.len);
		if (len > NAME_MAX)
			return 0;
		if (bpf_probe_read_kernel(nb->b, len & NAME_MAX, BPF_CORE_READ(dentry, d_name.name)) < 0)
			return 0;
		for (__u32 i = 0; i < NAME_MAX; i++) {
			if (i >= len)
				break;
			h ^= (__u8)nb->b[i];
			h *= FNV_PRIME;
		}
		h ^= '/';
		h *= FNV_PRIME;
		dentry = parent;
	}
	return 0;
}

/* subject is the protected container a task belongs to. */
struct subject {
	__u64 cgroup_id; /* the container's */
	struct policy *pol;
	__u32 ns_inum;
	__u8 flags; /* VF_* */
};

/* owner finds the container a task outside every protected cgroup belongs
 * to: the innermost of its PID namespaces that a container owns (so that a
 * PID namespace made inside the container still counts as the
 * container's), else its mount namespace, for containers that share the
 * host's PID namespace (--pid host). A task cannot change its own PID
 * namespace; it can change its mount namespace (unshare -m), which is why
 * that is only the fallback. */
static __always_inline struct ns_owner *owner(struct task_struct *task, __u32 *inum, __u8 *how)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	int level = BPF_CORE_READ(pid, level);
	/* numbers[i].ns is the namespace at depth i; level 0 is the host's. */
	struct upid *numbers = (void *)pid + bpf_core_field_offset(struct pid, numbers);
	for (int j = 0; j < MAX_PIDNS_LEVEL; j++) {
		int i = level - j;
		if (i <= 0)
			break;
		struct pid_namespace *ns = NULL;
		bpf_probe_read_kernel(&ns, sizeof(ns), &numbers[i].ns);
		*inum = BPF_CORE_READ(ns, ns.inum);
		struct ns_owner *o = bpf_map_lookup_elem(&ns_owners, inum);
		if (!o || o->kind != NS_PID)
			continue;
		/* The same number, another namespace: its init is not the one
		 * the container's namespace had. */
		__u64 start = BPF_CORE_READ(ns, child_reaper, start_boottime);
		if (o->reaper_start && start / NS_PER_TICK != o->reaper_start)
			continue;
		*how = VF_BY_PIDNS;
		return o;
	}
	*inum = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	struct ns_owner *o = bpf_map_lookup_elem(&ns_owners, inum);
	if (o && o->kind == NS_MNT) {
		*how = VF_BY_MNTNS;
		return o;
	}
	return NULL;
}

/* subject_of fills s for the current task and reports whether it belongs
 * to a protected container: by its cgroup, or, when its cgroup is not
 * protected, by its namespaces. */
static __always_inline bool subject_of(struct task_struct *task, struct subject *s)
{
	s->cgroup_id = bpf_get_current_cgroup_id();
	s->pol = bpf_map_lookup_elem(&enforced, &s->cgroup_id);
	s->flags = 0;
	s->ns_inum = 0;
	if (s->pol)
		return true;
	__u8 how = 0;
	struct ns_owner *o = owner(task, &s->ns_inum, &how);
	if (!o)
		return false;
	s->cgroup_id = o->cgroup_id;
	s->pol = bpf_map_lookup_elem(&enforced, &s->cgroup_id);
	if (!s->pol)
		return false;
	s->flags = how;
	/* Below the container's cgroup (a nested cgroup made inside it) is
	 * not outside it. */
	if (bpf_get_current_ancestor_cgroup_id(o->cgroup_level) != o->cgroup_id)
		s->flags |= VF_OUTSIDE_CGROUP;
	return true;
}

/* classify says why file is not part of the image, or R_NONE when it is
 * (or is allowed). One classification for execs and mappings. */
static __always_inline enum reason classify(struct file *exe, __u64 cgroup_id, struct policy *pol, __u32 *mnt_id)
{
	struct inode *ino = BPF_CORE_READ(exe, f_inode);
	struct vfsmount *vfsmnt = BPF_CORE_READ(exe, f_path.mnt);
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	*mnt_id = BPF_CORE_READ(mnt, mnt_id);

	char prefix[6] = {};
	bpf_probe_read_kernel(prefix, sizeof(prefix), BPF_CORE_READ(exe, f_path.dentry, d_name.name));
	if (prefix[0] == 'm' && prefix[1] == 'e' && prefix[2] == 'm' && prefix[3] == 'f' &&
	    prefix[4] == 'd' && prefix[5] == ':')
		return R_MEMFD;
	if (BPF_CORE_READ(ino, i_nlink) == 0)
		return R_DELETED;

	/* The container's root is recognised by its file system, not by the
	 * task's root: a chroot into a volume must not make the volume count
	 * as the root. */
	enum reason r = R_NONE;
	if (BPF_CORE_READ(ino, i_sb, s_dev) == pol->root_dev) {
		if (BPF_CORE_READ(ino, i_sb, s_magic) == OVERLAYFS_SUPER_MAGIC) {
			struct ovl_inode *oi = container_of(ino, struct ovl_inode, vfs_inode);
			if (BPF_CORE_READ(oi, __upperdentry))
				r = R_UPPER;
		}
	} else {
		int mnt_flags = BPF_CORE_READ(vfsmnt, mnt_flags);
		unsigned long sb_flags = BPF_CORE_READ(ino, i_sb, s_flags);
		if (!(mnt_flags & MNT_RO) && !(sb_flags & SB_RDONLY)) {
			struct mount_key mk = {.cgroup_id = cgroup_id, .mnt_id = *mnt_id};
			if (!bpf_map_lookup_elem(&exec_mounts, &mk))
				r = R_VOLUME;
		}
	}
	if (r == R_NONE || !(pol->flags & POLICY_HAS_ALLOW))
		return r;

	struct path fpath = {};
	bpf_probe_read_kernel(&fpath, sizeof(fpath), &exe->f_path);
	struct allow_key ak = {.cgroup_id = cgroup_id, .hash = path_hash(&fpath, pol->root_dev)};
	if (ak.hash && bpf_map_lookup_elem(&allow, &ak))
		return R_NONE;
	return r;
}

/* path_name writes the path of file inside the container into out,
 * walking up as path_hash does. A path too long for the buffer keeps its
 * last components and starts with "...". */
static __always_inline void path_name(struct file *f, __u32 root_dev, char *out)
{
	__u32 zero = 0;
	struct path_buf *pb = bpf_map_lookup_elem(&path_scratch, &zero);
	out[0] = 0;
	if (!pb)
		return;
	struct dentry *dentry = BPF_CORE_READ(f, f_path.dentry);
	struct vfsmount *vfsmnt = BPF_CORE_READ(f, f_path.mnt);
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	__u32 pos = PATH_BUF - 1;
	pb->b[pos] = 0;
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		if (dentry == BPF_CORE_READ(vfsmnt, mnt_root)) {
			if (BPF_CORE_READ(vfsmnt, mnt_sb, s_dev) == root_dev &&
			    dentry == BPF_CORE_READ(vfsmnt, mnt_sb, s_root))
				break;
			struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);
			if (parent == mnt)
				break;
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = parent;
			vfsmnt = &parent->mnt;
			continue;
		}
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
		if (parent == dentry)
			break;
		__u32 len = BPF_CORE_READ(dentry, d_name.len);
		if (len > NAME_MAX || len + 4 > pos) {
			pos -= 3;
			pos &= PATH_BUF - 1;
			pb->b[pos] = '.';
			pb->b[(pos + 1) & (PATH_BUF - 1)] = '.';
			pb->b[(pos + 2) & (PATH_BUF - 1)] = '.';
			break;
		}
		pos -= len;
		pos &= PATH_BUF - 1;
		bpf_probe_read_kernel(&pb->b[pos], len & NAME_MAX, BPF_CORE_READ(dentry, d_name.name));
		pos--;
		pos &= PATH_BUF - 1;
		pb->b[pos] = '/';
		dentry = parent;
	}
	if (pos == PATH_BUF - 1) {
		pos--;
		pb->b[pos] = '/'; /* the root itself */
	}
	bpf_probe_read_kernel_str(out, FILENAME_LEN, &pb->b[pos & (PATH_BUF - 1)]);
}

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);
	if (n)
		(*n)++;
}

static __always_inline void fill(struct verdict *v, struct task_struct *task, struct file *f,
				 struct subject *s, enum reason r, enum action a, enum mechanism m, __u32 mnt_id)
{
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	v->ts = bpf_ktime_get_boot_ns();
	v->cgroup_id = s->cgroup_id;
	v->ino = BPF_CORE_READ(ino, i_ino);
	v->pid = BPF_CORE_READ(task, tgid);
	v->dev = BPF_CORE_READ(ino, i_sb, s_dev);
	v->mnt_id = mnt_id;
	v->reason = r;
	v->action = a;
	v->mechanism = m;
	v->flags = s->flags;
	v->file_reason = 0;
	v->pad[0] = v->pad[1] = v->pad[2] = 0;
	v->ns_inum = s->ns_inum;
	bpf_get_current_comm(v->comm, sizeof(v->comm));
	if (bpf_probe_read_kernel_str(v->name, sizeof(v->name), BPF_CORE_READ(f, f_path.dentry, d_name.name)) < 0)
		v->name[0] = 0;
}

static __always_inline void report_exec(struct task_struct *task, struct linux_binprm *bprm,
					struct subject *s, enum reason r, enum action a,
					enum mechanism m, __u32 mnt_id)
{
	struct verdict *v = bpf_ringbuf_reserve(&verdicts, sizeof(*v), 0);
	if (!v) {
		count_lost();
		return;
	}
	/* At sched_process_exec comm is already the new program's name; the
	 * caller's name is gone, so this is the basename of the file. */
	fill(v, task, BPF_CORE_READ(bprm, file), s, r, a, m, mnt_id);
	if (bpf_probe_read_kernel_str(v->filename, sizeof(v->filename), BPF_CORE_READ(bprm, filename)) < 0)
		v->filename[0] = 0;
	bpf_ringbuf_submit(v, 0);
}

static __always_inline void report_map(struct task_struct *task, struct file *f, struct subject *s,
				       enum reason fr, enum action a, enum mechanism m, __u32 mnt_id)
{
	struct verdict *v = bpf_ringbuf_reserve(&verdicts, sizeof(*v), 0);
	if (!v) {
		count_lost();
		return;
	}
	fill(v, task, f, s, R_MAPPED, a, m, mnt_id);
	v->file_reason = fr;
	path_name(f, s->pol->root_dev, v->filename);
	bpf_ringbuf_submit(v, 0);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(drift_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct subject s;
	if (!subject_of(task, &s))
		return 0;
	__u32 mnt_id = 0;
	enum reason r = classify(BPF_CORE_READ(bprm, file), s.cgroup_id, s.pol, &mnt_id);
	if (r == R_NONE)
		return 0;
	enum action a = A_AUDITED;
	if (s.pol->mode == MODE_ENFORCE)
		a = bpf_send_signal(SIGKILL) == 0 ? A_KILLED : A_KILL_FAILED;
	report_exec(task, bprm, &s, r, a, M_SIGKILL, mnt_id);
	return 0;
}

/* Where BPF LSM loads, refuse the exec itself: execve returns EPERM and the
 * calling program keeps running, as with fanotify. Not loadable on kernels
 * without BPF LSM; the loader tries it and falls back. */
SEC("lsm/bprm_check_security")
int BPF_PROG(drift_bprm_check, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return ret;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct subject s;
	if (!subject_of(task, &s))
		return 0;
	__u32 mnt_id = 0;
	enum reason r = classify(BPF_CORE_READ(bprm, file), s.cgroup_id, s.pol, &mnt_id);
	if (r == R_NONE)
		return 0;
	if (s.pol->mode != MODE_ENFORCE) {
		/* Audit mode: sched_process_exec reports it once the exec is done. */
		return 0;
	}
	report_exec(task, bprm, &s, r, A_DENIED, M_LSM, mnt_id);
	return -EPERM;
}

/* classify_map says why an executable mapping of f is drift, or R_NONE. A
 * file on a noexec mount is left alone: the kernel refuses that mapping
 * itself, and killing a program that merely probes for it would be wrong. */
static __always_inline enum reason classify_map(struct file *f, struct subject *s, __u32 *mnt_id)
{
	int mnt_flags = BPF_CORE_READ(f, f_path.mnt, mnt_flags);
	if (mnt_flags & MNT_NOEXEC)
		return R_NONE;
	return classify(f, s->cgroup_id, s->pol, mnt_id);
}

/* fd_file returns the open file behind fd in task's file table, or NULL. */
static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
	if (fd < 0)
		return NULL;
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* drift_mmap catches a program loaded without execve: ld.so run on a
 * dropped file (ld.so /tmp/x), LD_PRELOAD or dlopen of a dropped library.
 * The dynamic loader maps the file's code with PROT_EXEC; at syscall entry
 * the task is the loader's, so bpf_send_signal kills it before the mmap
 * returns and before any instruction of the mapped file runs. Execs map
 * their program inside the kernel, not through this syscall, and are left
 * to drift_exec.
 *
 * tp_btf/sys_enter rather than the classic syscalls/sys_enter_mmap
 * tracepoint: it needs no tracefs mount and it also sees the 32-bit mmap
 * calls (a 32-bit ld.so, or int 0x80 from any task), which the classic
 * syscall tracepoints skip. The number check comes first. */
SEC("tp_btf/sys_enter")
int BPF_PROG(drift_mmap, struct pt_regs *regs, long id)
{
	if (id != NR_MMAP && id != NR_IA32_MMAP2 && id != NR_IA32_OLD_MMAP)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	bool compat = BPF_CORE_READ(task, thread_info.status) & TS_COMPAT;
	unsigned long prot, flags;
	long fd;
	if (id == NR_MMAP && !compat) {
		prot = BPF_CORE_READ(regs, dx);
		flags = BPF_CORE_READ(regs, r10);
		fd = (int)BPF_CORE_READ(regs, r8);
	} else if (id == NR_IA32_MMAP2 && compat) {
		prot = BPF_CORE_READ(regs, dx);
		flags = BPF_CORE_READ(regs, si);
		fd = (int)BPF_CORE_READ(regs, di);
	} else if (id == NR_IA32_OLD_MMAP && compat) {
		__u32 a[6] = {}; /* addr, len, prot, flags, fd, offset */
		if (bpf_probe_read_user(a, sizeof(a), (void *)BPF_CORE_READ(regs, bx)) < 0)
			return 0;
		prot = a[2];
		flags = a[3];
		fd = (int)a[4];
	} else {
		return 0;
	}
	if (!(prot & PROT_EXEC) || (flags & MAP_ANONYMOUS))
		return 0;
	struct subject s;
	if (!subject_of(task, &s))
		return 0;
	if (s.pol->mode == MODE_ENFORCE && lsm_mmap)
		return 0; /* lsm/mmap_file refuses it */
	struct file *f = fd_file(task, fd);
	if (!f)
		return 0;
	__u32 mnt_id = 0;
	enum reason r = classify_map(f, &s, &mnt_id);
	if (r == R_NONE)
		return 0;
	enum action a = A_AUDITED;
	if (s.pol->mode == MODE_ENFORCE)
		a = bpf_send_signal(SIGKILL) == 0 ? A_KILLED : A_KILL_FAILED;
	report_map(task, f, &s, r, a, M_SIGKILL, mnt_id);
	return 0;
}

/* Where BPF LSM loads, refuse the mapping: mmap fails with EPERM (ld.so
 * reports an error, dlopen returns NULL) and the program goes on. The
 * kernel's own mappings at exec pass here too; drift_bprm_check has
 * refused a drifted program before them. */
SEC("lsm/mmap_file")
int BPF_PROG(drift_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	if (ret)
		return ret;
	if (!file || !(prot & PROT_EXEC))
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct subject s;
	if (!subject_of(task, &s))
		return 0;
	if (s.pol->mode != MODE_ENFORCE)
		return 0; /* drift_mmap reports it */
	__u32 mnt_id = 0;
	enum reason r = classify_map(file, &s, &mnt_id);
	if (r == R_NONE)
		return 0;
	report_map(task, file, &s, r, A_DENIED, M_LSM, mnt_id);
	return -EPERM;
}
