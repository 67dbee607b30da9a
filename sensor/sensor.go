// Package sensor owns mamori's eBPF programs and the ring-buffer reader: it
// loads sensor.bpf.c, attaches it to tracepoints that load on this kernel,
// tells the kernel side which system calls and paths to capture, and decodes
// each record into an event.Event. It knows nothing of containers, rules or
// outputs; enrichment happens downstream.
package sensor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/mamori-dev/mamori/internal/kernelbtf"
	"github.com/mamori-dev/mamori/internal/memlock"
	"github.com/mamori-dev/mamori/internal/ring"
	"github.com/mamori-dev/mamori/internal/tracefs"

	"github.com/mamori-dev/mamori/event"
)

// DefaultSensitivePrefixes are the paths whose read-only opens are reported.
// Opens for write or create are all reported unless OpenFilter.Writes says
// otherwise.
var DefaultSensitivePrefixes = []string{
	"/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/pam.conf", "/etc/pam.d/",
	"/etc/security/", "/etc/ssh/", "/root/.ssh/", "/root/.aws/", "/root/.kube/",
	"/etc/kubernetes/", "/var/run/secrets/", "/run/secrets/", "/var/lib/kubelet/pki/",
}

// OpenFilter says which read-only and failed opens the sensor reports
// besides those under the sensitive prefixes, and which opens for writing:
// the kernel reports one when any key of its kind matches the path it
// resolved or the path argument as given.
type OpenFilter struct {
	AllReads  bool     // every read-only open
	Failed    bool     // failed opens matching the keys (or the prefixes)
	AllFailed bool     // every failed open
	Dirs      []string // paths directly in one, each ending in a slash ("/etc/pam.d/")
	Suffixes  []string // paths ending with one ("/environ")
	Contains  []string // paths holding one ("../"); at most 4 with Writes', of at most 16 bytes
	Comms     []string // every read-only open by a process of this name (the kernel's comm)
	// ReadsInContainers reports every read-only and failed open of a
	// process in a container, whatever the keys.
	ReadsInContainers bool
	// RawReads says that the read keys are all on the path as the
	// program gave it made absolute (Falco's fd.name), none on the path
	// the kernel resolved: for an absolute, clean path argument the
	// kernel then decides on the argument alone, without walking the
	// opened file's dentries.
	RawReads bool
	// Writes, when not nil, narrows the opens for writing reported to
	// those its keys match; nil reports every one.
	Writes *WriteFilter
	// Changes, when not nil, narrows the removes, renames and mkdirs
	// reported to those its keys match; nil reports every one.
	Changes *ChangeFilter
}

// WriteFilter says which successful opens that may write (for writing,
// or creating, or truncating) the sensor reports: those of processes in
// containers when InContainers is set, and those a key of their kind
// matches. Opens for writing only (O_WRONLY, where Falco's
// evt.is_open_read is false) have keys of their own; the others (O_RDWR,
// or O_RDONLY with O_CREAT or O_TRUNC) those of ReadWrite.
type WriteFilter struct {
	InContainers bool
	OpenKeys
	ReadWrite OpenKeys
}

// OpenKeys are the keys of one kind of open.
type OpenKeys struct {
	Raw      bool     // as OpenFilter.RawReads, for these keys
	Prefixes []string // the path starts with one
	Dirs     []string // the file is directly in one, ending in a slash
	Suffixes []string
	Contains []string
	Comms    []string
}

// A process is in a container, for the kernel's filter, when its mount
// namespace is not the host's: containers never share the host's (a host
// service with a private one counts too, which only reports more).

// IOFilter says which sends and receives on IPv4 and IPv6 sockets the
// sensor reports: Send for sendto and sendmsg, Recv for recvfrom and
// recvmsg. The kernel keeps, per socket, the peer of its last send or
// receive, to tell when the peer changes.
type IOFilter struct {
	Send, Recv IOKeys
	Ports      []uint16 // the peer ports of IOKeys.Ports
	// Patterns are the byte strings IOKeys.Data looks for in the first
	// 80 bytes (at most 4, of at most 16 bytes).
	Patterns [][]byte
}

// ConnectFilter says which connects the sensor reports: those of
// processes in containers (another mount namespace than the host's) when
// InContainers is set, and those to an IPv4 or IPv6 peer port among
// Ports. The kernel decides on each call, so that a connect no rule,
// policy or profile can use never reaches user space.
type ConnectFilter struct {
	InContainers bool
	Ports        []uint16 // at most MaxConnectPorts
}

// MaxConnectPorts is how many ports a ConnectFilter may hold.
const MaxConnectPorts = 256

const (
	connectKeys       = 1 << 0
	connectContainers = 1 << 1
)

func (f *ConnectFilter) config() (sensorConnectCfg, error) {
	var c sensorConnectCfg
	if f == nil {
		return c, nil
	}
	if len(f.Ports) > MaxConnectPorts {
		return c, fmt.Errorf("%d connect ports: at most %d", len(f.Ports), MaxConnectPorts)
	}
	c.Flags = connectKeys
	if f.InContainers {
		c.Flags |= connectContainers
		c.HostMntns = hostMountNS()
	}
	return c, nil
}

// IOKeys say which calls of one direction are reported.
type IOKeys struct {
	All         bool // every one
	Unconnected bool // on an unconnected socket
	PeerChanged bool // on an unconnected socket, to or from another peer than its last
	Ports       bool // to or from a port in IOFilter.Ports
	Data        bool // whose first bytes hold one of IOFilter.Patterns
}

func (k IOKeys) bits() uint32 {
	var b uint32
	set := func(on bool, bit uint32) {
		if on {
			b |= bit
		}
	}
	set(k.All, ioAll)
	set(k.Unconnected, ioUnconnected)
	set(k.PeerChanged, ioChanged)
	set(k.Ports, ioPorts)
	set(k.Data, ioData)
	return b
}

// Bits of io_cfg.flags, as sensor.bpf.c defines them.
const (
	ioAll         = 1 << 0
	ioUnconnected = 1 << 1
	ioChanged     = 1 << 2
	ioPorts       = 1 << 3
	ioData        = 1 << 4
	ioRecvShift   = 8
)

func (f IOFilter) config() (sensorIoCfg, error) {
	c := sensorIoCfg{Flags: f.Send.bits() | f.Recv.bits()<<ioRecvShift}
	if len(f.Patterns) > MaxOpenContains {
		return c, fmt.Errorf("%d byte patterns to look for in data: at most %d", len(f.Patterns), MaxOpenContains)
	}
	for i, p := range f.Patterns {
		if len(p) == 0 || len(p) > MaxContainsBytes {
			return c, fmt.Errorf("byte pattern %x: must be 1 to %d bytes", p, MaxContainsBytes)
		}
		c.PatternLen[i] = uint8(len(p))
		copy(c.Patterns[i][:], p)
	}
	c.Npatterns = uint32(len(f.Patterns))
	return c, nil
}

// Limits of OpenFilter.
const (
	MaxOpenContains  = 4
	MaxContainsBytes = 16
)

// MaxEnvBytes bounds the environment an exec event can carry.
const MaxEnvBytes = 4096

// Config says what the sensor captures.
type Config struct {
	// Node names the machine in every event.
	Node string
	// Events lists the event types to capture; empty means all. Exec, fork
	// and exit are always captured, since the process tree needs them;
	// cgroup_move is captured when Events is empty or names it.
	Events []event.Type
	// SensitivePrefixes replaces DefaultSensitivePrefixes when not nil:
	// read-only opens under one are reported.
	SensitivePrefixes []string
	// Opens says which other read-only opens, which failed opens and
	// which opens for writing are reported.
	Opens OpenFilter
	// DNSCgroup, when set, is the root of the cgroup v2 hierarchy: the
	// sensor attaches there to report the DNS responses delivered to any
	// socket on the node (event.DNS), for the names of addresses.
	DNSCgroup string
	// IO says which sends and receives (sendto, sendmsg, recvfrom,
	// recvmsg on IPv4 and IPv6 sockets) are reported when their event
	// types are captured; the zero value reports none.
	IO IOFilter
	// Connects, when not nil, narrows the connects reported (when their
	// event type is captured) to those its keys match; nil reports every
	// one.
	Connects *ConnectFilter
	// RingBufferBytes is the ring buffer's size, a power of two; 0 means 4 MiB.
	RingBufferBytes uint32
	// LifecycleReserveBytes is the part of the ring buffer that only
	// lifecycle records (exec, fork, exit, cgroup_move) may fill: a
	// syscall record that would reach into it is dropped, and counted, so
	// that a storm of file or network events cannot crowd out what the
	// process tree, enforcement and forensics need. 0 means an eighth of
	// the ring, at least 64 KiB and at most half of it.
	LifecycleReserveBytes uint32
	// EnvBytes is how much of a new program's environment exec events
	// carry (Process.Env); 0 leaves it out. At most MaxEnvBytes.
	EnvBytes uint32
	// PollInterval bounds how long a record may wait in the ring buffer
	// before user space reads it; 0 means 20 ms.
	PollInterval time.Duration
	// EveryCallHook captures system calls with tp_btf/sys_exit, which
	// runs on every call, even where the per-call tracepoints could (as
	// on kernels before 5.15); for tests.
	EveryCallHook bool
	// CaptureAbsentCalls captures attempts at the wanted calls the kernel
	// was built without (the module calls where it cannot load modules),
	// which fail with ENOSYS: tp_btf/sys_exit then runs on every call of
	// the node for them. Without it they are not captured (AbsentCalls).
	CaptureAbsentCalls bool
}

// Sensor is the loaded, attached eBPF sensor.
type Sensor struct {
	cfg  Config
	log  *slog.Logger
	objs sensorObjects
	// perCall is set when system calls are captured by the per-call
	// tracepoints rather than tp_btf/sys_exit; rawCalls are then the
	// wanted calls without a tracepoint, which tp_btf/sys_exit takes,
	// and absentCalls those the kernel was built without, which only
	// fail (ENOSYS) and are not captured.
	perCall     bool
	rawCalls    map[string]bool
	absentCalls []string
	links       []link.Link
	reader      *ring.Reader
	dec         *decoder
	ev          event.Event // reused for every record: handlers must not keep it

	perType      [64]atomic.Uint64 // indexed like event.Types
	decodeErrors atomic.Uint64
	lastErr      atomic.Pointer[string]

	blindMu   sync.Mutex
	blindSeen uint64 // CLOCK_BOOTTIME ns of the last look at the blind window
}

// Record is one decoded event with what attribution needs from its header.
// The Event is reused for the next record once the handler returns: a
// handler that keeps it must copy it.
type Record struct {
	Event    *event.Event
	CgroupID uint64
}

// New loads and attaches the sensor. The caller must Close it.
func New(cfg Config, log *slog.Logger) (*Sensor, error) {
	s, err := newSensor(cfg, log)
	if errors.Is(err, errPerCallAttach) {
		// tp_btf/sys_exit is loaded only when some call needs it: load
		// the sensor again with every call on it.
		log.Info("system calls captured by tp_btf/sys_exit, run on every call: a per-call tracepoint did not attach", "err", err)
		cfg.EveryCallHook = true
		s, err = newSensor(cfg, log)
	}
	return s, err
}

// errPerCallAttach is a per-call tracepoint that did not attach, with
// tp_btf/sys_exit not loaded to take its calls instead.
var errPerCallAttach = errors.New("per-call tracepoint")

func newSensor(cfg Config, log *slog.Logger) (*Sensor, error) {
	if cfg.RingBufferBytes == 0 {
		cfg.RingBufferBytes = 4 << 20
	}
	if cfg.RingBufferBytes&(cfg.RingBufferBytes-1) != 0 || cfg.RingBufferBytes < 4096 {
		return nil, fmt.Errorf("ring buffer size %d: must be a power of two of at least 4096 bytes", cfg.RingBufferBytes)
	}
	if cfg.LifecycleReserveBytes == 0 {
		cfg.LifecycleReserveBytes = defaultReserve(cfg.RingBufferBytes)
	}
	if cfg.LifecycleReserveBytes >= cfg.RingBufferBytes {
		return nil, fmt.Errorf("lifecycle reserve of %d bytes: must be smaller than the ring buffer (%d bytes)", cfg.LifecycleReserveBytes, cfg.RingBufferBytes)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	if cfg.EnvBytes > MaxEnvBytes {
		return nil, fmt.Errorf("environment of %d bytes: at most %d are read at exec", cfg.EnvBytes, MaxEnvBytes)
	}
	if cfg.SensitivePrefixes == nil {
		cfg.SensitivePrefixes = DefaultSensitivePrefixes
	}
	openCfg, err := cfg.Opens.config(cfg.SensitivePrefixes)
	if err != nil {
		return nil, err
	}
	ioCfg, err := cfg.IO.config()
	if err != nil {
		return nil, err
	}
	connectCfg, err := cfg.Connects.config()
	if err != nil {
		return nil, err
	}
	for _, t := range cfg.Events {
		if !slices.Contains(event.Types, t) {
			return nil, fmt.Errorf("unknown event type %q (known: %v)", t, event.Types)
		}
	}
	if err := memlock.Remove(); err != nil {
		return nil, fmt.Errorf("lift the memlock limit: %w", err)
	}
	spec, err := loadSensor()
	if err != nil {
		return nil, fmt.Errorf("read the embedded BPF object: %w", err)
	}
	spec.Maps[sensorMapEvents].MaxEntries = cfg.RingBufferBytes
	room := cfg.RingBufferBytes - cfg.LifecycleReserveBytes
	for name, v := range map[string]any{
		sensorVarSelfTgid:      uint32(os.Getpid()),
		sensorVarEnvBytes:      cfg.EnvBytes,
		sensorVarOpenConfig:    openCfg,
		sensorVarIoConfig:      ioCfg,
		sensorVarConnectConfig: connectCfg,
		sensorVarSyscallRoom:   uint64(room),
		// Wake the reader well before syscall records meet the reserve.
		sensorVarWakeupBytes: min(uint32(256<<10), room/2),
	} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	s := &Sensor{cfg: cfg, log: log}
	// The per-call syscall program where it can run (bpf_task_pt_regs);
	// the one on every call only where it must run: for the wanted calls
	// without a tracepoint, or for all of them. Both are large for the
	// verifier (a core for a sixth of a second each here).
	s.perCall, s.rawCalls, s.absentCalls = s.perCallHook()
	if !s.perCall {
		delete(spec.Programs, sensorProgSysExitTp)
	} else if len(s.rawCalls) == 0 {
		delete(spec.Programs, sensorProgSysExit)
	}
	if err := s.load(spec); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			log.Error("the kernel's verifier refused the sensor", "log", fmt.Sprintf("%+v", verr))
		}
		return nil, fmt.Errorf("load the sensor's BPF programs: %w", err)
	}
	if err := s.configure(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.attach(); err != nil {
		s.Close()
		return nil, err
	}
	// The loads' garbage (the objects' BTF and ELF, the verifier's
	// buffers) is dead now. Collect it before the ring is mapped, whose
	// pages count in the resident set at once: start-up was the agent's
	// peak RSS, the heap at its largest just as the ring came in.
	debug.FreeOSMemory()
	s.reader, err = ring.NewReader(s.objs.Events)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open the ring buffer: %w", err)
	}
	s.dec = newDecoder(cfg.Node, bootToRealtime())
	return s, nil
}

// capturesSyscalls reports whether any event type that comes from a system
// call is wanted.
func (s *Sensor) capturesSyscalls() bool {
	for _, d := range syscallTable {
		if s.wants(d.typ) {
			return true
		}
	}
	return false
}

func (s *Sensor) wants(t event.Type) bool {
	return len(s.cfg.Events) == 0 || slices.Contains(s.cfg.Events, t)
}

// writeSpecs writes the spec of every wanted system call, saying which
// program captures it.
func (s *Sensor) writeSpecs() error {
	for i, d := range syscallTable {
		if !s.wants(d.typ) {
			continue
		}
		spec := d.spec
		spec.Code = uint16(i + 1)
		if spec.Filter == filterPaths && s.cfg.Opens.Changes.whole(spec.PathClass) {
			spec.Filter = filterNone
		}
		if s.viaRaw(d.name) {
			spec.ViaRaw = 1
		}
		if err := s.objs.Syscalls.Put(uint32(d.nr), spec); err != nil {
			return fmt.Errorf("enable syscall %s: %w", d.name, err)
		}
	}
	return nil
}

// configure writes the syscall specs, lifecycle switches and sensitive
// prefixes into the kernel's maps.
func (s *Sensor) configure() error {
	kinds := []uint32{kindExec, kindFork, kindExit}
	if s.wants(event.CgroupMove) {
		kinds = append(kinds, kindMove)
	}
	for _, k := range kinds {
		if err := s.objs.Kinds.Put(k, uint32(1)); err != nil {
			return fmt.Errorf("enable record kind %d: %w", k, err)
		}
	}
	if err := s.writeSpecs(); err != nil {
		return err
	}
	keys := s.cfg.Opens.keys(s.cfg.SensitivePrefixes)
	for p, class := range keys.prefixes {
		var key sensorPathKey
		key.Prefixlen = uint32(len(p)) * 8
		copy(key.Data[:], p)
		if err := s.objs.Sensitive.Put(key, class); err != nil {
			return fmt.Errorf("add path prefix %q: %w", p, err)
		}
	}
	for d, class := range keys.dirs {
		var key sensorPathKey
		key.Prefixlen = uint32(len(d)) * 8
		copy(key.Data[:], d)
		if err := s.objs.Dirs.Put(key, class); err != nil {
			return fmt.Errorf("add directory %q: %w", d, err)
		}
	}
	for sfx, class := range keys.suffixes {
		// The trie holds endings reversed: a lookup of a path's tail,
		// reversed, finds its longest ending.
		var key sensorPathKey
		key.Prefixlen = uint32(len(sfx)) * 8
		for i := range len(sfx) {
			key.Data[i] = sfx[len(sfx)-1-i]
		}
		if err := s.objs.Suffixes.Put(key, class); err != nil {
			return fmt.Errorf("add path ending %q: %w", sfx, err)
		}
	}
	for _, port := range s.cfg.IO.Ports {
		if err := s.objs.IoPorts.Put(port, uint8(1)); err != nil {
			return fmt.Errorf("add peer port %d: %w", port, err)
		}
	}
	if f := s.cfg.Connects; f != nil {
		for _, port := range f.Ports {
			if err := s.objs.ConnectPorts.Put(port, uint8(1)); err != nil {
				return fmt.Errorf("add connect port %d: %w", port, err)
			}
		}
	}
	for c, class := range keys.comms {
		var key sensorCommKey
		for i := 0; i < len(c) && i < len(key.Comm)-1; i++ {
			key.Comm[i] = int8(c[i])
		}
		if err := s.objs.Comms.Put(key, class); err != nil {
			return fmt.Errorf("add process name %q: %w", c, err)
		}
	}
	return nil
}

// Classes of keys, as sensor.bpf.c defines them: read-only and failed
// opens, and opens for writing (those of calls on paths are in
// changes.go).
const (
	classRead      = 1
	classWrite     = 2
	classReadWrite = 4
)

// openKeys are the kernel's keys with the classes each serves.
type openKeys struct {
	prefixes, dirs, suffixes, comms map[string]uint8
	contains                        []string
	containsClass                   []uint8
}

// keys gathers the filter's keys by class; readPrefixes are the read
// keys' prefixes (Config.SensitivePrefixes). A trie answers a lookup with
// its longest matching key only, so each prefix (ending) also carries the
// classes of the shorter prefixes (endings) it extends.
func (f OpenFilter) keys(readPrefixes []string) openKeys {
	k := openKeys{prefixes: map[string]uint8{}, dirs: map[string]uint8{}, suffixes: map[string]uint8{}, comms: map[string]uint8{}}
	add := func(m map[string]uint8, vs []string, class uint8) {
		for _, v := range vs {
			m[v] |= class
		}
	}
	add(k.prefixes, readPrefixes, classRead)
	add(k.dirs, f.Dirs, classRead)
	add(k.suffixes, f.Suffixes, classRead)
	add(k.comms, f.Comms, classRead)
	addContains := func(vs []string, class uint8) {
		for _, v := range vs {
			if i := slices.Index(k.contains, v); i >= 0 {
				k.containsClass[i] |= class
				continue
			}
			k.contains = append(k.contains, v)
			k.containsClass = append(k.containsClass, class)
		}
	}
	addContains(f.Contains, classRead)
	if w := f.Writes; w != nil {
		for _, c := range []struct {
			keys  OpenKeys
			class uint8
		}{{w.OpenKeys, classWrite}, {w.ReadWrite, classReadWrite}} {
			add(k.prefixes, c.keys.Prefixes, c.class)
			add(k.dirs, c.keys.Dirs, c.class)
			add(k.suffixes, c.keys.Suffixes, c.class)
			add(k.comms, c.keys.Comms, c.class)
			addContains(c.keys.Contains, c.class)
		}
	}
	for _, c := range f.Changes.classes() {
		if c.keys.All {
			continue // the calls are not filtered
		}
		add(k.prefixes, c.keys.Prefixes, c.class)
		add(k.dirs, c.keys.Dirs, c.class)
		add(k.suffixes, c.keys.Suffixes, c.class)
		add(k.comms, c.keys.Comms, c.class)
		addContains(c.keys.Contains, c.class)
	}
	inherit(k.prefixes, strings.HasPrefix)
	inherit(k.suffixes, strings.HasSuffix)
	return k
}

// inherit gives each key the classes of the keys it extends.
func inherit(m map[string]uint8, extends func(key, shorter string) bool) {
	own := maps.Clone(m)
	for key := range m {
		for shorter, class := range own {
			if len(shorter) < len(key) && extends(key, shorter) {
				m[key] |= class
			}
		}
	}
}

// config checks the filter and turns it into the kernel's constants.
func (f OpenFilter) config(readPrefixes []string) (sensorOpenCfg, error) {
	var c sensorOpenCfg
	if f.AllReads {
		c.Flags |= openAllReads
	}
	if f.Failed || f.AllFailed {
		c.Flags |= openFailed
	}
	if f.AllFailed {
		c.Flags |= openAllFailed
	}
	if f.ReadsInContainers {
		c.Flags |= openReadContainers
	}
	if !f.RawReads {
		c.Flags |= openReadResolved
	}
	if f.Writes != nil && !f.Writes.Raw {
		c.Flags |= openWriteResolved
	}
	if f.Writes != nil && !f.Writes.ReadWrite.Raw {
		c.Flags |= openReadWriteResolved
	}
	if f.Writes != nil {
		c.Flags |= openWriteKeys
		if f.Writes.InContainers {
			c.Flags |= openWriteContainers
		}
	}
	c.ContainerClasses = f.Changes.containerClasses()
	if f.ReadsInContainers || (f.Writes != nil && f.Writes.InContainers) || c.ContainerClasses != 0 {
		c.HostMntns = hostMountNS()
	}
	k := f.keys(readPrefixes)
	if len(k.comms) > 0 {
		c.Flags |= openComms
	}
	if len(k.dirs) > 0 {
		c.Flags |= openDirs
	}
	for _, m := range []struct {
		keys    map[string]uint8
		classes *uint8
	}{{k.comms, &c.CommClasses}, {k.dirs, &c.DirClasses}, {k.suffixes, &c.SuffixClasses}} {
		for _, class := range m.keys {
			*m.classes |= class
		}
	}
	for d := range k.dirs {
		if len(d) == 0 || len(d) > 255 || d[0] != '/' || d[len(d)-1] != '/' {
			return c, fmt.Errorf("directory %q: must be 1 to 255 bytes, start and end with a slash", d)
		}
	}
	for p := range k.prefixes {
		if len(p) == 0 || len(p) > 255 {
			return c, fmt.Errorf("path prefix %q: must be 1 to 255 bytes", p)
		}
	}
	for sfx := range k.suffixes {
		if len(sfx) == 0 || len(sfx) > 255 {
			return c, fmt.Errorf("path ending %q: must be 1 to 255 bytes", sfx)
		}
		c.MaxSuffix = max(c.MaxSuffix, uint32(len(sfx)))
	}
	if len(k.contains) > MaxOpenContains {
		return c, fmt.Errorf("%d substrings of paths to look for: at most %d", len(k.contains), MaxOpenContains)
	}
	for i, sub := range k.contains {
		if len(sub) == 0 || len(sub) > MaxContainsBytes {
			return c, fmt.Errorf("substring %q of paths to look for: must be 1 to %d bytes", sub, MaxContainsBytes)
		}
		c.ContainsLen[i] = uint8(len(sub))
		c.ContainsClass[i] = k.containsClass[i]
		for j := range len(sub) {
			c.Contains[i][j] = int8(sub[j])
		}
	}
	c.Ncontains = uint32(len(k.contains))
	for cm := range k.comms {
		if len(cm) == 0 || len(cm) > 15 {
			return c, fmt.Errorf("process name %q: must be 1 to 15 bytes (the kernel's comm)", cm)
		}
	}
	return c, nil
}

// hostMountNS is the host's mount namespace: init's, or where init's
// cannot be read, the agent's own. 0 (no namespace has it) when neither
// can be read, so that every process counts as in a container and nothing
// the filter wants is missed.
func hostMountNS() uint32 {
	for _, p := range []string{"/proc/1/ns/mnt", "/proc/self/ns/mnt"} {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err == nil {
			return uint32(st.Ino)
		}
	}
	return 0
}

// Bits of open_cfg.flags, as sensor.bpf.c defines them.
const (
	openAllReads  = 1 << 0
	openFailed    = 1 << 1
	openAllFailed = 1 << 2
	openComms     = 1 << 3
	openWriteKeys = 1 << 4
	openDirs      = 1 << 7

	openReadResolved      = 1 << 8
	openWriteResolved     = 1 << 9
	openReadWriteResolved = 1 << 10

	openReadContainers  = 1 << 5
	openWriteContainers = 1 << 6
)

// load loads spec's maps and programs into s.objs; a program spec lacks
// is left nil.
func (s *Sensor) load(spec *ebpf.CollectionSpec) error {
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Cache: kernelbtf.Cache()})
	if err != nil {
		return err
	}
	defer coll.Close()
	var mv struct {
		*sensorMaps
		*sensorVariables
	}
	mv.sensorMaps, mv.sensorVariables = &s.objs.sensorMaps, &s.objs.sensorVariables
	if err := coll.Assign(&mv); err != nil {
		return err
	}
	for name, p := range map[string]**ebpf.Program{
		sensorProgDnsIngress: &s.objs.DnsIngress, sensorProgHandleCgroupAttach: &s.objs.HandleCgroupAttach,
		sensorProgHandleExec: &s.objs.HandleExec, sensorProgHandleExit: &s.objs.HandleExit,
		sensorProgHandleFork: &s.objs.HandleFork, sensorProgSysExit: &s.objs.SysExit, sensorProgSysExitTp: &s.objs.SysExitTp,
	} {
		if _, ok := spec.Programs[name]; ok {
			if *p = coll.DetachProgram(name); *p == nil {
				return fmt.Errorf("program %s not loaded", name)
			}
		}
	}
	return nil
}

// perCallHook reports whether the wanted system calls can be captured by
// the classic per-call tracepoints (syscalls/sys_exit_NAME): then no
// program runs on the calls nobody wants. They need tracefs (mounted
// here when it is not) and bpf_task_pt_regs (Linux 5.15) for the
// arguments. Otherwise the sensor uses tp_btf/sys_exit, which runs on
// every call of the node. raw are the wanted calls without a tracepoint
// (a call the kernel lacks has none, and an attempt at it is still worth
// reporting): tp_btf/sys_exit takes those, unless the kernel was built
// without them (absent), as the module calls are on a kernel that cannot
// load modules: an attempt can only fail, and catching it would run a
// program on every system call of the node.
func (s *Sensor) perCallHook() (ok bool, raw map[string]bool, absent []string) {
	if !s.capturesSyscalls() || s.cfg.EveryCallHook {
		return false, nil, nil
	}
	if err := features.HaveProgramHelper(ebpf.TracePoint, asm.FnTaskPtRegs); err != nil {
		s.log.Info("system calls captured by tp_btf/sys_exit, run on every call: the kernel lacks bpf_task_pt_regs for the per-call tracepoints", "err", err)
		return false, nil, nil
	}
	events := tracefs.Path + "/events/syscalls"
	mounted, err := tracefs.Ensure()
	if err != nil {
		s.log.Info("system calls captured by tp_btf/sys_exit, run on every call: tracefs is not mounted and cannot be", "path", tracefs.Path, "err", err)
		return false, nil, nil
	}
	if mounted {
		s.log.Info("mounted tracefs for the per-call syscall tracepoints", "path", tracefs.Path)
	}
	if _, err := os.Stat(events); err != nil {
		s.log.Info("system calls captured by tp_btf/sys_exit, run on every call: tracefs has no syscall tracepoints", "path", tracefs.Path, "err", err)
		return false, nil, nil
	}
	raw = map[string]bool{}
	for _, d := range syscallTable {
		if !s.wants(d.typ) {
			continue
		}
		if _, err := os.Stat(events + "/sys_exit_" + tracepointName(d.name)); err != nil {
			if !s.cfg.CaptureAbsentCalls && callAbsent(d.name, "/proc") {
				absent = append(absent, d.name)
			} else {
				raw[d.name] = true
			}
		}
	}
	return true, raw, absent
}

// callAbsent reports whether the kernel whose procfs is at proc was built
// without the call: the module calls where there is no /proc/modules
// (CONFIG_MODULES off), which then fail with ENOSYS whoever makes them.
func callAbsent(call, proc string) bool {
	switch call {
	case "init_module", "finit_module", "delete_module":
		_, err := os.Stat(filepath.Join(proc, "modules"))
		return errors.Is(err, fs.ErrNotExist)
	}
	return false
}

// tracepointName is the name the kernel's syscall tracepoints give a call
// (that of its SYSCALL_DEFINE), where it differs from the call's own.
func tracepointName(call string) string {
	if call == "umount2" {
		return "umount"
	}
	return call
}

// viaRaw reports whether tp_btf/sys_exit captures the call.
func (s *Sensor) viaRaw(call string) bool {
	return !s.perCall || s.rawCalls[call]
}

// SyscallHook says which programs capture system calls: "" when none
// is wanted.
func (s *Sensor) SyscallHook() string {
	if !s.capturesSyscalls() {
		return ""
	}
	if !s.perCall {
		return "tp_btf/sys_exit (every call)"
	}
	hook := "tracepoint syscalls/sys_exit_* (wanted calls only)"
	if len(s.rawCalls) > 0 {
		hook += "; tp_btf/sys_exit (every call) for " + strings.Join(slices.Sorted(maps.Keys(s.rawCalls)), ", ") + ", which have no tracepoint"
	}
	if len(s.absentCalls) > 0 {
		hook += "; not " + strings.Join(s.absentCalls, ", ") + ", which this kernel was built without (their attempts fail with ENOSYS)"
	}
	return hook
}

// AbsentCalls are the wanted system calls the kernel was built without,
// which are not captured (attempts at them fail with ENOSYS).
func (s *Sensor) AbsentCalls() []string { return s.absentCalls }

// attachPerCall attaches the per-call program to the tracepoint of each
// wanted call that has one; on failure it detaches what it attached.
func (s *Sensor) attachPerCall() error {
	var ls []link.Link
	attached := map[string]bool{}
	for _, d := range syscallTable {
		name := tracepointName(d.name)
		if !s.wants(d.typ) || attached[name] || s.rawCalls[d.name] || slices.Contains(s.absentCalls, d.name) {
			continue
		}
		l, err := link.Tracepoint("syscalls", "sys_exit_"+name, s.objs.SysExitTp, nil)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return fmt.Errorf("attach syscalls/sys_exit_%s: %w", name, err)
		}
		ls = append(ls, l)
		attached[name] = true
	}
	s.links = append(s.links, ls...)
	return nil
}

func (s *Sensor) attach() error {
	progs := []*ebpf.Program{s.objs.HandleExec, s.objs.HandleFork, s.objs.HandleExit}
	if s.wants(event.CgroupMove) {
		progs = append(progs, s.objs.HandleCgroupAttach)
	}
	if s.perCall {
		if err := s.attachPerCall(); err != nil {
			if s.objs.SysExit == nil {
				return fmt.Errorf("%w: %w", errPerCallAttach, err)
			}
			// Every wanted call goes to tp_btf/sys_exit instead.
			s.log.Info("system calls captured by tp_btf/sys_exit, run on every call: a per-call tracepoint did not attach", "err", err)
			s.perCall, s.rawCalls, s.absentCalls = false, nil, nil
			if err := s.writeSpecs(); err != nil {
				return err
			}
		}
	}
	if s.capturesSyscalls() && (!s.perCall || len(s.rawCalls) > 0) {
		// The raw syscall tracepoint runs on every system call of the
		// node: attach it only when some call needs it.
		progs = append(progs, s.objs.SysExit)
	}
	for _, p := range progs {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			return fmt.Errorf("attach %s: %w", p, err)
		}
		s.links = append(s.links, l)
	}
	if s.cfg.DNSCgroup != "" {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: s.cfg.DNSCgroup, Attach: ebpf.AttachCGroupInetIngress, Program: s.objs.DnsIngress})
		if err != nil {
			return fmt.Errorf("attach the DNS response reader to %s: %w", s.cfg.DNSCgroup, err)
		}
		s.links = append(s.links, l)
	}
	return nil
}

// Run reads records until ctx ends, handing each decoded one to handle on
// this goroutine. When ctx ends it detaches the programs, drains what is
// left in the ring buffer, and returns nil.
func (s *Sensor) Run(ctx context.Context, handle func(Record)) error {
	var rec ring.Record
	stopping := false
	s.reader.SetDeadline(time.Now().Add(s.cfg.PollInterval))
	for {
		err := s.reader.ReadInto(&rec)
		switch {
		case err == nil:
			s.dispatch(rec.RawSample, handle)
			continue
		case errors.Is(err, ring.ErrFlushed):
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
		default:
			return fmt.Errorf("read the ring buffer: %w", err)
		}
		if !stopping && ctx.Err() != nil {
			// Stop producing, then read everything already produced.
			stopping = true
			s.detach()
			if err := s.reader.Flush(); err != nil {
				return fmt.Errorf("flush the ring buffer: %w", err)
			}
		}
		s.reader.SetDeadline(time.Now().Add(s.cfg.PollInterval))
	}
}

func (s *Sensor) dispatch(raw []byte, handle func(Record)) {
	ev := &s.ev
	if err := s.dec.decode(raw, ev); err != nil {
		s.decodeErrors.Add(1)
		msg := err.Error()
		s.lastErr.Store(&msg)
		return
	}
	if i := slices.Index(event.Types, ev.Type); i >= 0 {
		s.perType[i].Add(1)
	}
	handle(Record{Event: ev, CgroupID: cgroupID(raw)})
}

func (s *Sensor) detach() {
	for _, l := range s.links {
		l.Close()
	}
	s.links = nil
}

// Close detaches and unloads everything.
func (s *Sensor) Close() error {
	s.detach()
	if s.reader != nil {
		s.reader.Close()
	}
	return s.objs.Close()
}

// Stats are the sensor's health counters.
type Stats struct {
	Events       map[event.Type]uint64 // records decoded, per type
	DecodeErrors uint64
	LastError    string
	Submitted    uint64 // records the kernel side wrote
	Dropped      uint64 // records lost in the kernel, whatever the cause
	// DroppedByType splits Dropped by event type and cause; types that
	// lost nothing are left out.
	DroppedByType map[event.Type]Drops
	LastDrop      time.Time // when the kernel last lost a record; zero for never
	PathTruncated uint64    // paths or strings cut short for lack of room
	RingBytes     uint32
	ReserveBytes  uint32 // the part of the ring kept for lifecycle records
	RingPending   int    // bytes waiting to be read
}

// Stats returns the current counters.
func (s *Sensor) Stats() Stats {
	st := Stats{Events: make(map[event.Type]uint64, len(event.Types)), RingBytes: s.cfg.RingBufferBytes,
		ReserveBytes: s.cfg.LifecycleReserveBytes}
	for i, t := range event.Types {
		st.Events[t] = s.perType[i].Load()
	}
	st.DecodeErrors = s.decodeErrors.Load()
	if p := s.lastErr.Load(); p != nil {
		st.LastError = *p
	}
	sum := func(c uint32) uint64 {
		var per []uint64
		if err := s.objs.Counters.Lookup(c, &per); err != nil {
			return 0
		}
		var n uint64
		for _, v := range per {
			n += v
		}
		return n
	}
	st.Submitted = sum(0)
	st.Dropped = sum(1)
	st.PathTruncated = sum(3)
	st.DroppedByType = s.dropsByType()
	st.LastDrop = s.lastDrop()
	if s.reader != nil {
		st.RingPending = s.reader.AvailableBytes()
	}
	return st
}

// bootToRealtime returns what to add to CLOCK_BOOTTIME to get Unix time.
func bootToRealtime() int64 {
	var rt, bt unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &rt)
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &bt)
	return rt.Nano() - bt.Nano()
}
