package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/mamori-dev/mamori/agent"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/output"
)

// listFlag collects a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func runAgent(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	events := fs.Bool("events", false, "write every event (to stdout, or to --output)")
	outPath := fs.String("output", "", "write events to this file instead of stdout (appended)")
	format := fs.String("format", "", "json or text; default: text on a terminal, json elsewhere")
	var types, prefixes listFlag
	fs.Var(&types, "event-types", "capture only these event types (comma-separated or repeated); default all:\n"+typeList())
	fs.Var(&prefixes, "sensitive-prefix", "report read-only opens under this path prefix (repeatable); replaces the default list")
	health := fs.String("health-addr", agent.DefaultHealthAddr, "serve /metrics and /status here; empty to turn off")
	ring := fs.String("ring-buffer-size", "8M", "ring buffer size, a power of two (K, M suffixes); user space maps it twice, so it counts twice in RSS")
	ancestors := fs.Int("ancestors", 8, "ancestors attached to each event")
	node := fs.String("node", "", "node name in events; default the hostname")
	level := fs.String("log-level", "info", "debug, info, warn or error (logs go to stderr)")
	if err := parseFlags(fs, args, agentHelp); err != nil {
		return err
	}
	if *outPath != "" && !*events {
		return usageError{"--output names where events go: add --events"}
	}
	var f output.Format
	if *format != "" {
		var err error
		if f, err = output.ParseFormat(*format); err != nil {
			return usageError{err.Error()}
		}
	}
	var evTypes []event.Type
	for _, t := range types {
		if !knownType(t) {
			return usageError{fmt.Sprintf("--event-types: unknown event type %q; known: %s", t, typeList())}
		}
		evTypes = append(evTypes, event.Type(t))
	}
	ringBytes, err := parseSize(*ring)
	if err != nil {
		return usageError{"--ring-buffer-size: " + err.Error()}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return usageError{"--log-level: " + err.Error()}
	}
	if *ancestors < 0 || *ancestors > 64 {
		return usageError{"--ancestors: must be 0 to 64"}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("the agent loads eBPF programs and must run as root (try: sudo mamori agent)")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	cfg := agent.Config{
		Node:            *node,
		EventTypes:      evTypes,
		HealthAddr:      *health,
		RingBufferBytes: ringBytes,
		MaxAncestors:    *ancestors,
		Version:         version,
	}
	if len(prefixes) > 0 {
		cfg.SensitivePrefixes = prefixes
	}
	if *events {
		w, err := output.Open(*outPath, f)
		if err != nil {
			return err
		}
		defer w.Close()
		cfg.Events = w
	}
	a, err := agent.New(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return a.Run(ctx)
}

func knownType(s string) bool {
	for _, t := range event.Types {
		if string(t) == s {
			return true
		}
	}
	return false
}

func typeList() string {
	names := make([]string, len(event.Types))
	for i, t := range event.Types {
		names[i] = string(t)
	}
	return strings.Join(names, ",")
}

// parseSize reads 4096, 64K or 16M.
func parseSize(s string) (uint32, error) {
	mult := uint64(1)
	switch {
	case strings.HasSuffix(s, "K"), strings.HasSuffix(s, "k"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size such as 16M", s)
	}
	v := n * mult
	if v < 4096 || v > 1<<30 || v&(v-1) != 0 {
		return 0, fmt.Errorf("%d bytes: must be a power of two from 4K to 1024M", v)
	}
	return uint32(v), nil
}

const agentHelp = `Usage: mamori agent [flags]

Runs the node agent as root: loads the eBPF sensor, follows every process,
file, network and privilege action, attributes it to its container, and
serves health on --health-addr. With --events it writes each event as a JSON
line (see docs/events.md) or a readable line. Ctrl-C drains the ring buffer
before exiting.
`
