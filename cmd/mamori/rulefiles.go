package main

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/sigma"
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
