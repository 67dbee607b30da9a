package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebFeedTimings measures, in Chromium, the feed's first paint and its
// filter changes over 100,000 stored alerts (docs/benchmarks.md has the
// figures). It is a measurement, not a test: it asserts no timing, and
// runs only with MAMORI_WEB_BENCH=1:
//
//	MAMORI_WEB_BENCH=1 go test -count=1 -run TestWebFeedTimings -v ./cmd/mamori/
func TestWebFeedTimings(t *testing.T) {
	if os.Getenv("MAMORI_WEB_BENCH") != "1" {
		t.Skip("a measurement: MAMORI_WEB_BENCH=1 runs it")
	}
	n := 100000
	dir := t.TempDir()
	conDir := filepath.Join(dir, "console")
	os.MkdirAll(conDir, 0o700)
	// consolebench's alerts: 200 rules, 400 containers in 10 namespaces,
	// 50 nodes, 7 days, each with its process and an ancestor.
	load := exec.Command("go", "run", "../../bench/consolebench", "load", "-store", filepath.Join(conDir, "console.db"), "-n", fmt.Sprint(n))
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("consolebench load: %v\n%s", err, out)
	} else {
		t.Logf("%s", strings.TrimSpace(string(out)))
	}
	con := startConsole(t, conDir, freeAddr(t), freeAddr(t))
	b := startBrowser(t, 1280, 800)
	b.run(t, "open the login page", chromedp.Navigate(con.apiURL+"/login"))
	b.login(t, con.token)

	// First paint: from the start of the navigation to the feed's rows
	// drawn (the page marks the moment), and the browser's own first
	// contentful paint.
	var rows, fcps []float64
	for i := range 10 {
		b.run(t, "open the feed", chromedp.Navigate(con.apiURL+"/feed"))
		b.waitFor(t, "the feed", `window.__mamoriFeed && window.__mamoriFeed.key === ''`, 10*time.Second)
		r := eval[float64](t, b, `window.__mamoriFeed.renderedAt`)
		f := eval[float64](t, b, `(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || 0`)
		n := eval[int](t, b, `document.querySelectorAll('tr.alert-row').length`)
		t.Logf("load %d: rows drawn at %.0f ms (first contentful paint %.0f ms), %d rows", i+1, r, f, n)
		rows, fcps = append(rows, r), append(fcps, f)
	}
	t.Logf("first paint of the feed over %d alerts: rows drawn median %.0f ms, max %.0f ms (the first, cold: %.0f ms); first contentful paint median %.0f ms",
		n, median(rows), slices.Max(rows), rows[0], median(fcps))

	// Filter changes, as a user makes them: a value typed or chosen, and
	// the filters cleared.
	set := func(id, v string) string {
		return `(() => { const e = document.getElementById(` + jsString(id) + `); e.value = ` + jsString(v) + `; e.dispatchEvent(new Event('change', {bubbles: true})); })()`
	}
	clear := `document.querySelector('.chip.clear').click()`
	var changes []float64
	for _, c := range []struct{ what, js, key string }{
		{"namespace ns-3", set("f-namespace", "ns-3"), "?namespace=ns-3"},
		{"clear", clear, ""},
		{"rule Rule 042", set("f-rule", "Rule 042"), "?rule=Rule+042"},
		{"clear", clear, ""},
		{"priority at or above Critical", set("f-priority", "Critical"), "?priority=Critical"},
		{"clear", clear, ""},
		{"node node-07", set("f-node", "node-07"), "?node=node-07"},
		{"clear", clear, ""},
		{"technique T1010", set("f-tag", "T1010"), "?tag=T1010"},
		{"clear", clear, ""},
		{"last hour", set("f-since", "1h"), "?since=1h"},
		{"clear", clear, ""},
		{"text web-17)", set("f-q", "web-17)"), "?q=web-17%29"},
		{"clear", clear, ""},
	} {
		eval[bool](t, b, `(() => { window.__t0 = performance.now(); `+c.js+`; return true; })()`)
		b.waitFor(t, c.what, `window.__mamoriFeed && window.__mamoriFeed.key === `+jsString(c.key)+` && window.__mamoriFeed.renderedAt > window.__t0`, 20*time.Second)
		ms := eval[float64](t, b, `window.__mamoriFeed.renderedAt - window.__t0`)
		rows := eval[int](t, b, `window.__mamoriFeed.rows`)
		// The same query from Go: what of it is the console's.
		apiStart := time.Now()
		var page struct{ Alerts []any }
		con.get(t, "/api/v1/alerts"+c.key+map[bool]string{true: "?", false: "&"}[c.key == ""]+"limit=100", &page)
		t.Logf("filter change %-30s %4.0f ms in the browser (%d alerts); the API alone %4.0f ms", c.what, ms, rows,
			float64(time.Since(apiStart).Microseconds())/1000)
		changes = append(changes, ms)
	}
	t.Logf("filter changes over %d alerts: median %.0f ms, max %.0f ms", n, median(changes), slices.Max(changes))
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the pages logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
