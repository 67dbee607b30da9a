package sigma

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/mamori-dev/mamori/audit/cloudtrail"
	"github.com/mamori-dev/mamori/audit/k8saudit"
	"github.com/mamori-dev/mamori/rules"
)

// pantherLogs are the "log" objects of Panther's labelled test events, as
// JSON lines.
func pantherLogs(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var v struct{ Log json.RawMessage }
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil || len(v.Log) == 0 {
			continue
		}
		out = append(append(out, v.Log...), '\n')
	}
	return out
}

// checkMapping checks, on real events, that each field the log source
// maps a Sigma field to reads what the JSON pointer reads (a JSON null
// counting as no value), and that each list field holds the array's
// elements.
func checkMapping(t *testing.T, ls *logSource, cat rules.Catalog, events []any) {
	t.Helper()
	fields := map[string]rules.Field{}
	for _, f := range cat.Fields() {
		fields[f.Name] = f
	}
	rt := &ruleTranslator{ls: ls, fields: fields}
	json := fields[ls.json+".value"]
	compared := map[string]int{}
	check := func(sigma string, fn func(ptr string, ok bool, evt any)) {
		f, p := ls.field(sigma)
		if p != nil {
			t.Fatalf("%s: %v", sigma, p)
		}
		arg := rules.Arg{Key: f.pointer[len(ls.json)+len(".value[") : len(f.pointer)-1], Set: true}
		for _, evt := range events {
			v, ok := json.ExtractString(evt, arg)
			if ok && v != "null" {
				compared[sigma]++
			}
			fn(v, ok && v != "null", evt)
		}
	}
	for sigma, name := range ls.exact {
		f := fields[name]
		if !rt.provided(name) || f.Type != rules.TypeString {
			t.Errorf("%s maps to %s, which the %s catalogue does not provide as a string", sigma, name, cat.Source())
			continue
		}
		check(sigma, func(ptr string, ok bool, evt any) {
			v, vok := f.ExtractString(evt, rules.Arg{})
			if vok != ok || ok && v != ptr {
				t.Errorf("%s: %s reads %q (%v), the pointer %q (%v)", sigma, name, v, vok, ptr, ok)
			}
		})
	}
	for sigma, name := range ls.lists {
		f := fields[name]
		if !rt.provided(name) || f.Type != rules.TypeStringList {
			t.Errorf("%s maps to %s, which the %s catalogue does not provide as a list", sigma, name, cat.Source())
			continue
		}
		check(sigma, func(ptr string, ok bool, evt any) {
			l, lok := f.ExtractStrings(evt, rules.Arg{})
			var elems []any
			if ok && jsonUnmarshal(ptr, &elems) != nil {
				ok = false // not an array: no list
			}
			if lok != ok || len(l) != len(elems) {
				t.Errorf("%s: %s reads %q (%v), the pointer %s (%v)", sigma, name, l, lok, ptr, ok)
			}
		})
	}
	for _, name := range []string{"eventName", "verb", "user.groups"} {
		_, exact := ls.exact[name]
		_, list := ls.lists[name]
		if (exact || list) && compared[name] == 0 {
			t.Errorf("%s: no event has it: the check compared nothing", name)
		}
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func TestCloudTrailMapping(t *testing.T) {
	dir := corpora(t, "cloudtrail")
	var evts []any
	var rd cloudtrail.Reader
	add := func(r *cloudtrail.Record) { evts = append(evts, r) }
	for _, d := range []string{"stratus-red-team", "otrf-security-datasets", "zmallen-cloudtrail2sightings"} {
		rd.ReadPaths([]string{filepath.Join(dir, d)}, add, func(*cloudtrail.Error) {})
	}
	rd.Parse("panther", pantherLogs(t, filepath.Join(dir, "panther-analysis-tests", "cloudtrail_rule_test_events.jsonl")), add, func(*cloudtrail.Error) {})
	if len(evts) < 500 {
		t.Fatalf("only %d records read", len(evts))
	}
	checkMapping(t, cloudTrail(), cloudtrail.NewCatalog(), evts)
}

func TestKubernetesMapping(t *testing.T) {
	dir := corpora(t, "k8saudit")
	var evts []any
	var rd k8saudit.Reader
	add := func(e *k8saudit.Event) { evts = append(evts, e) }
	rd.ReadPaths([]string{filepath.Join(dir, "falco-test-trace-files", "trace_files")}, add, func(*k8saudit.Error) {})
	rd.Parse("panther", pantherLogs(t, filepath.Join(dir, "panther-analysis-tests", "eks_k8s_audit_rule_test_events.jsonl")), add, func(*k8saudit.Error) {})
	if len(evts) < 100 {
		t.Fatalf("only %d events read", len(evts))
	}
	checkMapping(t, kubernetesAudit(), k8saudit.NewCatalog(), evts)
}
