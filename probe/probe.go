// Package probe finds out, at start-up, which kernel mechanisms load on this
// node: tracepoints, tp_btf, BPF LSM, fentry, kprobes, cgroup-BPF (on
// connect and sendmsg, and on bind), ring buffers, bpf_send_signal and
// fanotify permission events. It tries each for
// real (a tiny program loaded and attached, a mark placed) rather than
// reading version numbers, because distributions backport and disable
// features freely. It must not be used on a hot path: each check costs
// syscalls.
package probe

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/mamori-dev/mamori/internal/kernelbtf"
	"github.com/mamori-dev/mamori/internal/memlock"
	"github.com/mamori-dev/mamori/internal/tracefs"
)

// Mechanism names one kernel facility mamori can build on.
type Mechanism string

const (
	BTF              Mechanism = "btf"
	RingBuffer       Mechanism = "ringbuf"
	Tracepoint       Mechanism = "tracepoint"
	TPBTF            Mechanism = "tp_btf"
	BPFLSM           Mechanism = "bpf_lsm"
	FEntry           Mechanism = "fentry"
	Kprobe           Mechanism = "kprobe"
	SendSignal       Mechanism = "bpf_send_signal"
	CgroupSockAddr   Mechanism = "cgroup_bpf"
	CgroupBind       Mechanism = "cgroup_bpf_bind"
	FanotifyExecPerm Mechanism = "fanotify_exec_perm"
)

// Order is the order in which reports list mechanisms.
var Order = []Mechanism{BTF, RingBuffer, Tracepoint, TPBTF, BPFLSM, FEntry, Kprobe, SendSignal, CgroupSockAddr, CgroupBind, FanotifyExecPerm}

// Result is the outcome of one check.
type Result struct {
	Mechanism Mechanism `json:"mechanism"`
	Available bool      `json:"available"`
	Detail    string    `json:"detail,omitempty"` // why not, or what was tried
}

// Report holds every check's result.
type Report struct {
	Kernel  string   `json:"kernel"`
	Results []Result `json:"results"`
}

// Has reports whether m loaded.
func (r Report) Has(m Mechanism) bool {
	for _, res := range r.Results {
		if res.Mechanism == m {
			return res.Available
		}
	}
	return false
}

// Start runs Run on a goroutine of its own and returns what waits for its
// report, so that a caller does other start-up work meanwhile (the first
// probe decodes the kernel's BTF, tens of milliseconds of a core).
func Start() func() Report {
	done := make(chan struct{})
	var rep Report
	go func() {
		defer close(done)
		rep = Run()
	}()
	return func() Report {
		<-done
		return rep
	}
}

// Run performs every check. It needs root (CAP_BPF, CAP_SYS_ADMIN); without
// it each check reports why it failed.
func Run() Report {
	var uts unix.Utsname
	unix.Uname(&uts)
	rep := Report{Kernel: unix.ByteSliceToString(uts.Release[:])}
	if err := memlock.Remove(); err != nil {
		rep.Kernel += " (memlock: " + err.Error() + ")"
	}
	checks := map[Mechanism]func() error{
		BTF:              checkBTF,
		RingBuffer:       func() error { return features.HaveMapType(ebpf.RingBuf) },
		Tracepoint:       checkTracepoint,
		TPBTF:            func() error { return checkTracing(ebpf.AttachTraceRawTp, "sched_process_exec") },
		BPFLSM:           checkLSM,
		FEntry:           func() error { return checkTracing(ebpf.AttachTraceFEntry, "security_bprm_check") },
		Kprobe:           checkKprobe,
		SendSignal:       func() error { return features.HaveProgramHelper(ebpf.TracePoint, asm.FnSendSignal) },
		CgroupSockAddr:   func() error { return checkCgroupSockAddr(ebpf.AttachCGroupInet4Connect) },
		CgroupBind:       checkCgroupBind,
		FanotifyExecPerm: checkFanotify,
	}
	for _, m := range Order {
		err := checks[m]()
		res := Result{Mechanism: m, Available: err == nil}
		if err != nil {
			res.Detail = explain(err)
		}
		rep.Results = append(rep.Results, res)
	}
	return rep
}

func explain(err error) string {
	switch {
	case errors.Is(err, ebpf.ErrNotSupported):
		return "not supported by this kernel: " + err.Error()
	case errors.Is(err, unix.EPERM):
		// cilium/ebpf suggests raising MEMLOCK here; Run already lifted it,
		// so the kernel is refusing the program type itself.
		return "the kernel refuses to load or attach it (EPERM); it is compiled out or locked down on this kernel"
	}
	return err.Error()
}

func checkBTF() error {
	_, err := kernelbtf.Cache().Kernel()
	return err
}

// newBTFProgram loads a program whose attach target is looked up in the
// kernel's BTF, decoded once for every probe and load (kernelbtf): a
// collection of one, since a lone program would decode it again.
func newBTFProgram(spec *ebpf.ProgramSpec) (*ebpf.Program, error) {
	coll, err := ebpf.NewCollectionWithOptions(&ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{"probe": spec}},
		ebpf.CollectionOptions{Cache: kernelbtf.Cache()})
	if err != nil {
		return nil, err
	}
	defer coll.Close()
	return coll.DetachProgram("probe"), nil
}

func retZero() asm.Instructions {
	return asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}
}

func checkTracepoint() error {
	// Mounted first: a look for tracefs without it would be kept by
	// cilium/ebpf for the process (internal/tracefs).
	if _, err := tracefs.Ensure(); err != nil {
		return err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.TracePoint, Instructions: retZero(), License: "GPL"})
	if err != nil {
		return err
	}
	defer prog.Close()
	l, err := link.Tracepoint("sched", "sched_process_exec", prog, nil)
	if err != nil {
		return err
	}
	return l.Close()
}

func checkTracing(at ebpf.AttachType, target string) error {
	prog, err := newBTFProgram(&ebpf.ProgramSpec{
		Type: ebpf.Tracing, AttachType: at, AttachTo: target,
		Instructions: retZero(), License: "GPL",
	})
	if err != nil {
		return err
	}
	defer prog.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		return err
	}
	return l.Close()
}

func checkLSM() error {
	lsms, err := os.ReadFile("/sys/kernel/security/lsm")
	if err == nil && !strings.Contains(string(lsms), "bpf") {
		return fmt.Errorf("bpf is not in the active LSMs (%s); boot with lsm=...,bpf", strings.TrimSpace(string(lsms)))
	}
	prog, err := newBTFProgram(&ebpf.ProgramSpec{
		Type: ebpf.LSM, AttachType: ebpf.AttachLSMMac, AttachTo: "bprm_check_security",
		Instructions: retZero(), License: "GPL",
	})
	if err != nil {
		return err
	}
	defer prog.Close()
	l, err := link.AttachLSM(link.LSMOptions{Program: prog})
	if err != nil {
		return err
	}
	return l.Close()
}

func checkKprobe() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Kprobe, Instructions: retZero(), License: "GPL"})
	if err != nil {
		return err
	}
	defer prog.Close()
	l, err := link.Kprobe("security_bprm_check", prog, nil)
	if err != nil {
		return err
	}
	return l.Close()
}

// checkCgroupSockAddr loads a program that lets everything through and
// attaches it at the root of the cgroup v2 hierarchy.
func checkCgroupSockAddr(at ebpf.AttachType) error {
	root, err := Cgroup2Root()
	if err != nil {
		return err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.CGroupSockAddr, AttachType: at,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}, License: "GPL",
	})
	if err != nil {
		return err
	}
	defer prog.Close()
	l, err := link.AttachCgroup(link.CgroupOptions{Path: root, Attach: at, Program: prog})
	if err != nil {
		return fmt.Errorf("attach to %s: %w", root, err)
	}
	return l.Close()
}

// checkCgroupBind checks what refusing a port needs: bind4 and bind6
// programs, and a ring buffer for their reports.
func checkCgroupBind() error {
	for _, at := range []ebpf.AttachType{ebpf.AttachCGroupInet4Bind, ebpf.AttachCGroupInet6Bind} {
		if err := checkCgroupSockAddr(at); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
	}
	if err := features.HaveMapType(ebpf.RingBuf); err != nil {
		return fmt.Errorf("refused binds are reported through a ring buffer: %w", err)
	}
	return nil
}

// Cgroup2Root returns where the cgroup v2 hierarchy is mounted: the unified
// mount on hybrid hosts, /sys/fs/cgroup on pure v2 hosts.
func Cgroup2Root() (string, error) {
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p, nil
		}
	}
	return "", errors.New("no cgroup v2 hierarchy mounted at /sys/fs/cgroup/unified or /sys/fs/cgroup")
}

func checkFanotify() error {
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC, unix.O_RDONLY)
	if err != nil {
		return fmt.Errorf("fanotify_init(FAN_CLASS_CONTENT): %w", err)
	}
	defer unix.Close(fd)
	dir, err := os.MkdirTemp("", "mamori-probe-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD, unix.FAN_OPEN_EXEC_PERM, unix.AT_FDCWD, dir); err != nil {
		return fmt.Errorf("fanotify_mark(FAN_OPEN_EXEC_PERM): %w", err)
	}
	return nil
}
