package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/audit/cloudtrail"
	"github.com/mamori-dev/mamori/audit/k8saudit"
	"github.com/mamori-dev/mamori/detect"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
	"github.com/mamori-dev/mamori/rules/sigma"
	"github.com/mamori-dev/mamori/rules/syscalls"
)

func runRules(args []string, stdout, stderr io.Writer) error {
	return dispatch(args, stdout, rulesHelp,
		subcommand{"validate", func(a []string) error { return runRulesValidate(a, stdout) }},
		subcommand{"fields", func(a []string) error { return runRulesFields(a, stdout) }},
		subcommand{"bench", func(a []string) error { return runRulesBench(a, stdout) }},
	)
}

const rulesHelp = `Usage:
  mamori rules validate [--warnings] FILE...   load Falco rules files and report what runs
  mamori rules fields [--missing]              list the syscall fields rules can use
  mamori rules bench [--rules FILE]... EVENTS  replay recorded events through the rules

validate loads the files in order, as the agent would (later files append
to and override earlier ones), and prints, per file, its rules, macros and
lists, and every rule that cannot run on mamori's sensor with the fields or
event types it lacks. It exits 1 if a file does not load.
`

// loadRules loads rules files against the syscall catalogue.
func loadRules(files []rules.File) (*rules.Ruleset, *syscalls.Catalog, error) {
	cat := syscalls.New()
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{cat, cloudtrail.NewCatalog(), k8saudit.NewCatalog()}}, files...)
	return rs, cat, err
}

func runRulesValidate(args []string, stdout io.Writer) error {
	fs := newFlagSet("rules validate")
	warnings := fs.Bool("warnings", false, "also print the loader's warnings (unused macros and lists, deprecated forms)")
	overrides := fs.Bool("runtime-overrides", true, "load mamori's runtime overrides after the files, as the agent does")
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err, rulesHelp)
	}
	if fs.NArg() == 0 {
		return usageError{"name at least one rules file"}
	}
	files, untranslated, err := sigma.ReadFiles(sigma.Config{Catalogs: []rules.Catalog{cloudtrail.NewCatalog(), k8saudit.NewCatalog()}}, fs.Args()...)
	if err != nil {
		return err
	}
	for _, u := range untranslated {
		fmt.Fprintln(stdout, u)
	}
	if *overrides {
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
	if *warnings {
		for _, w := range rs.Warnings() {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
	}
	return nil
}

// loadError lists every problem of a failed load, one per line.
func loadError(err error) error {
	var msgs []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			msgs = append(msgs, e.Error())
		}
	} else {
		msgs = append(msgs, err.Error())
	}
	return errors.New("rules do not load:\n  " + strings.Join(msgs, "\n  "))
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

func runRulesFields(args []string, stdout io.Writer) error {
	fs := newFlagSet("rules fields")
	onlyMissing := fs.Bool("missing", false, "list only the fields mamori knows but cannot provide")
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err, rulesHelp)
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	cat := syscalls.New()
	fields := append([]rules.Field(nil), cat.Fields()...)
	sort.Slice(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name })
	for _, f := range fields {
		why := cat.Missing(f.Name)
		if *onlyMissing && why == "" {
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
	if !*onlyMissing {
		fmt.Fprintf(stdout, "\nevt.type values the sensor delivers: %s\n", strings.Join(cat.EventTypes(), ", "))
	}
	return nil
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// flagError turns a parse error into help or a usage error, as parseFlags.
func flagError(fs *flag.FlagSet, err error, help string) error {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(os.Stdout, help)
		fmt.Fprintln(os.Stdout, "\nFlags:")
		fs.SetOutput(os.Stdout)
		fs.PrintDefaults()
		return err
	}
	return usageError{err.Error()}
}

func runRulesBench(args []string, stdout io.Writer) error {
	fs := newFlagSet("rules bench")
	var ruleFiles listFlag
	fs.Var(&ruleFiles, "rules", "rules file (repeatable); \"builtin\" names mamori's own; default builtin")
	dur := fs.Duration("duration", 3*time.Second, "how long to replay")
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err, rulesHelp)
	}
	if fs.NArg() != 1 {
		return usageError{"name one file of recorded events (mamori agent --events --format json --output FILE)"}
	}
	rs, err := agentRules(stdout, ruleFiles, true)
	if err != nil {
		return err
	}
	if rs == nil {
		return usageError{"--rules none leaves nothing to measure"}
	}
	evs, err := detect.ReadEvents(fs.Arg(0))
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return fmt.Errorf("%s holds no events", fs.Arg(0))
	}
	r := detect.Bench(rs, evs, *dur)
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
