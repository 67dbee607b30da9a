// Command consolebench measures the console (docs/benchmarks.md, "Console"):
//
//	consolebench ingest -nats URL -api URL [-agents 10] [-per 20000]
//	    alerts per second end to end: simulated agents (console/link, as
//	    the agent runs it) publish as fast as the console takes them; the
//	    clock stops when the console's API says all are stored. Also the
//	    publishing side's CPU per alert (the agent's extra cost).
//	consolebench load -store DSN -n N
//	    fills a store with N alerts over the last 7 days, in time order
//	    (50 nodes, 200 rules, 400 containers), straight through the store.
//	consolebench query -store DSN [-runs 50]
//	    p50/p99 of the feed and count queries against that store.
//
// It is a benchmark tool, not part of mamori.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mamori-dev/mamori/console"
	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: consolebench ingest|load|query [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "ingest":
		err = ingest(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	case "query":
		err = query(os.Args[2:])
	case "drain":
		err = drain(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "consolebench:", err)
		os.Exit(1)
	}
}

type simNode struct{ name string }

func (n simNode) Heartbeat() event.Heartbeat         { return event.Heartbeat{Node: n.name, Version: "bench"} }
func (n simNode) Containers() []event.ContainerState { return nil }

func sampleAlert(r *rand.Rand, node string, at time.Time) *event.Alert {
	rule := fmt.Sprintf("Rule %03d", r.IntN(200))
	ctr := r.IntN(400)
	tags := []string{"container", fmt.Sprintf("T%04d", 1000+r.IntN(50))}
	if r.IntN(5000) == 0 {
		tags = append(tags, "T1611") // a rare technique, in minutes far apart
	}
	return &event.Alert{Kind: "alert", Time: at, Rule: rule, Priority: store.Priorities[r.IntN(len(store.Priorities))],
		Output:       fmt.Sprintf("%s: Warning %s by cat (file=/etc/shadow container=web-%d)", at.Format("15:04:05.000000000"), rule, ctr),
		OutputFields: map[string]any{"fd.name": "/etc/shadow", "proc.name": "cat"}, Source: "syscall",
		Tags: tags, Hostname: node, Action: "detected",
		Process: &event.Process{PID: uint32(1000 + r.IntN(30000)), PPID: 1, Name: "cat", Exe: "/bin/cat", Args: []string{"cat", "/etc/shadow"},
			LoginUID: -1, StartTime: at.Add(-time.Second), Ancestors: []event.Process{{PID: 1, Name: "sh", Exe: "/bin/sh", LoginUID: -1}}},
		Container: &event.Container{ID: containerID(ctr), Name: fmt.Sprintf("web-%d", ctr), Image: "registry/web:1",
			Pod: &event.Pod{Name: fmt.Sprintf("web-%d", ctr%40), Namespace: fmt.Sprintf("ns-%d", ctr%10)}},
	}
}

// containerID is container n's id: 64 hex digits that look random, as a
// runtime's do (ids that share their first digits would make an index on
// them, and a filter by a short id, unlike a real node's).
func containerID(n int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(n)))
	return hex.EncodeToString(sum[:])
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func stored(api string) uint64 {
	resp, err := http.Get(api + "/api/v1/status")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var st console.Status
	json.NewDecoder(resp.Body).Decode(&st)
	return st.Ingest.Stored
}

// poolSize is how many distinct alerts each simulated agent sends.
const poolSize = 1000

func ingest(args []string) error {
	fs := flag.NewFlagSet("ingest", flag.ExitOnError)
	url := fs.String("nats", "nats://127.0.0.1:4222", "the console's NATS")
	api := fs.String("api", "http://127.0.0.1:9747", "the console's API (--insecure)")
	agents := fs.Int("agents", 10, "simulated agents")
	per := fs.Int("per", 20000, "alerts per agent")
	noWait := fs.Bool("publish-only", false, "stop once JetStream has acknowledged every alert (for drain)")
	fs.Parse(args)
	before := stored(*api)
	dir, _ := os.MkdirTemp("", "consolebench-")
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	var links []*link.Link
	var wg sync.WaitGroup
	for i := range *agents {
		name := fmt.Sprintf("bench-%d", i)
		l, err := link.New(link.Config{URL: *url, Cluster: "bench", Node: name, QueueLen: 50000, SpoolDir: filepath.Join(dir, name)}, log)
		if err != nil {
			return err
		}
		links = append(links, l)
		go l.Run(ctx, simNode{name})
	}
	time.Sleep(time.Second) // connected
	total := *agents * *per
	// Each agent draws from alerts built beforehand, as a real agent's
	// rule engine hands its publisher a built alert: what the agents'
	// CPU counts is serialising and publishing it, not fmt.Sprintf.
	pools := make([][]*event.Alert, len(links))
	for i := range links {
		r := rand.New(rand.NewPCG(uint64(i), 7))
		for range poolSize {
			pools[i] = append(pools[i], sampleAlert(r, fmt.Sprintf("bench-%d", i), time.Now().UTC()))
		}
	}
	cpu0, start := cpu(), time.Now()
	for i, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < *per; n++ {
				// Keep the queue from overflowing: a benchmark must
				// not drop.
				for {
					// Each record is published straight out or
					// spooled (and then replayed, which counts in
					// Published too).
					c := l.Counts()
					if int64(n)-int64(c.Published-c.Replayed+c.Spooled) < 20000 {
						break
					}
					time.Sleep(time.Millisecond)
				}
				a := pools[i][n%poolSize]
				a.UUID, a.Time = "", time.Now().UTC() // a new alert: Alert gives it a uuid
				l.Alert(a)
			}
		}()
	}
	wg.Wait()
	var published, dropped uint64
	for {
		published, dropped = 0, 0
		for _, l := range links {
			c := l.Counts()
			published += c.Published
			dropped += c.Dropped
		}
		if published+dropped >= uint64(total) {
			break
		}
		if time.Since(start) > 30*time.Second {
			for _, l := range links {
				fmt.Fprintf(os.Stderr, "%+v\n", l.Counts())
			}
			return fmt.Errorf("only %d of %d alerts published after 30s", published, total)
		}
		time.Sleep(5 * time.Millisecond)
	}
	pubTime, pubCPU := time.Since(start), cpu()-cpu0
	if *noWait {
		fmt.Printf("published %d alerts (acknowledged by JetStream) in %v: %.0f alerts/s\n", total, pubTime.Round(time.Millisecond), float64(total)/pubTime.Seconds())
		return nil
	}
	for stored(*api)-before < uint64(total) {
		time.Sleep(20 * time.Millisecond)
	}
	all := time.Since(start)
	fmt.Printf("agents %d, alerts %d, dropped %d\n", *agents, total, dropped)
	fmt.Printf("published (acknowledged by JetStream) in %v: %.0f alerts/s\n", pubTime.Round(time.Millisecond), float64(total)/pubTime.Seconds())
	fmt.Printf("stored end to end in %v: %.0f alerts/s\n", all.Round(time.Millisecond), float64(total)/all.Seconds())
	fmt.Printf("publishing CPU: %.1f µs per alert (serialise, queue, publish, acknowledgement)\n", float64(pubCPU.Microseconds())/float64(total))
	return nil
}

// drain times a console storing alerts already waiting in its stream:
// ingest alone, from the first stored to the last.
func drain(args []string) error {
	fs := flag.NewFlagSet("drain", flag.ExitOnError)
	api := fs.String("api", "http://127.0.0.1:9747", "the console's API (--insecure)")
	n := fs.Uint64("n", 0, "alerts waiting")
	fs.Parse(args)
	for stored(*api) == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	for stored(*api) < *n {
		time.Sleep(5 * time.Millisecond)
	}
	d := time.Since(start)
	fmt.Printf("stored %d waiting alerts in %v: %.0f alerts/s\n", *n, d.Round(time.Millisecond), float64(*n)/d.Seconds())
	return nil
}

func open(dsn string) (store.Store, error) {
	if strings.HasPrefix(dsn, "postgres://") {
		return store.OpenPostgres(context.Background(), dsn)
	}
	return store.OpenSQLite(dsn)
}

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	dsn := fs.String("store", "", "SQLite file or postgres:// URL")
	n := fs.Int("n", 1000000, "alerts")
	workers := fs.Int("workers", 1, "batches stored at once (the console uses 8 on PostgreSQL, 1 on SQLite)")
	fs.Parse(args)
	s, err := open(*dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	now := time.Now().UTC()
	// The inventory the agents would have reported: the container filter
	// resolves an id to its container's name through it.
	var inv store.Batch
	for ctr := range 400 {
		inv.Containers = append(inv.Containers, &event.ContainerState{Kind: "container", Time: now, Cluster: "bench",
			Node: fmt.Sprintf("node-%02d", ctr%50), Container: &event.Container{ID: containerID(ctr), Name: fmt.Sprintf("web-%d", ctr)}, Running: true})
	}
	if err := s.Put(context.Background(), &inv); err != nil {
		return err
	}
	start := time.Now()
	const batch = 2000
	var mu sync.Mutex
	var firstErr error
	next := 0
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for {
				mu.Lock()
				done := next
				next += batch
				mu.Unlock()
				if done >= *n || firstErr != nil {
					return
				}
				var b store.Batch
				for i := 0; i < batch && done+i < *n; i++ {
					// In time order, as alerts arrive: a batch
					// spans a few minutes of the 7 days.
					step := 7 * 24 * time.Hour / time.Duration(*n)
					at := now.Add(-7 * 24 * time.Hour).Add(time.Duration(done+i) * step)
					a := sampleAlert(r, fmt.Sprintf("node-%02d", r.IntN(50)), at)
					a.UUID, a.Cluster = event.NewUUID(), "bench"
					raw, _ := json.Marshal(a)
					b.Alerts = append(b.Alerts, store.AlertIn{Alert: a, Raw: raw})
				}
				if err := s.Put(context.Background(), &b); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				if done%(250*batch) == 0 && done > 0 {
					fmt.Fprintf(os.Stderr, "%d alerts, %.0f/s\n", done, float64(done)/time.Since(start).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("loaded %d alerts in %v (%.0f/s)\n", *n, time.Since(start).Round(time.Second), float64(*n)/time.Since(start).Seconds())
	return nil
}

func query(args []string) error {
	fs := flag.NewFlagSet("query", flag.ExitOnError)
	dsn := fs.String("store", "", "SQLite file or postgres:// URL")
	runs := fs.Int("runs", 50, "runs of each query")
	only := fs.String("only", "", "run only the queries whose name matches this regular expression")
	fs.Parse(args)
	match, err := regexp.Compile(*only)
	if err != nil {
		return fmt.Errorf("-only: %w", err)
	}
	s, err := open(*dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	// A running console counts each hour as it ends (Store.KeepCounts);
	// over a store just loaded, this counts the week's hours at once.
	t0 := time.Now()
	if err := s.KeepCounts(ctx, now); err != nil {
		return err
	}
	fmt.Printf("counted the week's hours, as a running console does as each ends, in %v\n", time.Since(t0).Round(time.Millisecond))
	page10 := func() error {
		q := store.AlertQuery{Limit: 100}
		for range 10 {
			p, err := s.Alerts(ctx, q)
			if err != nil {
				return err
			}
			q.Cursor = p.Next
		}
		return nil
	}
	firstAsks := 0 // rules asked for a first time
	queries := []struct {
		name string
		f    func() error
	}{
		{"feed: newest 100", func() error { _, err := s.Alerts(ctx, store.AlertQuery{Limit: 100}); return err }},
		{"feed: 10 pages of 100 by cursor", page10},
		{"feed: one node, newest 100", func() error {
			_, err := s.Alerts(ctx, store.AlertQuery{Limit: 100, Filter: store.Filter{Node: "node-07"}})
			return err
		}},
		{"feed: one container by name, newest 100", func() error {
			_, err := s.Alerts(ctx, store.AlertQuery{Limit: 100, Filter: store.Filter{Container: "web-123"}})
			return err
		}},
		{"feed: one container by short id, newest 100", func() error {
			_, err := s.Alerts(ctx, store.AlertQuery{Limit: 100, Filter: store.Filter{Container: containerID(123)[:12]}})
			return err
		}},
		{"feed: a container without alerts", func() error {
			_, err := s.Alerts(ctx, store.AlertQuery{Limit: 100, Filter: store.Filter{Container: "web-quiet"}})
			return err
		}},
		{"feed: priority >= Error, last 24 h", func() error {
			_, err := s.Alerts(ctx, store.AlertQuery{Limit: 100, Filter: store.Filter{MinPriority: "Error", Since: now.Add(-24 * time.Hour)}})
			return err
		}},
		{"feed: namespace + rule", func() error {
			_, err := s.Alerts(ctx, store.AlertQuery{Limit: 100, Filter: store.Filter{Namespace: "ns-3", Rule: "Rule 042"}})
			return err
		}},
		{"feed: one namespace", func() error {
			_, err := s.Alerts(ctx, store.AlertQuery{Limit: 100, Filter: store.Filter{Namespace: "ns-3"}})
			return err
		}},
		{"feed: one pod", func() error {
			_, err := s.Alerts(ctx, store.AlertQuery{Limit: 100, Filter: store.Filter{Namespace: "ns-3", Pod: "web-13"}})
			return err
		}},
		{"feed: an image without alerts", func() error {
			_, err := s.Alerts(ctx, store.AlertQuery{Limit: 100, Filter: store.Filter{Image: "registry/quiet:1"}})
			return err
		}},
		{"feed: one technique (tag)", func() error {
			_, err := s.Alerts(ctx, store.AlertQuery{Limit: 100, Filter: store.Filter{Tag: "T1007"}})
			return err
		}},
		{"feed: a rare technique (1 alert in 5,000)", func() error {
			_, err := s.Alerts(ctx, store.AlertQuery{Limit: 100, Filter: store.Filter{Tag: "T1611"}})
			return err
		}},
		{"feed: a technique without alerts", func() error {
			_, err := s.Alerts(ctx, store.AlertQuery{Limit: 100, Filter: store.Filter{Tag: "T1612"}})
			return err
		}},
		{"feed: blocked (no alert is)", func() error {
			_, err := s.Alerts(ctx, store.AlertQuery{Limit: 100, Filter: store.Filter{Action: "blocked"}})
			return err
		}},
		{"feed: text that no alert has, last 24 h", func() error {
			_, err := s.Alerts(ctx, store.AlertQuery{Limit: 100, Filter: store.Filter{Text: "xmrig", Since: now.Add(-24 * time.Hour)}})
			return err
		}},
		{"counts: by priority per hour, last 24 h", func() error {
			_, err := s.Counts(ctx, store.CountQuery{Field: "priority", Bucket: time.Hour, Filter: store.Filter{Since: now.Add(-24 * time.Hour)}})
			return err
		}},
		{"counts: by tag per hour, last 24 h", func() error {
			_, err := s.Counts(ctx, store.CountQuery{Field: "tag", Bucket: time.Hour, Filter: store.Filter{Since: now.Add(-24 * time.Hour)}})
			return err
		}},
		{"counts: by image, 7 days", func() error {
			_, err := s.Counts(ctx, store.CountQuery{Field: "image", Filter: store.Filter{Since: now.Add(-7 * 24 * time.Hour)}})
			return err
		}},
		{"counts: by rule per day, 7 days", func() error {
			_, err := s.Counts(ctx, store.CountQuery{Field: "rule", Bucket: 24 * time.Hour, Filter: store.Filter{Since: now.Add(-7 * 24 * time.Hour)}})
			return err
		}},
		{"counts: by node per hour, 7 days", func() error {
			_, err := s.Counts(ctx, store.CountQuery{Field: "node", Bucket: time.Hour, Filter: store.Filter{Since: now.Add(-7 * 24 * time.Hour)}})
			return err
		}},
		{"counts: by rule, last 1 h", func() error {
			_, err := s.Counts(ctx, store.CountQuery{Field: "rule", Filter: store.Filter{Since: now.Add(-time.Hour)}})
			return err
		}},
		{"counts: by node per hour, one rule, 7 days", func() error {
			_, err := s.Counts(ctx, store.CountQuery{Field: "node", Bucket: time.Hour, Filter: store.Filter{Rule: "Rule 042"}})
			return err
		}},
		// The same, each run a rule not asked for before: the first ask
		// counts the rule's hours from its alerts and keeps them.
		{"counts: by node per hour, one rule, 7 days, first ask", func() error {
			if firstAsks == 100 {
				return fmt.Errorf("at most 100 runs (rules 100 to 199)")
			}
			firstAsks++
			_, err := s.Counts(ctx, store.CountQuery{Field: "node", Bucket: time.Hour, Filter: store.Filter{Rule: fmt.Sprintf("Rule %03d", 99+firstAsks)}})
			return err
		}},
	}
	fmt.Printf("| query | p50 | p99 |\n|---|---|---|\n")
	for _, q := range queries {
		if !match.MatchString(q.name) {
			continue
		}
		var ds []time.Duration
		for range *runs {
			t0 := time.Now()
			if err := q.f(); err != nil {
				return fmt.Errorf("%s: %w", q.name, err)
			}
			ds = append(ds, time.Since(t0))
		}
		slices.Sort(ds)
		p := func(f float64) time.Duration { return ds[min(len(ds)-1, int(f*float64(len(ds))))] }
		fmt.Printf("| %s | %v | %v |\n", q.name, p(0.50).Round(10*time.Microsecond), p(0.99).Round(10*time.Microsecond))
	}
	return nil
}
