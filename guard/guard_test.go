package guard

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

// newGuard loads the policies in docs (file name → YAML) from a temporary
// directory, as the agent would from --policy.
func newGuard(t *testing.T, docs map[string]string, enforced ...string) (*Guard, string) {
	t.Helper()
	dir := t.TempDir()
	for name, doc := range docs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := policy.Open(log, dir)
	if err != nil {
		t.Fatal(err)
	}
	g := New(store, Config{Enforced: func(_, c string) bool {
		for _, e := range enforced {
			if e == c {
				return true
			}
		}
		return false
	}}, log)
	t.Cleanup(g.Close)
	return g, dir
}

var (
	web = &event.Container{ID: strings.Repeat("a", 64), Name: "web", Image: "localhost/shop:1.4",
		Labels: map[string]string{"app": "web"}}
	batch = &event.Container{ID: strings.Repeat("b", 64), Name: "batch", Image: "localhost/batch:2",
		Labels: map[string]string{"app": "batch"}}
	host = &event.Container{ID: event.HostID}
	t0   = time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC)
)

func exec(c *event.Container, exe string, upper bool) *event.Event {
	return &event.Event{Kind: "event", Time: t0, Node: "n", Type: event.Exec, Container: c,
		Process: event.Process{PID: 10, Name: filepath.Base(exe), Exe: exe, Args: []string{exe}, ExeUpperLayer: upper}}
}

func connect(c *event.Container, ip string, port uint16, at time.Time) *event.Event {
	return &event.Event{Kind: "event", Time: at, Node: "n", Type: event.Connect, Container: c,
		Process: event.Process{PID: 11, Name: "nc"}, Network: &event.Network{Family: "inet", Protocol: "tcp", DstIP: ip, DstPort: port}}
}

func observe(g *Guard, evs ...*event.Event) []*event.Alert {
	var out []*event.Alert
	for _, e := range evs {
		g.Observe(e, func(a *event.Alert) { out = append(out, a) })
	}
	return out
}

const driftWeb = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata:
  name: web-drift
spec:
  mode: enforce
  scope:
    container:
      labels:
        app: web
  controls:
    driftPrevention:
      allow:
        names: ["healthcheck"]
    forensics:
      events: 3
`

func TestDriftPrevention(t *testing.T) {
	g, _ := newGuard(t, map[string]string{"web.yaml": driftWeb})

	// The image's own binaries, and an allowed drifted one, raise nothing.
	if al := observe(g, exec(web, "/bin/sh", false), exec(web, "/tmp/healthcheck", true)); len(al) != 0 {
		t.Fatalf("allowed execs raised %v", al[0].Output)
	}
	al := observe(g, exec(web, "/tmp/miner", true))
	if len(al) != 1 {
		t.Fatalf("%d alerts for a dropped binary", len(al))
	}
	a := al[0]
	if a.Rule != "Drift Prevention" || a.Control != "driftPrevention" || a.Policy != "web-drift" || a.Kind != "alert" ||
		a.Source != "syscall" || a.Container != web || a.Process.Exe != "/tmp/miner" {
		t.Errorf("alert %+v", a)
	}
	// The policy asks for enforcement, but nothing here enforces: the
	// alert must say it was not refused.
	if a.Action != Audited || !strings.Contains(a.Output, "nothing on this node refused it") {
		t.Errorf("enforce without an enforcer: action %q output %q", a.Action, a.Output)
	}
	// Forensics: the last 3 events, oldest first, ending with this exec.
	if len(a.Forensics) != 3 || a.Forensics[0].Process.Exe != "/bin/sh" || a.Forensics[2].Process.Exe != "/tmp/miner" {
		t.Errorf("forensics: %+v", a.Forensics)
	}

	// Memfd and deleted executables are drift too.
	m := exec(web, "/memfd:x", false)
	m.Process.ExeFromMemfd = true
	if al := observe(g, m); len(al) != 1 || !strings.Contains(al[0].Output, "memfd") {
		t.Errorf("memfd exec: %v", al)
	}

	// Out of scope: the batch container gets only the built-in default,
	// which audits drift without forensics.
	al = observe(g, exec(batch, "/tmp/miner", true))
	if len(al) != 1 || al[0].Policy != "mamori-default" || al[0].Action != Audited || strings.Contains(al[0].Output, "nothing on this node refused it") ||
		al[0].Forensics != nil {
		t.Errorf("out of scope: %+v", al)
	}
	// Host processes are not containers.
	if al := observe(g, exec(host, "/tmp/miner", true)); len(al) != 0 {
		t.Errorf("host exec raised %v", al[0].Output)
	}
}

func TestEnforcerVerdictsAndEnforcedControls(t *testing.T) {
	g, _ := newGuard(t, map[string]string{"web.yaml": driftWeb}, "driftPrevention")
	if al := observe(g, exec(web, "/tmp/miner", true)); len(al) != 0 {
		t.Errorf("with an enforcer in place its verdicts report, not the guard: %+v", al)
	}
	var got []*event.Alert
	g.Verdict(exec(web, "/tmp/miner", true), "driftPrevention", Blocked, "refused exec of /tmp/miner", func(a *event.Alert) { got = append(got, a) })
	if len(got) != 1 || got[0].Action != Blocked || got[0].Policy != "web-drift" {
		t.Errorf("verdict alert: %+v", got)
	}
}

// TestProtectedContainersAreReportedByTheirEnforcer: while an enforcer
// refuses a container's drift, its exec events raise nothing (the
// enforcer's verdicts do); when it does not (not placed yet, or released
// after a switch to audit), the guard reports, and says when enforcement
// was asked for and is missing.
func TestProtectedContainersAreReportedByTheirEnforcer(t *testing.T) {
	g, dir := newGuard(t, map[string]string{"web.yaml": driftWeb})
	placed := map[string]bool{}
	g.enforced = func(id, control string) bool { return control == "driftPrevention" && placed[id] }

	al := observe(g, exec(web, "/tmp/miner", true))
	if len(al) != 1 || !strings.Contains(al[0].Output, "nothing on this node refused it") || al[0].Action != Audited {
		t.Errorf("enforce mode not in place yet must say so: %+v", al)
	}
	placed[web.ID] = true
	if al := observe(g, exec(web, "/tmp/miner", true)); len(al) != 0 {
		t.Errorf("an enforced container's drift raised %v", al[0].Output)
	}
	if al := observe(g, exec(batch, "/tmp/miner", true)); len(al) != 1 {
		t.Errorf("an audited container's drift raised %d alerts", len(al))
	}
	os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(strings.Replace(driftWeb, "mode: enforce", "mode: audit", 1)), 0o644)
	if err := g.store.Reload(); err != nil {
		t.Fatal(err)
	}
	if eff := g.Effective(web); eff.Mode("driftPrevention") != policy.Audit {
		t.Errorf("Effective after the switch: %s", eff.Mode("driftPrevention"))
	}
	// Until the agent releases it, the enforcer still refuses and
	// reports; then the guard does.
	if al := observe(g, exec(web, "/tmp/miner", true)); len(al) != 0 {
		t.Errorf("still refused by the enforcer: %+v", al)
	}
	placed[web.ID] = false
	if al := observe(g, exec(web, "/tmp/miner", true)); len(al) != 1 || strings.Contains(al[0].Output, "nothing on this node") {
		t.Errorf("after the switch to audit: %+v", al)
	}
}

func TestOverlappingPoliciesMergeToTheStricter(t *testing.T) {
	g, _ := newGuard(t, map[string]string{
		"a.yaml": `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: loose}
spec:
  mode: audit
  scope: {container: {labels: {app: web}}}
  controls:
    driftPrevention:
      allow: {names: ["healthcheck", "backup"]}
    forkGuard: {maxProcesses: 100}
`,
		"b.yaml": `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: strict}
spec:
  mode: audit
  scope: {image: {repository: "shop"}}
  controls:
    driftPrevention:
      allow: {names: ["healthcheck"]}
    forkGuard: {maxProcesses: 2}
`})
	// Allow lists intersect: "backup" is allowed by one policy only.
	if al := observe(g, exec(web, "/tmp/backup", true)); len(al) != 1 {
		t.Errorf("backup allowed by one policy only: %d alerts", len(al))
	}
	if al := observe(g, exec(web, "/tmp/healthcheck", true)); len(al) != 0 {
		t.Errorf("healthcheck allowed by both: %d alerts", len(al))
	}
	// The smaller limit wins: the third process alerts, once.
	fork := func() *event.Event {
		return &event.Event{Time: t0, Type: event.Fork, Container: web, Process: event.Process{PID: 1, Name: "sh"}}
	}
	if al := observe(g, fork(), fork()); len(al) != 0 {
		t.Errorf("two processes: %v", al)
	}
	if al := observe(g, fork(), fork()); len(al) != 1 || al[0].Control != "forkGuard" || !strings.Contains(al[0].Output, "more than 2") {
		t.Errorf("past the stricter limit: %+v", al)
	}
}

func TestNetworkControls(t *testing.T) {
	g, _ := newGuard(t, map[string]string{"net.yaml": `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: net}
spec:
  mode: audit
  scope: {container: {name: "web"}}
  controls:
    ipReputation:
      lists: ["bad.netset"]
    networkEgress:
      allow: ["10.0.0.0/8", "203.0.113.5"]
    portScanDetection: {distinctPorts: 3, window: 10s, coolDown: 1m}
`, "bad.netset": "# test list\n198.51.100.0/24\n2001:db8::/32\n"})
	al := observe(g, connect(web, "198.51.100.9", 443, t0))
	var rules []string
	for _, a := range al {
		rules = append(rules, a.Rule)
	}
	if strings.Join(rules, ",") != "IP Reputation,Network Egress" {
		t.Errorf("connect to a listed address outside the allow list: %v", rules)
	}
	if al := observe(g, connect(web, "10.1.2.3", 443, t0)); len(al) != 0 {
		t.Errorf("allowed destination: %v", al[0].Output)
	}
	// Ports 1..4 within the window: one scan alert, then quiet for the cool-down.
	var scans int
	for p := uint16(1); p <= 6; p++ {
		for _, a := range observe(g, connect(web, "10.0.0.1", p, t0.Add(time.Duration(p)*time.Second))) {
			if a.Control == "portScanDetection" {
				scans++
			}
		}
	}
	if scans != 1 {
		t.Errorf("%d scan alerts, want 1 (cool-down)", scans)
	}
	// Outside the window the old ports are forgotten.
	g2, _ := newGuard(t, map[string]string{"s.yaml": `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: scan}
spec:
  mode: audit
  scope: {container: {name: "web"}}
  controls:
    portScanDetection: {distinctPorts: 3, window: 2s}
`})
	for p := uint16(1); p <= 8; p++ {
		if al := observe(g2, connect(web, "10.0.0.1", p, t0.Add(time.Duration(p)*3*time.Second))); len(al) != 0 {
			t.Errorf("slow connects counted as a scan: %v", al[0].Output)
		}
	}
}

func TestPrivileges(t *testing.T) {
	g, _ := newGuard(t, map[string]string{"p.yaml": `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: priv}
spec:
  mode: audit
  scope: {container: {name: "web"}}
  controls:
    limitNewPrivileges: {}
    limitContainerPrivileges: {block: ["privileged"]}
    executableBlocklist: {names: ["nmap"], paths: ["/usr/local/bin/*"]}
`})
	su := exec(web, "/bin/su", false)
	su.Process.UID, su.Process.EUID = 1000, 0
	var controls []string
	for _, a := range observe(g, su, exec(web, "/usr/bin/nmap", false), exec(web, "/usr/local/bin/x", false), exec(web, "/bin/ls", false)) {
		controls = append(controls, a.Control)
	}
	if strings.Join(controls, ",") != "limitNewPrivileges,executableBlocklist,executableBlocklist" {
		t.Errorf("controls raised: %v", controls)
	}
	priv := *web
	priv.ID, priv.Privileged = strings.Repeat("c", 64), true
	n := 0
	for _, a := range observe(g, exec(&priv, "/bin/ls", false), exec(&priv, "/bin/ls", false)) {
		if a.Control == "limitContainerPrivileges" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("privileged container: %d alerts, want one", n)
	}
}

func TestReloadChangesWhatApplies(t *testing.T) {
	g, dir := newGuard(t, map[string]string{"web.yaml": driftWeb})
	if al := observe(g, exec(web, "/tmp/healthcheck", true)); len(al) != 0 {
		t.Fatal("allowed before the reload")
	}
	os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(strings.Replace(driftWeb, `["healthcheck"]`, `["other"]`, 1)), 0o644)
	if err := g.store.Reload(); err != nil {
		t.Fatal(err)
	}
	if al := observe(g, exec(web, "/tmp/healthcheck", true)); len(al) != 1 {
		t.Errorf("after the reload the allow list no longer names healthcheck: %d alerts", len(al))
	}
	// A broken file keeps what is in force.
	os.WriteFile(filepath.Join(dir, "web.yaml"), []byte("apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nspec: {mode: sometimes}\n"), 0o644)
	if err := g.store.Reload(); err == nil {
		t.Fatal("a broken policy loaded")
	}
	if al := observe(g, exec(web, "/tmp/other", true)); len(al) != 0 {
		t.Errorf("the broken reload changed what applies")
	}
	c, eff, ok := g.Explain("web")
	if !ok || c != web || !strings.Contains(eff.String(), "web-drift") {
		t.Errorf("explain: %v %v", ok, eff)
	}
	if _, _, ok := g.Explain("aaaaaaaaaaaa"); !ok {
		t.Error("explain by a 12-character id prefix")
	}
	if _, _, ok := g.Explain("nope"); ok {
		t.Error("explain found a container that does not exist")
	}
}

func TestRuleName(t *testing.T) {
	for in, want := range map[string]string{"driftPrevention": "Drift Prevention", "ipReputation": "IP Reputation",
		"limitContainerPrivileges": "Limit Container Privileges", "forkGuard": "Fork Guard"} {
		if got := RuleName(in); got != want {
			t.Errorf("RuleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestForget(t *testing.T) {
	g, _ := newGuard(t, map[string]string{"web.yaml": driftWeb})
	observe(g, exec(web, "/bin/sh", false))
	if _, _, ok := g.Explain("web"); !ok {
		t.Fatal("web not seen")
	}
	g.Forget(web.ID)
	if _, _, ok := g.Explain("web"); ok {
		t.Error("a forgotten container is still explained")
	}
}
