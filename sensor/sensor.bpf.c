//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
//
// mamori's runtime sensor: process, file, network and privilege events from
// tracepoints that load on kernels without BPF LSM, fentry or kprobes.
//
// Process lifecycle comes from tp_btf/sched_process_{exec,fork,exit}, and
// moves between cgroups from tp_btf/cgroup_attach_task.
// Everything else comes from one tp_btf/sys_exit program driven by the
// `syscalls` map: user space writes, for each syscall
// number it wants, a spec saying which arguments are paths, fds or socket
// addresses and which in-kernel filter applies. The kernel side is thus a
// small interpreter of that spec and knows no syscall numbers itself, so the
// same object serves every architecture and the agent can turn event types
// on and off at run time.
//
// Every record is a fixed header, a fixed body for its kind, then a list of
// tagged, length-prefixed fields (TLV). The Go decoder in record.go is the
// only reader of this format; keep the two in step.
//
// All records share one ring buffer, so that they reach user space in the
// order they were made (an exec before the opens of the new program, the
// opens before the exit). Its last `reserve` bytes are kept for lifecycle
// records: a syscall record that would reach into them is turned away, so
// that a storm of file events cannot take the room that exec, fork, exit
// and cgroup moves need. Every record lost is counted by type and cause,
// and the boot time of the first and last loss is kept for user space.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TASK_COMM_LEN 16
#define MAX_PATH 4096
#define MAX_ARGS 4096
#define MAX_ENV 4096
#define MAX_COMPONENTS 64
#define MAX_STR 4096
#define SCRATCH_SIZE 32768
#define SCRATCH_MASK 16383 /* offsets stay below this; a write adds at most MAX_STR */
#define ROOM (SCRATCH_MASK - MAX_STR - 512) /* no new field starts past this */
#define SOCKADDR_MAX 128
#define BLOB_MAX 32
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_INET 2
#define AF_INET6 10
#define AF_PACKET 17
#define SOCK_RAW 3
#define O_ACCMODE 00000003
#define O_WRONLY 00000001
#define O_CREAT 00000100
#define O_TRUNC 00001000
#define FMODE_CREATED 0x100000
#define AT_FDCWD -100

/* bound forces a mask the compiler would drop as redundant, so that the
 * verifier sees the bound too. */
#define bound(x, mask) asm volatile("%0 &= " #mask : "+r"(x))

/* at masks an offset into the scratch buffer in a way the verifier sees. */
static __always_inline __u64 at(__u64 off)
{
	bound(off, 16383); /* SCRATCH_MASK */
	return off;
}

/* Record kinds. */
enum kind {
	K_EXEC = 1,
	K_FORK = 2,
	K_EXIT = 3,
	K_SYSCALL = 4,
	K_CGROUP_MOVE = 5,
	K_DNS = 6,       /* a DNS response a socket on the node received */
};

/* TLV tags. Tags 0x10+i, 0x20+i and 0x30+i carry argument i. */
enum tag {
	T_EXE = 1,      /* exec: resolved path of the executable */
	T_CWD = 2,      /* exec: working directory */
	T_ARGS = 3,     /* exec: NUL-separated argv as in /proc/pid/cmdline */
	T_FILENAME = 4, /* exec: the name passed to execve */
	T_RETPATH = 5,  /* syscall: path of the returned fd */
	T_SOCKADDR = 6, /* syscall: the user's sockaddr, raw */
	T_BLOB = 7,     /* syscall: a fixed-size user struct (open_how, cap data) */
	T_SOCK = 8,     /* syscall: struct sock_info of the socket involved */
	T_CGROUP = 9,   /* cgroup move: path of the destination below the v2 root */
	T_ENV = 10,     /* exec: NUL-separated environment, as in /proc/pid/environ */
	T_FILE = 11,    /* syscall: struct file_info of the opened file */
	T_DATA = 12,    /* syscall: the first bytes sent or received */
	T_STR = 0x10,   /* + i: user string in argument i */
	T_FDPATH = 0x20,/* + i: path of the fd in argument i */
	T_DIR = 0x30,   /* + i: directory that relative string i is resolved in */
};

/* Filters applied in the kernel, so that what no one needs never crosses. */
enum filter {
	F_NONE = 0,
	F_OPEN = 1,    /* writes; reads and failures only as open_cfg says */
	F_SOCKET = 2,  /* packet and raw sockets only */
	F_DUP = 3,     /* only when the new fd is 0, 1 or 2 */
	F_SUCCESS = 4, /* successful calls only */
	F_PATHS = 5,   /* calls on paths: as the keys of each path argument's class say */
	F_CONNECT = 6, /* as connect_config says */
};

#define ARG_NONE 0xff
#define ARG_RET 6
#define DIR_CWD 0xfe

struct syscall_spec {
	__u16 code;            /* mamori's own id for the syscall, echoed back */
	__u8 filter;
	__u8 str_args;         /* bit i: argument i is a user string */
	__u8 fd_args;          /* bit i: argument i is an fd; send its path */
	__u8 sock_fd;          /* argument holding a socket fd, ARG_RET, or ARG_NONE */
	__u8 ret_path;         /* send the path of the returned fd */
	__u8 sockaddr_arg;     /* user sockaddr pointer; its length is the next argument */
	__u8 blob_arg;         /* user struct pointer */
	__u8 blob_len;
	__u8 flags_arg;        /* open flags: argument index, or ARG_NONE for blob/implicit */
	__u8 implicit_write;   /* creat(): write access without a flags argument */
	__u8 dirfd_of[6];      /* for string i: its dirfd argument, DIR_CWD or ARG_NONE */
	__u8 io;               /* IO_*: a send or receive, handled by sendrecv() */
	__u8 via_raw;          /* captured by tp_btf/sys_exit, not a per-call tracepoint */
	__u8 path_class[2];    /* F_PATHS: the K_ class of the first and second string argument */
};

/* Kinds of spec.io. */
#define IO_SEND 1     /* sendto, sendmsg */
#define IO_RECV 2     /* recvfrom, recvmsg */
#define IO_MSG 4      /* the msghdr form (sendmsg, recvmsg) */

struct header {
	__u64 ts;        /* CLOCK_BOOTTIME ns */
	__u64 cgroup_id; /* cgroup v2 id */
	__u32 kind;
	__u32 pid;       /* tgid */
	__u32 tid;
	__u32 ppid;
	__u32 uid, gid, euid, egid;
	__u32 loginuid;
	__u32 mntns;     /* mount namespace inode number */
	__u32 pidns;     /* pid namespace inode number (the task's own, as /proc/PID/ns/pid) */
	__u32 size;      /* whole record, header included */
	char comm[TASK_COMM_LEN];
	__u32 vpid;      /* the process's pid in its own pid namespace */
	__u32 pad;
};

#define EXEC_UPPER (1 << 0)
#define EXEC_MEMFD (1 << 1)
#define EXEC_DELETED (1 << 2)
#define EXEC_ARGS_TRUNCATED (1 << 3)
#define EXEC_ENV_TRUNCATED (1 << 4)
#define EXEC_LOWER (1 << 5)    /* on an overlayfs, in a lower layer only */
#define EXEC_WRITABLE (1 << 6) /* the process's credentials may write the executable */

struct exec_body {
	__u64 start_boottime;
	__u64 exe_ino;
	__u64 exe_mtime;  /* ns since the epoch */
	__u64 exe_ctime;
	__u64 cap_effective;
	__u64 cap_permitted;
	__u64 cap_inheritable;
	__u32 exe_dev;    /* kernel dev_t: major<<20|minor */
	__u32 tty;        /* same encoding, 0 for none */
	__u32 sid, pgid;
	__u32 flags;
	__u32 old_pid;
};

struct fork_body {
	__u64 child_start_boottime;
	__u32 child_pid;
	__u32 child_tid;
};

struct exit_body {
	__s32 code;       /* raw wait status: code<<8 | signal */
	__u32 pad;
};

#define MOVE_THREADGROUP (1 << 0)

struct cgroup_move_body {
	__u64 cgroup_id;  /* the destination's cgroup v2 id (its kernfs node id) */
	__u32 pid;        /* the moved process (tgid) */
	__u32 tid;        /* the moved thread */
	__u32 vpid;       /* the moved process in its own pid namespace */
	__u32 pidns;      /* its pid and mount namespaces */
	__u32 mntns;
	__u32 flags;
};

struct syscall_body {
	__u64 args[6];
	__s64 ret;
	__u32 nr;
	__u16 code;
	__u16 pad;
};

#define SOCK_CONNECTED (1 << 0)    /* sends and receives: the socket is connected */
#define SOCK_PEER_CHANGED (1 << 1) /* its peer is not the one of its last send or receive */

struct sock_info {
	__u16 family;
	__u16 type;
	__u16 protocol;
	__u16 sport;  /* host order */
	__u16 dport;  /* host order */
	__u16 flags;  /* SOCK_*, on sends and receives */
	__u8 saddr[16];
	__u8 daddr[16];
};

#define FILE_CREATED (1 << 0) /* the open created the file (FMODE_CREATED) */
#define FILE_UPPER (1 << 1)   /* the file is on an overlayfs upper layer */
#define FILE_LOWER (1 << 2)   /* the file is on an overlayfs lower layer only */

struct file_info {
	__u64 ino;
	__u32 dev;    /* kernel dev_t: major<<20|minor */
	__u32 flags;  /* FILE_* */
};

struct path_key {
	__u32 prefixlen;
	__u8 data[256];
};

/* Per-CPU counters that user space reads for health. */
enum counter {
	C_SUBMITTED = 0,
	C_DROPPED = 1,      /* every record lost, whatever the cause */
	/* 2 is free */
	C_PATH_TRUNC = 3,
	C_MAX = 4,
};

/* Lost records are counted per slot: the record's kind for lifecycle
 * records, SLOT_SYSCALL + the spec's code for syscall records. */
#define SLOT_SYSCALL 8
#define DROP_SLOTS 256

struct drops {
	__u64 ring_full; /* the ring buffer had no room */
	__u64 reserve;   /* a syscall record turned away to keep the reserve free */
};

/* When records were lost, in CLOCK_BOOTTIME ns: first is reset by the first
 * loss after user space last looked (blind_seen). */
struct blind_window {
	__u64 first;
	__u64 last;
};

/* Set by the loader before load. */
volatile const __u32 self_tgid = 0;
/* Bytes of the environment an exec record carries; 0 leaves it out (only
 * rules on proc.env need it). At most MAX_ENV. */
volatile const __u32 env_bytes = 0;
volatile const __u32 wakeup_bytes = 256 * 1024;
/* Pending bytes past which syscall records are turned away: the ring's size
 * less the lifecycle reserve. */
volatile const __u64 syscall_room = ~0ULL;

/* Which opens are reported, derived by user space from what the loaded
 * rules (and the policies) can match. Opens fall in two classes with keys
 * of their own: read-only and failed opens (K_READ), successful opens for
 * writing only (K_WRITE: O_WRONLY, where Falco's evt.is_open_read is
 * false), and the other successful opens that may write (K_RDWR: O_RDWR,
 * or O_RDONLY with O_CREAT or O_TRUNC). An open of a class is reported when the class is
 * wanted whole, when the process is in a container and the class is
 * wanted whole there, or when a key of the class matches it, on the path
 * the kernel resolved or on the path argument as given: a prefix (the
 * `sensitive` trie), the directory the file is directly in (`dirs`), an
 * ending (the `suffixes` trie, which holds endings reversed), a process
 * name (`comms`), or one of up to four short substrings. Each key's value is the mask of the classes it serves; in
 * the tries a key's value includes those of the shorter keys it extends,
 * since a trie answers with the longest match only. Without
 * OPEN_WRITE_KEYS every open for writing is reported. "In a container" is
 * told by the mount namespace: a container's processes never share the
 * host's, so any other counts (a host service with a private one too).
 *
 * Rules mostly name the path as the program gave it, made absolute
 * (Falco's fd.name); only fd.realpath is the path the kernel resolved.
 * When no key of a class is on the resolved path and the argument is an
 * absolute path with no ".", ".." or empty component (so that it is
 * fd.name as it stands), the keys are checked on the argument alone,
 * before anything else is read: an open no key matches costs one read of
 * user memory, not a walk of its dentries. */
#define OPEN_ALL_READS (1 << 0)   /* every read-only open */
#define OPEN_FAILED (1 << 1)      /* failed opens, under the read keys */
#define OPEN_ALL_FAILED (1 << 2)  /* every failed open */
#define OPEN_COMMS (1 << 3)       /* the comms map holds names */
#define OPEN_WRITE_KEYS (1 << 4)  /* opens for writing only as the keys say */
#define OPEN_READ_CONTAINERS (1 << 5)  /* every read-only and failed open in a container */
#define OPEN_WRITE_CONTAINERS (1 << 6) /* every open for writing in a container */
#define OPEN_DIRS (1 << 7)        /* the dirs map holds directories */
#define OPEN_READ_RESOLVED (1 << 8)  /* some read key is on the resolved path (fd.realpath) */
#define OPEN_WRITE_RESOLVED (1 << 9) /* some write key is */
#define K_READ 1
#define K_WRITE 2
#define K_RDWR 4
#define OPEN_RDWR_RESOLVED (1 << 10) /* some key for K_RDWR is on the resolved path */

/* Calls that change the file tree by path (F_PATHS) have classes of keys
 * of their own, one per path argument: the path an unlink, unlinkat or
 * rmdir removes (K_REMOVE), a rename's old path and new path
 * (K_RENAME_FROM, K_RENAME_TO), the directory a mkdir or mkdirat makes
 * (K_MKDIR). A call is reported when the process is in a container and
 * a class of its arguments is in open_cfg.container_classes, or when a key
 * of an argument's class matches that argument as user space gives it
 * (Falco's evt.arg.path, name, oldpath, newpath): the argument when it is
 * absolute, else the directory it is relative to, a slash and the
 * argument. There is no resolved path: when every argument is an
 * absolute, clean path the call is decided on them alone, before anything
 * else is read; a relative one waits for its directory, walked from
 * dentries for the record anyway. An argument the keys cannot be checked
 * on as user space will see it (with a ".", ".." or empty component, or
 * relative to no directory) has the call reported. A kind of call wanted
 * whole has the filter F_NONE instead. */
#define K_REMOVE 8
#define K_RENAME_FROM 16
#define K_RENAME_TO 32
#define K_MKDIR 64
#define MAX_CONTAINS 4
#define CONTAINS_LEN 16

struct open_cfg {
	__u32 flags;
	__u32 host_mntns;         /* the host's mount namespace, for the CONTAINERS flags */
	__u32 max_suffix;         /* the longest ending in `suffixes`; 0 for none */
	__u32 ncontains;
	__u32 container_classes;  /* K_ bits of the F_PATHS classes reported whole in a container */
	/* The K_ bits of the classes that have keys in `comms`, `dirs` and
	 * `suffixes`: a class with none leaves those lookups out. */
	__u8 comm_classes, dir_classes, suffix_classes, pad;
	__u8 contains_len[MAX_CONTAINS];
	__u8 contains_class[MAX_CONTAINS]; /* K_ bits of each substring */
	char contains[MAX_CONTAINS][CONTAINS_LEN];
};

volatile const struct open_cfg open_config = {};

/* Which sends and receives on IPv4 and IPv6 sockets are reported, derived
 * from the rules as open_config is: every one, those on an unconnected
 * socket, those whose peer is not the one the socket last sent to or
 * received from (Falco's fd.name_changed), those to or from a port in
 * `io_ports`, or those whose first bytes hold a pattern. The SR_ bits are
 * for sends; shifted by SR_RECV, for receives. */
#define SR_ALL (1 << 0)
#define SR_UNCONNECTED (1 << 1)
#define SR_CHANGED (1 << 2)
#define SR_PORTS (1 << 3)
#define SR_DATA (1 << 4)
#define SR_RECV 8
#define IO_DATA 80 /* bytes of data a record carries: Falco's default snaplen */

struct io_cfg {
	__u32 flags;
	__u32 npatterns;
	__u8 pattern_len[MAX_CONTAINS];
	__u8 patterns[MAX_CONTAINS][CONTAINS_LEN];
};

volatile const struct io_cfg io_config = {};

/* Which connects are reported, derived from the rules as open_config is:
 * without CONNECT_KEYS, every one; with it, those of processes in a
 * container (CONNECT_CONTAINERS: the mount namespace is not the host's)
 * and those to an IPv4 or IPv6 peer port in `connect_ports`. */
#define CONNECT_KEYS (1 << 0)
#define CONNECT_CONTAINERS (1 << 1)

struct connect_cfg {
	__u32 flags;
	__u32 host_mntns;
};

volatile const struct connect_cfg connect_config = {};

/* Written by user space each time it looks at the blind window. */
volatile __u64 blind_seen = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, struct syscall_spec);
} syscalls SEC(".maps");

/* Which lifecycle kinds are on: index = kind, value != 0 means on. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} kinds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__type(key, struct path_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} sensitive SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__type(key, struct path_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} suffixes SEC(".maps");

/* Directories, each ending in a slash, keyed as path_key with prefixlen
 * set to the length in bits: an open is in one when its path up to the
 * last slash is one. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct path_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} dirs SEC(".maps");

/* The peer a socket last sent to or received from, by socket. */
struct peer {
	__u16 family;
	__u16 port;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct peer);
} peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u16);
	__type(value, __u8);
} io_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u16);
	__type(value, __u8);
} connect_ports SEC(".maps");

struct comm_key {
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct comm_key);
	__type(value, __u8);
} comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_SLOTS);
	__type(key, __u32);
	__type(value, struct drops);
} dropped SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct blind_window);
} blind SEC(".maps");

/* Per-CPU room to build a record in. Records are built here and copied into
 * the ring buffer, since their size is known only at the end. A per-CPU
 * value may be at most 32 KiB, so the path walker's lists live apart. */
struct scratch {
	__u8 buf[SCRATCH_SIZE];
};

struct walk {
	__u64 names[MAX_COMPONENTS]; /* const unsigned char * */
	__u32 lens[MAX_COMPONENTS];
	__u32 gens[MAX_COMPONENTS];  /* which walk wrote the slot */
	__u32 gen;
	struct path_key key;
	/* Where put_arg_paths put argument i of the call: its string's value
	 * at str_val[i] up to str_end[i], then the fields of its directory
	 * or fd up to arg_end[i]. */
	__u32 str_val[8], str_end[8], arg_end[8];
	/* Set by paths_early when the call on paths waits for paths_late. */
	__u32 late;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratches SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk);
} walks SEC(".maps");

static __always_inline void count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);
	if (v)
		*v += 1;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratches, &zero);
}

static __always_inline struct walk *get_walk(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&walks, &zero);
}

static __always_inline void fill_header(struct header *h, __u32 kind, struct task_struct *task)
{
	__u64 id = bpf_get_current_pid_tgid();
	h->ts = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->kind = kind;
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	const struct cred *cred = BPF_CORE_READ(task, cred);
	h->uid = BPF_CORE_READ(cred, uid.val);
	h->gid = BPF_CORE_READ(cred, gid.val);
	h->euid = BPF_CORE_READ(cred, euid.val);
	h->egid = BPF_CORE_READ(cred, egid.val);
	h->loginuid = BPF_CORE_READ(task, loginuid.val);
	h->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	bpf_get_current_comm(&h->comm, sizeof(h->comm));
	struct pid *tp = BPF_CORE_READ(task, group_leader, thread_pid);
	unsigned int level = BPF_CORE_READ(tp, level);
	h->vpid = BPF_CORE_READ(tp, numbers[level & 31].nr);
	/* The namespace the task's pid lives in, not nsproxy's
	 * pid_ns_for_children, which unshare(CLONE_NEWPID) changes at once. */
	h->pidns = BPF_CORE_READ(tp, numbers[level & 31].ns, ns.inum);
	h->pad = 0;
}

/* put_tlv_head writes a TLV head at off and returns the offset of its value. */
static __always_inline __u32 put_tlv_head(struct scratch *s, __u32 off, __u8 tag, __u16 len)
{
	s->buf[at(off)] = tag;
	s->buf[at(off + 1)] = 0;
	s->buf[at(off + 2)] = len & 0xff;
	s->buf[at(off + 3)] = len >> 8;
	return off + 4;
}

/* Patch the length of a TLV whose value started at val and ends at end. */
static __always_inline void set_tlv_len(struct scratch *s, __u32 val, __u32 end)
{
	__u16 len = end - val;
	s->buf[at(val - 2)] = len & 0xff;
	s->buf[at(val - 1)] = len >> 8;
}

/*
 * put_path_at appends a TLV holding the absolute path of (dentry, vfsmnt) as
 * seen from the current task's root, walking dentries and crossing mounts, and
 * returns the new offset. It is a global function so that the verifier checks
 * it once, not once per caller: its pointers travel as plain numbers.
 */
__noinline int put_path_at(__u32 off, __u32 tag, __u64 dentry_p, __u64 vfsmnt_p)
{
	struct scratch *s = get_scratch();
	struct walk *w = get_walk();
	if (!s || !w)
		return off;
	if (off > ROOM) {
		count(C_PATH_TRUNC);
		return off;
	}
	struct task_struct *task = (void *)bpf_get_current_task();
	struct dentry *dentry = (void *)dentry_p;
	struct vfsmount *vfsmnt = (void *)vfsmnt_p;
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	struct dentry *root_dentry = BPF_CORE_READ(task, fs, root.dentry);
	struct vfsmount *root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	/*
	 * Slot i holds the name iteration i saw, stamped with this walk's
	 * generation; slots of earlier walks and mount crossings keep older
	 * stamps and are skipped. Indexing by the loop counter rather than a
	 * running count keeps the verifier's states few: they differ only in i.
	 */
	__u32 gen = ++w->gen;
	int full = 1;
	for (int i = 0; i < MAX_COMPONENTS; i++) {
		if (dentry == root_dentry && vfsmnt == root_mnt) {
			full = 0;
			break;
		}
		struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
		if (dentry == mnt_root || dentry == parent) {
			struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
			if (dentry != mnt_root) {
				/* A pseudo file (memfd, nsfs, pipe) is its own parent:
				 * its name is the whole path. */
				w->names[i] = (__u64)BPF_CORE_READ(dentry, d_name.name);
				w->lens[i] = BPF_CORE_READ(dentry, d_name.len);
				w->gens[i] = gen;
				full = 0;
				break;
			}
			if (mnt_parent == mnt) {
				/* the top of this mount namespace */
				full = 0;
				break;
			}
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			vfsmnt = &mnt->mnt;
			continue;
		}
		w->names[i] = (__u64)BPF_CORE_READ(dentry, d_name.name);
		w->lens[i] = BPF_CORE_READ(dentry, d_name.len);
		w->gens[i] = gen;
		dentry = parent;
	}
	if (full)
		count(C_PATH_TRUNC); /* deeper than we walk: the path lacks its top */

	__u32 val = put_tlv_head(s, off, tag, 0);
	__u32 pos = val;
	for (int i = MAX_COMPONENTS - 1; i >= 0; i--) {
		if (w->gens[i] != gen)
			continue;
		if (pos - val > MAX_PATH - 256) {
			count(C_PATH_TRUNC);
			break;
		}
		__u64 len = w->lens[i];
		if (len == 0)
			continue; /* a name made up on demand (d_dname), as nsfs does */
		bound(len, 255);
		s->buf[at(pos)] = '/';
		pos++;
		bpf_probe_read_kernel(&s->buf[at(pos)], len, (const void *)w->names[i]);
		pos += len;
	}
	if (pos == val) {
		s->buf[at(pos)] = '/';
		pos++;
	}
	set_tlv_len(s, val, pos);
	return pos;
}

static __always_inline __u32 put_path(struct scratch *s, __u32 off, __u8 tag, const struct path *p)
{
	__u64 dentry = (__u64)BPF_CORE_READ(p, dentry);
	__u64 mnt = (__u64)BPF_CORE_READ(p, mnt);
	int r = put_path_at(off, tag, dentry, mnt);
	return (__u32)r & (SCRATCH_MASK | (SCRATCH_MASK + 1)); /* < SCRATCH_SIZE */
}

/* put_user_str appends a TLV holding a NUL-terminated user string. */
static __always_inline __u32 put_user_str(struct scratch *s, __u32 off, __u8 tag, const void *ptr)
{
	if (off > ROOM) {
		count(C_PATH_TRUNC);
		return off;
	}
	__u32 val = put_tlv_head(s, off, tag, 0);
	long r = bpf_probe_read_user_str(&s->buf[at(val)], MAX_STR, ptr);
	if (r < 1)
		r = 1;
	__u32 end = val + (r - 1); /* without the NUL */
	set_tlv_len(s, val, end);
	return end;
}

static __always_inline __u32 put_user_bytes(struct scratch *s, __u32 off, __u8 tag, const void *ptr,
					    __u32 len)
{
	__u64 n = len;
	bound(n, 255);
	__u32 val = put_tlv_head(s, off, tag, n);
	if (bpf_probe_read_user(&s->buf[at(val)], n, ptr) < 0) {
		set_tlv_len(s, val, val);
		return val;
	}
	return val + n;
}

static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
	if (fd < 0)
		return NULL;
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned long)fd >= max)
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline __u32 put_fd_path(struct scratch *s, __u32 off, __u8 tag,
					 struct task_struct *task, long fd)
{
	struct file *f = fd_file(task, fd);
	if (!f)
		return off;
	return put_path(s, off, tag, &f->f_path);
}

/* put_file_info appends what Falco's open events say about the opened file
 * beyond its name: whether the open created it, which overlayfs layer it is
 * on, its device and inode. */
static __always_inline __u32 put_file_info(struct scratch *s, __u32 off, struct task_struct *task, long fd)
{
	struct file *f = fd_file(task, fd);
	if (!f || off > ROOM)
		return off;
	__u32 val = put_tlv_head(s, off, T_FILE, sizeof(struct file_info));
	struct file_info *fi = (void *)&s->buf[at(val)];
	__builtin_memset(fi, 0, sizeof(*fi));
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	fi->ino = BPF_CORE_READ(ino, i_ino);
	fi->dev = BPF_CORE_READ(ino, i_sb, s_dev);
	if (BPF_CORE_READ(f, f_mode) & FMODE_CREATED)
		fi->flags |= FILE_CREATED;
	if (BPF_CORE_READ(ino, i_sb, s_magic) == OVERLAYFS_SUPER_MAGIC) {
		struct ovl_inode *oi = container_of(ino, struct ovl_inode, vfs_inode);
		fi->flags |= BPF_CORE_READ(oi, __upperdentry) ? FILE_UPPER : FILE_LOWER;
	}
	return val + sizeof(struct file_info);
}

/* sock_file is the file fd refers to when it is a socket, NULL otherwise. */
static __always_inline struct file *sock_file(struct task_struct *task, long fd)
{
	struct file *f = fd_file(task, fd);
	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	return f;
}

static __always_inline __u32 put_sock(struct scratch *s, __u32 off, struct task_struct *task, long fd)
{
	struct file *f = sock_file(task, fd);
	if (!f)
		return off;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return off;
	__u32 val = put_tlv_head(s, off, T_SOCK, sizeof(struct sock_info));
	struct sock_info *si = (void *)&s->buf[at(val)];
	__builtin_memset(si, 0, sizeof(*si));
	si->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	si->type = BPF_CORE_READ(sk, sk_type);
	si->protocol = BPF_CORE_READ(sk, sk_protocol);
	si->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	si->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (si->family == AF_INET) {
		bpf_probe_read_kernel(si->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_probe_read_kernel(si->daddr, 4, &sk->__sk_common.skc_daddr);
	} else if (si->family == AF_INET6) {
		bpf_probe_read_kernel(si->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_probe_read_kernel(si->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	return val + sizeof(struct sock_info);
}

/* lost counts a record that never reached the ring buffer, and notes when. */
static __always_inline void lost(__u32 slot, int reserve)
{
	count(C_DROPPED);
	if (slot >= DROP_SLOTS)
		slot = 0;
	struct drops *d = bpf_map_lookup_elem(&dropped, &slot);
	if (d) {
		if (reserve)
			d->reserve++;
		else
			d->ring_full++;
	}
	__u32 zero = 0;
	struct blind_window *b = bpf_map_lookup_elem(&blind, &zero);
	if (b) {
		__u64 now = bpf_ktime_get_boot_ns();
		if (b->first <= blind_seen)
			b->first = now;
		b->last = now;
	}
}

/* submit copies the record built in s into the ring buffer. room bounds the
 * pending bytes the record may add to: ~0 for lifecycle records, which may
 * use the whole ring, syscall_room for the others. */
static __always_inline void submit(struct scratch *s, __u32 size, __u32 slot, __u64 room)
{
	struct header *h = (void *)s->buf;
	size &= SCRATCH_SIZE - 1;
	h->size = size;
	/* What the record takes in the ring: an 8-byte header, 8-byte aligned. */
	__u64 need = (size + 8 + 7) & ~7ULL;
	__u64 pending = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	if (pending + need > room) {
		lost(slot, 1);
		return;
	}
	__u64 flags = BPF_RB_NO_WAKEUP;
	if (pending + need >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, s->buf, size, flags) < 0)
		lost(slot, 0);
	else
		count(C_SUBMITTED);
}

static __always_inline int kind_on(__u32 kind)
{
	__u32 *on = bpf_map_lookup_elem(&kinds, &kind);
	return on && *on;
}

static __always_inline __u64 inode_time(struct inode *ino, int ctime)
{
	__s64 sec = 0;
	__u32 nsec = 0;
	if (bpf_core_field_exists(ino->i_ctime_sec)) {
		if (ctime) {
			sec = BPF_CORE_READ(ino, i_ctime_sec);
			nsec = BPF_CORE_READ(ino, i_ctime_nsec);
		} else {
			sec = BPF_CORE_READ(ino, i_mtime_sec);
			nsec = BPF_CORE_READ(ino, i_mtime_nsec);
		}
	}
	nsec &= ~(1U << 31); /* I_CTIME_QUERIED, a flag multigrain timestamps keep there */
	return sec * 1000000000ULL + nsec;
}

/* exe_writable tells, as the permission check for writing would, whether
 * the task's credentials may write the file: the owner, group and other
 * write bits against the filesystem uid and gid, and CAP_DAC_OVERRIDE;
 * a read-only filesystem is not writable. Supplementary groups and ACLs
 * are not looked at. */
static __always_inline int exe_writable(struct task_struct *task, struct inode *ino)
{
	if (BPF_CORE_READ(ino, i_sb, s_flags) & 1 /* SB_RDONLY */)
		return 0;
	const struct cred *cred = BPF_CORE_READ(task, cred);
	__u64 caps = 0;
	bpf_probe_read_kernel(&caps, 8, (void *)&cred->cap_effective);
	if (caps & (1ULL << 1) /* CAP_DAC_OVERRIDE */)
		return 1;
	umode_t mode = BPF_CORE_READ(ino, i_mode);
	if (BPF_CORE_READ(cred, fsuid.val) == BPF_CORE_READ(ino, i_uid.val))
		return (mode & 0200) != 0;
	if (BPF_CORE_READ(cred, fsgid.val) == BPF_CORE_READ(ino, i_gid.val))
		return (mode & 0020) != 0;
	return (mode & 0002) != 0;
}

static __always_inline __u32 kernel_dev(__u32 major, __u32 minor)
{
	return (major << 20) | minor;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	if (!kind_on(K_EXEC))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct header *h = (void *)s->buf;
	fill_header(h, K_EXEC, task);
	if (h->pid == self_tgid)
		return 0;

	struct exec_body *b = (void *)&s->buf[sizeof(struct header)];
	__builtin_memset(b, 0, sizeof(*b));
	b->old_pid = old_pid;
	b->start_boottime = BPF_CORE_READ(task, start_boottime);
	/* kernel_cap_t is a u64 since 6.3 and two u32s before: the same 8 bytes. */
	bpf_probe_read_kernel(&b->cap_effective, 8, (void *)&task->cred->cap_effective);
	bpf_probe_read_kernel(&b->cap_permitted, 8, (void *)&task->cred->cap_permitted);
	bpf_probe_read_kernel(&b->cap_inheritable, 8, (void *)&task->cred->cap_inheritable);
	struct pid *sid = BPF_CORE_READ(task, signal, pids[PIDTYPE_SID]);
	struct pid *pgid = BPF_CORE_READ(task, signal, pids[PIDTYPE_PGID]);
	b->sid = BPF_CORE_READ(sid, numbers[0].nr);
	b->pgid = BPF_CORE_READ(pgid, numbers[0].nr);

	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	if (tty) {
		int major = BPF_CORE_READ(tty, driver, major);
		int minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
		b->tty = kernel_dev(major, minor);
	}

	struct file *exe = BPF_CORE_READ(bprm, file);
	struct inode *ino = BPF_CORE_READ(exe, f_inode);
	b->exe_ino = BPF_CORE_READ(ino, i_ino);
	b->exe_dev = BPF_CORE_READ(ino, i_sb, s_dev);
	b->exe_mtime = inode_time(ino, 0);
	b->exe_ctime = inode_time(ino, 1);
	if (BPF_CORE_READ(ino, i_nlink) == 0)
		b->flags |= EXEC_DELETED;
	if (BPF_CORE_READ(ino, i_sb, s_magic) == OVERLAYFS_SUPER_MAGIC) {
		struct ovl_inode *oi = container_of(ino, struct ovl_inode, vfs_inode);
		if (BPF_CORE_READ(oi, __upperdentry))
			b->flags |= EXEC_UPPER;
		else
			b->flags |= EXEC_LOWER;
	}
	if (exe_writable(task, ino))
		b->flags |= EXEC_WRITABLE;
	char prefix[6] = {};
	bpf_probe_read_kernel(prefix, sizeof(prefix), BPF_CORE_READ(exe, f_path.dentry, d_name.name));
	if (prefix[0] == 'm' && prefix[1] == 'e' && prefix[2] == 'm' && prefix[3] == 'f' &&
	    prefix[4] == 'd' && prefix[5] == ':')
		b->flags |= EXEC_MEMFD;

	__u32 off = sizeof(struct header) + sizeof(struct exec_body);
	off = put_path(s, off, T_EXE, &exe->f_path);
	off = put_path(s, off, T_CWD, &task->fs->pwd);

	unsigned long arg_start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(task, mm, arg_end);
	unsigned long alen = arg_end - arg_start;
	if (alen > MAX_ARGS) {
		alen = MAX_ARGS;
		b->flags |= EXEC_ARGS_TRUNCATED;
	}
	__u32 val = put_tlv_head(s, off, T_ARGS, 0);
	alen &= MAX_ARGS - 1 + MAX_ARGS; /* 0..8191 for the verifier; alen <= MAX_ARGS */
	if (alen > MAX_ARGS)
		alen = MAX_ARGS;
	if (bpf_probe_read_user(&s->buf[at(val)], alen, (void *)arg_start) < 0)
		alen = 0;
	set_tlv_len(s, val, val + alen);
	off = val + alen;

	const char *filename = BPF_CORE_READ(bprm, filename);
	val = put_tlv_head(s, off, T_FILENAME, 0);
	long r = bpf_probe_read_kernel_str(&s->buf[at(val)], 256, filename);
	if (r < 1)
		r = 1;
	set_tlv_len(s, val, val + r - 1);
	off = val + r - 1;

	if (env_bytes && off <= ROOM) {
		unsigned long env_start = BPF_CORE_READ(task, mm, env_start);
		unsigned long env_end = BPF_CORE_READ(task, mm, env_end);
		unsigned long elen = env_end - env_start;
		if (elen > env_bytes) {
			elen = env_bytes;
			b->flags |= EXEC_ENV_TRUNCATED;
		}
		val = put_tlv_head(s, off, T_ENV, 0);
		elen &= MAX_ENV - 1 + MAX_ENV; /* 0..8191 for the verifier */
		if (elen > MAX_ENV)
			elen = MAX_ENV;
		if (bpf_probe_read_user(&s->buf[at(val)], elen, (void *)env_start) < 0)
			elen = 0;
		set_tlv_len(s, val, val + elen);
		off = val + elen;
	} else if (env_bytes) {
		b->flags |= EXEC_ENV_TRUNCATED;
	}

	submit(s, off, K_EXEC, ~0ULL);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	if (!kind_on(K_FORK))
		return 0;
	/* A new thread is not a new process; the process tree needs only these. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct header *h = (void *)s->buf;
	fill_header(h, K_FORK, parent);
	if (h->pid == self_tgid)
		return 0;
	struct fork_body *b = (void *)&s->buf[sizeof(struct header)];
	b->child_pid = BPF_CORE_READ(child, tgid);
	b->child_tid = BPF_CORE_READ(child, pid);
	b->child_start_boottime = BPF_CORE_READ(child, start_boottime);
	submit(s, sizeof(struct header) + sizeof(struct fork_body), K_FORK, ~0ULL);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	if (!kind_on(K_EXIT))
		return 0;
	/* One exit per process: when its leader goes. */
	if (BPF_CORE_READ(task, pid) != BPF_CORE_READ(task, tgid))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct header *h = (void *)s->buf;
	fill_header(h, K_EXIT, task);
	if (h->pid == self_tgid)
		return 0;
	struct exit_body *b = (void *)&s->buf[sizeof(struct header)];
	int code = BPF_CORE_READ(task, exit_code);
	unsigned int sflags = BPF_CORE_READ(task, signal, flags);
	if (sflags & 0x4 /* SIGNAL_GROUP_EXIT */)
		code = BPF_CORE_READ(task, signal, group_exit_code);
	b->code = code;
	b->pad = 0;
	submit(s, sizeof(struct header) + sizeof(struct exit_body), K_EXIT, ~0ULL);
	return 0;
}

/* The v2 hierarchy's id. cgroup ids in headers (bpf_get_current_cgroup_id)
 * are ids in this hierarchy; on a hybrid system a process is also moved in
 * each v1 hierarchy, which this sensor leaves out. */
#define DEFAULT_HIERARCHY 0

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(handle_cgroup_attach, struct cgroup *dst, const char *path, struct task_struct *task,
	     bool threadgroup)
{
	if (!kind_on(K_CGROUP_MOVE))
		return 0;
	if (BPF_CORE_READ(dst, root, hierarchy_id) != DEFAULT_HIERARCHY)
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct header *h = (void *)s->buf;
	/* The header describes the writer; the body the task it moved. */
	fill_header(h, K_CGROUP_MOVE, (void *)bpf_get_current_task_btf());
	if (h->pid == self_tgid)
		return 0;
	struct cgroup_move_body *b = (void *)&s->buf[sizeof(struct header)];
	b->cgroup_id = BPF_CORE_READ(dst, kn, id);
	b->pid = BPF_CORE_READ(task, tgid);
	b->tid = BPF_CORE_READ(task, pid);
	struct pid *tp = BPF_CORE_READ(task, group_leader, thread_pid);
	unsigned int level = BPF_CORE_READ(tp, level);
	b->vpid = BPF_CORE_READ(tp, numbers[level & 31].nr);
	b->pidns = BPF_CORE_READ(tp, numbers[level & 31].ns, ns.inum);
	b->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	b->flags = threadgroup ? MOVE_THREADGROUP : 0;

	__u32 off = sizeof(struct header) + sizeof(struct cgroup_move_body);
	__u32 val = put_tlv_head(s, off, T_CGROUP, 0);
	long r = bpf_probe_read_kernel_str(&s->buf[at(val)], MAX_STR, path);
	if (r < 1)
		r = 1;
	set_tlv_len(s, val, val + r - 1);
	submit(s, val + r - 1, K_CGROUP_MOVE, ~0ULL);
	return 0;
}

/* prefix_key returns the classes of the longest prefix in the `sensitive`
 * trie that the len bytes at val start with, 0 for none. A trie compares
 * no byte of a key past its prefixlen: what an earlier key left there
 * needs no clearing. */
static __always_inline __u8 prefix_key(struct scratch *s, struct walk *w, __u32 val, __u32 len)
{
	__u64 n = len;
	if (n > 255)
		n = 255;
	bound(n, 255);
	bpf_probe_read_kernel(w->key.data, n, &s->buf[at(val)]);
	w->key.prefixlen = n * 8;
	__u8 *v = bpf_map_lookup_elem(&sensitive, &w->key);
	return v ? *v : 0;
}

/* suffix_key returns the classes of the longest ending in the `suffixes`
 * trie (whose keys are endings reversed) that the len bytes at val end
 * with, 0 for none. A relative path is taken as if a slash preceded it, so
 * that "/environ" ends "environ". */
static __always_inline __u8 suffix_key(struct scratch *s, struct walk *w, __u32 val, __u32 len)
{
	__u32 n = len;
	if (n > open_config.max_suffix)
		n = open_config.max_suffix;
	__u32 end = val + len;
	__u32 i = 0;
	for (; i < 255; i++) {
		if (i >= n)
			break;
		w->key.data[i] = s->buf[at(end - 1 - i)];
	}
	if (i == len && i < 255 && i < open_config.max_suffix && s->buf[at(val)] != '/') {
		__u64 j = i;
		bound(j, 255);
		w->key.data[j] = '/';
		i++;
	}
	w->key.prefixlen = i * 8;
	__u8 *v = bpf_map_lookup_elem(&suffixes, &w->key);
	return v ? *v : 0;
}

struct slash_ctx {
	struct scratch *s;
	__u32 val;
	__u32 last; /* one past the last slash seen, 0 for none */
};

static long slash_at(__u32 i, void *data)
{
	struct slash_ctx *c = data;
	if (c->s->buf[at(c->val + i)] == '/')
		c->last = i + 1;
	return 0;
}

/* dir_key returns the classes of the directory in `dirs` that the path of
 * len bytes at val is directly in, 0 for none; dir, when not 0, is the
 * length of that directory (one past the last slash), already known. */
static __always_inline __u8 dir_key(struct scratch *s, struct walk *w, __u32 val, __u32 len, __u32 dir)
{
	struct slash_ctx c = {.s = s, .val = val, .last = dir};
	if (!dir)
		bpf_loop(len < MAX_STR ? len : MAX_STR, slash_at, &c, 0);
	__u64 n = c.last;
	if (n == 0 || n > 255)
		return 0;
	bound(n, 255);
	__builtin_memset(&w->key, 0, sizeof(w->key));
	bpf_probe_read_kernel(w->key.data, n, &s->buf[at(val)]);
	w->key.prefixlen = n * 8;
	__u8 *v = bpf_map_lookup_elem(&dirs, &w->key);
	return v ? *v : 0;
}

struct contains_ctx {
	struct scratch *s;
	__u32 val, len;
	__u32 pat;
	int found;
};

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* bytes_eq is 0 when no byte of w is b; otherwise the high bit of each
 * byte that is b is set (and perhaps that of a byte above one). */
static __always_inline __u64 bytes_eq(__u64 w, __u8 b)
{
	__u64 x = w ^ (ONES * b);
	return (x - ONES) & ~x & HIGHS;
}

/* word_at is the 8 bytes of the scratch buffer from off, as a number
 * whose low byte is the first (the architecture is little-endian). */
static __always_inline __u64 word_at(struct scratch *s, __u32 off)
{
	return *(__u64 *)&s->buf[at(off)];
}

/* contains_word is a bpf_loop callback: does pattern ctx->pat start in
 * the k-th 8 bytes of the path? Bytes are compared a word at a time,
 * and 8 bytes without the pattern's first one are passed over at once:
 * a callback per byte cost more than the whole rest of the filter. */
static long contains_word(__u32 k, void *data)
{
	struct contains_ctx *c = data;
	__u32 p = c->pat & (MAX_CONTAINS - 1);
	__u32 plen = open_config.contains_len[p];
	__u32 base = k * 8;
	if (plen == 0 || plen > CONTAINS_LEN || base + plen > c->len)
		return 1;
	if (!bytes_eq(word_at(c->s, c->val + base), open_config.contains[p][0]))
		return 0;
	__u64 p0 = *(__u64 *)&open_config.contains[p][0], p1 = *(__u64 *)&open_config.contains[p][8];
	__u64 m0 = plen >= 8 ? ~0ULL : (1ULL << (plen * 8)) - 1;
	__u64 m1 = plen <= 8 ? 0 : plen >= 16 ? ~0ULL : (1ULL << ((plen - 8) * 8)) - 1;
	for (__u32 j = 0; j < 8; j++) {
		__u32 i = base + j;
		if (i + plen > c->len)
			return 1;
		if (((word_at(c->s, c->val + i) ^ p0) & m0) == 0 && ((word_at(c->s, c->val + i + 8) ^ p1) & m1) == 0) {
			c->found = 1;
			return 1;
		}
	}
	return 0;
}

static __always_inline int contains_key(struct scratch *s, __u32 val, __u32 len, __u8 class)
{
	for (__u32 p = 0; p < MAX_CONTAINS; p++) {
		if (p >= open_config.ncontains)
			break;
		if (!(open_config.contains_class[p] & class))
			continue;
		struct contains_ctx c = {.s = s, .val = val, .len = len, .pat = p};
		bpf_loop(((len < MAX_STR ? len : MAX_STR) + 7) / 8, contains_word, &c, 0);
		if (c.found)
			return 1;
	}
	return 0;
}

struct same_ctx {
	struct scratch *s;
	__u32 a, b, len;
	int differ;
};

/* same_word is a bpf_loop callback: do the k-th 8 bytes of the two
 * strings differ? */
static long same_word(__u32 k, void *data)
{
	struct same_ctx *c = data;
	__u32 i = k * 8;
	if (i >= c->len)
		return 1;
	__u64 x = word_at(c->s, c->a + i) ^ word_at(c->s, c->b + i);
	if (c->len - i < 8)
		x &= (1ULL << ((c->len - i) * 8)) - 1;
	if (x) {
		c->differ = 1;
		return 1;
	}
	return 0;
}

/* same_str reports whether the len bytes at a and at b are the same. */
static __always_inline int same_str(struct scratch *s, __u32 a, __u32 b, __u32 len)
{
	struct same_ctx c = {.s = s, .a = a, .b = b, .len = len};
	bpf_loop((len + 7) / 8, same_word, &c, 0);
	return !c.differ;
}

/* open_wanted reports whether an open of the class (K_READ, K_WRITE or
 * K_RDWR, in the low byte of class_dir) is to be reported: whether any key of the class matches the
 * resolved path (rp_len bytes at rp_val; none for a failed open) or the
 * path argument (raw_len bytes at raw_val). It is a global function,
 * verified once. */
__noinline int open_wanted(__u32 rp_val, __u32 rp_len, __u32 raw_val, __u32 raw_len, __u32 class_dir)
{
	/* The class, and above it the length of the argument's directory
	 * when already known (BPF functions take five arguments at most). */
	__u32 class = class_dir & 0xff, raw_dir = class_dir >> 8;
	struct scratch *s = get_scratch();
	struct walk *w = get_walk();
	if (!s || !w)
		return 1;
	if ((open_config.flags & OPEN_COMMS) && (open_config.comm_classes & class)) {
		struct comm_key k = {};
		bpf_get_current_comm(k.comm, sizeof(k.comm));
		__u8 *v = bpf_map_lookup_elem(&comms, &k);
		if (v && (*v & class))
			return 1;
	}
	rp_val &= SCRATCH_MASK;
	raw_val &= SCRATCH_MASK;
	if (rp_len > MAX_PATH)
		rp_len = MAX_PATH;
	if (raw_len > MAX_STR)
		raw_len = MAX_STR;
	/* Most opens name their file as it resolves (no symlink, "." or ".."
	 * on the way): the keys are checked on the one string once. */
	if (rp_len && rp_len == raw_len && same_str(s, rp_val, raw_val, rp_len))
		raw_len = 0;
	if (rp_len && (prefix_key(s, w, rp_val, rp_len) & class))
		return 1;
	if (raw_len && s->buf[at(raw_val)] == '/' && (prefix_key(s, w, raw_val, raw_len) & class))
		return 1;
	if ((open_config.flags & OPEN_DIRS) && (open_config.dir_classes & class)) {
		if (rp_len && (dir_key(s, w, rp_val, rp_len, 0) & class))
			return 1;
		if (raw_len && s->buf[at(raw_val)] == '/' && (dir_key(s, w, raw_val, raw_len, raw_dir) & class))
			return 1;
	}
	if (open_config.max_suffix && (open_config.suffix_classes & class)) {
		if (rp_len && (suffix_key(s, w, rp_val, rp_len) & class))
			return 1;
		if (raw_len && (suffix_key(s, w, raw_val, raw_len) & class))
			return 1;
	}
	if (open_config.ncontains) {
		if (rp_len && contains_key(s, rp_val, rp_len, class))
			return 1;
		if (raw_len && contains_key(s, raw_val, raw_len, class))
			return 1;
	}
	return 0;
}

struct data_ctx {
	struct scratch *s;
	__u32 val, len;
	__u32 pat;
	int found;
};

/* data_at is a bpf_loop callback: does pattern ctx->pat start at byte i of
 * the data? */
static long data_at(__u32 i, void *p)
{
	struct data_ctx *c = p;
	__u32 k = c->pat & (MAX_CONTAINS - 1);
	__u32 plen = io_config.pattern_len[k];
	if (i + plen > c->len)
		return 1;
	for (__u32 j = 0; j < CONTAINS_LEN; j++) {
		if (j >= plen)
			break;
		if (c->s->buf[at(c->val + i + j)] != io_config.patterns[k][j])
			return 0;
	}
	c->found = 1;
	return 1;
}

/* sendrecv builds the body of a send or receive record on an IPv4 or IPv6
 * socket from off: the socket (with whether it is connected and whether
 * its peer changed), the peer's sockaddr as the call gave or returned it,
 * and the first bytes of data. It returns the record's end, or 0 when the
 * call is not to be reported. A global function, verified once. */
__noinline __u32 sendrecv(__u32 off, __u32 io, __s64 ret)
{
	struct scratch *s = get_scratch();
	if (!s || off > ROOM)
		return 0;
	struct task_struct *task = (void *)bpf_get_current_task_btf();
	struct syscall_body *b = (void *)&s->buf[sizeof(struct header)];
	__u64 a0 = b->args[0], a1 = b->args[1], a2 = b->args[2], a4 = b->args[4];

	struct file *f = fd_file(task, (int)a0);
	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	__u32 cfg = io_config.flags;
	if (io & IO_RECV)
		cfg >>= SR_RECV;
	int connected = BPF_CORE_READ(sk, __sk_common.skc_state) == 1; /* TCP_ESTABLISHED, and a connected UDP socket */
	/* The common case, a connected socket when only unconnected ones are
	 * of interest, leaves before any user memory is read. */
	if (connected && !(cfg & (SR_ALL | SR_PORTS | SR_DATA)))
		return 0;

	/* Where the data is and whom it went to or came from. */
	__u64 buf = a1, name = a4;
	__u64 blen = a2;
	if (io & IO_MSG) {
		struct user_msghdr mh = {};
		bpf_probe_read_user(&mh, sizeof(mh), (void *)a1);
		name = (__u64)mh.msg_name;
		struct iovec iov = {};
		if (mh.msg_iovlen > 0)
			bpf_probe_read_user(&iov, sizeof(iov), mh.msg_iov);
		buf = (__u64)iov.iov_base;
		blen = iov.iov_len;
	}
	struct peer pr = {.family = family};
	__u8 sa[28] = {};
	int have_sa = 0;
	if (name && (!(io & IO_RECV) || ret >= 0) && bpf_probe_read_user(sa, sizeof(sa), (void *)name) == 0) {
		__u16 fam = sa[0] | (sa[1] << 8);
		if (fam == AF_INET || fam == AF_INET6) {
			have_sa = 1;
			pr.family = fam;
			pr.port = (sa[2] << 8) | sa[3];
			if (fam == AF_INET)
				__builtin_memcpy(pr.addr, &sa[4], 4);
			else
				__builtin_memcpy(pr.addr, &sa[8], 16);
		}
	}
	if (!have_sa) {
		pr.port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (family == AF_INET)
			bpf_probe_read_kernel(pr.addr, 4, &sk->__sk_common.skc_daddr);
		else
			bpf_probe_read_kernel(pr.addr, 16, &sk->__sk_common.skc_v6_daddr);
	}

	__u16 flags = connected ? SOCK_CONNECTED : 0;
	__u64 key = (__u64)sk;
	struct peer *last = bpf_map_lookup_elem(&peers, &key);
	int same = last && last->family == pr.family && last->port == pr.port;
	if (same) {
		__u64 x[2], y[2];
		__builtin_memcpy(x, last->addr, 16);
		__builtin_memcpy(y, pr.addr, 16);
		same = x[0] == y[0] && x[1] == y[1];
	}
	if (!same) {
		flags |= SOCK_PEER_CHANGED;
		bpf_map_update_elem(&peers, &key, &pr, BPF_ANY);
	}

	int want = cfg & SR_ALL;
	if (!want && (cfg & SR_UNCONNECTED) && !(flags & SOCK_CONNECTED))
		want = 1;
	if (!want && (cfg & SR_CHANGED) && !(flags & SOCK_CONNECTED) && (flags & SOCK_PEER_CHANGED))
		want = 1;
	if (!want && (cfg & SR_PORTS)) {
		__u16 port = pr.port;
		if (bpf_map_lookup_elem(&io_ports, &port))
			want = 1;
	}
	if (!want && !(cfg & SR_DATA))
		return 0;

	off = put_sock(s, off, task, (int)a0);
	struct sock_info *si = (void *)&s->buf[at(off - sizeof(struct sock_info))];
	si->flags = flags;
	if (have_sa)
		off = put_user_bytes(s, off, T_SOCKADDR, (void *)name, family == AF_INET ? 16 : 28);

	__u64 n = ret > 0 ? ret : 0;
	if (n > blen)
		n = blen;
	if (n > IO_DATA)
		n = IO_DATA;
	__u32 val = put_tlv_head(s, off, T_DATA, 0);
	bound(n, 127);
	if (n && bpf_probe_read_user(&s->buf[at(val)], n, (void *)buf) < 0)
		n = 0;
	set_tlv_len(s, val, val + n);
	off = val + n;
	if (!want) {
		for (__u32 p = 0; p < MAX_CONTAINS && !want; p++) {
			if (p >= io_config.npatterns)
				break;
			struct data_ctx c = {.s = s, .val = val, .len = n, .pat = p};
			bpf_loop(n, data_at, &c, 0);
			want = c.found;
		}
	}
	return want ? off : 0;
}

/* put_arg_str puts argument i of the call nr, when it is a user string,
 * into the scratch record at off. It and put_arg_paths are global
 * functions, verified once each rather than in every path of sys_exit's
 * loop over the arguments: that kept the sensor's load (the verifier's
 * time) to a fraction of what the inlined loop cost. The arguments are
 * read back from the record's body. */
__noinline __u32 put_arg_str(__u32 off, __u32 i, __u32 nr)
{
	struct scratch *s = get_scratch();
	struct syscall_spec *spec = bpf_map_lookup_elem(&syscalls, &nr);
	if (!s || !spec || i >= 6)
		return off;
	if (!(spec->str_args & (1 << i)))
		return off;
	struct syscall_body *b = (void *)&s->buf[sizeof(struct header)];
	__u64 k = i;
	bound(k, 7);
	return put_user_str(s, off, T_STR + i, (void *)b->args[k]);
}

/* put_arg_paths puts, for argument i of the call nr, the directory a
 * relative string (whose value starts at val) is resolved in, and the
 * path of an fd argument. */
__noinline __u32 put_arg_paths(__u32 off, __u32 i, __u32 nr, __u32 val)
{
	struct scratch *s = get_scratch();
	struct walk *w = get_walk();
	struct syscall_spec *spec = bpf_map_lookup_elem(&syscalls, &nr);
	if (!s || !w || !spec || i >= 6)
		return off;
	__u64 k = i;
	bound(k, 7);
	w->str_val[k] = val;
	w->str_end[k] = off;
	w->arg_end[k] = off;
	struct task_struct *task = bpf_get_current_task_btf();
	struct syscall_body *b = (void *)&s->buf[sizeof(struct header)];
	if (spec->str_args & (1 << i)) {
		__u8 d = ARG_NONE;
		switch (i) { /* a constant index, which the verifier can check */
		case 0: d = spec->dirfd_of[0]; break;
		case 1: d = spec->dirfd_of[1]; break;
		case 2: d = spec->dirfd_of[2]; break;
		case 3: d = spec->dirfd_of[3]; break;
		case 4: d = spec->dirfd_of[4]; break;
		case 5: d = spec->dirfd_of[5]; break;
		}
		if (d != ARG_NONE && s->buf[at(val)] != '/') {
			__u64 dk = d;
			bound(dk, 7);
			if (d == DIR_CWD || (long)(int)b->args[dk] == AT_FDCWD)
				off = put_path(s, off, T_DIR + i, &task->fs->pwd);
			else
				off = put_fd_path(s, off, T_DIR + i, task, (int)b->args[dk]);
		}
	}
	if (spec->fd_args & (1 << i))
		off = put_fd_path(s, off, T_FDPATH + i, task, (int)b->args[k]);
	w->arg_end[k] = off;
	return off;
}

/* Where the argument of an open is put for the early decision: past any
 * record's fixed part, and overwritten by the record once decided. */
#define RAW_AT 8192
#define RAW_MAX 256

struct clean_ctx {
	struct scratch *s;
	__u32 val, len;
	int clean;
	__u32 last; /* one past the last slash */
};

/* byte_is marks exactly the bytes of w that are b: their high bits set. */
static __always_inline __u64 byte_is(__u64 w, __u8 b)
{
	__u64 x = w ^ (ONES * b);
	return ~(((x & ~HIGHS) + ~HIGHS) | x | ~HIGHS);
}

/* clean_window is a bpf_loop callback over the path's windows of 8
 * bytes, 5 apart: does a ".", ".." or empty component start after a slash
 * at one of the window's first 5 bytes? Every such start has the 4 bytes
 * that tell ("//", "/./", "/../") in the window, so all of them are
 * checked at once; a component cut by the path's end is path_clean's. */
static long clean_window(__u32 k, void *data)
{
	struct clean_ctx *c = data;
	__u32 base = k * 5;
	if (base >= c->len)
		return 1;
	__u64 w = word_at(c->s, c->val + base);
	__u64 sl = byte_is(w, '/'), dot = byte_is(w, '.');
	__u64 bad = (sl & sl >> 8) | (sl & dot >> 8 & sl >> 16) | (sl & dot >> 8 & dot >> 16 & sl >> 24);
	/* Starts at the window's first 5 bytes, inside the path. */
	__u32 n = c->len - base < 5 ? c->len - base : 5;
	__u64 in = n >= 5 ? 0xffffffffffULL : (1ULL << (n * 8)) - 1;
	if (bad & in) {
		c->clean = 0;
		return 1;
	}
	__u64 m = sl & in;
	if (m) {
		/* One past the highest slash among them. */
		__u32 j = 0;
		if (m >> 32) {
			j += 4;
			m >>= 32;
		}
		if (m >> 16) {
			j += 2;
			m >>= 16;
		}
		if (m >> 8)
			j += 1;
		c->last = base + j + 1;
	}
	return 0;
}

/* path_clean returns, when the len bytes at val (len < MAX_STR) are an
 * absolute path with no ".", ".." or empty component, nor a trailing
 * slash (a path the agent would not change when making it absolute and
 * lexically clean), one past its last slash; 0 for any other path. A
 * global function: its loop's callback is verified once, not at each
 * caller. A byte past the path can only make it seem unclean (its call
 * is then reported), never clean: callers end it with a NUL or a field's
 * tag, neither a slash nor a dot. */
__noinline __u32 path_clean(__u32 val, __u32 len)
{
	struct scratch *s = get_scratch();
	if (!s || len == 0 || len >= MAX_STR || s->buf[at(val)] != '/')
		return 0;
	/* A trailing slash (but "/" itself), "/." or "/..". */
	char e1 = s->buf[at(val + len - 1)];
	char e2 = len > 1 ? s->buf[at(val + len - 2)] : 0;
	char e3 = len > 2 ? s->buf[at(val + len - 3)] : 0;
	if ((e1 == '/' && len > 1) || (e1 == '.' && e2 == '/') || (e1 == '.' && e2 == '.' && e3 == '/'))
		return 0;
	struct clean_ctx c = {.s = s, .val = val, .len = len, .clean = 1};
	bpf_loop((len + 4) / 5, clean_window, &c, 0);
	return c.clean ? c.last : 0;
}

/* early_arg decides a call on paths on one string argument at ptr in the
 * user's memory, of the class: 1 when a key of the class matches it, 0
 * when none does, 2 when it is not an absolute, clean path shorter than
 * RAW_MAX, which its bytes alone cannot decide. */
__noinline int early_arg(__u64 ptr, __u32 class)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 2;
	long n = bpf_probe_read_user_str(&s->buf[at(RAW_AT)], RAW_MAX, (void *)ptr);
	__u32 dir = n > 1 && n < RAW_MAX ? path_clean(RAW_AT, n - 1) : 0;
	if (!dir)
		return 2;
	return open_wanted(0, 0, RAW_AT, n - 1, class | dir << 8);
}

/* paths_early decides a call on paths (F_PATHS) before its record is
 * built: it returns 0 when the call is not to be reported, 1 otherwise.
 * The call is reported when a class of its arguments is wanted whole in
 * containers and the process is in one, or when a key of an argument's
 * class matches the argument read from the user's memory, if each is an
 * absolute, clean path shorter than RAW_MAX; when some argument is not
 * such a path, the call waits (walk.late) for paths_late, once the record
 * holds the directory a relative argument is resolved in. The arguments
 * are read from the record's body. A global function, verified once;
 * keeping walk.late in memory rather than in the caller's registers
 * spares the verifier a second pass over the rest of the caller. */
__noinline int paths_early(__u32 nr)
{
	struct scratch *s = get_scratch();
	struct walk *w = get_walk();
	struct syscall_spec *spec = bpf_map_lookup_elem(&syscalls, &nr);
	if (!s || !w || !spec)
		return 1;
	w->late = 0;
	__u8 class0 = spec->path_class[0], class1 = spec->path_class[1];
	if (open_config.container_classes & (class0 | class1)) {
		struct task_struct *task = bpf_get_current_task_btf();
		if (BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum) != open_config.host_mntns)
			return 1;
	}
	struct syscall_body *b = (void *)&s->buf[sizeof(struct header)];
	__u32 first = 6, second = 6; /* the first two string arguments */
	for (int i = 5; i >= 0; i--) {
		if (spec->str_args & (1 << i)) {
			second = first;
			first = i;
		}
	}
	int r0 = first < 6 ? early_arg(b->args[first & 7], class0) : 2;
	if (r0 == 1)
		return 1;
	int r1 = second < 6 ? early_arg(b->args[second & 7], class1) : 0;
	if (r1 == 1)
		return 1;
	w->late = r0 == 2 || r1 == 2;
	return w->late;
}

/* path_wanted reports whether a call on paths is to be reported for its
 * string argument i, of the class, as put_arg_paths put it into the
 * record that ends at end: whether a key of the class matches the
 * argument as user space gives it, the argument itself when absolute,
 * joined to the directory that follows it when relative. The joined path
 * is built past end, where nothing is sent. An argument that user space
 * would make another path than the keys can be checked on here (with a
 * ".", ".." or empty component, a relative one without a directory, one
 * of MAX_STR bytes or more) is reported, and so is one the record lacks
 * for want of room. A global function, verified once. */
__noinline int path_wanted(__u32 i, __u32 class, __u32 end)
{
	struct scratch *s = get_scratch();
	struct walk *w = get_walk();
	if (!s || !w)
		return 1;
	__u64 k = i;
	bound(k, 7);
	__u32 val = w->str_val[k], str_end = w->str_end[k], arg_end = w->arg_end[k];
	if (str_end < val || str_end - val >= MAX_STR)
		return 1;
	__u32 len = str_end - val;
	if (len == 0)
		return 1;
	if (s->buf[at(val)] == '/') {
		__u32 dir = path_clean(val, len);
		return !dir || open_wanted(0, 0, val, len, class | dir << 8);
	}
	/* The directory, walked from dentries, is absolute and clean: joined
	 * to a clean relative argument it is what user space makes of it
	 * (filepath.Join), and path_clean tells whether the argument was. */
	if (arg_end <= str_end + 4 || s->buf[at(str_end)] != T_DIR + k || end > ROOM)
		return 1;
	__u32 dir_val = str_end + 4, dir_len = arg_end - dir_val;
	__u64 n = dir_len == 1 ? 0 : dir_len; /* "/" joins as "" */
	__u64 m = len;
	if (n + 1 + m >= MAX_STR)
		return 1;
	bound(n, 4095);
	bound(m, 4095);
	bpf_probe_read_kernel(&s->buf[at(end)], n, &s->buf[at(dir_val)]);
	s->buf[at(end + n)] = '/';
	bpf_probe_read_kernel(&s->buf[at(end + n + 1)], m, &s->buf[at(val)]);
	__u32 total = n + 1 + m;
	s->buf[at(end + total)] = 0;
	__u32 dir = path_clean(end, total);
	return !dir || open_wanted(0, 0, end, total, class | dir << 8);
}

/* paths_late decides a call on paths (F_PATHS) that paths_early could
 * not, once its record, which ends at end, holds its strings and the
 * directory each relative one is resolved in: 1 when path_wanted says so
 * of one of its (at most two) string arguments, 0 otherwise. A global
 * function, verified once. */
__noinline int paths_late(__u32 end, __u32 nr)
{
	struct walk *w = get_walk();
	struct syscall_spec *spec = bpf_map_lookup_elem(&syscalls, &nr);
	if (!w || !spec || !w->late)
		return 1;
	__u32 first = 6, second = 6;
	for (int i = 5; i >= 0; i--) {
		if (spec->str_args & (1 << i)) {
			second = first;
			first = i;
		}
	}
	if (first < 6 && path_wanted(first, spec->path_class[0], end))
		return 1;
	return second < 6 && path_wanted(second, spec->path_class[1], end);
}

/* put_syscall_header fills in the header of the syscall record being
 * built in the scratch buffer. A global function: sys_exit fills it in
 * only once the call is to be reported, in two places. */
__noinline int put_syscall_header(void)
{
	struct scratch *s = get_scratch();
	if (s)
		fill_header((void *)s->buf, K_SYSCALL, bpf_get_current_task_btf());
	return 0;
}

/* on_sys_exit reports the call nr that returned ret, as the syscall spec
 * for nr says; regs are the user's registers. Two programs run it: the
 * classic per-call tracepoints (syscalls/sys_exit_NAME), attached to the
 * wanted calls only, where tracefs and bpf_task_pt_regs (5.15) are
 * there; tp_btf/sys_exit, run on every call of the node, elsewhere, and
 * for the wanted calls without a tracepoint (raw). */
/* connect_wanted says whether a connect to the user's sockaddr at addr,
 * of len bytes, is reported under connect_config's keys. A sockaddr that
 * cannot be read is reported: the kernel has just read it. */
static __always_inline int connect_wanted(__u64 addr, __u64 len)
{
	if (connect_config.flags & CONNECT_CONTAINERS) {
		struct task_struct *task = bpf_get_current_task_btf();
		if (BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum) != connect_config.host_mntns)
			return 1;
	}
	__u8 sa[4] = {};
	if (len < sizeof(sa))
		return 0;
	if (bpf_probe_read_user(sa, sizeof(sa), (void *)addr) < 0)
		return 1;
	__u16 family = sa[0] | (sa[1] << 8);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	__u16 port = (sa[2] << 8) | sa[3];
	return bpf_map_lookup_elem(&connect_ports, &port) != NULL;
}

static __always_inline int on_sys_exit(struct pt_regs *regs, __u32 nr, long ret, int raw)
{
	/* Most system calls are of no interest: leave on an array lookup. */
	if (nr >= 512)
		return 0;
	struct syscall_spec *spec = bpf_map_lookup_elem(&syscalls, &nr);
	if (!spec || !spec->code)
		return 0;
	/* tp_btf/sys_exit takes only the calls no per-call tracepoint has
	 * (one the kernel lacks, whose ENOSYS attempt is still reported). */
	if (raw && !spec->via_raw)
		return 0;
	if ((bpf_get_current_pid_tgid() >> 32) == self_tgid)
		return 0;
	/* The arguments are read where the call left them: the kernel keeps
	 * the user's registers in pt_regs for the whole call and writes only
	 * the return value back, so no sys_enter program (run on every call
	 * of the node) and no per-thread stash are needed. None of the calls
	 * in the table replaces the registers (execve, rt_sigreturn are not
	 * in it); a tracer that rewrote them at entry is seen with what the
	 * kernel actually ran. */
	__u64 args[6];
#if defined(__TARGET_ARCH_x86)
	args[0] = BPF_CORE_READ(regs, di);
	args[1] = BPF_CORE_READ(regs, si);
	args[2] = BPF_CORE_READ(regs, dx);
	args[3] = BPF_CORE_READ(regs, r10);
	args[4] = BPF_CORE_READ(regs, r8);
	args[5] = BPF_CORE_READ(regs, r9);
#else
#error "syscall arguments: only x86_64 is wired up so far"
#endif

	switch (spec->filter) {
	case F_OPEN:
		if (ret < 0 && !(open_config.flags & OPEN_FAILED))
			goto out;
		break;
	case F_SUCCESS:
		if (ret < 0)
			goto out;
		break;
	case F_SOCKET: {
		long domain = args[0], type = args[1] & 0xf;
		if (domain != AF_PACKET && type != SOCK_RAW)
			goto out;
		break;
	}
	case F_DUP: {
		/* Only a socket made stdin, stdout or stderr is of interest
		 * (a shell redirecting to a file, or a parent handing its
		 * child /dev/null, does it on every exec): decided here, before
		 * the record is built. */
		if (ret < 0 || ret > 2)
			goto out;
		if (!sock_file((void *)bpf_get_current_task_btf(), ret))
			goto out;
		break;
	}
	case F_CONNECT:
		if ((connect_config.flags & CONNECT_KEYS) && !connect_wanted(args[1], args[2]))
			goto out;
		break;
	}

	struct scratch *s = get_scratch();
	if (!s)
		goto out;
	struct task_struct *task = (void *)bpf_get_current_task_btf();
	struct syscall_body *b = (void *)&s->buf[sizeof(struct header)];
	for (int i = 0; i < 6; i++)
		b->args[i] = args[i];

	/* Whether an open is reported is known once its path argument is
	 * (below), unless its class is wanted whole, or whole in containers
	 * and the process is in one. */
	__u32 check_open = 0;
	if (spec->filter == F_OPEN) {
		__u64 flags = 0;
		if (spec->flags_arg < 6)
			flags = args[spec->flags_arg & 7];
		else if (spec->blob_arg < 6)
			/* openat2: flags lead struct open_how */
			bpf_probe_read_user(&flags, sizeof(flags), (void *)args[spec->blob_arg & 7]);
		if (spec->implicit_write)
			flags = O_WRONLY | O_CREAT | O_TRUNC; /* creat() */
		int write = (flags & O_ACCMODE) || (flags & (O_CREAT | O_TRUNC));
		__u32 cont = 0;
		if (open_config.flags & (OPEN_READ_CONTAINERS | OPEN_WRITE_CONTAINERS))
			cont = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum) != open_config.host_mntns;
		if (ret < 0) {
			if (!(open_config.flags & OPEN_ALL_FAILED) && !(cont && (open_config.flags & OPEN_READ_CONTAINERS)))
				check_open = K_READ;
		} else if (write) {
			if ((open_config.flags & OPEN_WRITE_KEYS) && !(cont && (open_config.flags & OPEN_WRITE_CONTAINERS)))
				check_open = (flags & O_ACCMODE) == O_WRONLY ? K_WRITE : K_RDWR;
		} else {
			if (!(open_config.flags & OPEN_ALL_READS) && !(cont && (open_config.flags & OPEN_READ_CONTAINERS)))
				check_open = K_READ;
		}
		__u32 resolved = check_open == K_WRITE ? OPEN_WRITE_RESOLVED :
				 check_open == K_RDWR ? OPEN_RDWR_RESOLVED : OPEN_READ_RESOLVED;
		if (check_open && !(open_config.flags & resolved)) {
			/* The early decision, on the argument alone. */
			int i = 0;
			while (i < 6 && !(spec->str_args & (1 << i)))
				i++;
			if (i < 6) {
				long n = bpf_probe_read_user_str(&s->buf[at(RAW_AT)], RAW_MAX, (void *)args[i]);
				__u32 dir = n > 1 && n < RAW_MAX ? path_clean(RAW_AT, n - 1) : 0;
				if (dir) {
					if (!open_wanted(0, 0, RAW_AT, n - 1, check_open | dir << 8))
						goto out;
					check_open = 0;
				}
			}
		}
	}

	/* A call on paths: clean absolute arguments decide it at once, any
	 * other once the record holds its directories (below). */
	if (spec->filter == F_PATHS && !paths_early(nr))
		goto out;

	b->ret = ret;
	b->nr = nr;
	b->code = spec->code;
	b->pad = 0;
	__u32 off = sizeof(struct header) + sizeof(struct syscall_body);

	if (spec->io) {
		off = sendrecv(off, spec->io, ret);
		if (off) {
			put_syscall_header();
			submit(s, off, SLOT_SYSCALL + spec->code, syscall_room);
		}
		goto out;
	}

	if (spec->blob_arg < 6 && spec->blob_len)
		off = put_user_bytes(s, off, T_BLOB, (void *)b->args[spec->blob_arg & 7],
				     spec->blob_len > BLOB_MAX ? BLOB_MAX : spec->blob_len);

	__u32 rp_val = 0, rp_len = 0;

	if (spec->ret_path && ret >= 0) {
		__u32 val = off + 4;
		off = put_fd_path(s, off, T_RETPATH, task, ret);
		if (off >= val) {
			rp_val = val;
			rp_len = off - val;
		}
	}

	for (int i = 0; i < 6; i++) {
		if (!((spec->str_args | spec->fd_args) & (1 << i)))
			continue;
		__u32 val = off + 4;
		off = put_arg_str(off, i, nr);
		/* An open no key matches on its resolved path or its argument
		 * is turned away when the argument is absolute and clean, as
		 * user space takes it. A relative or unclean one is what user
		 * space makes of it (fd.name) only once joined to its directory
		 * and cleaned, which can differ from the resolved path by a
		 * symlink the argument goes through: path_wanted decides it. */
		__u32 late_open = 0;
		if (check_open && off >= val) {
			if (!open_wanted(rp_val, rp_len, val, off - val, check_open)) {
				if (path_clean(val, off - val))
					goto out;
				late_open = check_open;
			}
			check_open = 0;
		}
		off = put_arg_paths(off, i, nr, val);
		if (late_open && !path_wanted(i, late_open, off))
			goto out;
	}
	if (spec->filter == F_PATHS && !paths_late(off, nr))
		goto out;
	/* The header last, once the filters let the call through. */
	put_syscall_header();

	if (spec->filter == F_OPEN && ret >= 0)
		off = put_file_info(s, off, task, ret);

	if (spec->sockaddr_arg < 5) {
		__u32 len = b->args[(spec->sockaddr_arg + 1) & 7];
		if (len > SOCKADDR_MAX)
			len = SOCKADDR_MAX;
		if (b->args[spec->sockaddr_arg & 7])
			off = put_user_bytes(s, off, T_SOCKADDR, (void *)b->args[spec->sockaddr_arg & 7], len);
	}
	__u32 before = off;
	if (spec->sock_fd == ARG_RET)
		off = put_sock(s, off, task, ret);
	else if (spec->sock_fd < 6)
		off = put_sock(s, off, task, (int)b->args[spec->sock_fd & 7]);
	if (spec->filter == F_DUP && off == before)
		goto out;

	submit(s, off, SLOT_SYSCALL + spec->code, syscall_room);
out:
	return 0;
}

#define TS_COMPAT 0x0002 /* x86 thread_info.status: a 32-bit call is running */

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	/* A 32-bit call (a 32-bit program's, or int 0x80 from any) has the
	 * ia32 table's number and arguments: read as an x86-64 call it would
	 * be reported as another call (ia32 pipe is x86-64 connect). The
	 * per-call tracepoints never see them; neither does this. */
	struct task_struct *task = bpf_get_current_task_btf();
	if (BPF_CORE_READ(task, thread_info.status) & TS_COMPAT)
		return 0;
	/* orig_ax still holds the number here. */
	return on_sys_exit(regs, BPF_CORE_READ(regs, orig_ax), ret, 1);
}

/* The layout of the syscalls/sys_exit_NAME tracepoints' records. */
struct syscall_exit_record {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

SEC("tracepoint/syscalls/sys_exit")
int sys_exit_tp(struct syscall_exit_record *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	return on_sys_exit(regs, ctx->nr, ctx->ret, 0);
}

/* DNS responses, for the names of addresses (Falco's fd.sip.name and the
 * like). A cgroup_skb program at the root of the cgroup v2 hierarchy sees
 * every UDP datagram delivered to a socket on the node, whatever its
 * network namespace; it copies those from port 53 into the ring, with the
 * cgroup of the socket that received them. It never drops a packet. */
#define DNS_MAX 512
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_UDP 17

struct dns_body {
	__u32 len;   /* the UDP payload's length, of which at most DNS_MAX bytes follow */
	__u32 pad;
};

struct dns_scratch {
	__u8 buf[sizeof(struct header) + sizeof(struct dns_body) + 4 + DNS_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_scratch);
} dns_scratches SEC(".maps");

SEC("cgroup_skb/ingress")
int dns_ingress(struct __sk_buff *skb)
{
	__u32 l4 = 0;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		__u8 vihl = 0, proto = 0;
		bpf_skb_load_bytes(skb, 0, &vihl, 1);
		bpf_skb_load_bytes(skb, 9, &proto, 1);
		if (proto != IPPROTO_UDP)
			return 1;
		l4 = (vihl & 0xf) * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		__u8 next = 0;
		bpf_skb_load_bytes(skb, 6, &next, 1);
		if (next != IPPROTO_UDP)
			return 1;
		l4 = 40;
	} else {
		return 1;
	}
	__u16 sport = 0, ulen = 0;
	if (bpf_skb_load_bytes(skb, l4, &sport, 2) < 0 || sport != bpf_htons(53))
		return 1;
	bpf_skb_load_bytes(skb, l4 + 4, &ulen, 2);
	__u32 n = bpf_ntohs(ulen);
	if (n <= 8)
		return 1;
	n -= 8;
	__u32 zero = 0;
	struct dns_scratch *d = bpf_map_lookup_elem(&dns_scratches, &zero);
	if (!d)
		return 1;
	struct header *h = (void *)d->buf;
	__builtin_memset(h, 0, sizeof(*h));
	h->ts = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_skb_cgroup_id(skb);
	h->kind = K_DNS;
	struct dns_body *b = (void *)&d->buf[sizeof(*h)];
	b->len = n;
	b->pad = 0;
	__u64 copy = n > DNS_MAX ? DNS_MAX : n;
	/* 1 to DNS_MAX in a form the verifier follows. */
	copy -= 1;
	bound(copy, 511);
	copy += 1;
	__u8 *tlv = &d->buf[sizeof(*h) + sizeof(*b)];
	tlv[0] = T_DATA;
	tlv[1] = 0;
	tlv[2] = copy & 0xff;
	tlv[3] = copy >> 8;
	if (bpf_skb_load_bytes(skb, l4 + 8, tlv + 4, copy) < 0)
		return 1;
	__u32 size = sizeof(*h) + sizeof(*b) + 4 + copy;
	h->size = size;
	__u64 need = (size + 8 + 7) & ~7ULL;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) + need > syscall_room)
		return 1;
	if (size > sizeof(d->buf))
		return 1;
	bpf_ringbuf_output(&events, d->buf, size, 0);
	return 1;
}

/* Keep the record types in BTF so that bpf2go generates their Go twins. */
const struct header *unused_header __attribute__((unused));
const struct exec_body *unused_exec_body __attribute__((unused));
const struct fork_body *unused_fork_body __attribute__((unused));
const struct exit_body *unused_exit_body __attribute__((unused));
const struct cgroup_move_body *unused_cgroup_move_body __attribute__((unused));
const struct syscall_body *unused_syscall_body __attribute__((unused));
const struct sock_info *unused_sock_info __attribute__((unused));
const struct file_info *unused_file_info __attribute__((unused));
const struct open_cfg *unused_open_cfg __attribute__((unused));
const struct comm_key *unused_comm_key __attribute__((unused));
const struct peer *unused_peer __attribute__((unused));
const struct dns_body *unused_dns_body __attribute__((unused));
