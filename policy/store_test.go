package policy

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	goodPolicy  = "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: limits}\nspec:\n  mode: enforce\n  scope: {container: {}}\n  controls:\n    forkGuard: {maxProcesses: 100}\n"
	brokenLimit = "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: limits}\nspec:\n  mode: enforce\n  scope: {container: {}}\n  controls:\n    forkGuard: {maxProcesses: -1}\n"
	fixedPolicy = "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: limits}\nspec:\n  mode: enforce\n  scope: {container: {}}\n  controls:\n    forkGuard: {maxProcesses: 42}\n"
)

// watched is a Store under Watch with what its subscriber saw.
type watched struct {
	*Store
	mu   sync.Mutex
	seen []*Set
	logs *bytes.Buffer
}

func (w *watched) swaps() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}

func watch(t *testing.T, paths ...string) *watched {
	t.Helper()
	logs := &bytes.Buffer{}
	var logMu sync.Mutex
	st, err := Open(slog.New(slog.NewTextHandler(lockedWriter{&logMu, logs}, nil)), paths...)
	if err != nil {
		t.Fatal(err)
	}
	w := &watched{Store: st, logs: logs}
	st.Subscribe(func(s *Set) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.seen = append(w.seen, s)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { st.Watch(ctx, 5*time.Millisecond); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func maxProcs(s *Set) int {
	return s.Effective(shopTarget()).Enforce.Controls.ForkGuard.MaxProcesses
}

// TestStoreReload: good → broken keeps the good Set and reports where;
// broken → fixed swaps in the fix and tells subscribers.
func TestStoreReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "limits.yaml")
	writeFiles(t, dir, map[string]string{"limits.yaml": goodPolicy})
	w := watch(t, dir)
	good := w.Current()
	if maxProcs(good) != 100 {
		t.Fatalf("initial limit %d", maxProcs(good))
	}

	writeFiles(t, dir, map[string]string{"limits.yaml": brokenLimit})
	eventually(t, "the broken file to be reported", func() bool { return w.Err() != nil })
	if w.Current() != good {
		t.Error("a broken file replaced the policies in force")
	}
	want := file + ":8:31: maxProcesses -1 is out of range"
	if !strings.Contains(w.Err().Error(), want) {
		t.Errorf("error %v, want %q", w.Err(), want)
	}
	if w.swaps() != 0 {
		t.Error("subscribers were told about a failed reload")
	}

	writeFiles(t, dir, map[string]string{"limits.yaml": fixedPolicy})
	eventually(t, "the fixed file to be swapped in", func() bool { return w.swaps() == 1 })
	if w.Err() != nil || maxProcs(w.Current()) != 42 || w.seen[0] != w.Current() {
		t.Errorf("after the fix: err %v, limit %d", w.Err(), maxProcs(w.Current()))
	}
	w.mu.Lock()
	logs := w.logs.String()
	w.mu.Unlock()
	if !strings.Contains(logs, "policies not reloaded; the previous ones stay in force") || !strings.Contains(logs, "policies reloaded") {
		t.Errorf("logs:\n%s", logs)
	}
	if good.Policy("limits").Spec.Controls.ForkGuard.MaxProcesses != 100 {
		t.Error("the old Set changed")
	}
}

// TestStoreReloadNewFileAndLists: a file added to the directory and a list
// file that changes are both noticed; a rewrite with the same content is
// not a swap.
func TestStoreReloadNewFileAndLists(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"limits.yaml": goodPolicy,
		"bad.netset":  "203.0.113.0/24\n",
	})
	w := watch(t, dir)

	writeFiles(t, dir, map[string]string{"ip.yaml": named("ip", scopeAll+"  controls:\n    ipReputation: {lists: [bad.netset]}\n")})
	eventually(t, "the new file", func() bool { return w.swaps() == 1 })
	blocked := func() bool {
		_, ok := w.Current().Effective(shopTarget()).Audit.Controls.IPReputation.Blocked(netip.MustParseAddr("198.51.100.1"))
		return ok
	}
	if blocked() {
		t.Fatal("blocked before the list has the address")
	}
	writeFiles(t, dir, map[string]string{"bad.netset": "203.0.113.0/24\n198.51.100.0/24\n"})
	eventually(t, "the list change", func() bool { return w.swaps() == 2 })
	if !blocked() {
		t.Error("the list change did not take effect")
	}

	if err := os.Chtimes(filepath.Join(dir, "limits.yaml"), time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(); err != nil || w.swaps() != 2 {
		t.Errorf("an unchanged file was swapped in again: %v, %d swaps", err, w.swaps())
	}
}

// TestStoreBrokenListKeepsPolicies: a list file that breaks keeps the
// previous Set, lists included.
func TestStoreBrokenListKeepsPolicies(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"ip.yaml":    named("ip", scopeAll+"  controls:\n    ipReputation: {lists: [bad.netset]}\n"),
		"bad.netset": "203.0.113.0/24\n",
	})
	w := watch(t, dir)
	before := w.Current()
	writeFiles(t, dir, map[string]string{"bad.netset": "203.0.113.0/24\nnot-an-ip\n"})
	eventually(t, "the broken list to be reported", func() bool { return w.Err() != nil })
	if w.Current() != before || !strings.Contains(w.Err().Error(), "bad.netset:2:1:") {
		t.Errorf("err %v", w.Err())
	}
}

func TestOpenFailsOnBrokenPolicies(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"limits.yaml": brokenLimit})
	if _, err := Open(nil, dir); err == nil {
		t.Error("Open accepted a broken policy")
	}
}

// TestStoreReloadEmptyFile: a policy file caught empty, between its
// truncation and its write (cp over it, an editor saving in place), keeps
// the policies in force; it was loaded as no policy, which lifted every
// control it held until the write landed.
func TestStoreReloadEmptyFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "limits.yaml")
	writeFiles(t, dir, map[string]string{"limits.yaml": goodPolicy})
	st, err := Open(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	good := st.Current()
	for _, empty := range []string{"", "\n", "# being written\n---\n"} {
		if err := os.WriteFile(file, []byte(empty), 0o644); err != nil {
			t.Fatal(err)
		}
		err := st.Reload()
		if err == nil || !strings.Contains(err.Error(), file+": holds no YAML document") {
			t.Errorf("%q: reload error %v", empty, err)
		}
		if st.Current() != good || maxProcs(st.Current()) != 100 {
			t.Errorf("%q: the policies in force changed", empty)
		}
	}
	// A directory emptied of files is no policy: that is what removing
	// them asks for.
	os.Remove(file)
	if err := st.Reload(); err != nil || len(st.Current().Policies()) != len(Builtin()) {
		t.Errorf("an emptied directory: %v, %d policies", err, len(st.Current().Policies()))
	}
}
