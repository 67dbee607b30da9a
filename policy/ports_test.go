package policy

import (
	"slices"
	"strings"
	"testing"
)

func TestListeningPortsErrors(t *testing.T) {
	for _, tt := range []struct{ name, yaml, want string }{
		{"without allow", doc(scopeAll + "  controls:\n    listeningPorts: {}\n"), "f.yaml:8:5: listeningPorts needs allow"},
		{"no protocol", doc(scopeAll + "  controls:\n    listeningPorts: {allow: [8080/tcp, 8081]}\n"), `f.yaml:8:40: "8081" has no protocol; write 8081/tcp or 8081/udp`},
		{"unknown protocol", doc(scopeAll + "  controls:\n    listeningPorts: {allow: [53/sctp]}\n"), `f.yaml:8:30: "53/sctp": unknown protocol "sctp"; use tcp or udp`},
		{"port 0", doc(scopeAll + "  controls:\n    listeningPorts: {allow: [0/udp]}\n"), `f.yaml:8:30: "0/udp": port 0 is always allowed`},
		{"too large", doc(scopeAll + "  controls:\n    listeningPorts: {allow: [65536/tcp]}\n"), `f.yaml:8:30: "65536/tcp" is not a port or range`},
		{"backwards range", doc(scopeAll + "  controls:\n    listeningPorts: {allow: [9000-8000/tcp]}\n"), `f.yaml:8:30: "9000-8000/tcp": the range ends before it starts; write 8000-9000/tcp`},
		{"not a list", doc(scopeAll + "  controls:\n    listeningPorts: {allow: 8080/tcp}\n"), `f.yaml:8:29: allow must be a list`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

func TestListeningPortsAllowed(t *testing.T) {
	ps, err := Parse("f.yaml", []byte(doc(scopeAll+"  controls:\n    listeningPorts: {allow: [8080/TCP, 53/udp, 30000-30010/tcp]}\n")))
	if err != nil {
		t.Fatal(err)
	}
	l := ps[0].Spec.Controls.ListeningPorts
	if want := []string{"8080/tcp", "53/udp", "30000-30010/tcp"}; !slices.Equal(l.Allow, want) {
		t.Errorf("normalised allow list %v, want %v", l.Allow, want)
	}
	for _, tc := range []struct {
		proto string
		port  uint16
		want  bool
	}{
		{"tcp", 8080, true}, {"udp", 8080, false}, {"udp", 53, true}, {"tcp", 53, false},
		{"tcp", 30000, true}, {"tcp", 30010, true}, {"tcp", 30011, false}, {"tcp", 29999, false},
		{"tcp", 0, true}, {"udp", 0, true}, // the kernel picks the port: always allowed
	} {
		if got := l.Allowed(tc.proto, tc.port); got != tc.want {
			t.Errorf("Allowed(%s, %d) = %v, want %v", tc.proto, tc.port, got, tc.want)
		}
	}
	empty := &ListeningPorts{Allow: []string{}}
	if empty.Allowed("tcp", 80) || !empty.Allowed("tcp", 0) {
		t.Errorf("allow: [] must refuse every port but 0")
	}
}

// Several policies' allow lists intersect by range, and each port that
// stays says which policies allowed it.
func TestListeningPortsMerge(t *testing.T) {
	ps := policies(t,
		[4]string{"team", "enforce", "{kubernetes: {namespace: shop}}", "    listeningPorts: {allow: [8000-8100/tcp, 53/udp, 9090/tcp]}\n"},
		[4]string{"security", "enforce", "{container: {}}", "    listeningPorts: {allow: [8080/tcp, 8090-8200/tcp, 53/tcp]}\n"},
		[4]string{"trial", "audit", "{container: {}}", "    listeningPorts: {allow: [8080/tcp]}\n"})
	e := Merge(shopTarget(), ps)
	if got, want := e.Enforce.Controls.ListeningPorts.Allow, []string{"8080/tcp", "8090-8100/tcp"}; !slices.Equal(got, want) {
		t.Errorf("enforced allow list %v, want %v", got, want)
	}
	if got, want := e.Audit.Controls.ListeningPorts.Allow, []string{"8080/tcp"}; !slices.Equal(got, want) {
		t.Errorf("audited allow list %v, want %v", got, want)
	}
	if got, want := origins2(e.Enforce.From["listeningPorts.allow[8090-8100/tcp]"]), []string{"team@team.yaml:9:30", "security@security.yaml:9:40"}; !slices.Equal(got, want) {
		t.Errorf("provenance of 8090-8100/tcp: %v, want %v", got, want)
	}
	if e.Mode("listeningPorts") != Enforce {
		t.Errorf("mode %q", e.Mode("listeningPorts"))
	}
	// explain prints it.
	if s := e.String(); !strings.Contains(s, "listeningPorts") || !strings.Contains(s, "8090-8100/tcp") {
		t.Errorf("explain:\n%s", s)
	}
}
