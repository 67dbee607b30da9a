//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
//
// Drift Prevention's kernel side. For a task whose cgroup v2 id is in the
// `enforced` map, decide at exec whether the new program came with the
// container's image, and if not, report it and (in enforce mode) kill it.
//
// tp_btf/sched_process_exec runs after the new image is installed and
// before the program's first user-space instruction: a SIGKILL sent here is
// delivered on the way back to user space, so nothing of the program runs.
// This is the last line behind fanotify's FAN_OPEN_EXEC_PERM (which answers
// EPERM earlier and more politely, but cannot see memfd execs) and the
// first line where BPF LSM is absent. Where BPF LSM loads,
// lsm/bprm_check_security refuses the exec with -EPERM instead.
//
// The decision reads only the exec's struct file: the same facts whatever
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
};

/* Actions. */
enum action {
	A_AUDITED = 1,
	A_KILLED = 2,
	A_DENIED = 3, /* lsm: the exec failed with EPERM */
	A_KILL_FAILED = 4,
};

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

struct verdict {
	__u64 ts;        /* CLOCK_BOOTTIME ns */
	__u64 cgroup_id;
	__u64 ino;
	__u32 pid;       /* tgid */
	__u32 dev;       /* kernel dev_t: major<<20|minor */
	__u32 mnt_id;
	__u8 reason;
	__u8 action;
	__u8 mechanism;
	__u8 pad;
	char comm[TASK_COMM_LEN];   /* the name of the program that called exec */
	char filename[FILENAME_LEN]; /* as passed to execve */
	char name[NAME_LEN];         /* the executable's own dentry name */
};

/* bpf2go emits Go types only for types in the object's BTF. */
const struct verdict *unused_verdict __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* cgroup v2 id */
	__type(value, struct policy);
} enforced SEC(".maps");

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

/* classify says why the program in bprm is not part of the image, or
 * R_NONE when it is (or is allowed). */
static __always_inline enum reason classify(struct task_struct *task, struct linux_binprm *bprm,
					    __u64 cgroup_id, struct policy *pol, __u32 *mnt_id)
{
	struct file *exe = BPF_CORE_READ(bprm, file);
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

static __always_inline void report(struct task_struct *task, struct linux_binprm *bprm,
				   __u64 cgroup_id, enum reason r, enum action a,
				   enum mechanism m, __u32 mnt_id)
{
	struct verdict *v = bpf_ringbuf_reserve(&verdicts, sizeof(*v), 0);
	if (!v) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&lost, &zero);
		if (n)
			(*n)++;
		return;
	}
	struct file *exe = BPF_CORE_READ(bprm, file);
	struct inode *ino = BPF_CORE_READ(exe, f_inode);
	v->ts = bpf_ktime_get_boot_ns();
	v->cgroup_id = cgroup_id;
	v->ino = BPF_CORE_READ(ino, i_ino);
	v->pid = BPF_CORE_READ(task, tgid);
	v->dev = BPF_CORE_READ(ino, i_sb, s_dev);
	v->mnt_id = mnt_id;
	v->reason = r;
	v->action = a;
	v->mechanism = m;
	v->pad = 0;
	/* At sched_process_exec comm is already the new program's name; the
	 * caller's name is gone, so this is the basename of the file. */
	bpf_get_current_comm(v->comm, sizeof(v->comm));
	if (bpf_probe_read_kernel_str(v->filename, sizeof(v->filename), BPF_CORE_READ(bprm, filename)) < 0)
		v->filename[0] = 0;
	if (bpf_probe_read_kernel_str(v->name, sizeof(v->name), BPF_CORE_READ(exe, f_path.dentry, d_name.name)) < 0)
		v->name[0] = 0;
	bpf_ringbuf_submit(v, 0);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(drift_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 cgroup_id = bpf_get_current_cgroup_id();
	struct policy *pol = bpf_map_lookup_elem(&enforced, &cgroup_id);
	if (!pol)
		return 0;
	__u32 mnt_id = 0;
	enum reason r = classify(task, bprm, cgroup_id, pol, &mnt_id);
	if (r == R_NONE)
		return 0;
	enum action a = A_AUDITED;
	if (pol->mode == MODE_ENFORCE)
		a = bpf_send_signal(SIGKILL) == 0 ? A_KILLED : A_KILL_FAILED;
	report(task, bprm, cgroup_id, r, a, M_SIGKILL, mnt_id);
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
	__u64 cgroup_id = bpf_get_current_cgroup_id();
	struct policy *pol = bpf_map_lookup_elem(&enforced, &cgroup_id);
	if (!pol)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u32 mnt_id = 0;
	enum reason r = classify(task, bprm, cgroup_id, pol, &mnt_id);
	if (r == R_NONE)
		return 0;
	if (pol->mode != MODE_ENFORCE) {
		/* Audit mode: sched_process_exec reports it once the exec is done. */
		return 0;
	}
	report(task, bprm, cgroup_id, r, A_DENIED, M_LSM, mnt_id);
	return -EPERM;
}
