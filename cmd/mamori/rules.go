//go:build !agentonly

package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/audit/auditlog"
	"github.com/mamori-dev/mamori/audit/cloudtrail"
	"github.com/mamori-dev/mamori/audit/k8saudit"
	"github.com/mamori-dev/mamori/detect"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
	"github.com/mamori-dev/mamori/rules/sigma"
	"github.com/mamori-dev/mamori/rules/syscalls"
)

func newRulesCmd() *cobra.Command {
	return group("rules", "check Falco rules files against the sensor, list fields, replay recorded events",
		`rules checks Falco rules files (validate), lists the syscall fields they can
use (fields), and replays recorded events through them to measure their
speed (bench, also named replay).`,
		newRulesValidateCmd(), newRulesFieldsCmd(), newRulesBenchCmd())
}

const rulesValidateHelp = `validate loads Falco rules files (or Sigma rules, translated) in order, as
the agent would (later files append to and override earlier ones), and
prints, per file, its rules, macros and lists, and every rule that cannot
run on mamori's sensor with the fields or event types it lacks. A FILE is
a file, a directory of Sigma rules, or - for standard input. A file that
does not load is reported with every problem at once, each at its
file:line:col, a misspelt key with the one meant; validate then exits 1.`

func newRulesValidateCmd() *cobra.Command {
	var warnings, overrides bool
	cmd := &cobra.Command{
		Use:     "validate [flags] FILE...",
		Short:   "load Falco rules files and report what runs on this sensor",
		Long:    rulesValidateHelp,
		Example: "  mamori rules validate /etc/falco/falco_rules.yaml my_rules.yaml\n  cat my_rules.yaml | mamori rules validate -",
		Args:    needArgs("name at least one rules file (or - for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRulesValidate(cmd.OutOrStdout(), cmd.InOrStdin(), args, warnings, overrides)
		},
	}
	cmd.Flags().BoolVar(&warnings, "warnings", false, "also print the loader's warnings (unused macros and lists, deprecated forms)")
	cmd.Flags().BoolVar(&overrides, "runtime-overrides", true, "load mamori's runtime overrides after the files, as the agent does")
	return cmd
}

func runRulesValidate(stdout io.Writer, stdin io.Reader, paths []string, warnings, overrides bool) error {
	files, untranslated, err := sigma.ReadFiles(sigma.Config{Catalogs: []rules.Catalog{cloudtrail.NewCatalog(), k8saudit.NewCatalog()}, Stdin: stdin}, paths...)
	if err != nil {
		return err
	}
	for _, u := range untranslated {
		fmt.Fprintln(stdout, u)
	}
	if overrides {
		n := len(files)
		if files, err = withRuntimeOverrides(files); err != nil {
			return err
		}
		if len(files) > n {
			fmt.Fprintf(stdout, "with mamori's runtime overrides for podman, conmon, crun, runc and network plugins (%s)\n", files[n].Name)
		}
	}
	rs, cat, err := loadRules(files)
	if err != nil {
		return loadError(err)
	}
	for _, f := range files {
		if f.Name == defaults.RuntimeOverridesName {
			continue
		}
		printValidation(stdout, f.Name, rs, cat)
	}
	if warnings {
		for _, w := range rs.Warnings() {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
	}
	return nil
}

func printValidation(w io.Writer, file string, rs *rules.Ruleset, cat *syscalls.Catalog) {
	var all, active, disabled []*rules.Rule
	var inactive, partial []*rules.Rule
	for _, r := range rs.Rules() {
		if r.Pos.File != file {
			continue
		}
		all = append(all, r)
		switch {
		case !r.Active():
			inactive = append(inactive, r)
		case !r.Enabled:
			disabled = append(disabled, r)
		default:
			active = append(active, r)
		}
		if r.Active() && len(r.MissingEventTypes)+len(r.MissingOutputFields) > 0 {
			partial = append(partial, r)
		}
	}
	macros, lists := 0, 0
	for _, m := range rs.Macros() {
		if m.Pos.File == file {
			macros++
		}
	}
	for _, l := range rs.Lists() {
		if l.Pos.File == file {
			lists++
		}
	}
	fmt.Fprintf(w, "%s: %d rules (%d active, %d active but disabled, %d inactive), %d macros, %d lists\n",
		filepath.Base(file), len(all), len(active), len(disabled), len(inactive), macros, lists)
	for _, r := range inactive {
		fmt.Fprintf(w, "  inactive  %s (%s): %s\n", r.Name, r.Pos, r.Inactive)
		for _, f := range r.MissingFields {
			if why := cat.Missing(f); why != "" {
				fmt.Fprintf(w, "            %s: %s\n", f, why)
			}
		}
	}
	for _, r := range all {
		if !r.Active() || r.Source != syscalls.Source {
			continue
		}
		what := "receives"
		if !r.Enabled {
			what = "disabled"
		}
		fmt.Fprintf(w, "  %-9s %s: %s\n", what, r.Name, detect.RuleNeedsOf(r))
	}
	for _, r := range partial {
		var notes []string
		if len(r.MissingEventTypes) > 0 {
			notes = append(notes, "event types not captured: "+strings.Join(r.MissingEventTypes, ", "))
		}
		if len(r.MissingOutputFields) > 0 {
			notes = append(notes, "output fields printed as <NA>: "+strings.Join(r.MissingOutputFields, ", "))
		}
		fmt.Fprintf(w, "  partial   %s: %s\n", r.Name, strings.Join(notes, "; "))
	}
}

func newRulesFieldsCmd() *cobra.Command {
	var onlyMissing bool
	cmd := &cobra.Command{
		Use:   "fields [flags]",
		Short: "list the syscall fields rules can use, and those mamori cannot provide",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runRulesFields(cmd.OutOrStdout(), onlyMissing) },
	}
	cmd.Flags().BoolVar(&onlyMissing, "missing", false, "list only the fields mamori knows but cannot provide")
	return cmd
}

func runRulesFields(stdout io.Writer, onlyMissing bool) error {
	cat := syscalls.New()
	fields := append([]rules.Field(nil), cat.Fields()...)
	sort.Slice(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name })
	for _, f := range fields {
		why := cat.Missing(f.Name)
		if onlyMissing && why == "" {
			continue
		}
		name := f.Name
		switch f.Arg {
		case rules.IndexArg:
			name += "[N]"
		case rules.KeyArg:
			name += "[KEY]"
		}
		fmt.Fprintf(stdout, "%-44s %-6s %s\n", name, f.Type, f.Desc)
	}
	if !onlyMissing {
		fmt.Fprintf(stdout, "\nevt.type values the sensor delivers: %s\n", strings.Join(cat.EventTypes(), ", "))
	}
	return nil
}

func newRulesBenchCmd() *cobra.Command {
	var ruleFiles listFlag
	var dur time.Duration
	cmd := &cobra.Command{
		Use:     "bench [flags] EVENTS",
		Aliases: []string{"replay"},
		Short:   "replay recorded events through the rules and measure their speed",
		Long: `bench (also named replay) replays events recorded with mamori agent
--events -o json --events-output FILE (EVENTS is that file, gzipped or not,
or - for standard input) through the rules, over and over for --duration on
one goroutine, and prints how fast they evaluate, how many events match,
and how much they allocate.`,
		Example: "  mamori rules bench --rules /etc/falco/falco_rules.yaml events.json",
		Args:    oneArg("name one file of recorded events (mamori agent --events -o json --events-output FILE), or -"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRulesBench(cmd, ruleFiles, dur, args[0])
		},
	}
	cmd.Flags().Var(&ruleFiles, "rules", "rules file (repeatable); \"builtin\" names mamori's own; default builtin")
	cmd.Flags().DurationVar(&dur, "duration", 3*time.Second, "how long to replay")
	return cmd
}

func runRulesBench(cmd *cobra.Command, ruleFiles []string, dur time.Duration, path string) error {
	stdout := cmd.OutOrStdout()
	rs, err := agentRules(stdout, cmd.InOrStdin(), ruleFiles, true)
	if err != nil {
		return err
	}
	if rs == nil {
		return usageError{"--rules none leaves nothing to measure"}
	}
	var evs []event.Event
	if path == "-" {
		evs, err = detect.DecodeEvents(auditlog.StdinName, cmd.InOrStdin())
	} else {
		evs, err = detect.ReadEvents(path)
	}
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return fmt.Errorf("%s holds no events", path)
	}
	r := detect.Bench(rs, evs, dur)
	active := 0
	for _, rule := range rs.Rules() {
		if rule.Enabled && rule.Active() {
			active++
		}
	}
	fmt.Fprintf(stdout, "events:     %d recorded, replayed %d times (%d evaluations) on one goroutine\n", len(evs), r.Rounds, r.Evaluations)
	fmt.Fprintf(stdout, "rules:      %d enabled and active\n", active)
	fmt.Fprintf(stdout, "speed:      %.0f events/s (%.1f ns/event)\n", r.PerSecond(), r.NsPerEvent())
	fmt.Fprintf(stdout, "matches:    %d events of %d matched a rule\n", r.Matched/r.Rounds, len(evs))
	fmt.Fprintf(stdout, "allocs:     %.3f per event overall, %.3f per non-matching event\n", r.AllocsPerEvent(), r.NoMatchAllocs)
	return nil
}
