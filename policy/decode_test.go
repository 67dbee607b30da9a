package policy

import (
	"strings"
	"testing"
)

// doc builds a policy document from a spec body indented under "spec:".
func doc(spec string) string {
	return "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata:\n  name: p\nspec:\n" + spec
}

const scopeAll = "  scope: {container: {}}\n"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		// Decoding: shape, types, unknown keys with the nearest name.
		{"bad yaml", "apiVersion: [\n", "f.yaml:2:1: invalid YAML: did not find expected node content; the text ends here"},
		// yaml.v3 would say "line 6" (the block around it) and no column.
		{"bad indentation", doc("  mode: audit\n  scope: {container: {}}\n   controls: {}\n"), "f.yaml:8:4: invalid YAML: did not find expected key (while parsing a block mapping that starts at 6:3)"},
		{"not a mapping", "- a\n", "f.yaml:1:1: the document must be a mapping of keys to values, found a list"},
		{"unknown top key", "apiVersion: mamori.dev/v1\nkid: RuntimePolicy\n", `f.yaml:2:1: unknown key "kid" in a RuntimePolicy; did you mean "kind"?`},
		{"unknown spec key", doc("  mdoe: audit\n"), `f.yaml:6:3: unknown key "mdoe" in spec; did you mean "mode"?`},
		{"unknown control", doc(scopeAll + "  controls:\n    forkGaurd: {maxProcesses: 5}\n"), `f.yaml:8:5: unknown key "forkGaurd" in controls; did you mean "forkGuard"?`},
		{"unknown setting", doc(scopeAll + "  controls:\n    forkGuard: {maxProcess: 5}\n"), `f.yaml:8:17: unknown key "maxProcess" in forkGuard; did you mean "maxProcesses"?`},
		{"unknown far key", doc(scopeAll + "  controls:\n    forkGuard: {zzzzzzzz: 5}\n"), `unknown key "zzzzzzzz" in forkGuard; valid: enabled, maxProcesses`},
		{"unknown selector", doc("  scope:\n    container: {nmae: web}\n  controls: {forkGuard: {maxProcesses: 5}}\n"), `f.yaml:7:17: unknown key "nmae" in container; did you mean "name"?`},
		{"repeated key", doc("  mode: audit\n  mode: enforce\n"), `f.yaml:7:3: key "mode" repeated (first at line 6); keep one`},
		{"int type", doc(scopeAll + "  controls:\n    forkGuard: {maxProcesses: many}\n"), `f.yaml:8:31: maxProcesses must be a whole number, found "many"`},
		{"bool type", doc(scopeAll + "  controls:\n    forkGuard: {enabled: yes, maxProcesses: 5}\n"), `f.yaml:8:26: enabled must be true or false, found "yes"`},
		{"list type", doc(scopeAll + "  controls:\n    ipReputation: {block: 10.0.0.0/8}\n"), `f.yaml:8:27: block must be a list, found "10.0.0.0/8"`},
		{"null string", "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: ~}\n", `f.yaml:3:18: name is null; give it a value or remove the key`},
		{"duration", doc(scopeAll + "  controls:\n    portScanDetection: {distinctPorts: 20, window: 10 seconds}\n"), `f.yaml:8:52: window: "10 seconds" is not a duration`},
		{"bad glob", doc("  scope:\n    container: {name: \"web-[\"}\n  controls: {forkGuard: {maxProcesses: 5}}\n"), `f.yaml:7:23: name: pattern "web-[" has a '[' at offset 4 without a closing ']'`},
		{"empty pattern list", doc("  scope:\n    container: {name: []}\n  controls: {forkGuard: {maxProcesses: 5}}\n"), `f.yaml:7:23: name is an empty list`},
		{"deep nesting", doc("  scope:\n" + strings.Repeat("    not:\n", 1)[:0] + "    " + strings.Repeat("{not: ", 60) + "{container: {}}" + strings.Repeat("}", 60) + "\n  controls: {forkGuard: {maxProcesses: 5}}\n"), "nested more than 48 levels deep"},

		// Validation: identity.
		{"missing apiVersion", "kind: RuntimePolicy\n", "f.yaml:1:1: apiVersion is missing; add `apiVersion: mamori.dev/v1`"},
		{"wrong apiVersion", "apiVersion: mamori.dev/v2\n", `f.yaml:1:13: apiVersion "mamori.dev/v2" is not supported; use "mamori.dev/v1"`},
		{"wrong kind", "apiVersion: mamori.dev/v1\nkind: Pod\n", `f.yaml:2:7: kind "Pod" is not a policy; use "RuntimePolicy"`},
		{"missing name", "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {}\n", "f.yaml:3:1: metadata.name is missing"},
		{"bad name", "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: Shop_Strict}\n", `f.yaml:3:18: metadata.name "Shop_Strict" is not a valid name`},
		{"missing spec", "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: p}\n", "f.yaml:1:1: spec is missing"},
		{"unknown mode", doc("  mode: block\n" + scopeAll + "  controls: {forkGuard: {maxProcesses: 5}}\n"), `f.yaml:6:9: unknown mode "block"; use "enforce" or "audit"`},

		// Validation: scope.
		{"missing scope", doc("  mode: audit\n  controls: {forkGuard: {maxProcesses: 5}}\n"), "f.yaml:5:1: spec.scope is missing; write `scope: {container: {}}`"},
		{"empty scope", doc("  scope: {}\n  controls: {forkGuard: {maxProcesses: 5}}\n"), "f.yaml:6:3: empty scope; name what the policy applies to"},
		{"empty all", doc("  scope: {all: []}\n  controls: {forkGuard: {maxProcesses: 5}}\n"), "f.yaml:6:11: all is an empty list"},
		{"empty scope in any", doc("  scope: {any: [{}, {container: {}}]}\n  controls: {forkGuard: {maxProcesses: 5}}\n"), "f.yaml:6:17: empty scope; name what"},
		{"empty labels", doc("  scope: {kubernetes: {labels: {}}}\n  controls: {forkGuard: {maxProcesses: 5}}\n"), "f.yaml:6:24: labels is empty"},
		{"bad host ip", doc("  scope: {host: {ip: [10.0.0.300]}}\n  controls: {forkGuard: {maxProcesses: 5}}\n"), `f.yaml:6:23: "10.0.0.300" is not an IP address or CIDR`},
		{"host bits", doc("  scope: {host: {ip: [10.1.2.3/8]}}\n  controls: {forkGuard: {maxProcesses: 5}}\n"), `f.yaml:6:23: "10.1.2.3/8" has host bits set; did you mean 10.0.0.0/8?`},

		// Validation: controls.
		{"no controls", doc(scopeAll + "  controls: {}\n"), "f.yaml:7:3: spec.controls sets no control"},
		{"negative limit", doc(scopeAll + "  controls:\n    forkGuard: {maxProcesses: -3}\n"), "f.yaml:8:31: maxProcesses -3 is out of range; use a number from 1 to 4194304"},
		{"missing limit", doc(scopeAll + "  controls:\n    forkGuard: {}\n"), "f.yaml:8:5: forkGuard needs maxProcesses"},
		{"bad sha256", doc(scopeAll + "  controls:\n    executableBlocklist: {sha256: [abc123]}\n"), `f.yaml:8:36: sha256 entry "abc123" is not a SHA-256 digest`},
		{"relative blocklist path", doc(scopeAll + "  controls:\n    executableBlocklist: {paths: [tmp/x]}\n"), `f.yaml:8:35: paths entry "tmp/x" is not an absolute path`},
		{"empty blocklist", doc(scopeAll + "  controls:\n    executableBlocklist: {enabled: true}\n"), "f.yaml:8:5: executableBlocklist lists nothing"},
		{"drift name with slash", doc(scopeAll + "  controls:\n    driftPrevention: {allow: {names: [bin/x]}}\n"), `f.yaml:8:39: allow.names entry "bin/x" contains '/'`},
		{"bad cidr", doc(scopeAll + "  controls:\n    ipReputation: {block: [192.0.2.0/33]}\n"), `f.yaml:8:28: "192.0.2.0/33" is not an IP address or CIDR`},
		{"egress without allow", doc(scopeAll + "  controls:\n    networkEgress: {}\n"), "f.yaml:8:5: networkEgress needs allow"},
		{"egress host bits", doc(scopeAll + "  controls:\n    networkEgress: {allow: [\"2001:db8::1/32\"]}\n"), `did you mean 2001:db8::/32?`},
		{"port scan nothing", doc(scopeAll + "  controls:\n    portScanDetection: {window: 5s}\n"), "f.yaml:8:5: portScanDetection needs distinctPorts, distinctHosts or both"},
		{"port scan small", doc(scopeAll + "  controls:\n    portScanDetection: {distinctPorts: 1}\n"), "f.yaml:8:40: distinctPorts 1 is out of range"},
		{"negative window", doc(scopeAll + "  controls:\n    portScanDetection: {distinctHosts: 10, window: -5s}\n"), "f.yaml:8:52: window -5s is out of range"},
		{"unknown privilege", doc(scopeAll + "  controls:\n    limitContainerPrivileges: {block: [privileged, hostNet]}\n"), `f.yaml:8:52: unknown privilege "hostNet"; did you mean "hostNetwork"?`},
		{"unknown capability", doc(scopeAll + "  controls:\n    limitContainerPrivileges: {allowCapabilities: [NET_BIND]}\n"), `f.yaml:8:52: unknown capability "NET_BIND"`},
		{"unknown override", doc(scopeAll + "  controls:\n    preventDefaultOverride: {block: [seccompUnconfind]}\n"), `f.yaml:8:38: unknown override "seccompUnconfind"; did you mean "seccompUnconfined"?`},
		{"volumes empty", doc(scopeAll + "  controls:\n    volumesBlocklist: {}\n"), "f.yaml:8:5: volumesBlocklist needs paths"},
		{"registered images empty file", doc(scopeAll + "  controls:\n    blockUnregisteredImages: {registeredImages: [\" \"]}\n"), "empty file name; give the path of a registered-images list"},
		{"forensics range", doc(scopeAll + "  controls:\n    forensics: {events: 0}\n"), "f.yaml:8:25: events 0 is out of range"},
		{"logins empty", doc(scopeAll + "  controls:\n    hostLogins: {}\n"), "f.yaml:8:5: hostLogins lists nobody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
			for _, e := range Errors(err) {
				if e.Pos.File != "f.yaml" || e.Pos.Line == 0 || e.Pos.Col == 0 {
					t.Errorf("error without a full position: %v", e)
				}
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse("f.yaml", []byte(doc("  mode: block\n  scope: {}\n  controls:\n    forkGuard: {maxProcesses: 0}\n    forensics: {events: -1}\n")))
	got := Errors(err)
	want := []string{"f.yaml:6:9", "f.yaml:7:3", "f.yaml:9:31", "f.yaml:10:25"}
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(got), len(want), err)
	}
	for i, e := range got {
		if e.Pos.String() != want[i] {
			t.Errorf("error %d at %s, want %s: %v", i, e.Pos, want[i], e)
		}
	}
}

func TestParseMultiDocument(t *testing.T) {
	src := "# leading comment\n---\n" + doc(scopeAll+"  controls: {forkGuard: {maxProcesses: 5}}\n") +
		"---\n---\n" + strings.Replace(doc(scopeAll+"  mode: enforce\n  controls: {readOnlyRootFilesystem: {}}\n"), "name: p", "name: q", 1)
	ps, err := Parse("f.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Name() != "p" || ps[1].Name() != "q" {
		t.Fatalf("policies: %v", ps)
	}
	if ps[0].Mode() != Audit || ps[1].Mode() != Enforce {
		t.Errorf("modes %s, %s; want audit (the default) and enforce", ps[0].Mode(), ps[1].Mode())
	}
	if got := ps[1].Source.String(); got != "f.yaml:12:1" {
		t.Errorf("second policy starts at %s, want f.yaml:12:1", got)
	}
	if got := ps[0].At("spec.controls.forkGuard.maxProcesses").String(); got != "f.yaml:9:40" {
		t.Errorf("maxProcesses at %s, want f.yaml:9:40", got)
	}
	if !ps[1].Spec.Controls.ReadOnlyRootFilesystem.On() {
		t.Error("readOnlyRootFilesystem: {} is not on")
	}
}

func TestParseAliasesAreBounded(t *testing.T) {
	// A billion-laughs scope: each level refers to the one below twice, so
	// expanding the aliases would visit 2^20 nodes.
	def := "&s0 {container: {}}"
	for i := 1; i <= 20; i++ {
		def = "&s" + itoa(i) + " {all: [" + def + ", *s" + itoa(i-1) + "]}"
	}
	_, err := Parse("f.yaml", []byte(doc("  scope: "+def+"\n  controls: {forkGuard: {maxProcesses: 5}}\n")))
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Fatalf("error %v, want document too large", err)
	}
}

func TestControlsOffDiffersFromUnset(t *testing.T) {
	ps, err := Parse("f.yaml", []byte(doc(scopeAll+"  controls:\n    driftPrevention: {enabled: false}\n")))
	if err != nil {
		t.Fatal(err)
	}
	c := ps[0].Spec.Controls
	if c.DriftPrevention == nil || c.DriftPrevention.On() {
		t.Errorf("driftPrevention: %+v, want present and off", c.DriftPrevention)
	}
	if c.ForkGuard != nil || c.ForkGuard.On() {
		t.Errorf("forkGuard: %+v, want unset", c.ForkGuard)
	}
}
