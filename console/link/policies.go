package link

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mamori-dev/mamori/console/wire"
	"github.com/mamori-dev/mamori/event"
)

// Central policies are kept in a directory the agent loads as one of its
// --policy paths:
//
//	DIR/current -> gen-1733353871000000000
//	DIR/gen-1733353871000000000/restrict-web.r5.yaml
//
// Each file of the console's bucket is written under its name with its
// revision before the extension. A change is a new generation directory,
// made complete before the "current" symlink is renamed onto it: the
// agent's policy store (which polls its paths and reloads once they hold
// still) sees the old set or the new one, never half of each, and keeps
// the old one in force if the new one does not load. The directory
// outlives the agent, so a node that cannot reach the console enforces
// the last policies it had, across restarts.

// PolicyPath prepares dir and returns the path to give the policy store:
// dir/current, an empty set until the console sends one.
func PolicyPath(dir string) (string, error) {
	cur := filepath.Join(dir, "current")
	if _, err := os.Stat(cur); err == nil {
		return cur, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("central policies: %w", err)
	}
	if err := writeGeneration(dir, nil); err != nil {
		return "", err
	}
	return cur, nil
}

type policyFile struct {
	rev  uint64
	data []byte
}

var revRE = regexp.MustCompile(`^(.+)\.r(\d+)(\.ya?ml)$`)

func localName(key string, rev uint64) string {
	ext := filepath.Ext(key)
	return strings.TrimSuffix(key, ext) + ".r" + strconv.FormatUint(rev, 10) + ext
}

// consoleFile says whether path is a central policy file of dir, and its
// key and revision.
func consoleFile(dir, path string) (key string, rev uint64, ok bool) {
	if dir == "" || !strings.HasPrefix(path, dir+string(filepath.Separator)) {
		return "", 0, false
	}
	m := revRE.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return "", 0, false
	}
	rev, err := strconv.ParseUint(m[2], 10, 64)
	return m[1] + m[3], rev, err == nil
}

// onDisk returns the key → revision of the current generation.
func onDisk(dir string) map[string]uint64 {
	out := map[string]uint64{}
	entries, _ := os.ReadDir(filepath.Join(dir, "current"))
	for _, e := range entries {
		if m := revRE.FindStringSubmatch(e.Name()); m != nil {
			rev, _ := strconv.ParseUint(m[2], 10, 64)
			out[m[1]+m[3]] = rev
		}
	}
	return out
}

// writeGeneration makes files the current generation.
func writeGeneration(dir string, files map[string]policyFile) error {
	gen := "gen-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	gdir := filepath.Join(dir, gen)
	if err := os.Mkdir(gdir, 0o700); err != nil {
		return fmt.Errorf("central policies: %w", err)
	}
	for key, f := range files {
		if err := writeSynced(filepath.Join(gdir, localName(key, f.rev)), f.data); err != nil {
			return fmt.Errorf("central policies: %w", err)
		}
	}
	tmp := filepath.Join(dir, "current.tmp")
	os.Remove(tmp)
	if err := os.Symlink(gen, tmp); err != nil {
		return fmt.Errorf("central policies: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "current")); err != nil {
		return fmt.Errorf("central policies: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	// Earlier generations go once nothing points at them.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "gen-") && e.Name() != gen {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// watchPolicies follows the console's policy bucket and writes each
// complete set as a new generation, until ctx ends.
func (l *Link) watchPolicies(ctx context.Context, js jetstream.JetStream) {
	for ctx.Err() == nil {
		if err := l.watchPoliciesOnce(ctx, js); err != nil && ctx.Err() == nil {
			l.log.Debug("central policies: not watching", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

func (l *Link) watchPoliciesOnce(ctx context.Context, js jetstream.JetStream) error {
	kv, err := js.KeyValue(ctx, wire.PolicyBucket)
	if err != nil {
		return err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer w.Stop()
	files := map[string]policyFile{}
	synced := false
	for {
		var e jetstream.KeyValueEntry
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case e, ok = <-w.Updates():
			if !ok {
				return fmt.Errorf("watcher closed")
			}
		}
		if e == nil {
			synced = true // every existing key has been delivered
		} else if op := e.Operation(); op == jetstream.KeyValueDelete || op == jetstream.KeyValuePurge {
			delete(files, e.Key())
		} else {
			files[e.Key()] = policyFile{rev: e.Revision(), data: slices.Clone(e.Value())}
		}
		if !synced || len(w.Updates()) > 0 {
			continue // apply whole sets, not each key of a burst
		}
		l.applyPolicies(files)
	}
}

func (l *Link) applyPolicies(files map[string]policyFile) {
	want := map[string]uint64{}
	for k, f := range files {
		want[k] = f.rev
	}
	if maps.Equal(want, onDisk(l.cfg.PolicyDir)) {
		return
	}
	if err := writeGeneration(l.cfg.PolicyDir, files); err != nil {
		l.log.Error("central policies not written: the previous ones stay in force", "err", err)
		return
	}
	l.log.Info("central policies received; the policy store applies them once they load", "files", len(files), "revisions", want)
	// The store polls every second and loads once the files held still
	// for one more: report what is in force after that.
	l.beatAt.Store(time.Now().Add(2500 * time.Millisecond).UnixNano())
}

// policyVersions rewrites the heartbeat's policies that came from the
// console: their source is the file's name in the console, their version
// its revision.
func (l *Link) policyVersions(ps []event.PolicyInForce) {
	for i := range ps {
		if key, rev, ok := consoleFile(l.cfg.PolicyDir, ps[i].Source); ok {
			ps[i].Source, ps[i].Version = "console:"+key, strconv.FormatUint(rev, 10)
		}
	}
}
