package cloudtrail

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// benignSet is a body of records with no attack in it, read through one
// Detector in order.
type benignSet struct {
	name    string
	records []*Record
}

// benignSets are the benign parts of the corpora: OTRF's user browsing the
// console (its records before the stolen session's first call), the events
// Panther labelled as not matching its rules, and the benign counterparts
// of the Stratus detonations.
func benignSets(t *testing.T) []benignSet {
	t.Helper()
	var sets []benignSet
	var rd Reader

	var otrf []*Record
	rd.ReadPaths([]string{corpora(t, "cloudtrail", "otrf-security-datasets")}, func(r *Record) {
		if ua, _ := r.str("userAgent"); !strings.Contains(ua, "aws-cli/1.18.136") {
			otrf = append(otrf, r)
		}
	}, func(e *Error) { t.Error(e) })
	sets = append(sets, benignSet{"OTRF: the console user and the instance role (attacker's session left out)", otrf})

	var panther []*Record
	for _, tc := range pantherCases(t) {
		if tc.Expected {
			continue
		}
		rd.Parse(tc.RuleID, tc.Log, func(r *Record) { panther = append(panther, r) }, func(e *Error) { t.Error(e) })
	}
	sets = append(sets, benignSet{"Panther: events labelled not matching", panther})

	var counter []*Record
	files, _ := filepath.Glob(filepath.Join(corpora(t, "cloudtrail", "stratus-red-team"), "*.json"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var recs []map[string]any
		json.Unmarshal(data, &recs)
		var kept []map[string]any
	records:
		for _, rec := range recs {
			for _, e := range benign[filepath.Base(f)] {
				if !e(rec) {
					continue records
				}
			}
			kept = append(kept, rec)
		}
		text, _ := json.Marshal(kept)
		rd.Parse(filepath.Base(f), text, func(r *Record) { counter = append(counter, r) }, func(e *Error) { t.Error(e) })
	}
	sets = append(sets, benignSet{"Stratus: benign counterparts", counter})
	return sets
}

// noiseRulesets are the rule sets measured: the built-in rules alone (what
// a scan runs by default), and with Falco's upstream file and every Sigma
// rule that translates.
func noiseRulesets(t *testing.T) []struct {
	name string
	rs   *rules.Ruleset
} {
	return []struct {
		name string
		rs   *rules.Ruleset
	}{{"built-in", loadMamori(t)}, {"built-in + Falco + Sigma", allRules(t)}}
}

// TestMamoriRulesNoise measures the alerts per 1,000 records the rules
// raise on the benign corpora, rule_matching first as a scan runs by
// default; docs/rules.md records the table. The built-in rules raise
// none on OTRF and the Stratus counterparts. Panther's negatives are
// negatives of one Panther rule each, not benign events: a console
// sign-in without MFA labelled false for a brute-force rule is still one;
// the built-in rules' alerts there are each accounted for, event by
// event, by TestMamoriRulesOnPanther.
func TestMamoriRulesNoise(t *testing.T) {
	want := map[string]int{ // alerts per set, built-in rules
		"OTRF: the console user and the instance role (attacker's session left out)": 0,
		"Panther: events labelled not matching":                                      20,
		"Stratus: benign counterparts":                                               0,
	}
	var b strings.Builder
	fmt.Fprintln(&b, "| records | rules | alerts | per 1,000 records | rules raised |")
	fmt.Fprintln(&b, "|---|---|---|---|---|")
	for _, set := range benignSets(t) {
		for _, rset := range noiseRulesets(t) {
			d := NewDetector(rset.rs, DetectorConfig{})
			by := map[string]int{}
			n := 0
			for _, r := range set.records {
				d.Detect(newRecord(r.JSON()), func(a *event.Alert) { by[a.Rule]++; n++ })
			}
			var names []string
			for r, c := range by {
				names = append(names, fmt.Sprintf("%s %d", r, c))
			}
			sort.Strings(names)
			fmt.Fprintf(&b, "| %s (%d) | %s | %d | %.1f | %s |\n", set.name, len(set.records), rset.name, n,
				1000*float64(n)/float64(len(set.records)), strings.Join(names, ", "))
			if rset.name == "built-in" && n != want[set.name] {
				t.Errorf("%s: %d alerts from the built-in rules, want %d: %v", set.name, n, want[set.name], names)
			}
		}
	}
	t.Logf("alerts on the benign corpora:\n%s", b.String())
}
