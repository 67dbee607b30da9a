package cloudtrail

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/audit/auditlog"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
	"github.com/mamori-dev/mamori/rules/sigma"
)

// eagerOf is r read the way records were read before they were read
// lazily: decoded whole, every field answered from the decoded map.
func eagerOf(r *Record) *Record {
	return &Record{File: r.File, Index: r.Index, Line: r.Line, Num: r.Num, obj: auditlog.DecodedObject(r.JSON())}
}

// corpusRecords reads every CloudTrail record of the corpora: the Stratus
// Red Team detonations, OTRF's dataset, the Datadog export (its malformed
// file aside) and the events inside Panther's labelled tests.
func corpusRecords(t *testing.T) []*Record {
	t.Helper()
	var recs []*Record
	var rd Reader
	keep := func(r *Record) { recs = append(recs, r) }
	for _, dir := range []string{"stratus-red-team", "otrf-security-datasets", "zmallen-cloudtrail2sightings"} {
		rd.ReadPaths([]string{corpora(t, "cloudtrail", dir)}, keep, func(e *Error) {
			if !strings.Contains(e.File, "ec2-user-data") {
				t.Error(e)
			}
		})
	}
	for i, c := range pantherCases(t) {
		rd.Parse(fmt.Sprintf("panther:%d", i+1), c.Log, keep, func(e *Error) { t.Error(e) })
	}
	if len(recs) < 500 {
		t.Fatalf("only %d records in the corpora", len(recs))
	}
	return recs
}

// fieldValues reads every field of the catalogue from evt, in the given
// order, json.value with each pointer and ec2.imageids with an index.
func fieldValues(fields []rules.Field, evt any, pointers []string) map[string]string {
	out := map[string]string{}
	for _, f := range fields {
		switch {
		case f.Arg == rules.KeyArg:
			for _, p := range pointers {
				s, ok := f.ExtractString(evt, rules.Arg{Key: p, Set: true})
				out[f.Name+"["+p+"]"] = fmtValue(s, ok)
			}
		case f.Arg == rules.IndexArg:
			for i := range 2 {
				l, ok := f.ExtractStrings(evt, rules.Arg{Index: i, Set: true})
				out[fmt.Sprintf("%s[%d]", f.Name, i)] = fmtValue(strings.Join(l, "\x00"), ok)
			}
			fallthrough
		default:
			out[f.Name] = extract(f, evt)
		}
	}
	return out
}

// pointersOf lists an RFC 6901 pointer to every value of a record, two
// levels down and into the first element of arrays, plus some that lead
// nowhere.
func pointersOf(v any) []string {
	ps := []string{"", "/", "/nothing", "/eventName/x", "/resources/0/ARN", "/resources/01", "a"}
	var walk func(v any, prefix string, depth int)
	walk = func(v any, prefix string, depth int) {
		if depth == 0 {
			return
		}
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				p := prefix + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
				ps = append(ps, p)
				walk(x, p, depth-1)
			}
		case []any:
			if len(v) > 0 {
				ps = append(ps, prefix+"/0", prefix+"/"+fmt.Sprint(len(v)))
				walk(v[0], prefix+"/0", depth-1)
			}
		}
	}
	walk(v, "", 3)
	sort.Strings(ps)
	return ps
}

// TestLazyFieldsMatchDecoded reads every field of the catalogue on every
// record of the corpora twice, lazily (in catalogue order, and on a fresh
// record in reverse order, so that what one read indexes another relies
// on) and from the record decoded whole: the values must agree.
func TestLazyFieldsMatchDecoded(t *testing.T) {
	fields := NewCatalog().Fields()
	reversed := append([]rules.Field(nil), fields...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	n := 0
	for _, r := range corpusRecords(t) {
		pointers := pointersOf(eagerOf(r).Fields())
		want := fieldValues(fields, eagerOf(r), pointers)
		fresh := newRecord(r.JSON())
		fresh.Num = r.Num
		for _, got := range []map[string]string{fieldValues(fields, r, pointers), fieldValues(reversed, fresh, pointers)} {
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s record %d: %s = %q lazily, %q decoded", r.File, r.Index, k, got[k], w)
				}
			}
		}
		n += len(want)
	}
	t.Logf("%d field values compared", n)
}

// allRules loads the built-in rules, Falco's upstream file and every
// Sigma rule for CloudTrail that translates: all the rules a scan can run.
func allRules(t *testing.T) *rules.Ruleset {
	t.Helper()
	cats := []rules.Catalog{NewCatalog()}
	files, err := rules.ReadFiles(corpora(t, "falco", "aws_cloudtrail_rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sig, _, err := sigma.ReadFiles(sigma.Config{Catalogs: cats}, corpora(t, "sigma", "aws"))
	if err != nil {
		t.Fatal(err)
	}
	all := append(append([]rules.File{defaults.CloudTrailFile()}, files...), sig...)
	rs, err := rules.Load(rules.Config{Catalogs: cats}, all...)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestLazyAlertsMatchDecoded scans the corpora with every rule twice: as
// a Detector does (records read lazily, each shown only to the rules its
// event name can match) and with every rule evaluated on every record
// decoded whole. The alerts, their output and output fields must agree,
// for rule_matching all and first.
func TestLazyAlertsMatchDecoded(t *testing.T) {
	rs := allRules(t)
	recs := corpusRecords(t)
	for _, all := range []bool{true, false} {
		d := NewDetector(rs, DetectorConfig{All: all})
		state := newScanState()
		mem := rules.NewMemory()
		render := auditlog.NewDetector(rs, auditlog.DetectorConfig{Source: Source})
		alerts := 0
		for _, r := range recs {
			var got []string
			d.Detect(newRecord(r.JSON()), func(a *event.Alert) {
				of, _ := json.Marshal(a.OutputFields)
				got = append(got, a.Rule+" | "+a.Output[strings.IndexByte(a.Output, ' ')+1:]+" | "+string(of))
			})
			e := eagerOf(r)
			ev := &evaluation{rec: e, facts: state.observe(e)}
			// Every rule, in definition order, stateful ones asking a
			// Memory of their own: what the Detector's index must agree with.
			var want []string
			t0 := e.Time()
			for _, m := range rs.Rules() {
				if m.Source != Source || !m.Enabled || !m.Active() || !m.Eval(ev) {
					continue
				}
				agg, ok := mem.Admit(m, ev, t0)
				if !ok {
					continue
				}
				a := render.Alert(auditlog.Hit{Rule: m, Agg: agg}, ev, t0)
				of, _ := json.Marshal(a.OutputFields)
				want = append(want, a.Rule+" | "+a.Output[strings.IndexByte(a.Output, ' ')+1:]+" | "+string(of))
				if !all {
					break
				}
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s record %d (all %v): alerts\n%s\nwant\n%s", filepath.Base(r.File), r.Index, all, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			alerts += len(got)
		}
		if alerts < 50 {
			t.Errorf("all %v: only %d alerts on the corpora", all, alerts)
		}
		t.Logf("all %v: %d alerts agree", all, alerts)
	}
}

// TestDetectorCandidates: a rule is shown the records whose event name
// its condition can match, compared without regard to case (a negated
// exact name spares none: "a" is not "A"), and every rule the records
// without one.
func TestDetectorCandidates(t *testing.T) {
	const yaml = `
- macro: ok
  condition: not ct.error exists
- rule: a
  desc: d
  condition: ct.name = A and ok
  output: o
  priority: INFO
  source: aws_cloudtrail
- rule: ab
  desc: d
  condition: ct.name in (A, B) or (ct.name = C and ct.src = s)
  output: o
  priority: INFO
  source: aws_cloudtrail
- rule: notA
  desc: d
  condition: not ct.name = A and ok
  output: o
  priority: INFO
  source: aws_cloudtrail
- rule: src
  desc: d
  condition: ct.src = s
  output: o
  priority: INFO
  source: aws_cloudtrail
- rule: prefix
  desc: d
  condition: ct.name startswith Del or ct.name = B
  output: o
  priority: INFO
  source: aws_cloudtrail
- rule: notAB
  desc: d
  condition: not (ct.name != A and ct.name != B)
  output: o
  priority: INFO
  source: aws_cloudtrail
- rule: sigma
  desc: d
  condition: ct.name iglob "deletetrail" or ct.name iglob anyof ("StopLogging", "b")
  output: o
  priority: INFO
  source: aws_cloudtrail
- rule: notSigma
  desc: d
  condition: not ct.name iglob "Z" and not ct.name glob "C*"
  output: o
  priority: INFO
  source: aws_cloudtrail
`
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{NewCatalog()}}, rules.File{Name: "t.yaml", Data: []byte(yaml)})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDetector(rs, DetectorConfig{All: true})
	for _, tt := range []struct {
		name string
		has  bool
		want string
	}{
		{"A", true, "a ab notA src prefix notAB notSigma"},
		{"B", true, "ab notA src prefix notAB sigma notSigma"},
		{"C", true, "ab notA src prefix notSigma"},
		{"Z", true, "notA src prefix"},
		{"z", true, "notA src prefix"},
		{"DeleteTrail", true, "notA src prefix sigma notSigma"},
		{"stoplogging", true, "notA src prefix sigma notSigma"},
		{"", false, "a ab notA src prefix notAB sigma notSigma"},
	} {
		var got []string
		for _, r := range d.d.Candidates(tt.name, tt.has) {
			got = append(got, r.Name)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("candidates for %q (%v): %q, want %q", tt.name, tt.has, strings.Join(got, " "), tt.want)
		}
	}
}
