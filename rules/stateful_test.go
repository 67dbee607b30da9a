package rules

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// statefulCatalog is a source whose caller keeps a Memory.
type statefulCatalog struct{ *testCatalog }

func (statefulCatalog) StatefulRules() {}

func auditCatalog() statefulCatalog {
	return statefulCatalog{newTestCatalog("audit", []fieldSpec{
		{name: "ev.name", typ: TypeString, provided: true},
		{name: "ev.user", typ: TypeString, provided: true},
		{name: "ev.object", typ: TypeString, provided: true},
		{name: "ev.hidden", typ: TypeString},
	})}
}

func (c statefulCatalog) rec(name, user, object string) *testEvent {
	return c.event(map[string]any{"ev.name": name, "ev.user": user, "ev.object": object})
}

func loadStateful(t *testing.T, cat Catalog, stateful string) (*Ruleset, error) {
	t.Helper()
	return Load(Config{Catalogs: []Catalog{cat}}, File{Name: "s.yaml", Data: []byte(
		"- macro: reads\n  condition: ev.name in (Get, List)\n" +
			"- rule: r\n  desc: d\n  output: by %ev.user\n  priority: NOTICE\n  source: audit\n" +
			"  condition: reads or ev.name in (Put, Delete)\n  stateful:\n" + stateful)})
}

func TestStatefulLoadErrors(t *testing.T) {
	cat := auditCatalog()
	tests := []struct{ spec, want string }{
		{"    by: [ev.user]\n    count: 3\n", `s.yaml:10:5: rule "r": stateful: within is required`},
		{"    within: 10m\n", `rule "r": stateful: say what to count`},
		{"    within: 10m\n    count: 0\n", `s.yaml:11:12: rule "r": stateful: count: found "0", expected a whole number of at least 1`},
		{"    within: ten\n    count: 2\n", `s.yaml:10:13: rule "r": stateful: within: found "ten", expected a positive duration`},
		{"    within: 1m\n    count: 2\n    by: [ev.usr]\n", `unknown field "ev.usr" for source "audit"; did you mean "ev.user"?`},
		{"    within: 1m\n    count: 2\n    windw: 3\n", `s.yaml:12:5: rule "r": stateful: unknown key "windw", expected one of by, within, count, distinct, all_of, first_seen`},
		{"    first_seen: true\n    count: 2\n", `first_seen cannot be combined with count, distinct or all_of`},
		{"    within: 1m\n    all_of: [reads]\n", `all_of needs at least two conditions`},
		{"    within: 1m\n    all_of: [reads, ev.nam = Put]\n", `rule "r": stateful: all_of condition 2: `},
	}
	for _, tc := range tests {
		_, err := loadStateful(t, cat, tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("stateful:\n%s: got %v, want %q", tc.spec, err, tc.want)
		}
	}
	// Another source's evaluator keeps no memory: the rule is inactive.
	plain := newTestCatalog("audit", []fieldSpec{{name: "ev.name", typ: TypeString, provided: true}, {name: "ev.user", typ: TypeString, provided: true}})
	rs, err := loadStateful(t, plain, "    within: 1m\n    count: 2\n")
	if err != nil {
		t.Fatal(err)
	}
	if r := rs.Rule("r"); r.Active() || !strings.Contains(r.Inactive, "stateful rules are not evaluated") {
		t.Errorf("stateful rule of a source without memory: inactive %q", r.Inactive)
	}
	// A by field the caller does not provide makes the rule inactive.
	rs, err = loadStateful(t, cat, "    within: 1m\n    count: 2\n    by: ev.hidden\n")
	if err != nil {
		t.Fatal(err)
	}
	if r := rs.Rule("r"); r.Active() {
		t.Errorf("stateful rule grouping by a field not provided is active")
	}
}

// admit feeds the steps to a fresh memory (or mem) and returns which
// steps raised.
type admitStep struct {
	name, user, object string
	at                 time.Duration // after t0
}

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

func admitAll(t *testing.T, cat statefulCatalog, r *Rule, mem *Memory, steps []admitStep) []int {
	t.Helper()
	var fired []int
	for i, s := range steps {
		e := cat.rec(s.name, s.user, s.object)
		if !r.Eval(e) {
			continue
		}
		if _, ok := mem.Admit(r, e, t0.Add(s.at)); ok {
			fired = append(fired, i)
		}
	}
	return fired
}

func TestStatefulSemantics(t *testing.T) {
	cat := auditCatalog()
	m := time.Minute
	tests := []struct {
		name, spec string
		steps      []admitStep
		want       []int
	}{
		{"count by user within window", "    by: [ev.user]\n    within: 10m\n    count: 3\n", []admitStep{
			{"Get", "a", "x", 0}, {"Get", "b", "x", 1 * m}, {"Get", "a", "y", 2 * m},
			{"Nope", "a", "z", 3 * m}, // not matching the condition: not counted
			{"Get", "a", "z", 4 * m},  // a's third: fires
			{"Get", "a", "z", 5 * m},  // quiet for 10m after the alert
			{"Get", "a", "z", 6 * m}, {"Get", "a", "z", 7 * m},
			{"Get", "b", "x", 20 * m}, {"Get", "b", "x", 21 * m}, // b's first is out of the window
			{"Get", "a", "1", 15 * m}, {"Get", "a", "2", 16 * m}, {"Get", "a", "3", 17 * m}, // quiet over: fires again
		}, []int{4, 12}},
		{"records spread wider than the window never fire", "    within: 10m\n    count: 2\n", []admitStep{
			{"Get", "a", "x", 0}, {"Put", "a", "x", 11 * m}, {"Delete", "a", "x", 22 * m},
		}, nil},
		{"distinct objects", "    by: ev.user\n    within: 1h\n    count: 3\n    distinct: ev.object\n", []admitStep{
			{"Get", "a", "x", 0}, {"Get", "a", "x", 1 * m}, {"Get", "a", "y", 2 * m}, {"Get", "a", "y", 3 * m},
			{"Get", "a", "z", 4 * m},
		}, []int{4}},
		{"all_of in any order within the window", "    by: [ev.user]\n    within: 5m\n    all_of: [ev.name = Put, reads]\n", []admitStep{
			{"Put", "a", "", 0}, {"Get", "b", "", 1 * m}, {"Delete", "a", "", 2 * m},
			{"Get", "a", "", 10 * m}, // a's Put is too old
			{"Put", "a", "", 12 * m}, // fires
			{"Put", "b", "", 20 * m}, // b's Get too old
		}, []int{4}},
		{"first seen per user and object", "    by: [ev.user, ev.object]\n    first_seen: true\n", []admitStep{
			{"Get", "a", "x", 0}, {"Get", "a", "x", 1 * m}, {"Get", "a", "y", 2 * m}, {"Get", "b", "x", 3 * m}, {"Put", "a", "x", 1000 * m},
		}, []int{0, 2, 3}},
		{"first seen forgets after a quiet window", "    by: ev.user\n    first_seen: true\n    within: 1h\n", []admitStep{
			{"Get", "a", "", 0}, {"Get", "a", "", 50 * m}, {"Get", "a", "", 100 * m}, {"Get", "a", "", 161 * m},
		}, []int{0, 3}},
	}
	for _, tc := range tests {
		rs, err := loadStateful(t, cat, tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := admitAll(t, cat, rs.Rule("r"), NewMemory(), tc.steps)
		if !equalInts(got, tc.want) {
			t.Errorf("%s: fired at steps %v, want %v", tc.name, got, tc.want)
		}
		// The same steps with the memory saved and reloaded before each
		// step: a restart neither forgets nor repeats.
		var fired []int
		mem := NewMemory()
		for i, s := range tc.steps {
			data, err := json.Marshal(mem)
			if err != nil {
				t.Fatal(err)
			}
			mem = NewMemory()
			if err := json.Unmarshal(data, mem); err != nil {
				t.Fatalf("%s: %v\n%s", tc.name, err, data)
			}
			if got := admitAll(t, cat, rs.Rule("r"), mem, []admitStep{s}); len(got) > 0 {
				fired = append(fired, i)
			}
		}
		if !equalInts(fired, tc.want) {
			t.Errorf("%s, reloaded at every step: fired at steps %v, want %v", tc.name, fired, tc.want)
		}
	}
}

// TestStatefulSpecChange: a memory saved under one stateful key does not
// count for a changed one.
func TestStatefulSpecChange(t *testing.T) {
	cat := auditCatalog()
	rs2, _ := loadStateful(t, cat, "    within: 10m\n    count: 2\n")
	rs3, _ := loadStateful(t, cat, "    within: 10m\n    count: 3\n")
	mem := NewMemory()
	if _, ok := mem.Admit(rs2.Rule("r"), cat.rec("Get", "a", ""), t0); ok {
		t.Fatal("first of two fired")
	}
	if _, ok := mem.Admit(rs3.Rule("r"), cat.rec("Get", "a", ""), t0.Add(time.Second)); ok {
		t.Error("a count of 3 fired on its first record, counting one kept under a count of 2")
	}
	if _, err := json.Marshal(mem); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"version":9,"rules":{}}`), NewMemory()); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Errorf("a memory of another version: %v", err)
	}
}

// TestStatefulMemoryBound: past MaxGroups, the least recently seen groups
// are forgotten, not the new one.
func TestStatefulMemoryBound(t *testing.T) {
	cat := auditCatalog()
	rs, _ := loadStateful(t, cat, "    by: ev.user\n    first_seen: true\n")
	r := rs.Rule("r")
	mem := NewMemory()
	mem.MaxGroups = 10
	for i := 0; i < 25; i++ {
		mem.Admit(r, cat.rec("Get", string(rune('a'+i)), ""), t0.Add(time.Duration(i)*time.Second))
	}
	if n := len(mem.rules["r"].Groups); n > 10 {
		t.Errorf("%d groups kept, bound 10", n)
	}
	if _, ok := mem.Admit(r, cat.rec("Get", "y", ""), t0.Add(time.Hour)); ok {
		t.Error("a recent group was forgotten")
	}
	if _, ok := mem.Admit(r, cat.rec("Get", "a", ""), t0.Add(time.Hour)); !ok {
		t.Error("the oldest group is still remembered")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStatefulZeroTime: records without a time (zero) are counted, not
// lost to an overflow.
func TestStatefulZeroTime(t *testing.T) {
	cat := auditCatalog()
	rs, _ := loadStateful(t, cat, "    within: 1h\n    count: 1\n")
	mem := NewMemory()
	if _, ok := mem.Admit(rs.Rule("r"), cat.rec("Get", "a", ""), time.Time{}); !ok {
		t.Error("a record with no time did not raise a count of 1")
	}
	rs2, _ := loadStateful(t, cat, "    by: ev.user\n    within: 1h\n    count: 2\n")
	mem.Admit(rs2.Rule("r"), cat.rec("Get", "a", ""), time.Time{})
	if _, ok := mem.Admit(rs2.Rule("r"), cat.rec("Get", "a", ""), time.Time{}); !ok {
		t.Error("two records with no time did not raise a count of 2")
	}
}

// TestRenderIsFormatAndFields: Render, which an alert uses, gives what
// Format and OutputFields give, widths, missing values and lists included.
func TestRenderIsFormatAndFields(t *testing.T) {
	cat := unitCatalog()
	rs, err := Load(Config{Catalogs: []Catalog{cat}}, File{Name: "r.yaml", Data: []byte(
		"- rule: r\n  desc: d\n  priority: INFO\n  condition: proc.name exists\n" +
			"  output: \"%proc.name %5proc.pname %2proc.cmdline %absent.str %fd.num %evt.is_open_write %proc.argv %json.value[/a/b] %toupper(proc.name) %proc.name\"\n")})
	if err != nil {
		t.Fatal(err)
	}
	r := rs.Rule("r")
	evt := unitEvent(cat)
	text, fields := r.Render(evt)
	if want := r.Format(evt); text != want {
		t.Errorf("Render text %q, Format %q", text, want)
	}
	if got, want := fmt.Sprint(fields), fmt.Sprint(r.OutputFields(evt)); got != want {
		t.Errorf("Render fields %s, OutputFields %s", got, want)
	}
	if !strings.Contains(text, "bash ") || !strings.Contains(text, "<NA>") {
		t.Errorf("text %q", text)
	}
}

// FuzzStateful loads arbitrary rules files for a source whose caller keeps
// a Memory: a load may fail, but a loaded stateful rule must admit records
// and its memory survive a JSON round trip without panicking.
func FuzzStateful(f *testing.F) {
	head := "- rule: r\n  desc: d\n  output: o %ev.user\n  priority: INFO\n  source: audit\n  condition: ev.name exists\n  stateful:\n"
	for _, s := range []string{
		"    by: [ev.user]\n    within: 10m\n    count: 3\n",
		"    by: ev.user\n    within: 1h\n    count: 2\n    distinct: ev.object\n",
		"    within: 5m\n    all_of: [ev.name = Get, ev.name = Put]\n",
		"    by: [ev.user, ev.object]\n    first_seen: true\n    within: 2d\n",
		"    within: 0s\n    count: 1\n",
	} {
		f.Add(head+s, "Get", "a", "x", int64(60))
	}
	cat := auditCatalog()
	f.Fuzz(func(t *testing.T, rules, name, user, object string, step int64) {
		rs, err := Load(Config{Catalogs: []Catalog{cat}}, File{Name: "fuzz.yaml", Data: []byte(rules)})
		if err != nil {
			return
		}
		mem := NewMemory()
		mem.MaxGroups = 4
		for _, r := range rs.Rules() {
			if !r.Active() {
				continue
			}
			for i := range 6 {
				e := cat.rec(name, user+string(rune('a'+i%3)), object)
				if r.Eval(e) {
					mem.Admit(r, e, t0.Add(time.Duration(step*int64(i))*time.Second))
				}
			}
		}
		data, err := json.Marshal(mem)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, NewMemory()); err != nil {
			t.Fatalf("%v\n%s", err, data)
		}
	})
}
