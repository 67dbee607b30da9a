package sigma

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/audit/cloudtrail"
	"github.com/mamori-dev/mamori/rules"
)

// TestReported checks that what a Falco rule cannot express is reported,
// with its class, rather than translated into something else.
func TestReported(t *testing.T) {
	ct := func(detection string) string { return sigmaDoc("aws", "cloudtrail", detection) }
	cases := []struct {
		name, text string
		reason     Reason
		detail     string // a part of the message
	}{
		{"keyword list", ct("keywords:\n  - mimikatz\n  - evil\ncondition: keywords"), ReasonKeywords, `"keywords"`},
		{"keyword string", ct("kw: mimikatz\ncondition: kw"), ReasonKeywords, "mimikatz"},
		{"keyword with a modifier", ct("kw:\n  '|contains': evil\ncondition: kw"), ReasonKeywords, "whole event"},
		{"count below", ct("sel:\n  eventName: X\ncondition: sel | count() by sourceIPAddress < 5"), ReasonAggregation, "only a lower bound"},
		{"count exactly", ct("sel:\n  eventName: X\ncondition: sel | count() = 5"), ReasonAggregation, "only a lower bound"},
		{"other aggregation", ct("sel:\n  eventName: X\ncondition: sel | max(requestParameters.maxResults) > 5"), ReasonAggregation, "count() with > or >="},
		{"near and not", ct("a:\n  eventName: X\nb:\n  eventName: Y\nc:\n  eventName: Z\ncondition: a | near b and not c"), ReasonAggregation, "must not come near"},
		{"count by unknown field", ct("sel:\n  eventName: X\ncondition: sel | count() by src_country > 5"), ReasonField, `"src_country"`},
		{"bad timeframe", ct("a:\n  eventName: X\nb:\n  eventName: Y\ntimeframe: 5 minutes\ncondition: a and b"), ReasonInvalid, "timeframe"},
		{"correlation of an unknown rule", "title: Many failures\ncorrelation:\n  type: event_count\n  rules: [x]\n  timespan: 5m\n  condition:\n    gte: 3\n", ReasonCorrelation, `rule "x"`},
		{"unknown field", ct("sel:\n  src_country: RU\ncondition: sel"), ReasonField, `"src_country"`},
		{"placeholder", ct("sel:\n  sourceIPAddress|expand: '%admin_ips%'\ncondition: sel"), ReasonPlaceholder, "expand"},
		{"unknown modifier", ct("sel:\n  eventName|sortof: X\ncondition: sel"), ReasonInvalid, `"sortof"`},
		{"time part", ct("sel:\n  eventTime|hour: 3\ncondition: sel"), ReasonModifier, "hour"},
		{"lookahead", ct("sel:\n  userAgent|re: 'aws(?!-cli)'\ncondition: sel"), ReasonRegex, "RE2"},
		{"IPv6 network", ct("sel:\n  sourceIPAddress|cidr: '2001:db8::/32'\ncondition: sel"), ReasonModifier, "IPv6"},
		{"utf16 alone", ct("sel:\n  userAgent|wide: x\ncondition: sel"), ReasonModifier, "base64"},
		{"gt on text", ct("sel:\n  requestParameters.maxResults|gt: 5\ncondition: sel"), ReasonModifier, "byte order"},
		{"wildcard on a list field", sigmaDoc("kubernetes", "audit", "sel:\n  user.groups: 'system:*'\ncondition: sel"), ReasonModifier, "list"},
		{"undefined detection", ct("sel:\n  eventName: X\ncondition: sel and filter"), ReasonInvalid, `"filter"`},
		{"pattern matching nothing", ct("sel:\n  eventName: X\ncondition: 1 of filter_*"), ReasonInvalid, "no detection"},
		{"2 of", ct("a:\n  eventName: X\ncondition: 2 of a"), ReasonInvalid, "only 1 of"},
		{"unbalanced", ct("a:\n  eventName: X\ncondition: (a"), ReasonInvalid, `")"`},
		{"trailing word", ct("a:\n  eventName: X\ncondition: a a"), ReasonInvalid, "unexpected"},
		{"no condition", ct("a:\n  eventName: X"), ReasonInvalid, "no condition"},
		{"empty selection", ct("a:\ncondition: a"), ReasonInvalid, "empty"},
		{"value is a mapping", ct("a:\n  eventName:\n    x: y\ncondition: a"), ReasonInvalid, "mapping"},
		{"unknown level", strings.Replace(ct("a:\n  eventName: X\ncondition: a"), "level: high", "level: severe", 1), ReasonInvalid, "severe"},
		{"no title", "logsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  a:\n    eventName: X\n  condition: a\n", ReasonInvalid, "title"},
		{"other log source", sigmaDoc("windows", "security", "a:\n  EventID: 4624\ncondition: a"), ReasonLogsource, `"windows"`},
		{"not YAML", "title: x\ndetection: [\n", ReasonInvalid, "YAML"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, _ := translateOne(t, c.text)
			if len(tr.Rules) != 0 || len(tr.Untranslated) != 1 {
				t.Fatalf("translated %v, reported %v\n%s", tr.Rules, tr.Untranslated, tr.File.Data)
			}
			u := tr.Untranslated[0]
			if u.Reason != c.reason || !strings.Contains(u.Detail, c.detail) {
				t.Errorf("reported %s: %s; want %s mentioning %s", u.Reason, u.Detail, c.reason, c.detail)
			}
			if u.File != "test.yml" || u.Doc != 1 {
				t.Errorf("reported at %s document %d", u.File, u.Doc)
			}
		})
	}
}

// TestUnloadedSource reports a Sigma rule whose events the caller does not
// evaluate: kubernetes/audit when only CloudTrail is scanned.
func TestUnloadedSource(t *testing.T) {
	tr := NewTranslator(Config{Catalogs: []rules.Catalog{cloudtrail.NewCatalog()}}).Translate(rules.File{Name: "k.yml",
		Data: []byte(sigmaDoc("kubernetes", "audit", "a:\n  verb: create\ncondition: a"))})
	if len(tr.Untranslated) != 1 || tr.Untranslated[0].Reason != ReasonLogsource {
		t.Fatalf("got %v", tr.Untranslated)
	}
	want := `k.yml: Sigma rule "Test rule" not translated (logsource): logsource kubernetes/audit: its events (Falco source k8s_audit) are not evaluated here`
	if got := tr.Untranslated[0].String(); got != want {
		t.Errorf("report line\n got %s\nwant %s", got, want)
	}
}

// TestCollection applies a rule collection's global document to the rules
// after it, and reports each rule of a file on its own.
func TestCollection(t *testing.T) {
	tr, rs := translateOne(t, `action: global
title: Trail tampering
logsource:
  product: aws
  service: cloudtrail
detection:
  src:
    eventSource: cloudtrail.amazonaws.com
  condition: src and sel
---
id: one
detection:
  sel:
    eventName: StopLogging
---
title: Trail tampering
id: two
detection:
  sel:
    eventName: DeleteTrail
---
title: Keyword rule
detection:
  sel:
    - evil
---
action: reset
---
title: Without the global part
logsource:
  product: aws
  service: cloudtrail
detection:
  sel:
    eventName: DeleteTrail
  condition: sel
`)
	if got, want := strings.Join(tr.Rules, "|"), "Trail tampering|Trail tampering [two]|Without the global part"; got != want {
		t.Errorf("rules %s, want %s", got, want)
	}
	if len(tr.Untranslated) != 1 || tr.Untranslated[0].Doc != 4 || tr.Untranslated[0].Reason != ReasonKeywords {
		t.Errorf("reported %v", tr.Untranslated)
	}
	if got := rs.Rule("Trail tampering [two]").Condition; got != `ct.src iglob "cloudtrail.amazonaws.com" and ct.name iglob "DeleteTrail"` {
		t.Errorf("merged condition %s", got)
	}
	if got := rs.Rule("Without the global part").Condition; got != `ct.name iglob "DeleteTrail"` {
		t.Errorf("condition after reset %s", got)
	}
}

// TestReadFiles reads a Falco rules file unchanged, a Sigma file
// translated, and a directory of Sigma rules, in order.
func TestReadFiles(t *testing.T) {
	dir := t.TempDir()
	falco := filepath.Join(dir, "falco.yaml")
	write := func(name, text string) {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(falco, "- rule: Falco rule\n  desc: d\n  condition: ct.name = X\n  output: o\n  priority: Notice\n  source: aws_cloudtrail\n")
	write(filepath.Join(dir, "sigma", "b.yml"), sigmaDoc("aws", "cloudtrail", "sel:\n  eventName: B\ncondition: sel"))
	write(filepath.Join(dir, "sigma", "a", "a.yaml"), sigmaDoc("aws", "cloudtrail", "sel:\n  - kw\ncondition: sel"))
	write(filepath.Join(dir, "sigma", "notes.txt"), "not a rule")
	files, report, err := ReadFiles(Config{Catalogs: catalogs()}, falco, filepath.Join(dir, "sigma"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimPrefix(f.Name, dir))
	}
	if got, want := strings.Join(names, " "), "/falco.yaml /sigma/a/a.yaml /sigma/b.yml"; got != want {
		t.Errorf("files %s, want %s", got, want)
	}
	if len(report) != 1 || report[0].Reason != ReasonKeywords {
		t.Errorf("report %v", report)
	}
	rs, err := rules.Load(rules.Config{Catalogs: catalogs()}, files...)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Rule("Falco rule") == nil || rs.Rule("Test rule") == nil || len(rs.Rules()) != 2 {
		t.Errorf("loaded %d rules", len(rs.Rules()))
	}
	if _, _, err := ReadFiles(Config{}, filepath.Join(dir, "missing.yml")); err == nil {
		t.Error("a missing file is no error")
	}
}

func TestIsSigma(t *testing.T) {
	for text, want := range map[string]bool{
		sigmaDoc("aws", "cloudtrail", "a:\n  eventName: X\ncondition: a"): true,
		"action: global\ntitle: x\n":                                      true,
		"- rule: x\n  condition: y\n":                                     false,
		"- required_engine_version: 10\n":                                 false,
		"":                                                                false,
		"title: [\n":                                                      false,
		"# only a comment\n":                                              false,
		"---\ntitle: x\nlogsource: {product: aws}\n":                      true,
	} {
		if got := IsSigma([]byte(text)); got != want {
			t.Errorf("IsSigma(%q) = %v", text, got)
		}
	}
}
