package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/audit/cloudtrail"
	"github.com/mamori-dev/mamori/audit/k8saudit"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/sigma"
	"github.com/mamori-dev/mamori/rules/syscalls"
)

// checkRuleSources refuses a --rules argument that adds nothing to a scan
// of source: a file whose rules are all of other sources (falco_rules.yaml
// given to a CloudTrail scan), or Sigma rules none of which translates to
// it. A file of macros and lists only (overrides) adds no rule and is
// fine. example names the upstream file that does hold such rules.
func checkRuleSources(args []string, files []rules.File, untranslated []sigma.Untranslated, rs *rules.Ruleset, source, example string) error {
	var problems []string
	for _, arg := range args {
		in := func(name string) bool {
			return name == arg || strings.HasPrefix(name, strings.TrimSuffix(arg, string(filepath.Separator))+string(filepath.Separator))
		}
		if !slices.ContainsFunc(files, func(f rules.File) bool { return in(f.Name) }) {
			continue
		}
		ours, others := 0, map[string]int{}
		for _, r := range rs.Rules() {
			if !in(r.Pos.File) {
				continue
			}
			if r.Source == source {
				ours++
			} else {
				others[r.Source]++
			}
		}
		if ours > 0 {
			continue
		}
		skipped := 0
		for _, u := range untranslated {
			if in(u.File) {
				skipped++
			}
		}
		switch {
		case len(others) > 0:
			var held []string
			for _, s := range slices.Sorted(maps.Keys(others)) {
				held = append(held, fmt.Sprintf("%d rules of source %s", others[s], s))
			}
			problems = append(problems, fmt.Sprintf("%s holds %s and none of source %s: this scan runs only %s rules (such as %s)",
				arg, strings.Join(held, ", "), source, source, example))
		case skipped > 0:
			problems = append(problems, fmt.Sprintf("%s: none of its Sigma rules translates to source %s (%d not translated, listed above)", arg, source, skipped))
		}
	}
	if len(problems) > 0 {
		return usageError{"--rules: " + strings.Join(problems, "; ")}
	}
	return nil
}

// loadRules loads rules files against the syscall catalogue.
func loadRules(files []rules.File) (*rules.Ruleset, *syscalls.Catalog, error) {
	cat := syscalls.New()
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{cat, cloudtrail.NewCatalog(), k8saudit.NewCatalog()}}, files...)
	return rs, cat, err
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

// reportCloudtrailRules says how many aws_cloudtrail rules run, and why
// those that cannot do not; with none to run a scan is pointless.
func reportCloudtrailRules(w io.Writer, rs *rules.Ruleset) error {
	return reportSourceRules(w, rs, cloudtrail.Source, " (rules need source: aws_cloudtrail)")
}

// reportSourceRules says how many rules of source run, and why those that
// cannot do not; with none to run there is nothing to do, and the error
// says so, with hint.
func reportSourceRules(w io.Writer, rs *rules.Ruleset, source, hint string) error {
	active, disabled, inactive := 0, 0, 0
	for _, r := range rs.Rules() {
		switch {
		case r.Source != source:
		case !r.Active():
			inactive++
			fmt.Fprintf(w, "inactive rule %q: %s\n", r.Name, r.Inactive)
		case !r.Enabled:
			disabled++
		default:
			active++
		}
	}
	fmt.Fprintf(w, "%s rules: %d active, %d disabled, %d inactive\n", source, active, disabled, inactive)
	if active == 0 {
		return fmt.Errorf("no enabled %s rule can run: check the --rules files%s", source, hint)
	}
	return nil
}
