package proctree

import (
	"log/slog"
	"sync"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxEntries   = 32768
	DefaultMaxAncestors = 16
	DefaultExitedKeep   = 2048
	DefaultExitedTTL    = 30 * time.Second
	DefaultMaxArgBytes  = 4096

	// MaxAncestorsLimit bounds Config.MaxAncestors so that Enrich can collect
	// the chain in a fixed array on the stack before allocating the result.
	MaxAncestorsLimit = 64
)

// Config tunes a Tree. Zero values take the defaults above.
type Config struct {
	// ProcRoot is where procfs is mounted; tests point it at a fake tree of
	// files. Default "/proc".
	ProcRoot string
	// MaxEntries caps the number of processes kept, live and exited. When it
	// is reached exited processes are evicted first, then the live process
	// least recently seen among a small sample (its exit was probably lost).
	MaxEntries int
	// MaxAncestors is how many ancestors Enrich attaches, nearest first
	// (at most MaxAncestorsLimit).
	MaxAncestors int
	// ExitedKeep and ExitedTTL bound how long an exited process stays
	// resolvable for late events of it and its children: it goes after
	// ExitedKeep later exits or ExitedTTL of event time, whichever is first.
	ExitedKeep int
	ExitedTTL  time.Duration
	// MaxArgBytes caps the command line kept per process read from /proc,
	// counted as in /proc/<pid>/cmdline; exec events are capped by the sensor.
	MaxArgBytes int
	// ClockTicks is USER_HZ, the unit of /proc/<pid>/stat's starttime. Zero
	// means read AT_CLKTCK from <ProcRoot>/self/auxv, falling back to 100,
	// which is what Linux reports on every architecture mamori runs on.
	ClockTicks int
}

func (c Config) withDefaults() Config {
	if c.ProcRoot == "" {
		c.ProcRoot = "/proc"
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.MaxAncestors <= 0 {
		c.MaxAncestors = DefaultMaxAncestors
	}
	c.MaxAncestors = min(c.MaxAncestors, MaxAncestorsLimit)
	if c.ExitedKeep <= 0 {
		c.ExitedKeep = DefaultExitedKeep
	}
	// An exited process must never crowd out live ones.
	c.ExitedKeep = min(c.ExitedKeep, c.MaxEntries/2+1)
	if c.ExitedTTL <= 0 {
		c.ExitedTTL = DefaultExitedTTL
	}
	if c.MaxArgBytes <= 0 {
		c.MaxArgBytes = DefaultMaxArgBytes
	}
	return c
}

// Stats counts what the tree holds and has done since New.
type Stats struct {
	Live    int    `json:"live"`
	Exited  int    `json:"exited"`
	Execs   uint64 `json:"execs"`
	Forks   uint64 `json:"forks"`
	Exits   uint64 `json:"exits"`
	Scanned uint64 `json:"scanned"` // processes seeded from /proc
	// Evicted counts live processes dropped because MaxEntries was reached;
	// a steady rise means exits are being lost or the cap is too low.
	Evicted uint64 `json:"evicted"`
	// Pruned counts live processes that Prune found gone from /proc.
	Pruned uint64 `json:"pruned"`
}

// Tree is the process tree. Its methods are safe for concurrent use.
type Tree struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	procs   map[uint32]*entry
	exited  exitRing
	free    []*entry // recycled entries, so steady fork/exit churn does not allocate
	nExited int      // entries marked exited and still held
	gen     uint64   // generation of the newest entry, to tell reused pids apart
	seen    uint64   // sequence of the latest Update, for least-recently-seen eviction
	stats   Stats
}

// New returns an empty tree; call Scan once the sensor is running to seed it
// with the processes that already exist.
func New(cfg Config, log *slog.Logger) *Tree {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	return &Tree{
		cfg:    cfg,
		log:    log,
		procs:  make(map[uint32]*entry, 1024),
		exited: newExitRing(cfg.ExitedKeep),
	}
}

// Len reports how many processes, live and exited, the tree holds.
func (t *Tree) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.procs)
}

// Stats returns the tree's counters.
func (t *Tree) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Exited = t.nExited
	s.Live = len(t.procs) - s.Exited
	return s
}

// Lookup returns what the tree knows of pid, without ancestors. Exited
// processes still held are returned too; exited reports which.
func (t *Tree) Lookup(pid uint32) (p event.Process, exited, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	en := t.procs[pid]
	if en == nil {
		return event.Process{}, false, false
	}
	en.fill(&p)
	return p, en.exited, true
}
