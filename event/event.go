// Package event owns the one event model that every part of mamori reads:
// the sensor decodes kernel records into it, enrichment fills in ancestry and
// container metadata, rules and policies evaluate it, outputs serialise it.
// It must not import anything that knows about BPF, containers or outputs.
package event

import "time"

// Type names what happened. The string values are part of the JSON output
// documented in docs/events.md and must not change.
type Type string

const (
	Exec        Type = "exec"
	Exit        Type = "exit"
	Fork        Type = "fork"
	Open        Type = "open"
	Unlink      Type = "unlink"
	Rename      Type = "rename"
	Chmod       Type = "chmod"
	Link        Type = "link"
	Symlink     Type = "symlink"
	Truncate    Type = "truncate"
	Memfd       Type = "memfd"
	Connect     Type = "connect"
	Accept      Type = "accept"
	Bind        Type = "bind"
	Listen      Type = "listen"
	Socket      Type = "socket"
	Setuid      Type = "setuid"
	Setgid      Type = "setgid"
	Capset      Type = "capset"
	Ptrace      Type = "ptrace"
	Mount       Type = "mount"
	Umount      Type = "umount"
	ModuleLoad  Type = "module_load"
	BPF         Type = "bpf"
	Unshare     Type = "unshare"
	Setns       Type = "setns"
	Dup         Type = "dup"
	Mkdir       Type = "mkdir"
	Rmdir       Type = "rmdir"
	Userfaultfd Type = "userfaultfd"
	CgroupMove  Type = "cgroup_move"
	Send        Type = "send"
	Recv        Type = "recv"
	DNS         Type = "dns"
)

// Types lists every event type in the order docs/events.md describes them.
var Types = []Type{
	Exec, Exit, Fork, Open, Unlink, Rename, Chmod, Link, Symlink, Truncate, Memfd,
	Connect, Accept, Bind, Listen, Socket, Setuid, Setgid, Capset, Ptrace,
	Mount, Umount, ModuleLoad, BPF, Unshare, Setns, Dup, Mkdir, Rmdir, Userfaultfd,
	CgroupMove, Send, Recv, DNS,
}

// Event is one security-relevant action of one process.
type Event struct {
	Kind      string     `json:"kind"` // always "event"
	Time      time.Time  `json:"time"`
	Node      string     `json:"node"`
	Cluster   string     `json:"cluster,omitempty"` // the agent's --cluster, on records sent to the console
	Type      Type       `json:"event"`
	Syscall   string     `json:"syscall,omitempty"` // the system call behind it, e.g. "openat2"
	Result    int64      `json:"result"`            // return value; negative errno on failure
	Process   Process    `json:"process"`
	Container *Container `json:"container"`
	File      *File      `json:"file,omitempty"`
	Network   *Network   `json:"network,omitempty"`
	Args      *Args      `json:"args,omitempty"`
	Cgroup    *Cgroup    `json:"cgroup,omitempty"`
	DNS       *DNSReply  `json:"dns,omitempty"`
}

// Process describes the acting process. Ancestors is filled for the acting
// process only, nearest first; an ancestor has no ancestors of its own.
type Process struct {
	PID            uint32    `json:"pid"`
	VPID           uint32    `json:"vpid,omitempty"` // the pid inside its own pid namespace (1 for a container's init)
	TID            uint32    `json:"tid,omitempty"`
	PPID           uint32    `json:"ppid"`
	ID             string    `json:"id,omitempty"`        // survives pid reuse (ProcessID); set on records sent to the console
	ParentID       string    `json:"parent_id,omitempty"` // the parent's ID
	Name           string    `json:"name"`
	Exe            string    `json:"exe"`
	Args           []string  `json:"args"`
	ArgsTruncated  bool      `json:"args_truncated,omitempty"`
	Env            []string  `json:"env,omitempty"` // exec: the environment, when a rule asks for proc.env
	EnvTruncated   bool      `json:"env_truncated,omitempty"`
	Cwd            string    `json:"cwd"`
	UID            uint32    `json:"uid"`
	GID            uint32    `json:"gid"`
	EUID           uint32    `json:"euid"`
	EGID           uint32    `json:"egid"`
	LoginUID       int64     `json:"loginuid"` // -1 when unset
	TTY            uint32    `json:"tty"`      // controlling terminal device, 0 for none
	SID            uint32    `json:"sid,omitempty"`
	PGID           uint32    `json:"pgid,omitempty"`
	PidNS          uint32    `json:"pid_ns,omitempty"` // pid namespace inode number, as in /proc/PID/ns/pid (exec, cgroup_move)
	MntNS          uint32    `json:"mnt_ns,omitempty"` // mount namespace inode number (exec, cgroup_move)
	CapEffective   uint64    `json:"cap_effective,omitempty"`
	CapPermitted   uint64    `json:"cap_permitted,omitempty"`
	CapInheritable uint64    `json:"cap_inheritable,omitempty"`
	StartTime      time.Time `json:"start_time,omitzero"`
	ExeInode       uint64    `json:"exe_inode,omitempty"`
	ExeDevice      uint32    `json:"exe_device,omitempty"` // kernel encoding: major<<20 | minor
	ExeMtime       time.Time `json:"exe_mtime,omitzero"`
	ExeCtime       time.Time `json:"exe_ctime,omitzero"`
	ExeUpperLayer  bool      `json:"exe_upper_layer"`
	ExeFromMemfd   bool      `json:"exe_from_memfd"`
	ExeDeleted     bool      `json:"exe_deleted,omitempty"`
	ExeLowerLayer  bool      `json:"exe_lower_layer,omitempty"` // on an overlayfs, in an image (lower) layer only
	ExeWritable    bool      `json:"exe_writable,omitempty"`    // the process's credentials may write its executable
	ExitCode       *int32    `json:"exit_code,omitempty"`       // exit events: the exit status
	ExitSignal     *int32    `json:"exit_signal,omitempty"`     // exit events: the terminating signal
	ChildPID       uint32    `json:"child_pid,omitempty"`       // fork events: the new process or thread
	ChildIsThread  bool      `json:"child_is_thread,omitempty"`
	Ancestors      []Process `json:"ancestors,omitempty"`
}

// Container says where the process runs. ID is "host" for host processes.
type Container struct {
	ID          string            `json:"id"`
	Name        string            `json:"name,omitempty"`
	Image       string            `json:"image,omitempty"`
	ImageID     string            `json:"image_id,omitempty"`
	ImageDigest string            `json:"image_digest,omitempty"`
	Runtime     string            `json:"runtime,omitempty"` // podman, containerd
	Privileged  bool              `json:"privileged,omitempty"`
	Created     time.Time         `json:"created,omitzero"`
	Labels      map[string]string `json:"labels,omitempty"`
	Pod         *Pod              `json:"pod,omitempty"`
	// Mounts are the host paths bound into the container, from its OCI
	// config (the runtime's own bind mounts, such as /etc/hosts, left out).
	Mounts []BindMount `json:"mounts,omitempty"`
}

// BindMount is a host path bound into a container.
type BindMount struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Mode        string `json:"mode,omitempty"`        // SELinux relabelling: z or Z
	RW          bool   `json:"rw"`                    // not mounted read-only
	Propagation string `json:"propagation,omitempty"` // rprivate, rshared, rslave, ...
}

// Pod is the Kubernetes identity of a container, taken from the labels that
// CRI runtimes set.
type Pod struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Container string `json:"container,omitempty"`
	UID       string `json:"uid,omitempty"`
	// Labels are the pod's own labels (app, tier...), which the runtime
	// keeps on the pod's sandbox rather than on its containers.
	Labels map[string]string `json:"labels,omitempty"`
	// Owner is the workload that made the pod (a Deployment rather than
	// its ReplicaSet, a CronJob rather than its Job), from the API server.
	Owner *Owner `json:"owner,omitempty"`
}

// Owner is a Kubernetes object that controls a pod.
type Owner struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// HostID is the container id given to processes that run on the host.
const HostID = "host"

// IsHost reports whether c describes the host rather than a container.
func (c *Container) IsHost() bool { return c == nil || c.ID == HostID }

// File is the file an event acts on.
type File struct {
	Path    string `json:"path"`
	PathRaw string `json:"path_raw,omitempty"` // open: the path argument exactly as passed
	// PathArg is, for opens, the path argument made absolute (against the
	// working directory or the directory fd) with . and .. folded and
	// symlinks not followed: what Falco calls fd.name. Path is the file
	// the kernel opened.
	PathArg string `json:"path_arg,omitempty"`
	Flags   string `json:"flags,omitempty"`  // symbolic open(2) flags, e.g. "O_WRONLY|O_CREAT"
	Mode    uint32 `json:"mode,omitempty"`   // permission bits for creat/chmod
	Target  string `json:"target,omitempty"` // rename: new path; link/symlink: the link's path
	FD      int32  `json:"fd,omitempty"`
	Name    string `json:"name,omitempty"`    // memfd name
	Created bool   `json:"created,omitempty"` // open: the call created the file
	Layer   string `json:"layer,omitempty"`   // open: "upper" or "lower", the overlayfs layer the file is on
	Inode   uint64 `json:"inode,omitempty"`   // open: the file's inode and device (kernel encoding)
	Device  uint32 `json:"device,omitempty"`
}

// Network is the socket an event acts on.
type Network struct {
	Family   string `json:"family"`   // inet, inet6, unix, packet, netlink, ...
	Protocol string `json:"protocol"` // tcp, udp, raw, icmp, ...
	Type     string `json:"type,omitempty"`
	SrcIP    string `json:"src_ip,omitempty"`
	SrcPort  uint16 `json:"src_port,omitempty"`
	DstIP    string `json:"dst_ip,omitempty"`
	DstPort  uint16 `json:"dst_port,omitempty"`
	Path     string `json:"path,omitempty"` // unix socket path
	FD       int32  `json:"fd,omitempty"`
	Backlog  int32  `json:"backlog,omitempty"`
	// Sends and receives: whether the socket is connected, whether its
	// peer differs from its last send's or receive's (Falco's
	// fd.name_changed), the bytes sent or received and the first of them.
	Connected   bool   `json:"connected,omitempty"`
	PeerChanged bool   `json:"peer_changed,omitempty"`
	Size        int64  `json:"size,omitempty"`
	Data        []byte `json:"data,omitempty"`
}

// Args holds what privilege and kernel events carry beyond the process.
type Args struct {
	UID            *uint32 `json:"uid,omitempty"` // setuid family: the requested ids
	EUID           *uint32 `json:"euid,omitempty"`
	SUID           *uint32 `json:"suid,omitempty"`
	GID            *uint32 `json:"gid,omitempty"`
	EGID           *uint32 `json:"egid,omitempty"`
	SGID           *uint32 `json:"sgid,omitempty"`
	CapEffective   *uint64 `json:"cap_effective,omitempty"` // capset
	CapPermitted   *uint64 `json:"cap_permitted,omitempty"`
	CapInheritable *uint64 `json:"cap_inheritable,omitempty"`
	Request        string  `json:"request,omitempty"`    // ptrace request, bpf command
	TargetPID      uint32  `json:"target_pid,omitempty"` // ptrace
	Source         string  `json:"source,omitempty"`     // mount
	Target         string  `json:"target,omitempty"`     // mount, umount
	FSType         string  `json:"fstype,omitempty"`     // mount
	Flags          string  `json:"flags,omitempty"`      // mount, umount, unshare, setns, memfd, module flags
	Module         string  `json:"module,omitempty"`     // module_load: the module file or "<memory>"
	FD             int32   `json:"fd,omitempty"`         // setns, finit_module, dup
	NewFD          int32   `json:"new_fd,omitempty"`     // dup
}

// Cgroup is what a cgroup_move event moved, and where to: the process is
// the one that wrote cgroup.procs, which need not be the one moved.
type Cgroup struct {
	ID    uint64 `json:"id"`               // the destination's cgroup v2 id: its directory's inode number
	Path  string `json:"path"`             // the destination below the cgroup v2 root, e.g. "/libpod_parent/libpod-<id>"
	PID   uint32 `json:"pid"`              // the process moved
	PidNS uint32 `json:"pid_ns,omitempty"` // the moved process's pid and mount namespaces
	MntNS uint32 `json:"mnt_ns,omitempty"`
}

// DNSReply is a DNS response delivered to a socket on the node: the
// question and the addresses and aliases answered, with their TTLs.
type DNSReply struct {
	Question string      `json:"question"`        // the name asked for, without the final dot
	Type     string      `json:"type,omitempty"`  // A, AAAA, ...
	RCode    string      `json:"rcode,omitempty"` // NOERROR, NXDOMAIN, ...
	Answers  []DNSAnswer `json:"answers,omitempty"`
}

// DNSAnswer is one record of a DNS response's answer section.
type DNSAnswer struct {
	Name string `json:"name"`
	Type string `json:"type"` // A, AAAA or CNAME
	Data string `json:"data"` // the address, or the alias's target
	TTL  uint32 `json:"ttl"`
}
