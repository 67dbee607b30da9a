package enforce

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/mamori-dev/mamori/internal/kernelbtf"
	"github.com/mamori-dev/mamori/internal/memlock"
	"github.com/mamori-dev/mamori/internal/ring"
)

// Values shared with drift.bpf.c.
const (
	modeAudit   = 1
	modeEnforce = 2

	policyHasAllow = 1 << 0

	reasonMemfd   = 1
	reasonDeleted = 2
	reasonUpper   = 3
	reasonVolume  = 4
	reasonMapped  = 5

	actionAudited    = 1
	actionKilled     = 2
	actionDenied     = 3
	actionKillFailed = 4

	mechanismSigkill = 1
	mechanismLSM     = 2
)

// kernel is the loaded drift.bpf.c: maps shared by the always-attached
// sched_process_exec and sys_enter (mmap) programs and, where they load,
// the LSM programs.
type kernel struct {
	objs struct {
		Exec    *ebpf.Program  `ebpf:"drift_exec"`
		Mmap    *ebpf.Program  `ebpf:"drift_mmap"`
		LsmMmap *ebpf.Variable `ebpf:"lsm_mmap"`
		driftMaps
	}
	lsm    []*ebpf.Program
	links  []link.Link
	reader *ring.Reader
	// bootOffset turns CLOCK_BOOTTIME into wall-clock time.
	bootOffset time.Duration
	// lsmErr says why the LSM exec program is not attached, nil when it
	// is; lsmMmapErr the same of the LSM mmap program.
	lsmErr, lsmMmapErr error
	// owners are the containers' namespaces in the ns_owners map.
	owners nsOwners
}

func loadKernel(log *slog.Logger) (*kernel, error) {
	if err := memlock.Remove(); err != nil {
		return nil, fmt.Errorf("lift the memlock limit: %w", err)
	}
	spec, err := loadDrift()
	if err != nil {
		return nil, fmt.Errorf("read the embedded BPF object: %w", err)
	}
	k := &kernel{bootOffset: bootOffset()}
	if err := spec.LoadAndAssign(&k.objs, &ebpf.CollectionOptions{Cache: kernelbtf.Cache()}); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			log.Error("the kernel's verifier refused the drift program", "log", fmt.Sprintf("%+v", verr))
		}
		return nil, fmt.Errorf("load the drift BPF program: %w", err)
	}
	k.lsmErr = k.attachLSM(spec, driftProgDriftBprmCheck)
	k.lsmMmapErr = k.attachLSM(spec, driftProgDriftMmapFile)
	if k.lsmMmapErr == nil {
		if err := k.objs.LsmMmap.Set(uint32(1)); err != nil {
			k.close()
			return nil, fmt.Errorf("tell drift_mmap that lsm/mmap_file refuses: %w", err)
		}
	}
	for _, p := range []struct {
		prog *ebpf.Program
		name string
	}{{k.objs.Exec, "tp_btf/sched_process_exec"}, {k.objs.Mmap, "tp_btf/sys_enter"}} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p.prog})
		if err != nil {
			k.close()
			return nil, fmt.Errorf("attach %s: %w", p.name, err)
		}
		k.links = append(k.links, l)
	}
	k.reader, err = ring.NewReader(k.objs.Verdicts)
	if err != nil {
		k.close()
		return nil, fmt.Errorf("open the verdict ring buffer: %w", err)
	}
	return k, nil
}

// attachLSM tries the BPF LSM program name. Its failure is expected on
// kernels without BPF LSM and is reported, not fatal.
func (k *kernel) attachLSM(spec *ebpf.CollectionSpec, name string) error {
	ps := spec.Programs[name]
	if ps == nil {
		return fmt.Errorf("the BPF object has no program %s", name)
	}
	replace := k.maps()
	lspec := spec.Copy()
	for n := range lspec.Programs {
		if n != name {
			delete(lspec.Programs, n)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(lspec, ebpf.CollectionOptions{MapReplacements: replace, Cache: kernelbtf.Cache()})
	if errors.Is(err, unix.EPERM) {
		// cilium/ebpf suggests MEMLOCK here; it is lifted already, so it
		// is the program type the kernel refuses.
		return errors.New("the kernel refuses BPF LSM programs (EPERM): BPF LSM is compiled out or not in lsm=")
	}
	if err != nil {
		return fmt.Errorf("load %s: %w", ps.SectionName, err)
	}
	prog := coll.DetachProgram(name)
	coll.Close()
	l, err := link.AttachLSM(link.LSMOptions{Program: prog})
	if err != nil {
		prog.Close()
		return fmt.Errorf("attach %s: %w", ps.SectionName, err)
	}
	k.lsm = append(k.lsm, prog)
	k.links = append(k.links, l)
	return nil
}

type kernelPolicy struct {
	cgroupID   uint64
	owner      nsOwner // the container's PID or mount namespace; zero when unknown
	rootDev    uint32  // kernel encoding, major<<20|minor
	enforce    bool
	allow      []uint64 // path hashes
	hasAllow   bool     // allow may grow (ContainerRef.AllowMatch)
	execMounts []uint32 // mount ids
}

// put writes a container's policy. The enforced entry goes last, so that
// the program never sees the container without its exceptions.
func (k *kernel) put(p kernelPolicy) error {
	for _, h := range p.allow {
		if err := k.objs.Allow.Put(driftAllowKey{CgroupId: p.cgroupID, Hash: h}, uint8(1)); err != nil {
			return fmt.Errorf("allow map: %w", err)
		}
	}
	for _, m := range p.execMounts {
		if err := k.objs.ExecMounts.Put(driftMountKey{CgroupId: p.cgroupID, MntId: m}, uint8(1)); err != nil {
			return fmt.Errorf("exec mount map: %w", err)
		}
	}
	pol := driftPolicy{Mode: modeAudit, RootDev: p.rootDev}
	if p.enforce {
		pol.Mode = modeEnforce
	}
	if len(p.allow) > 0 || p.hasAllow {
		pol.Flags |= policyHasAllow
	}
	if err := k.objs.Enforced.Put(p.cgroupID, pol); err != nil {
		return fmt.Errorf("enforced map: %w", err)
	}
	return k.putOwner(p)
}

// allow adds one allowed path hash to a container's policy.
func (k *kernel) allow(cgroupID, hash uint64) error {
	return k.objs.Allow.Put(driftAllowKey{CgroupId: cgroupID, Hash: hash}, uint8(1))
}

// remove deletes a container's policy, the enforced entry first.
func (k *kernel) remove(p kernelPolicy) error {
	var errs []error
	if err := k.removeOwner(p); err != nil {
		errs = append(errs, err)
	}
	if err := k.objs.Enforced.Delete(p.cgroupID); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		errs = append(errs, err)
	}
	for _, h := range p.allow {
		if err := k.objs.Allow.Delete(driftAllowKey{CgroupId: p.cgroupID, Hash: h}); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
		}
	}
	for _, m := range p.execMounts {
		if err := k.objs.ExecMounts.Delete(driftMountKey{CgroupId: p.cgroupID, MntId: m}); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeExcept deletes p's entries that keep, the policy that stays in
// force, does not hold; with keep nil it deletes them all.
func (k *kernel) removeExcept(p kernelPolicy, keep *kernelPolicy) error {
	if keep == nil || keep.cgroupID != p.cgroupID {
		return k.remove(p)
	}
	var errs []error
	for _, h := range p.allow {
		if slices.Contains(keep.allow, h) {
			continue
		}
		if err := k.objs.Allow.Delete(driftAllowKey{CgroupId: p.cgroupID, Hash: h}); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
		}
	}
	for _, m := range p.execMounts {
		if slices.Contains(keep.execMounts, m) {
			continue
		}
		if err := k.objs.ExecMounts.Delete(driftMountKey{CgroupId: p.cgroupID, MntId: m}); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// lost returns how many verdicts the ring buffer had no room for.
func (k *kernel) lost() uint64 {
	var per []uint64
	if err := k.objs.Lost.Lookup(uint32(0), &per); err != nil {
		return 0
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n
}

// read delivers each verdict record until the reader is closed.
func (k *kernel) read(fn func(driftVerdict)) error {
	var rec ring.Record
	for {
		if err := k.reader.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrClosed) || errors.Is(err, ring.ErrFlushed) {
				return nil // closed, or drained by Close
			}
			return err
		}
		v, err := decodeVerdict(rec.RawSample)
		if err != nil {
			continue
		}
		fn(v)
	}
}

// detach stops the programs; verdicts already in the ring buffer stay
// readable until close.
func (k *kernel) detach() {
	for _, l := range k.links {
		l.Close()
	}
	k.links = nil
}

func (k *kernel) close() {
	k.detach()
	if k.reader != nil {
		k.reader.Close()
	}
	for _, p := range k.lsm {
		p.Close()
	}
	k.objs.Exec.Close()
	k.objs.Mmap.Close()
	k.objs.driftMaps.Close()
}

func bootOffset() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return time.Duration(time.Now().UnixNano() - ts.Nano())
}
