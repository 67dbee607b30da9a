package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/agent"
	"github.com/mamori-dev/mamori/audit/cloudtrail"
	"github.com/mamori-dev/mamori/audit/k8saudit"
	"github.com/mamori-dev/mamori/container"
	"github.com/mamori-dev/mamori/detect"
	"github.com/mamori-dev/mamori/dnscache"
	"github.com/mamori-dev/mamori/enforce"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/guard"
	"github.com/mamori-dev/mamori/imagestore"
	"github.com/mamori-dev/mamori/output"
	"github.com/mamori-dev/mamori/policy"
	"github.com/mamori-dev/mamori/probe"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
	"github.com/mamori-dev/mamori/rules/sigma"
	"github.com/mamori-dev/mamori/rules/syscalls"
	"github.com/mamori-dev/mamori/runtimehook"
	"github.com/mamori-dev/mamori/sensor"
)

func newAgentCmd() *cobra.Command {
	var a agentFlags
	cmd := &cobra.Command{
		Use:   "agent [flags]",
		Short: "run the node agent: the eBPF sensor, rules, runtime policies and their enforcement",
		Long:  agentHelp,
		Example: `  sudo mamori agent --rules /etc/falco/falco_rules.yaml --policy /etc/mamori/policies
  sudo mamori agent --events -o json --events-output events.json` + auditExample,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAgent(cmd, &a) },
	}
	a.add(cmd)
	return cmd
}

// agentFlags are the agent's flags.
type agentFlags struct {
	events                                          *bool
	outPath, health, ring, reserve, node, level     *string
	hookSocket, imageDB, alertsPath                 *string
	containerdRoot, containerdState                 string
	matchAll, runtimeOverrides, absentCalls         *bool
	ancestors                                       *int
	foldWindow                                      *time.Duration
	types, prefixes, ruleFiles, policyPaths, groups listFlag
	out                                             outputFlag
	ct                                              *cloudtrailFlags
	ka                                              *k8sAuditFlags
	kube                                            *kubePolicyFlags
	cl                                              *consoleFlags
}

func (a *agentFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	a.events = fs.Bool("events", false, "write every event (to stdout, or to --events-output)")
	a.outPath = fs.String("events-output", "", "write events to this file instead of stdout (appended)")
	a.out.add(cmd, "json", "text")
	a.out.addFormatAlias(cmd)
	a.out.addLegacyFile("--events-output", a.outPath)
	fs.Lookup("output").Usage = "output format of events and alerts: json or text; default text on a terminal, json elsewhere"
	fs.Var(&a.policyPaths, "policy", "runtime policy file or directory (repeatable), reloaded on change; the built-in default\n"+
		"(Drift Prevention, audit, every container) always applies where no policy sets a control; \"none\" turns policies off")
	fs.Var(&a.ruleFiles, "rules", "Falco rules file to detect with (repeatable, loaded in order); \"builtin\" names mamori's own rules,\n"+
		"the default; \"none\" turns detection off")
	a.alertsPath = fs.String("alerts-output", "", "write alerts to this file instead of stdout (appended)")
	a.absentCalls = fs.Bool("capture-absent-calls", false, "also capture attempts at system calls this kernel was built without (init_module and finit_module\n"+
		"where it cannot load modules), which Falco's module rules match: they can only fail (ENOSYS), and catching\n"+
		"them runs a program on every system call of the node; without it they are left out, and /status says so")
	a.matchAll = fs.Bool("match-all", false, "raise an alert for every matching rule, not only the first (Falco's rule_matching: all)")
	fs.Var(&a.types, "event-types", "capture only these event types (comma-separated or repeated); default all:\n"+typeList())
	fs.Var(&a.prefixes, "sensitive-prefix", "report read-only opens under this path prefix (repeatable); replaces the default list")
	a.health = fs.String("health-addr", agent.DefaultHealthAddr, "serve /metrics and /status here; empty to turn off")
	a.ring = fs.String("ring-buffer-size", "4M", "ring buffer size, a power of two (K, M suffixes); user space maps it twice, so it counts twice in RSS")
	a.reserve = fs.String("ring-buffer-reserve", "", "part of the ring buffer that only exec, fork, exit and cgroup_move events may fill (K, M suffixes):\n"+
		"other events that would reach into it are dropped and counted; default an eighth of the ring, from 64K to half of it")
	a.ancestors = fs.Int("ancestors", 8, "ancestors attached to each event")
	a.node = fs.String("node", "", "node name in events; default the hostname")
	a.level = fs.String("log-level", "info", "debug, info, warn or error (logs go to stderr)")
	a.hookSocket = fs.String("hook-socket", runtimehook.DefaultSocket, "answer the OCI hook (mamori oci-hook run) on this unix socket: containers are judged by the creation\n"+
		"controls before their entrypoint runs (install the hook with mamori oci-hook install); empty to turn off")
	a.imageDB = fs.String("image-db", imagestore.DefaultPath, "the registered-images store (mamori image register) that blockUnregisteredImages and\n"+
		"blockNonCompliantImages read; a missing one means no image is registered yet; empty to use none")
	a.foldWindow = fs.Duration("alert-fold-window", detect.DefaultFoldWindow, "fold identical alerts (same rule or control, container, executable, action) raised within this window\n"+
		"into one with their exact count and first/last time; the first is written at once; 0 writes every alert")
	a.runtimeOverrides = fs.Bool("runtime-overrides", true, "after Falco's own rules files, load mamori's additions to their lists for podman, conmon, crun, runc\n"+
		"and the network plugins (rules/defaults/falco_runtime_overrides.yaml), so that starting containers is not taken for attacks")
	fs.StringVar(&a.containerdRoot, "containerd-root", "/var/lib/containerd", "containerd's root directory (its --root), where its metadata DB is, for pods' and containers' attribution")
	fs.StringVar(&a.containerdState, "containerd-state", "/run/containerd", "containerd's state directory (its --state), where its tasks' OCI bundles are")
	fs.Var(&a.groups, "host-group", "a node group this node belongs to, for policies scoped by host: {group: ...} (repeatable)")
	a.ct = addCloudtrailFlags(fs)
	a.ka = addK8sAuditFlags(fs)
	a.cl = addConsoleFlags(fs)
	a.kube = addKubePolicyFlags(fs, "node's agent")
}

func runAgent(cmd *cobra.Command, af *agentFlags) error {
	stderr := cmd.ErrOrStderr()
	af.out.sayNote(stderr)
	events, outPath, health, ring, reserve, node, level := af.events, af.outPath, af.health, af.ring, af.reserve, af.node, af.level
	hookSocket, imageDB, alertsPath, matchAll, ancestors, foldWindow := af.hookSocket, af.imageDB, af.alertsPath, af.matchAll, af.ancestors, af.foldWindow
	types, prefixes, ruleFiles, policyPaths, hostGroups := af.types, af.prefixes, af.ruleFiles, af.policyPaths, af.groups
	ct, ka, cl := af.ct, af.ka, af.cl
	format := af.out.format("")
	if err := cl.check(); err != nil {
		return err
	}
	if *outPath != "" && !*events {
		return usageError{"--events-output names where events go: add --events"}
	}
	if slices.Contains(policyPaths, "-") || slices.Contains(ruleFiles, "-") {
		return usageError{"the agent reloads its policies and rules from their files: - (standard input) cannot be read again; name files"}
	}
	var probes func() probe.Report
	if os.Geteuid() == 0 {
		// The kernel is probed while the rules and policies load.
		probes = probe.Start()
	}
	rs, err := agentRules(stderr, cmd.InOrStdin(), ruleFiles, *af.runtimeOverrides, append(ct.builtinRules(), ka.builtinRules()...)...)
	if err != nil {
		return err
	}
	if err := ct.check(rs, stderr); err != nil {
		return err
	}
	if err := ka.check(rs, stderr); err != nil {
		return err
	}
	f := output.Format(format)
	var evTypes []event.Type
	for _, t := range types {
		if !knownType(t) {
			return usageError{fmt.Sprintf("--event-types: unknown event type %q; known: %s", t, typeList())}
		}
		evTypes = append(evTypes, event.Type(t))
	}
	policiesOn := !(len(policyPaths) == 1 && policyPaths[0] == "none")
	if !policiesOn && len(policyPaths) > 1 {
		return usageError{"--policy none cannot be combined with policy paths"}
	}
	userPolicyPaths := slices.Clone(policyPaths)
	if err := cl.addPolicyPath(&policyPaths, policiesOn); err != nil {
		return err
	}
	if af.kube.on && !policiesOn {
		return usageError{"--kubernetes-policies cannot be combined with --policy none"}
	}
	if rs == nil && !policiesOn && *alertsPath != "" {
		return usageError{"--alerts-output names where alerts go, but --rules none and --policy none turn alerts off"}
	}
	ringBytes, err := parseSize(*ring)
	if err != nil {
		return usageError{"--ring-buffer-size: " + err.Error()}
	}
	var reserveBytes uint32
	if *reserve != "" {
		if reserveBytes, err = parseBytes(*reserve); err != nil || reserveBytes >= ringBytes {
			return usageError{fmt.Sprintf("--ring-buffer-reserve: %q: must be a size (such as 512K) below --ring-buffer-size", *reserve)}
		}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return usageError{"--log-level: " + err.Error()}
	}
	if *foldWindow < 0 {
		return usageError{"--alert-fold-window: must be 0 (off) or a positive duration such as 10s"}
	}
	if *ancestors < 0 || *ancestors > 64 {
		return usageError{"--ancestors: must be 0 to 64"}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("the agent loads eBPF programs and must run as root (try: sudo %s)", agentCommand)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	cfg := agent.Config{
		Node:               *node,
		EventTypes:         evTypes,
		HealthAddr:         *health,
		RingBufferBytes:    ringBytes,
		RingBufferReserve:  reserveBytes,
		MaxAncestors:       *ancestors,
		Version:            version,
		HookSocket:         *hookSocket,
		HostGroups:         hostGroups,
		FoldWindow:         *foldWindow,
		Probe:              probes,
		CaptureAbsentCalls: *af.absentCalls,
		Containers:         container.Config{ContainerdRoot: af.containerdRoot, ContainerdState: af.containerdState},
	}
	// For the agent's lifetime: the pods of its node, for their owners.
	if cfg.Containers.PodOwner, err = af.kube.podOwners(context.Background(), *node, log); err != nil {
		return err
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
	if policiesOn {
		if err := af.kube.addPolicyPath(context.Background(), &policyPaths, log); err != nil {
			return err
		}
		store, err := policy.Open(log.With("part", "policy"), policyPaths...)
		if err == nil {
			err = store.Current().RequireDocuments(userPolicyPaths...)
		}
		if err != nil {
			return fmt.Errorf("policies: %w", err)
		}
		cfg.Policies = store
		// Loaded by the agent while its sensor loads; the agent closes them.
		cfg.LoadEnforcement = func() (*enforce.Drift, *enforce.Net) {
			d, err := enforce.NewDrift(enforce.Config{}, log.With("part", "drift"))
			if err != nil {
				log.Warn("drift prevention cannot enforce on this node: policies in enforce mode are reported, not refused", "err", err)
				d = nil
			}
			n, err := enforce.NewNet(log.With("part", "net"))
			if err != nil {
				log.Warn("network refusal cannot enforce on this node: IP reputation, egress and listening ports in enforce mode are reported, not refused", "err", err)
				n = nil
			}
			return d, n
		}
		log.Info("policies loaded", "files", len(store.Current().Files()), "policies", len(store.Current().Policies()))
		images, err := openImageStore(*imageDB, log)
		if err != nil {
			return err
		}
		if images != nil {
			defer images.Close()
			cfg.Images, cfg.ImageFiles = images, images
		}
	}
	if rs != nil || policiesOn {

		if cfg.Events != nil && samePath(*alertsPath, *outPath) {
			cfg.Alerts = cfg.Events // one writer keeps lines whole
		} else {
			w, err := output.Open(*alertsPath, f)
			if err != nil {
				return err
			}
			defer w.Close()
			cfg.Alerts = w
		}
		if rs != nil {
			captureFor(&cfg, rs, *events, len(types) > 0, len(prefixes) > 0, log)
			dc := detect.Config{All: *matchAll, Users: syscalls.NewUsers("/")}
			if cfg.Names != nil {
				dc.Names = cfg.Names
			}
			cfg.Detector = detect.New(rs, dc)
		}
		if policiesOn && cfg.Opens.Writes != nil {
			// The guard keeps a container's recent events for its
			// forensics: every open for writing there.
			cfg.Opens.Writes.InContainers = true
		}
		if policiesOn && cfg.Connects != nil {
			// Egress, IP reputation and port scans are judged on every
			// connect in a container (host events are no policy's).
			cfg.Connects.InContainers = true
		}
		if policiesOn && cfg.EventTypes != nil {
			// What the guard judges containers by, whatever the rules
			// need; but --event-types is the user's word.
			for _, t := range guard.EventTypes {
				switch {
				case slices.Contains(cfg.EventTypes, t):
				case len(types) > 0:
					log.Warn("--event-types leaves out an event type that policies judge containers by", "type", t)
				default:
					cfg.EventTypes = append(cfg.EventTypes, t)
				}
			}
		}
	}
	// First: the console's credential names the node, which the audit
	// sources' alerts carry too.
	lnk, err := cl.open(&cfg, stderr, log)
	if err != nil {
		return err
	}
	cl.learnCapture(&cfg, len(types) > 0, log)
	// The audit sources raise their alerts through the agent (its output
	// and its console), which exists once they start serving.
	var ag *agent.Agent
	raise := func(al *event.Alert) error { return ag.Raise(al) }
	var sync func() error
	if cfg.Alerts != nil {
		sync = cfg.Alerts.Flush
	}
	follower, err := ct.open(rs, raise, sync, *matchAll, cfg.Node, log)
	if err != nil {
		return err
	}
	webhook, err := ka.open(rs, raise, *matchAll, cfg.Node, log)
	if err != nil {
		return err
	}
	a, err := agent.New(cfg, log)
	if err != nil {
		return err
	}
	ag = a
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Policies != nil {
		// SIGHUP reloads the policies now, as Falco reloads on SIGHUP;
		// files are also watched and reloaded within seconds.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for range hup {
				if err := cfg.Policies.Reload(); err != nil {
					log.Error("SIGHUP: policies not reloaded; the previous ones stay in force", "err", err)
				} else {
					log.Info("SIGHUP: policies reloaded")
				}
			}
		}()
	}
	if cfg.Policies != nil {
		af.kube.start(ctx, cfg.Policies, log)
	}
	stopCloudtrail := follower.start(ctx)
	stopK8sAudit := startK8sAudit(ctx, webhook, log)
	stopLink := cl.start(lnk, a)
	go stopWatchdog(ctx, stderr, log)
	err = a.Run(ctx)
	stopCloudtrail()
	stopK8sAudit()
	stopLink()
	return err
}

// agentRules loads the --rules files, Falco's or Sigma's (the Sigma rules
// that cannot be translated are listed on report); nil means detection is
// off. "builtin" names mamori's own rules and the files in builtin. With
// overrides, mamori's runtime overrides follow the files.
func agentRules(report io.Writer, stdin io.Reader, names []string, overrides bool, builtin ...rules.File) (*rules.Ruleset, error) {
	if len(names) == 0 {
		names = []string{"builtin"}
	}
	var files []rules.File
	for _, n := range names {
		switch n {
		case "none":
			if len(names) > 1 {
				return nil, usageError{"--rules none cannot be combined with rules files"}
			}
			return nil, nil
		case "builtin":
			files = append(files, defaults.File())
			files = append(files, builtin...)
		default:
			fs, untranslated, err := sigma.ReadFiles(sigma.Config{Catalogs: []rules.Catalog{cloudtrail.NewCatalog(), k8saudit.NewCatalog()}, Stdin: stdin}, n)
			if err != nil {
				return nil, err
			}
			for _, u := range untranslated {
				fmt.Fprintln(report, u)
			}
			files = append(files, fs...)
		}
	}
	if overrides {
		var err error
		if files, err = withRuntimeOverrides(files); err != nil {
			return nil, err
		}
	}
	rs, _, err := loadRules(files)
	if err != nil {
		return nil, loadError(err)
	}
	return rs, nil
}

// withRuntimeOverrides appends mamori's runtime overrides to files, when
// they define a list or macro the overrides extend.
func withRuntimeOverrides(files []rules.File) ([]rules.File, error) {
	f, ok, err := defaults.RuntimeOverrides(files)
	if err != nil || !ok {
		return files, err
	}
	return append(files, f), nil
}

// captureFor tells the sensor to capture only what the rules need, unless
// the user asked for events or chose types or prefixes.
func captureFor(cfg *agent.Config, rs *rules.Ruleset, events, typesSet, prefixesSet bool, log *slog.Logger) {
	needs := detect.NeedsOf(rs)
	for _, rn := range needs.Rules {
		if rn.MatchesReads && rn.Reads.All {
			log.Info("rule matches read-only opens without a path, process name or file name in its condition: every read-only open is captured", "rule", rn.Rule.Name)
		}
		if (rn.MatchesWrites && rn.Writes.All || rn.MatchesReadWrites && rn.ReadWrites.All) && !events && !typesSet {
			log.Info("rule matches opens for writing without a path, process name, file name or container in its condition: every open for writing is captured", "rule", rn.Rule.Name)
		}
	}
	if !events && !typesSet && !needs.All {
		cfg.EventTypes = needs.Types
		if len(needs.Types) > 0 {
			// Moves between cgroups are few and cheap, and a container
			// escaping its cgroup shows in them: capture them whatever the
			// rules need.
			cfg.EventTypes = append(slices.Clone(needs.Types), event.CgroupMove)
		}
	}
	if needs.Env {
		cfg.EnvBytes = sensor.MaxEnvBytes
	}
	if needs.DNS || events {
		cfg.Names = dnscache.New(dnscache.Config{})
	}
	// Read-only and failed opens share the kernel's keys.
	keys := needs.Reads
	keys.Add(needs.Failed)
	switch {
	case prefixesSet:
		cfg.SensitivePrefixes = append(cfg.SensitivePrefixes, keys.Prefixes...)
	case events:
		cfg.SensitivePrefixes = append(append([]string(nil), sensor.DefaultSensitivePrefixes...), keys.Prefixes...)
	default:
		cfg.SensitivePrefixes = append([]string{}, keys.Prefixes...)
	}
	cfg.Opens = sensor.OpenFilter{
		AllReads:          needs.Reads.All,
		Failed:            !needs.Failed.Empty(),
		AllFailed:         needs.Failed.All,
		Dirs:              keys.Dirs,
		Suffixes:          keys.Suffixes,
		Contains:          keys.Contains,
		Comms:             keys.Comms,
		ReadsInContainers: keys.Containers,
		// The kernel may decide on the path argument alone when no
		// read key is on the resolved path; prefixes the user gave
		// are checked on both.
		RawReads: !keys.Resolved && !events && !prefixesSet,
	}
	if w, rw := needs.Writes, needs.ReadWrites; !events && !typesSet && !w.All && !rw.All {
		// Opens that may write as the rules need them; the guard's
		// forensics and learning add every one in a container.
		cfg.Opens.Writes = &sensor.WriteFilter{InContainers: w.Containers || rw.Containers, OpenKeys: openKeys(w), ReadWrite: openKeys(rw)}
	}
	cfg.IO = ioFilter(needs.Sends, needs.Recvs, events)
	if c := needs.Connects; !events && !typesSet && !c.All && len(c.Ports) <= sensor.MaxConnectPorts {
		// Connects as the rules need them; the guard and learning add
		// every one in a container.
		cfg.Connects = &sensor.ConnectFilter{InContainers: c.Containers, Ports: c.Ports}
	}
	if len(keys.Contains) > sensor.MaxOpenContains {
		// More substrings than the kernel looks for: it reports every
		// read-only (and failed) open rather than miss one.
		log.Info("the rules look for more substrings of paths than the sensor's filter holds: every read-only open is captured", "substrings", len(keys.Contains))
		cfg.Opens.Contains = nil
		cfg.Opens.AllReads = true
		cfg.Opens.AllFailed = cfg.Opens.Failed
	}
	if w := cfg.Opens.Writes; w != nil && len(unionOf(cfg.Opens.Contains, unionOf(w.Contains, w.ReadWrite.Contains))) > sensor.MaxOpenContains {
		log.Info("the rules look for more substrings of paths than the sensor's filter holds: every open for writing is captured", "substrings", len(unionOf(cfg.Opens.Contains, unionOf(w.Contains, w.ReadWrite.Contains))))
		cfg.Opens.Writes = nil
	}
	writes := []any{"all_writes", cfg.Opens.Writes == nil}
	if w := cfg.Opens.Writes; w != nil {
		writes = append(writes, "write_prefixes", len(w.Prefixes)+len(w.ReadWrite.Prefixes), "write_dirs", len(w.Dirs)+len(w.ReadWrite.Dirs),
			"write_endings", len(w.Suffixes)+len(w.ReadWrite.Suffixes), "write_substrings", len(unionOf(w.Contains, w.ReadWrite.Contains)),
			"write_processes", len(w.Comms)+len(w.ReadWrite.Comms), "writes_in_containers", w.InContainers)
	}
	writes = append(writes, agent.NarrowChanges(&cfg.Opens, needs, !events && !typesSet, log)...)
	connects := []any{"all_connects", cfg.Connects == nil}
	if c := cfg.Connects; c != nil {
		connects = append(connects, "connect_ports", len(c.Ports), "connects_in_containers", c.InContainers)
	}
	writes = append(writes, connects...)
	log.Info("rules loaded", append([]any{"rules", len(rs.Rules()), "event_types", len(cfg.EventTypes), "all_types", cfg.EventTypes == nil,
		"read_prefixes", len(cfg.SensitivePrefixes), "read_dirs", len(cfg.Opens.Dirs), "read_endings", len(cfg.Opens.Suffixes), "read_substrings", len(cfg.Opens.Contains),
		"read_processes", len(cfg.Opens.Comms), "all_reads", cfg.Opens.AllReads, "reads_in_containers", cfg.Opens.ReadsInContainers,
		"failed_opens", cfg.Opens.Failed}, append(writes, "environment", cfg.EnvBytes > 0, "dns", cfg.Names != nil)...)...)
}

// openKeys are the kernel's keys for one kind of open.
func openKeys(k detect.PathKeys) sensor.OpenKeys {
	return sensor.OpenKeys{Raw: !k.Resolved, Prefixes: k.Prefixes, Dirs: k.Dirs, Suffixes: k.Suffixes, Contains: k.Contains, Comms: k.Comms}
}

// unionOf is a and the strings of b it lacks.
func unionOf(a, b []string) []string {
	u := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(u, v) {
			u = append(u, v)
		}
	}
	return u
}

// ioFilter turns what the rules need of sends and receives into the
// sensor's filter; with events, sends and receives to or from a new peer on
// an unconnected socket are reported too.
func ioFilter(sends, recvs detect.IOKeys, events bool) sensor.IOFilter {
	var f sensor.IOFilter
	for _, p := range append(slices.Clone(sends.Patterns), recvs.Patterns...) {
		if !slices.ContainsFunc(f.Patterns, func(q []byte) bool { return string(q) == p }) {
			f.Patterns = append(f.Patterns, []byte(p))
		}
	}
	f.Ports = append(slices.Clone(sends.Ports), recvs.Ports...)
	keys := func(k detect.IOKeys) sensor.IOKeys {
		return sensor.IOKeys{All: k.All, Unconnected: k.Unconnected, PeerChanged: k.PeerChanged || events,
			Ports: len(k.Ports) > 0, Data: len(k.Patterns) > 0}
	}
	f.Send, f.Recv = keys(sends), keys(recvs)
	if len(f.Patterns) > sensor.MaxOpenContains {
		// More patterns than the kernel looks for: every call of a
		// direction that looks for one.
		f.Send.All = f.Send.All || f.Send.Data
		f.Recv.All = f.Recv.All || f.Recv.Data
		f.Patterns = nil
		f.Send.Data, f.Recv.Data = false, false
	}
	return f
}

func samePath(a, b string) bool {
	if a == "-" {
		a = ""
	}
	if b == "-" {
		b = ""
	}
	return a == b
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

// parseSize reads a ring buffer size: 4096, 64K or 16M, a power of two.
func parseSize(s string) (uint32, error) {
	v, err := parseBytes(s)
	if err != nil {
		return 0, err
	}
	if v < 4096 || v > 1<<30 || v&(v-1) != 0 {
		return 0, fmt.Errorf("%d bytes: must be a power of two from 4K to 1024M", v)
	}
	return v, nil
}

// parseBytes reads 4096, 64K or 16M.
func parseBytes(s string) (uint32, error) {
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
	if v > 1<<30 {
		return 0, fmt.Errorf("%d bytes: must be at most 1024M", v)
	}
	return uint32(v), nil
}

const agentHelp = `agent runs the node agent as root: loads the eBPF sensor, follows every process,
file, network and privilege action, attributes it to its container, and
serves health on --health-addr. Each event is evaluated against Falco rules
(mamori's built-in set unless --rules names files, e.g. Falco's own
falco_rules.yaml) and every alert is written to stdout or --alerts-output,
as a JSON line compatible with Falco's JSON output (see docs/rules.md).
--rules also takes Sigma rules (files or directories). With --cloudtrail
s3://BUCKET/PREFIX it follows CloudTrail logs in S3, and with
--k8s-audit-listen ADDR it serves kube-apiserver's audit webhook backend:
their records are evaluated against the aws_cloudtrail and k8s_audit rules
(mamori's built-in ones with "builtin"), and their alerts go to the same
output. With --policy, runtime policies judge every container, and the
creation controls answer the OCI hook on --hook-socket; policy files are
reloaded when they change, or at once on SIGHUP. Every container running
on the node is protected before the agent reports ready (/healthz answers
200 only then), and a control in enforce mode that cannot be enforced
raises an "Enforcement Not In Place" alert.

With --events it also writes each event as a JSON line (see docs/events.md)
or a readable line (-o json or -o text), to stdout or --events-output.
Without --events the sensor captures only the event types and file paths
the rules need. Ctrl-C drains the ring buffer before exiting.
`

// stopTimeout bounds how long the agent may take to stop once asked: the
// drain of the ring buffer and the flush of the outputs take well under a
// second.
const stopTimeout = 20 * time.Second

// stopWatchdog makes a stop that hangs loud instead of silent: past
// stopTimeout after ctx ends, it writes every goroutine's stack to stderr
// and exits with status 2, so that a supervisor restarts the agent and the
// log says where it was stuck.
func stopWatchdog(ctx context.Context, stderr io.Writer, log *slog.Logger) {
	<-ctx.Done()
	time.Sleep(stopTimeout)
	log.Error("the agent did not stop within the stop timeout; writing every goroutine's stack and exiting", "timeout", stopTimeout)
	pprof.Lookup("goroutine").WriteTo(stderr, 2)
	os.Exit(2)
}

// openImageStore opens the registered-images store read-only for the
// agent and the admission webhook; nil for an empty path. A missing
// database is said once: no image is registered until `mamori image
// register` creates it, which the store notices by itself.
func openImageStore(path string, log *slog.Logger) (*imagestore.Store, error) {
	if path == "" {
		log.Info("no image store (--image-db \"\"): blockNonCompliantImages refuses every image, blockUnregisteredImages relies on its registeredImages lists")
		return nil, nil
	}
	s, err := imagestore.Open(path, imagestore.Options{ReadOnly: true, Log: log.With("part", "imagestore")})
	if err != nil {
		return nil, fmt.Errorf("%w (fix or remove it, or pass another --image-db)", err)
	}
	if !s.Exists() {
		log.Info("no image store yet: no image is registered until mamori image register creates it; this matters only to policies with blockUnregisteredImages or blockNonCompliantImages", "image_db", path)
	} else {
		log.Info("image store opened", "image_db", path)
	}
	return s, nil
}
