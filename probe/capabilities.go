package probe

import "os"

// Capability says how one of mamori's capabilities works on this node.
type Capability struct {
	Name      string `json:"name"`
	Mechanism string `json:"mechanism"` // the strongest one that loads, or "" if none
	Effect    string `json:"effect"`    // what that means for a user
	Degraded  bool   `json:"degraded"`  // weaker than on a kernel with every mechanism
}

// Capabilities maps a probe report onto what mamori can do with it, the
// strongest mechanism first, as docs/architecture.md describes.
func (r Report) Capabilities() []Capability {
	var caps []Capability
	add := func(c Capability) { caps = append(caps, c) }

	if r.Has(TPBTF) && r.Has(RingBuffer) && r.Has(BTF) {
		add(Capability{Name: "runtime events", Mechanism: "tp_btf (sched_process_*) and syscall tracepoints + ring buffer",
			Effect: "every exec, fork and exit, and every file, network and privilege call made the 64-bit way, is seen; 32-bit calls (of 32-bit programs, or int 0x80) are not"})
	} else {
		add(Capability{Name: "runtime events", Effect: "the sensor cannot load: it needs BTF, tp_btf and ring buffers (Linux 5.8+)", Degraded: true})
	}

	switch {
	case r.Has(BPFLSM):
		add(Capability{Name: "block a drifted exec (drift prevention)", Mechanism: "bpf_lsm bprm_check_security",
			Effect: "refused with EPERM before the program is loaded"})
	case r.Has(FanotifyExecPerm):
		add(Capability{Name: "block a drifted exec (drift prevention)", Mechanism: "fanotify FAN_OPEN_EXEC_PERM",
			Effect: "refused with EPERM before the program runs; BPF LSM is not available", Degraded: !r.Has(SendSignal)})
	case r.Has(SendSignal) && r.Has(TPBTF):
		add(Capability{Name: "block a drifted exec (drift prevention)", Mechanism: "tp_btf sched_process_exec + bpf_send_signal(SIGKILL)",
			Effect: "killed before its first instruction; the exec itself succeeds", Degraded: true})
	default:
		add(Capability{Name: "block a drifted exec (drift prevention)", Effect: "audit only: no blocking mechanism loads", Degraded: true})
	}

	if r.Has(FanotifyExecPerm) {
		add(Capability{Name: "block a listed, unlisted or privilege-gaining exec (executable blocklist, executable allow list, limit new privileges)", Mechanism: "fanotify FAN_OPEN_EXEC_PERM",
			Effect: "refused with EPERM before the program runs"})
	} else {
		add(Capability{Name: "block a listed, unlisted or privilege-gaining exec (executable blocklist, executable allow list, limit new privileges)",
			Effect: "audit only: fanotify permission events are not available", Degraded: true})
	}

	switch {
	case r.Has(CgroupSockAddr):
		add(Capability{Name: "block a connection (IP reputation, egress, port scans)", Mechanism: "cgroup-BPF connect4/connect6/sendmsg",
			Effect: "connect() fails with EPERM"})
	case r.Has(BPFLSM):
		add(Capability{Name: "block a connection (IP reputation, egress, port scans)", Mechanism: "bpf_lsm socket_connect",
			Effect: "connect() fails with EPERM"})
	default:
		add(Capability{Name: "block a connection (IP reputation, egress, port scans)", Effect: "audit only: no blocking mechanism loads", Degraded: true})
	}

	if r.Has(CgroupBind) {
		add(Capability{Name: "block a bind to a port off the list (listening ports)", Mechanism: "cgroup-BPF bind4/bind6",
			Effect: "bind() fails with EPERM"})
	} else {
		add(Capability{Name: "block a bind to a port off the list (listening ports)", Effect: "audit only: cgroup-BPF bind programs do not load", Degraded: true})
	}

	if pidsController() {
		add(Capability{Name: "limit processes (fork guard)", Mechanism: "pids cgroup", Effect: "fork() fails with EAGAIN past the limit"})
	} else {
		add(Capability{Name: "limit processes (fork guard)", Effect: "no pids cgroup controller: alerts only", Degraded: true})
	}
	return caps
}

func pidsController() bool {
	if _, err := os.Stat("/sys/fs/cgroup/pids"); err == nil {
		return true
	}
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	return err == nil && containsWord(string(b), "pids")
}

func containsWord(s, w string) bool {
	start := -1
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' || s[i] == '\n' {
			if start >= 0 && s[start:i] == w {
				return true
			}
			start = -1
		} else if start < 0 {
			start = i
		}
	}
	return false
}
