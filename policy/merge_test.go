package policy

import (
	"encoding/json"

	"github.com/mamori-dev/mamori/event"
	"slices"
	"strings"
	"testing"
	"time"
)

// policies parses documents given as (name, mode, scope, controls YAML
// body indented by four spaces), each in its own file named name.yaml.
func policies(t *testing.T, specs ...[4]string) []*Policy {
	t.Helper()
	out := Builtin()
	for _, s := range specs {
		src := "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata:\n  name: " + s[0] +
			"\nspec:\n  mode: " + s[1] + "\n  scope: " + s[2] + "\n  controls:\n" + s[3]
		ps, err := Parse(s[0]+".yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ps...)
	}
	return out
}

func origins2(os []Origin) []string {
	var out []string
	for _, o := range os {
		out = append(out, o.Policy+"@"+o.Pos.String())
	}
	return out
}

func TestMergeOutOfScopeChangesNothing(t *testing.T) {
	base := Merge(shopTarget(), Builtin())
	ps := policies(t, [4]string{"elsewhere", "enforce", "{kubernetes: {namespace: billing}}",
		"    forkGuard: {maxProcesses: 10}\n    driftPrevention: {enabled: false}\n"})
	got := Merge(shopTarget(), ps)
	a, _ := json.Marshal(base)
	b, _ := json.Marshal(got)
	if string(a) != string(b) {
		t.Errorf("an out-of-scope policy changed the effective controls:\n%s\n%s", a, b)
	}
}

func TestMergeEnforceBeatsAudit(t *testing.T) {
	ps := policies(t,
		[4]string{"a", "audit", "{container: {}}", "    driftPrevention: {}\n"},
		[4]string{"b", "enforce", "{kubernetes: {namespace: shop}}", "    driftPrevention: {}\n"})
	e := Merge(shopTarget(), ps)
	if m := e.Mode("driftPrevention"); m != Enforce {
		t.Errorf("mode %q, want enforce", m)
	}
	if got := origins2(e.Enforce.From["driftPrevention"]); !slices.Equal(got, []string{"b@b.yaml:9:5"}) {
		t.Errorf("enforced from %v", got)
	}
	if got := origins2(e.Audit.From["driftPrevention"]); !slices.Equal(got, []string{"a@a.yaml:9:5", "b@b.yaml:9:5"}) {
		t.Errorf("audited from %v", got)
	}
	// The built-in default is replaced, not merged, where a loaded policy
	// sets the control.
	if e.Policies[0].Name != "mamori-default" || !slices.Equal(e.Policies[0].Replaced, []string{"driftPrevention"}) {
		t.Errorf("applied: %+v", e.Policies)
	}
}

func TestMergeStricterWins(t *testing.T) {
	ps := policies(t,
		[4]string{"team", "enforce", "{kubernetes: {namespace: shop}}", `    forkGuard: {maxProcesses: 200}
    executableBlocklist: {names: [nc, nmap], sha256: ["` + strings.Repeat("a", 64) + `"]}
    driftPrevention:
      allow: {paths: [/app/bin/*, /usr/local/bin/entry.sh], names: [healthcheck]}
      allowExecFromVolumes: true
    networkEgress: {allow: [10.0.0.0/8, 192.0.2.10]}
    portScanDetection: {distinctPorts: 20, window: 30s}
    limitContainerPrivileges: {block: [privileged], allowCapabilities: [NET_BIND_SERVICE, NET_RAW]}
    hostLogins: {blockUsers: [guest]}
    forensics: {events: 20}
`},
		[4]string{"security", "enforce", "{container: {}}", `    forkGuard: {maxProcesses: 100}
    executableBlocklist: {names: [nc, socat]}
    driftPrevention:
      allow: {paths: [/app/bin/tool, /usr/local/bin/entry.sh]}
    networkEgress: {allow: [10.1.0.0/16, 192.0.2.0/24, 198.51.100.0/24]}
    portScanDetection: {distinctPorts: 50, distinctHosts: 10, window: 10s, coolDown: 1h}
    limitContainerPrivileges: {block: [hostNetwork, privileged], allowCapabilities: [NET_RAW]}
    hostLogins: {allowUsers: [admin, ops-*], blockUsers: [root]}
    forensics: {events: 100}
`})
	e := Merge(shopTarget(), ps)
	c := e.Enforce.Controls
	check := func(what string, got, want any) {
		t.Helper()
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(want)
		if string(a) != string(b) {
			t.Errorf("%s: %s, want %s", what, a, b)
		}
	}
	check("smaller limit", c.ForkGuard.MaxProcesses, 100)
	check("block lists unite", c.ExecutableBlocklist.Names, []string{"nc", "nmap", "socat"})
	check("sha256 unite", c.ExecutableBlocklist.SHA256, []string{strings.Repeat("a", 64)})
	check("allow lists intersect", c.DriftPrevention.Allow.Paths, []string{"/app/bin/tool", "/usr/local/bin/entry.sh"})
	check("allow names intersect with none", c.DriftPrevention.Allow.Names, []string{})
	check("volumes allowed only if all allow", c.DriftPrevention.AllowExecFromVolumes, false)
	check("egress by address range", c.NetworkEgress.Allow, []string{"10.1.0.0/16", "192.0.2.10/32"})
	check("fewer ports", c.PortScanDetection.DistinctPorts, 20)
	check("hosts from the one that sets it", c.PortScanDetection.DistinctHosts, 10)
	check("longer window", c.PortScanDetection.Window.String(), "30s")
	check("longer cool-down", c.PortScanDetection.CoolDown.String(), "1h0m0s")
	check("privileges unite", c.LimitContainerPrivileges.Block, []string{"privileged", "hostNetwork"})
	check("capabilities intersect", c.LimitContainerPrivileges.AllowCapabilities, []string{"NET_RAW"})
	check("unset login allow list allows all", c.HostLogins.AllowUsers, []string{"admin", "ops-*"})
	check("login block lists unite", c.HostLogins.BlockUsers, []string{"guest", "root"})
	check("more forensics", c.Forensics.Events, 100)

	// Provenance: who decided each setting, pointing at the value.
	from := e.Enforce.From
	for path, want := range map[string][]string{
		"forkGuard.maxProcesses":                              {"security@security.yaml:9:31"},
		"executableBlocklist.names[nc]":                       {"team@team.yaml:10:35", "security@security.yaml:10:35"},
		"executableBlocklist.names[socat]":                    {"security@security.yaml:10:39"},
		"driftPrevention.allow.paths[/app/bin/tool]":          {"team@team.yaml:12:23", "security@security.yaml:12:23"},
		"driftPrevention.allowExecFromVolumes":                {"security@security.yaml:11:5"},
		"networkEgress.allow[10.1.0.0/16]":                    {"team@team.yaml:14:29", "security@security.yaml:13:29"},
		"portScanDetection.window":                            {"team@team.yaml:15:52"},
		"limitContainerPrivileges.allowCapabilities[NET_RAW]": {"team@team.yaml:16:91", "security@security.yaml:15:86"},
	} {
		if got := origins2(from[path]); !slices.Equal(got, want) {
			t.Errorf("provenance of %s: %v, want %v", path, got, want)
		}
	}
}

func TestMergeAuditDoesNotTightenEnforcement(t *testing.T) {
	ps := policies(t,
		[4]string{"prod", "enforce", "{container: {}}", "    forkGuard: {maxProcesses: 100}\n"},
		[4]string{"trial", "audit", "{container: {}}", "    forkGuard: {maxProcesses: 50}\n    forensics: {events: 10}\n"})
	e := Merge(shopTarget(), ps)
	if got := e.Enforce.Controls.ForkGuard.MaxProcesses; got != 100 {
		t.Errorf("enforced limit %d, want 100 (the audit policy's 50 is only reported)", got)
	}
	if got := e.Audit.Controls.ForkGuard.MaxProcesses; got != 50 {
		t.Errorf("audited limit %d, want 50", got)
	}
	if e.Enforce.Controls.Forensics.On() || e.Mode("forensics") != Audit {
		t.Errorf("forensics from an audit policy is enforced")
	}
}

func TestMergeOffAndBaseline(t *testing.T) {
	off := policies(t, [4]string{"quiet", "audit", "{container: {name: web-1}}", "    driftPrevention: {enabled: false}\n"})
	e := Merge(shopTarget(), off)
	if e.Mode("driftPrevention") != "" || e.Audit.Controls.DriftPrevention.On() {
		t.Errorf("driftPrevention turned off still applies: %s", e)
	}
	if got := origins2(e.Audit.From["driftPrevention.enabled"]); !slices.Equal(got, []string{"quiet@quiet.yaml:9:32"}) {
		t.Errorf("off from %v", got)
	}
	// Elsewhere the baseline still applies.
	bare := TargetFromContainer(&event.Container{ID: "x", Name: "db"})
	if e := Merge(bare, off); e.Mode("driftPrevention") != Audit {
		t.Errorf("the built-in default does not apply to a container no policy covers")
	}
	// On beats off when two policies disagree.
	both := policies(t,
		[4]string{"quiet", "audit", "{container: {}}", "    driftPrevention: {enabled: false}\n"},
		[4]string{"strict", "audit", "{container: {}}", "    driftPrevention: {}\n"})
	if e := Merge(shopTarget(), both); !e.Audit.Controls.DriftPrevention.On() {
		t.Errorf("off beat on")
	}
}

func TestEffectiveString(t *testing.T) {
	ps := policies(t,
		[4]string{"prod", "enforce", "{container: {}}", "    forkGuard: {maxProcesses: 100}\n    executableBlocklist: {names: [nc]}\n"},
		[4]string{"trial", "audit", "{container: {}}", "    forkGuard: {maxProcesses: 50}\n    executableBlocklist: {names: [nc, socat]}\n"})
	got := Merge(shopTarget(), ps).String()
	want := `policies that apply (3):
  mamori-default  audit    <built-in>/default.yaml:4:1
  prod            enforce  prod.yaml:1:1
  trial           audit    trial.yaml:1:1

effective controls:
  SETTING                 MODE     VALUE   FROM
  driftPrevention         audit    on      mamori-default (<built-in>/default.yaml:15:5)
    allow.names           audit    (none)  mamori-default (<built-in>/default.yaml:15:5)
    allow.paths           audit    (none)  mamori-default (<built-in>/default.yaml:15:5)
    allowExecFromVolumes  audit    false   mamori-default (<built-in>/default.yaml:15:5)
  executableBlocklist     enforce  on      prod (prod.yaml:10:5)
    names                 enforce  nc      prod (prod.yaml:10:35)
    names                 audit    socat   trial (trial.yaml:10:39)
  forkGuard               enforce  on      prod (prod.yaml:9:5)
    maxProcesses          enforce  100     prod (prod.yaml:9:31)
    maxProcesses          audit    50      trial (trial.yaml:9:31)
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	b, err := json.Marshal(Merge(shopTarget(), ps))
	if err != nil || !strings.Contains(string(b), `"settings":[`) || !strings.Contains(string(b), `"path":"forkGuard.maxProcesses","mode":"audit","value":50`) {
		t.Errorf("JSON: %v %s", err, b)
	}
}

// TestMergeLongListsStayFast: the longest lists a document may hold merge
// in well under a second (intersections compare pairwise).
func TestMergeLongListsStayFast(t *testing.T) {
	list := func(prefix string) string {
		var b strings.Builder
		for i := range maxList {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("\"" + prefix + itoa(i) + "*\"")
		}
		return b.String()
	}
	ps := policies(t,
		[4]string{"a", "enforce", "{container: {}}", "    driftPrevention: {allow: {paths: [" + list("/a/") + "]}}\n    executableBlocklist: {names: [" + list("a") + "]}\n"},
		[4]string{"b", "enforce", "{container: {}}", "    driftPrevention: {allow: {paths: [" + list("/b/") + "]}}\n    executableBlocklist: {names: [" + list("b") + "]}\n"})
	start := time.Now()
	e := Merge(shopTarget(), ps)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("merging two lists of %d took %s", maxList, d)
	}
	if n := e.Enforce.Controls.ExecutableBlocklist.Names.Len(); n != 2*maxList {
		t.Errorf("union of %d", n)
	}
	_, err := Parse("f.yaml", []byte(doc(scopeAll+"  controls:\n    executableBlocklist: {names: ["+list("x")+", y]}\n")))
	if err == nil || !strings.Contains(err.Error(), "f.yaml:8:34: names has 1025 entries, more than 1024; put long lists in a list file") {
		t.Errorf("error %v", err)
	}
}
