package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/mamori-dev/mamori/agent"
	"github.com/mamori-dev/mamori/console/falco"
	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/console/wire"
	"github.com/mamori-dev/mamori/dnscache"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/learn"
)

// consoleFlags are the agent's flags for joining a console.
type consoleFlags struct {
	url, cluster, spool, spoolSize string
	policyDir, creds, sidekick     string
	forwarder                      *falco.Forwarder
	events                         bool
	learn                          bool
	learnEvery                     time.Duration
	embedded                       interface{ Run(context.Context) error } // --console embedded
}

// DefaultConsolePolicyDir is where the agent keeps the console's policies.
const DefaultConsolePolicyDir = "/var/lib/mamori/console-policies"

// addPolicyPath adds the central policies' directory to the agent's
// policy paths, when the agent has a console and policies.
func (f *consoleFlags) addPolicyPath(paths *listFlag, policiesOn bool) error {
	if f.url == "" || f.policyDir == "" || !policiesOn {
		f.policyDir = ""
		return nil
	}
	p, err := link.PolicyPath(f.policyDir)
	if err != nil {
		return err
	}
	*paths = append(*paths, p)
	return nil
}

// DefaultSpoolDir is where the agent keeps records while the console is
// away.
const DefaultSpoolDir = "/var/lib/mamori/spool"

func addConsoleFlags(fs *pflag.FlagSet) *consoleFlags {
	f := &consoleFlags{}
	fs.StringVar(&f.url, "console", "", "send alerts, heartbeats and the container inventory to the console at this NATS URL\n"+
		"(nats://host:4222, or several comma-separated; see mamori console), or \"embedded\" to run a console in the\n"+
		"agent's process (API on 127.0.0.1:9747, data in "+DefaultConsoleDir+")")
	fs.StringVar(&f.cluster, "cluster", "", "the cluster name every record carries to the console (default: the credential's, or \"default\")")
	fs.StringVar(&f.creds, "console-creds", "", "this node's credential for the console (mamori console agent add): its key and the console's CA")
	fs.StringVar(&f.spool, "console-spool", DefaultSpoolDir, "keep records here while the console is unreachable, and replay them in order")
	fs.StringVar(&f.spoolSize, "console-spool-size", "256M", "the spool's bound (K, M suffixes); past it records are dropped, counted and reported")
	fs.StringVar(&f.policyDir, "console-policies", DefaultConsolePolicyDir, "keep the console's central policies here (they stay in force while the console\n"+
		"is unreachable, across restarts); empty to take none")
	fs.StringVar(&f.sidekick, "falcosidekick", "", "forward every alert to falcosidekick at this URL (POST, Falco's payload with uuid)")
	fs.BoolVar(&f.events, "console-events", false, "send every event to the console too, not only alerts (for forensics and process trees)")
	fs.BoolVar(&f.learn, "learn", false, "learn what each workload does (programs, processes, connections, listening ports, written directories)\n"+
		"and send it to the console for its behaviour profiles and network map (mamori profile)")
	fs.DurationVar(&f.learnEvery, "learn-every", 10*time.Second, "with --learn: how often what was learnt is sent")
	return f
}

// check refuses flags that cannot work.
func (f *consoleFlags) check() error {
	if f.url == "" {
		if f.events {
			return usageError{"--console-events needs --console"}
		}
		if f.learn {
			return usageError{"--learn sends what it learns to the console: add --console"}
		}
		return nil
	}
	if f.learnEvery < 100*time.Millisecond {
		return usageError{"--learn-every: 100ms or more"}
	}
	if strings.ContainsAny(f.cluster, " \t") {
		return usageError{"--cluster: a name without spaces"}
	}
	if f.url == "embedded" && !embeddedConsoleBuilt {
		return usageError{"--console embedded: this lean node agent has no console in it; join one with --console nats://HOST:4222, or run the full binary's mamori agent --console embedded"}
	}
	if f.creds != "" && f.url == "embedded" {
		return usageError{"--console embedded issues this node's credential itself: leave out --console-creds"}
	}
	return nil
}

// open makes the link and hooks it into cfg; nil without --console. With
// --console embedded it opens a console in this process first. With
// --falcosidekick the agent's alerts also go there.
func (f *consoleFlags) open(cfg *agent.Config, stderr io.Writer, log *slog.Logger) (*link.Link, error) {
	if f.sidekick != "" {
		f.forwarder = falco.NewForwarder(f.sidekick, 10000, log.With("part", "falcosidekick"))
	}
	l, err := f.openLink(cfg, stderr, log)
	if err != nil {
		return nil, err
	}
	if f.forwarder != nil {
		t := &sidekickTee{fw: f.forwarder}
		if l != nil {
			t.inner = l
		}
		cfg.Console = t
	}
	return l, nil
}

// sidekickTee sends alerts to the console (which gives them their uuid)
// and then to falcosidekick.
type sidekickTee struct {
	inner agent.Console
	fw    *falco.Forwarder
}

func (t *sidekickTee) Alert(a *event.Alert) {
	if t.inner != nil {
		t.inner.Alert(a)
	} else if a.UUID == "" {
		a.UUID = event.NewUUID()
	}
	t.fw.Alert(a)
}

func (t *sidekickTee) Event(e *event.Event) {
	if t.inner != nil {
		t.inner.Event(e)
	}
}

func (t *sidekickTee) Counts() event.PublisherCounts {
	if t.inner != nil {
		return t.inner.Counts()
	}
	return event.PublisherCounts{}
}

func (f *consoleFlags) openLink(cfg *agent.Config, stderr io.Writer, log *slog.Logger) (*link.Link, error) {
	if f.url == "" {
		return nil, nil
	}
	node := cfg.Node
	if node == "" {
		node, _ = os.Hostname()
	}
	var creds *wire.Credential
	if f.creds != "" {
		var err error
		if creds, err = link.ReadCreds(f.creds); err != nil {
			return nil, fmt.Errorf("--console-creds: %w", err)
		}
		if cfg.Node != "" && cfg.Node != creds.Node {
			return nil, fmt.Errorf("--console-creds is %s's credential, but this agent's --node is %s: the console would refuse its records", creds.Node, cfg.Node)
		}
		if f.cluster != "" && f.cluster != creds.Cluster {
			return nil, fmt.Errorf("--console-creds is a credential for cluster %s, not --cluster %s", creds.Cluster, f.cluster)
		}
		node, f.cluster = creds.Node, creds.Cluster
		cfg.Node = node
	}
	if f.cluster == "" {
		f.cluster = "default"
	}
	if f.url == "embedded" {
		c, url, cr, err := openEmbeddedConsole(f.cluster, node, stderr, log)
		if err != nil {
			return nil, err
		}
		f.embedded, f.url, creds = c, url, cr
	}
	size, err := parseByteSize(f.spoolSize)
	if err != nil {
		return nil, usageError{"--console-spool-size: " + err.Error()}
	}
	l, err := link.New(link.Config{URL: f.url, Cluster: f.cluster, Node: node, SpoolDir: f.spool, SpoolBytes: size,
		Events: f.events, PolicyDir: f.policyDir, Creds: creds, LearnEvery: f.learnEvery}, log.With("part", "console"))
	if err != nil {
		return nil, err
	}
	cfg.Console = l
	return l, nil
}

// learnCapture makes the sensor capture what learning reads, and the
// agent learn.
func (f *consoleFlags) learnCapture(cfg *agent.Config, typesSet bool, log *slog.Logger) {
	if !f.learn {
		return
	}
	cfg.Learn = &learn.Config{Cluster: f.cluster}
	if cfg.Opens.Writes != nil {
		// Profiles hold the directories a container writes in.
		cfg.Opens.Writes.InContainers = true
	}
	if cfg.Connects != nil {
		// and every connection it makes.
		cfg.Connects.InContainers = true
	}
	if cfg.Names == nil {
		cfg.Names = dnscache.New(dnscache.Config{})
	}
	if cfg.EventTypes == nil {
		return // everything is captured
	}
	for _, t := range learn.EventTypes {
		switch {
		case slices.Contains(cfg.EventTypes, t):
		case typesSet:
			log.Warn("--event-types leaves out an event type learning reads", "type", t)
		default:
			cfg.EventTypes = append(cfg.EventTypes, t)
		}
	}
}

// start runs the link (and an embedded console) beside the agent; the
// returned function stops them once the agent has stopped, so that the
// agent's last alerts are sent or spooled, and stored.
func (f *consoleFlags) start(l *link.Link, src link.Source) (stop func()) {
	var fwg sync.WaitGroup
	fctx, stopForwarder := context.WithCancel(context.Background())
	if f.forwarder != nil {
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			f.forwarder.Run(fctx)
		}()
	}
	if l == nil {
		return func() { stopForwarder(); fwg.Wait() }
	}
	var wg sync.WaitGroup
	cctx, stopConsole := context.WithCancel(context.Background())
	if f.embedded != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.embedded.Run(cctx)
		}()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var lwg sync.WaitGroup
	lwg.Add(1)
	go func() {
		defer lwg.Done()
		l.Run(ctx, src)
	}()
	return func() {
		cancel()
		lwg.Wait()
		// What JetStream acknowledged and ingest had not stored yet
		// stays in the stream and is stored at the next start.
		stopConsole()
		wg.Wait()
		stopForwarder()
		fwg.Wait()
	}
}

// parseByteSize reads 4096, 64K, 256M or 2G.
func parseByteSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"), strings.HasSuffix(s, "k"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"), strings.HasSuffix(s, "g"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' || n > 1<<40 {
			return 0, usageError{"\"" + s + "\" is not a size such as 256M"}
		}
		n = n*10 + int64(c-'0')
	}
	if s == "" || n == 0 {
		return 0, usageError{"a size such as 256M"}
	}
	return n * mult, nil
}

// DefaultConsoleDir is where the console keeps its data.
const DefaultConsoleDir = "/var/lib/mamori/console"
