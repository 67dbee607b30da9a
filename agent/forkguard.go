package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// limitProcesses sets pids.max of the pids cgroup that pid belongs to:
// the kernel then refuses fork() past max with EAGAIN, so a fork bomb stops
// at the limit. It handles the pids controller on cgroup v1 (its own
// hierarchy) and on the unified v2 hierarchy.
func limitProcesses(pid uint32, max int) (string, error) {
	dir, err := pidsCgroup(pid)
	if err != nil {
		return "", err
	}
	return writeMax(filepath.Join(dir, "pids.max"), max)
}

// pidsCgroup returns the directory of the pids cgroup process pid is in,
// on cgroup v1 (the controller's own hierarchy) or the unified v2 one.
func pidsCgroup(pid uint32) (string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	defer f.Close()
	var v2 string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "pids" {
				return filepath.Join("/sys/fs/cgroup/pids", parts[2]), nil
			}
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = parts[2]
		}
	}
	if v2 == "" {
		return "", fmt.Errorf("process %d is in no pids cgroup", pid)
	}
	return filepath.Join("/sys/fs/cgroup", v2), nil
}

// processPeak returns the most tasks alive at once in process pid's pids
// cgroup (pids.peak, Linux 6.1 and later).
func processPeak(pid uint32) (int, bool) {
	dir, err := pidsCgroup(pid)
	if err != nil {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(dir, "pids.peak"))
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

func writeMax(path string, max int) (string, error) {
	if err := os.WriteFile(path, []byte(strconv.Itoa(max)), 0o644); err != nil {
		return "", fmt.Errorf("set %s: %w", path, err)
	}
	return path, nil
}

// liftProcessLimit sets a pids.max file that fork guard wrote back to
// "max", when the container's policies no longer enforce a limit.
func liftProcessLimit(path string, log *slog.Logger) {
	if err := os.WriteFile(path, []byte("max"), 0o644); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("cannot lift a process limit fork guard no longer enforces", "file", path, "err", err)
	}
}

// forkLimits remembers the containers whose process limit is enforced, so
// that refused forks, which are no event, can still be reported: the
// kernel counts them in pids.events.
type forkLimits struct {
	mu    sync.Mutex
	limit map[string]*forkLimit // by container id
}

type forkLimit struct {
	ctr     *event.Container
	pid     uint32
	max     int
	events  string // pids.events next to the pids.max that was set
	refused uint64 // last "max" count seen
}

func (f *forkLimits) add(c *event.Container, pid uint32, max int, maxFile string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.limit == nil {
		f.limit = map[string]*forkLimit{}
	}
	f.limit[c.ID] = &forkLimit{ctr: c, pid: pid, max: max, events: filepath.Join(filepath.Dir(maxFile), "pids.events")}
}

func (f *forkLimits) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.limit, id)
}

// watch reports, once a second, the containers whose forks the kernel
// refused since the last look.
func (f *forkLimits) watch(ctx context.Context, report func(c *event.Container, pid uint32, max int, refused uint64)) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Report outside the lock: reporting takes the guard's lock, and
		// the guard's Protect hook takes this one (add).
		type refusal struct {
			l *forkLimit
			n uint64
		}
		var due []refusal
		f.mu.Lock()
		for id, l := range f.limit {
			n, err := readMaxEvents(l.events)
			if err != nil {
				delete(f.limit, id) // the container and its cgroup are gone
				continue
			}
			if n > l.refused {
				due = append(due, refusal{l, n - l.refused})
				l.refused = n
			}
		}
		f.mu.Unlock()
		for _, r := range due {
			report(r.l.ctr, r.l.pid, r.l.max, r.n)
		}
	}
}

// readMaxEvents reads the "max" count of a pids.events file: how many forks
// the limit refused.
func readMaxEvents(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "max "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, nil
}
