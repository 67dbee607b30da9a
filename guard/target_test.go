package guard

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

const scopedByFacts = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: by-facts}
spec:
  mode: audit
  scope:
    container: {env: [API_TOKEN]}
    image: {labels: {team: shop}, os: linux}
    host: {ip: [192.0.2.0/24], group: [prod]}
  controls:
    forensics: {events: 5}
`

// TestTargetAppliesFacts: a policy scoped by facts that event.Container
// does not carry (env names, image labels and OS, the node's addresses and
// groups) applies only through Config.Facts and the host facts, which are
// asked once per container and policy change, and a change of the node's
// facts takes effect at the container's next event.
func TestTargetAppliesFacts(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(scopedByFacts), 0o644)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := policy.Open(log, dir)
	if err != nil {
		t.Fatal(err)
	}
	asked := 0
	g := New(store, Config{
		Host: policy.HostFacts{Hostname: "n1", IPs: []netip.Addr{netip.MustParseAddr("192.0.2.7")}, Groups: []string{"prod"}},
		Facts: func(c *event.Container) []policy.Fact {
			asked++
			if c.Name != "web" {
				return nil
			}
			return []policy.Fact{policy.WithEnv("PATH", "API_TOKEN"), policy.WithImage(map[string]string{"team": "shop"}, "linux", "amd64")}
		},
	}, log)
	t.Cleanup(g.Close)

	applies := func(c *event.Container) bool {
		_, eff, ok := g.Explain(c.Name)
		if !ok {
			t.Fatalf("container %s not seen", c.Name)
		}
		for _, p := range eff.Policies {
			if p.Name == "by-facts" {
				return true
			}
		}
		return false
	}
	observe(g, exec(web, "/bin/ls", false), exec(web, "/bin/ls", false), exec(batch, "/bin/ls", false))
	if !applies(web) || applies(batch) {
		t.Errorf("by-facts applies to web %v (want true), to batch %v (want false)", applies(web), applies(batch))
	}
	if asked != 2 {
		t.Errorf("Facts asked %d times for 2 containers; want once each", asked)
	}
	if tg := g.Target(web); len(tg.Container.Env) != 2 || tg.Image.OS != "linux" || tg.Host.Groups[0] != "prod" {
		t.Errorf("Target(web) = %+v", tg)
	}

	before := asked
	g.SetHost(policy.HostFacts{Hostname: "n1", IPs: []netip.Addr{netip.MustParseAddr("192.0.2.7")}, Groups: []string{"prod"}})
	observe(g, exec(web, "/bin/ls", false))
	if asked != before {
		t.Errorf("unchanged host facts computed the targets again")
	}
	g.SetHost(policy.HostFacts{Hostname: "n1", IPs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}, Groups: []string{"prod"}})
	if applies(web) {
		t.Errorf("by-facts still applies after the node left 192.0.2.0/24")
	}
	g.SetHost(policy.HostFacts{Hostname: "n1", IPs: []netip.Addr{netip.MustParseAddr("192.0.2.7")}, Groups: []string{"staging"}})
	if applies(web) {
		t.Errorf("by-facts applies to a node outside group prod")
	}
	if tg := g.Target(host); tg.Container != nil || tg.Host.Groups[0] != "staging" {
		t.Errorf("Target(host) = %+v", tg)
	}
}
