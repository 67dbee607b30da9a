package sigma

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/mamori-dev/mamori/rules"
)

// checkTranslation asserts what Translate promises: the file it returns
// loads, with every rule it names and no other, all able to run.
func checkTranslation(t *testing.T, data []byte) {
	tr := NewTranslator(Config{Catalogs: catalogs()}).Translate(rules.File{Name: "fuzz.yml", Data: data})
	rs, err := rules.Load(rules.Config{Catalogs: catalogs()}, tr.File)
	if err != nil {
		t.Fatalf("translation does not load: %v\n%s", err, tr.File.Data)
	}
	if len(rs.Rules()) != len(tr.Rules) {
		t.Fatalf("%d rules loaded, %d translated", len(rs.Rules()), len(tr.Rules))
	}
	for _, name := range tr.Rules {
		r := rs.Rule(name)
		if r == nil || !r.Active() {
			t.Fatalf("rule %q missing or inactive", name)
		}
	}
	for _, u := range tr.Untranslated {
		if u.Reason == ReasonEngine {
			t.Fatalf("the engine refused a translation: %v", u)
		}
		if u.Reason == "" || u.Detail == "" {
			t.Fatalf("report without a reason: %+v", u)
		}
	}
}

// FuzzTranslate feeds any text to the translator: it must not panic, and
// what it returns must load or be reported.
func FuzzTranslate(f *testing.F) {
	for _, c := range constructCases {
		f.Add([]byte(sigmaDoc("aws", "cloudtrail", c.detection)))
	}
	f.Add([]byte("action: global\ntitle: x\n---\nlogsource: {product: aws, service: cloudtrail}\ndetection: {a: {eventName: x}, condition: a}\n"))
	f.Add([]byte("title: a\nlogsource: &l {product: kubernetes, service: audit}\ndetection:\n  s: &s {verb: get}\n  t: *s\n  condition: s and t\n"))
	_, file, _, _ := callerFile()
	if dirs, err := filepath.Glob(filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "corpora", "sigma", "*", "*.yml")); err == nil {
		for _, p := range dirs {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkTranslation(t, data)
	})
}

// FuzzSelection builds well-formed Sigma rules from a field with
// modifiers, two values and a condition, which reaches the value and
// condition translation far more often than random text does.
func FuzzSelection(f *testing.F) {
	f.Add("eventName", "StopLogging", "Delete*", "sel")
	f.Add("userAgent|contains|all", `a\*b?`, "c", "sel and not 1 of f*")
	f.Add("sourceIPAddress|cidr", "10.0.0.0/9", "192.168.0.0/16", "all of them")
	f.Add("requestParameters.x|base64offset|contains", "curl", "", "(sel)")
	f.Add("userIdentity.arn|re|i", "^arn:(?:x)", "[", "sel or filter")
	f.Add("requestParameters.c|windash|contains", "-a -b /c -d", "", "sel")
	f.Add("userIdentity.arn|fieldref|startswith", "requestParameters.userName", "eventName", "sel")
	f.Add("errorCode", "", "*", "not not sel")
	f.Fuzz(func(t *testing.T, key, v1, v2, cond string) {
		for _, ls := range []string{"cloudtrail", "audit"} {
			product := map[string]string{"cloudtrail": "aws", "audit": "kubernetes"}[ls]
			doc := map[string]any{
				"title":     "fuzz",
				"logsource": map[string]string{"product": product, "service": ls},
				"detection": map[string]any{
					"sel":       map[string]any{key: []string{v1, v2}},
					"filter":    map[string]any{key: v1},
					"condition": cond,
				},
			}
			b, err := yaml.Marshal(doc)
			if err != nil {
				t.Skip()
			}
			checkTranslation(t, b)
		}
	})
}
