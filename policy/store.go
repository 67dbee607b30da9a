package policy

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Store holds the Set in force and swaps in a new one when the files
// change. The swap is atomic: a reader sees the old Set or the new one,
// never a mixture. A file that does not load leaves the Set in force and
// is reported (to the logger and by Err) with its file:line:col.
type Store struct {
	log   *slog.Logger
	paths []string
	cur   atomic.Pointer[Set]

	notify  sync.Mutex // held while subscribers run, so they see Sets in order
	mu      sync.Mutex // serialises reloads; guards the fields below
	subs    map[int]func(*Set)
	nextSub int
	err     error
	watched []string // what the last load attempt looked at
	stamp   string   // their fingerprint then
}

// Open loads paths (as Load does) and returns a Store holding the result.
// It fails if they do not load: an agent should not start with policies
// other than the ones it was given.
func Open(log *slog.Logger, paths ...string) (*Store, error) {
	st := &Store{log: log, paths: paths, subs: map[int]func(*Set){}}
	set, watched, err := load(paths, &files{watched: true})
	if err != nil {
		return nil, err
	}
	st.cur.Store(set)
	st.watched, st.stamp = watched, fingerprint(watched)
	return st, nil
}

// Current returns the Set in force.
func (st *Store) Current() *Set { return st.cur.Load() }

// Err returns why the last reload failed, or nil if it succeeded (or none
// has failed since the Store opened).
func (st *Store) Err() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// Subscribe calls fn with each new Set after it is swapped in, from the
// goroutine that reloaded, one Set at a time and in order; fn may call the
// Store (Current, Err) and should be quick: recompute the per-container
// effective controls and hand them to the enforcers. A failed reload calls
// no one. cancel stops the calls.
func (st *Store) Subscribe(fn func(*Set)) (cancel func()) {
	st.mu.Lock()
	defer st.mu.Unlock()
	id := st.nextSub
	st.nextSub++
	st.subs[id] = fn
	return func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		delete(st.subs, id)
	}
}

// Reload loads the paths again now. On success the new Set is swapped in
// and subscribers are called (unless nothing in the files changed); on
// failure the Set in force stays and the error is returned and kept for
// Err.
func (st *Store) Reload() error {
	st.mu.Lock()
	return st.reloadAndUnlock()
}

// reloadAndUnlock reloads with st.mu held, releases it, and then calls
// the subscribers, so that they may call back into the Store.
func (st *Store) reloadAndUnlock() error {
	set, subs, err := st.reload()
	if set == nil {
		st.mu.Unlock()
		return err
	}
	st.notify.Lock()
	st.mu.Unlock()
	defer st.notify.Unlock()
	for _, fn := range subs {
		fn(set)
	}
	return nil
}

// reload returns the Set it swapped in and the subscribers to tell, or
// nil when nothing changed or the load failed.
func (st *Store) reload() (*Set, []func(*Set), error) {
	set, watched, err := load(st.paths, &files{watched: true})
	st.watched, st.stamp = watched, fingerprint(watched)
	if err != nil {
		st.err = err
		if st.log != nil {
			n := len(Errors(err))
			st.log.Warn("policies not reloaded; the previous ones stay in force",
				"problems", n, "error", err.Error())
		}
		return nil, nil, err
	}
	st.err = nil
	old := st.cur.Load()
	if old != nil && old.Digest() == set.Digest() {
		return nil, nil, nil
	}
	st.cur.Store(set)
	if st.log != nil {
		st.log.Info("policies reloaded", "policies", len(set.Policies()), "digest", set.Digest())
	}
	subs := make([]func(*Set), 0, len(st.subs))
	for id := range st.nextSub {
		if fn, ok := st.subs[id]; ok {
			subs = append(subs, fn) // in the order they subscribed
		}
	}
	return set, subs, nil
}

// DefaultWatchInterval is how often Watch looks at the files.
const DefaultWatchInterval = time.Second

// Watch reloads whenever the policy files, the directories holding them
// or the list files they name change, until ctx ends; interval 0 means
// DefaultWatchInterval.
//
// It polls rather than using inotify. Polling sees every way a file gets
// replaced: editors that write a new file and rename it over the old one
// (an inotify watch follows the old inode), Kubernetes ConfigMap volumes
// (an atomic swap of a "..data" symlink), files on NFS or in bind mounts
// where no inotify event arrives, and list files that appear after the
// policy naming them. It costs a few stat calls per second. A change is
// acted on once the files have looked the same for one interval, so a
// file caught half-written is not reported as broken.
func (st *Store) Watch(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	pending := ""
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		st.mu.Lock()
		fp := fingerprint(st.watched)
		switch {
		case fp == st.stamp:
			pending = ""
		case fp != pending:
			pending = fp // changed: wait until it holds still
		default:
			pending = ""
			st.reloadAndUnlock()
			continue
		}
		st.mu.Unlock()
	}
}

// fingerprint summarises what a load depends on: for each path its
// identity, size and times, and for a directory the names in it.
func fingerprint(paths []string) string {
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(&b, "%s\x00missing\n", p)
			continue
		}
		fmt.Fprintf(&b, "%s\x00%d\x00%d\x00%v", p, fi.Size(), fi.ModTime().UnixNano(), fi.Mode())
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(&b, "\x00%d\x00%d\x00%d.%d", sys.Dev, sys.Ino, sys.Ctim.Sec, sys.Ctim.Nsec)
		}
		if fi.IsDir() {
			if names, err := policyFiles(p); err == nil {
				b.WriteString("\x00" + strings.Join(names, "\x00"))
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
