package guard

import (
	"strings"
	"testing"
)

const allowTwo = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata:
  name: web-programs
spec:
  mode: audit
  scope: {container: {labels: {app: web}}}
  controls:
    executableAllowlist:
      paths: [/bin/busybox, "/usr/local/bin/*"]
---
apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata:
  name: web-programs-strict
spec:
  mode: audit
  scope: {container: {labels: {app: web}}}
  controls:
    executableAllowlist:
      paths: [/bin/busybox, /usr/local/bin/worker]
`

// TestExecutableAllowlist: in audit mode an exec off the allow list is
// reported, image program or not; where two policies set one, a program
// must be on both; where an enforcer refuses, the guard stays quiet.
func TestExecutableAllowlist(t *testing.T) {
	g, _ := newGuard(t, map[string]string{"web.yaml": allowTwo})
	if al := observe(g, exec(web, "/bin/busybox", false), exec(web, "/usr/local/bin/worker", false)); len(al) != 0 {
		t.Fatalf("allowed programs raised %v", al[0].Output)
	}
	al := observe(g, exec(web, "/usr/bin/curl", false))
	if len(al) != 1 || al[0].Control != "executableAllowlist" || al[0].Action != Audited || !strings.Contains(al[0].Output, "/usr/bin/curl") {
		t.Fatalf("an image program off the list: %+v", al)
	}
	// On the first list only: the stricter (intersection) applies.
	if al := observe(g, exec(web, "/usr/local/bin/other", false)); len(al) != 1 {
		t.Errorf("a program on one list of two: %d alerts", len(al))
	}
	// Another container: no allow list applies.
	if al := observe(g, exec(batch, "/usr/bin/curl", false)); len(al) != 0 {
		t.Errorf("out of scope: %v", al[0].Output)
	}
	g2, _ := newGuard(t, map[string]string{"web.yaml": strings.ReplaceAll(allowTwo, "mode: audit", "mode: enforce")}, "executableAllowlist")
	if al := observe(g2, exec(web, "/usr/bin/curl", false)); len(al) != 0 {
		t.Errorf("an enforced allow list reported by the guard too: %v", al[0].Output)
	}
}
