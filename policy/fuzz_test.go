package policy

import (
	"encoding/json"
	"net/netip"
	"os"
	"slices"
	"testing"
)

// FuzzParse decodes arbitrary documents: a parse may fail, but must not
// panic, every error must carry a position, and a parsed policy must
// merge, render and serialise.
func FuzzParse(f *testing.F) {
	f.Add(string(BuiltinYAML()))
	f.Add(doc(scopeAll + "  controls:\n    forkGuard: {maxProcesses: 5}\n    executableBlocklist: {names: [nc], sha256: [\"" + string(make([]byte, 0)) + "\"]}\n"))
	f.Add(doc("  mode: enforce\n  scope: {any: [{kubernetes: {namespace: \"shop-*\"}}, {not: {image: {registry: docker.io}}}]}\n  controls:\n" +
		"    networkEgress: {allow: [10.0.0.0/8]}\n    listeningPorts: {allow: [8080/tcp, 53/udp, 8000-8100/tcp]}\n    portScanDetection: {distinctPorts: 20, window: 10s}\n    hostLogins: {allowUsers: [admin]}\n"))
	f.Add(doc("  scope: &s {container: {labels: {app: \"[a-z]*\"}}}\n  controls:\n    limitContainerPrivileges: {}\n    preventDefaultOverride: {block: [seccompUnconfined]}\n---\n{"))
	f.Add("apiVersion: mamori.dev/v1\nkid: x\n")
	if b, err := os.ReadFile("../docs/policies.md"); err == nil {
		f.Add(string(b))
	}
	targets := []*Target{shopTarget(), hostTarget(), {}}
	f.Fuzz(func(t *testing.T, data string) {
		ps, err := Parse("fuzz.yaml", []byte(data))
		if err != nil {
			for _, e := range Errors(err) {
				if e.Pos.File != "fuzz.yaml" || e.Pos.Line < 1 || e.Pos.Col < 1 {
					t.Fatalf("error without a position: %v", e)
				}
			}
			return
		}
		ps = append(Builtin(), ps...)
		for _, tg := range targets {
			e := Merge(tg, ps)
			_ = e.String()
			if _, err := json.Marshal(e); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzParseIPList parses arbitrary lists: a parse may fail, but must not
// panic; a parsed list's Prefixes must cover exactly the same addresses,
// and lookups must agree with them.
func FuzzParseIPList(f *testing.F) {
	if b, err := os.ReadFile("testdata/lists/firehol_sample.netset"); err == nil {
		f.Add(string(b))
	}
	f.Add("10.0.0.1 # c\n10.0.0.0/30 ; c\n192.0.2.10-192.0.2.20\n2001:db8::1-2001:db8::ff\n0.0.0.0/0\n::/0\n")
	f.Add("255.255.255.255\n255.255.255.254/31\nffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\n")
	f.Add("::ffff:10.0.0.1\n1.2.3.4-1.2.3.4\n")
	f.Fuzz(func(t *testing.T, data string) {
		l, err := ParseIPList("fuzz", []byte(data))
		if err != nil {
			return
		}
		ps := l.Prefixes()
		again := newIPList("again", ps)
		if !slices.Equal(again.v4, l.v4) || !slices.Equal(again.v6, l.v6) {
			t.Fatalf("Prefixes %v do not cover the list exactly", ps)
		}
		for _, p := range ps[:min(len(ps), 64)] { // lookups are checked against a linear scan
			for _, a := range []netip.Addr{p.Addr(), p.Addr().Prev(), lastAddr(p), lastAddr(p).Next()} {
				if !a.IsValid() {
					continue
				}
				want := slices.ContainsFunc(ps, func(q netip.Prefix) bool { return q.Contains(a) })
				if got := l.Contains(a); got != want {
					t.Fatalf("Contains(%s) = %v, prefixes say %v", a, got, want)
				}
			}
		}
	})
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
