package detect

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
	"github.com/mamori-dev/mamori/rules/syscalls"
)

// testdata/events.jsonl.gz is a stream of real events recorded with
// `mamori agent --events --format json --rules none`: a podman container
// writing, renaming and deleting files and talking to itself over nc, and
// git and shells on the host.
func recorded(t testing.TB) []event.Event {
	evs, err := ReadEvents(filepath.Join("testdata", "events.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func loadRuleset(t testing.TB, files ...rules.File) *rules.Ruleset {
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{syscalls.New()}}, files...)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func upstream(t testing.TB, name string) rules.File {
	p := filepath.Join("..", "..", "shared", "corpora", "falco", name)
	if _, err := os.Stat(p); err != nil {
		t.Skip("upstream Falco rules not found in ../shared/corpora: ", err)
	}
	fs, err := rules.ReadFiles(p)
	if err != nil {
		t.Fatal(err)
	}
	return fs[0]
}

// TestNoMatchDoesNotAllocate replays the recorded events that no rule
// matches and counts heap allocations.
func TestNoMatchDoesNotAllocate(t *testing.T) {
	for _, tc := range []struct {
		name string
		file func(testing.TB) rules.File
	}{
		{"falco_rules.yaml", func(t testing.TB) rules.File { return upstream(t, "falco_rules.yaml") }},
		{"builtin", func(testing.TB) rules.File { return defaults.File() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := loadRuleset(t, tc.file(t))
			evs := recorded(t)
			det := New(rs, Config{Users: syscalls.NewUsers("/")})
			var quiet []*event.Event
			for i := range evs {
				if det.Match(&evs[i]) == nil {
					quiet = append(quiet, &evs[i])
				}
			}
			if len(quiet) < len(evs)/2 {
				t.Fatalf("only %d of %d recorded events match no rule", len(quiet), len(evs))
			}
			n := testing.AllocsPerRun(3, func() {
				for _, e := range quiet {
					det.Match(e)
				}
			})
			if n != 0 {
				t.Errorf("%v allocations per replay of %d non-matching events, want 0", n, len(quiet))
			}
		})
	}
}

// BenchmarkFalcoRules replays the recorded events through every rule of
// falco_rules.yaml, first-match as the agent runs them; one op is one event.
func BenchmarkFalcoRules(b *testing.B) {
	benchRules(b, upstream(b, "falco_rules.yaml"))
}

// BenchmarkBuiltinRules is the same with mamori's own rules.
func BenchmarkBuiltinRules(b *testing.B) { benchRules(b, defaults.File()) }

func benchRules(b *testing.B, f rules.File) {
	rs := loadRuleset(b, f)
	evs := recorded(b)
	det := New(rs, Config{Users: syscalls.NewUsers("/")})
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		det.Match(&evs[i])
		if i++; i == len(evs) {
			i = 0
		}
	}
}

// BenchmarkFileStorm is what the built-in rules cost on the events of
// bench/storm's file mode, which the agent's --events benchmark runs: an
// open that creates and truncates a file for writing, and its unlink, on
// the host. No rule matches either.
func BenchmarkFileStorm(b *testing.B) {
	rs := loadRuleset(b, defaults.File())
	det := New(rs, Config{Users: syscalls.NewUsers("/")})
	p := event.Process{PID: 4242, PPID: 4241, Name: "storm", Exe: "/tmp/mamori-bench/storm", Cwd: "/root", LoginUID: -1,
		Args:      []string{"/tmp/mamori-bench/storm", "-mode", "file", "-n", "50000", "-dir", "/tmp/mamori-bench/tmpfs"},
		Ancestors: []event.Process{{PID: 4241, PPID: 1, Name: "bash", Exe: "/usr/bin/bash", Args: []string{"-bash"}}}}
	host := &event.Container{ID: event.HostID}
	at := time.Date(2026, 12, 5, 22, 49, 3, 0, time.UTC)
	for _, e := range []*event.Event{
		{Kind: "event", Time: at, Type: event.Open, Syscall: "openat", Result: 3, Process: p, Container: host,
			File: &event.File{Path: "/tmp/mamori-bench/tmpfs/f-1", PathArg: "/tmp/mamori-bench/tmpfs/f-1",
				Flags: "O_WRONLY|O_CREAT|O_TRUNC", Mode: 0o644, Created: true}},
		{Kind: "event", Time: at, Type: event.Unlink, Syscall: "unlink", Process: p, Container: host,
			File: &event.File{Path: "/tmp/mamori-bench/tmpfs/f-1"}},
	} {
		b.Run(string(e.Type), func(b *testing.B) {
			if r := det.Match(e); r != nil {
				b.Fatalf("rule %q matches the storm's %s", r.Name, e.Type)
			}
			b.ReportAllocs()
			for b.Loop() {
				det.Match(e)
			}
		})
	}
}
