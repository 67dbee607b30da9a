package wire

import (
	"strings"
	"testing"
)

func TestSubjectsRoundTrip(t *testing.T) {
	for _, c := range []struct{ cluster, node string }{{"prod", "web-1"}, {"eu.west", "ip-10-0-0-1.ec2.internal"}, {"", "n"}, {"a b", "*>"}} {
		kind, cl, n, err := Parse(Subject(Alert, c.cluster, c.node))
		if err != nil || kind != Alert || cl != Token(c.cluster) || n != Token(c.node) {
			t.Errorf("%q/%q: %s %s %s %v", c.cluster, c.node, kind, cl, n, err)
		}
		if strings.ContainsAny(cl+n, ".*> ") {
			t.Errorf("%q/%q: tokens %q %q route on their own", c.cluster, c.node, cl, n)
		}
	}
	if _, _, _, err := Parse("mamori.container.c.n"); err == nil {
		t.Error("a container subject without its id parsed")
	}
	if k, _, _, err := Parse(ContainerSubject("c", "n", "abc")); err != nil || k != Container {
		t.Errorf("container subject: %s %v", k, err)
	}
}

func TestAgentPermissionsAreItsOwn(t *testing.T) {
	pub, sub := AgentPermissions("c", "n1")
	for _, p := range pub {
		if strings.HasPrefix(p, "mamori.") && !strings.Contains(p, ".c.n1") {
			t.Errorf("n1 may publish on %s", p)
		}
		if strings.Contains(p, "$KV") || strings.Contains(p, "MAMORI_") {
			t.Errorf("n1 may publish on %s", p)
		}
	}
	if len(sub) != 1 || sub[0] != InboxPrefix("c", "n1")+".>" {
		t.Errorf("n1 may subscribe to %v", sub)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"mamori.alert.c.n", "mamori.container.c.n.id", "", "mamori", "x.y.z.w", "mamori..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, c, n, err := Parse(s)
		if err == nil && (kind == "" || strings.Contains(c+n, ".")) {
			t.Fatalf("%q parsed as %q %q %q", s, kind, c, n)
		}
	})
}
