package main

import (
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

// nodeIP returns an address of this machine that is not loopback, as the
// agent lists it for host scopes.
func nodeIP(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && !ip.Unmap().IsLoopback() {
				return ip.Unmap()
			}
		}
	}
	t.Skip("this machine has no address but loopback: host scopes by IP cannot be tested")
	return netip.Addr{}
}

// otherNet returns a documentation network that holds none of this
// machine's addresses.
func otherNet(t *testing.T) netip.Prefix {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"} {
		pfx := netip.MustParsePrefix(p)
		if !slices.ContainsFunc(addrs, func(a net.Addr) bool {
			n, ok := a.(*net.IPNet)
			if !ok {
				return false
			}
			ip, ok := netip.AddrFromSlice(n.IP)
			return ok && pfx.Contains(ip.Unmap())
		}) {
			return pfx
		}
	}
	t.Skip("this machine has addresses in every documentation network")
	return netip.Prefix{}
}

// scopePolicies holds one policy per fact that event.Container does not
// carry, each with a twin that must not match. The secret value of the
// environment variable must never show anywhere.
func scopePolicies(t *testing.T, ip netip.Addr) string {
	doc := func(name, mode, scope, controls string) string {
		return "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: " + name + "}\nspec:\n  mode: " + mode +
			"\n  scope: " + scope + "\n  controls: " + controls + "\n"
	}
	forensics := "{forensics: {events: 5}}"
	return strings.Join([]string{
		doc("by-env", "enforce", "{container: {env: [MAMORI_SCOPE_TEST]}}", "{driftPrevention: {}}"),
		doc("by-other-env", "audit", `{container: {env: ["NOT_SET_*"]}}`, forensics),
		doc("by-image-label", "audit", `{image: {labels: {dev.mamori.test: "true", org.opencontainers.image.title: mamori-test-busybox}}}`, forensics),
		doc("by-other-image-label", "audit", `{image: {labels: {dev.mamori.test: "false"}}}`, forensics),
		doc("by-image-platform", "audit", "{image: {os: linux, architecture: "+runtime.GOARCH+"}}", forensics),
		doc("by-other-platform", "audit", "{image: {os: windows}}", forensics),
		doc("by-host-ip", "audit", "{container: {}, host: {ip: ["+netip.PrefixFrom(ip, ip.BitLen()).String()+"]}}", forensics),
		doc("by-other-ip", "audit", "{container: {}, host: {ip: ["+otherNet(t).String()+"]}}", forensics),
		doc("by-host-group", "audit", "{container: {}, host: {group: [scope-test-a]}}", forensics),
		doc("by-other-group", "audit", "{container: {}, host: {group: [scope-test-b]}}", forensics),
		// A creation control scoped by every fact at once: it refuses a
		// container at creation only if the OCI hook knows them all.
		doc("locked-by-facts", "enforce", `
    container: {env: [MAMORI_SCOPE_LOCKED]}
    image: {labels: {dev.mamori.test: "true"}, os: linux, architecture: `+runtime.GOARCH+`}
    host: {ip: [`+ip.String()+`], group: [scope-test-a]}`, "\n    limitContainerPrivileges: {block: [privileged]}"),
	}, "---\n")
}

// explained is what `mamori policy explain --json` says.
type explained struct {
	Container event.Container
	Target    struct {
		Container struct{ Env []string }
		Image     struct {
			Labels           map[string]string
			OS, Architecture string
		}
		Host struct {
			IPs    []string
			Groups []string
		}
	}
	Effective struct {
		Policies []struct{ Name string }
	}
}

func explainJSON(t *testing.T, addr, ref string) (explained, string) {
	t.Helper()
	out, err := exec.Command(mamoriBin, "policy", "explain", "--health-addr", addr, "-o", "json", ref).CombinedOutput()
	if err != nil {
		t.Fatalf("policy explain --json %s: %v\n%s", ref, err, out)
	}
	var ex explained
	if err := json.Unmarshal(out, &ex); err != nil {
		t.Fatalf("policy explain --json: %v\n%s", err, out)
	}
	return ex, string(out)
}

func (ex explained) applied() []string {
	var names []string
	for _, p := range ex.Effective.Policies {
		names = append(names, p.Name)
	}
	return names
}

// TestPolicyScopesOnNodeFacts runs the real agent with policies scoped by
// the facts that the node reads besides the container's identity: its
// environment variable names (a drift-enforcing policy applies to the
// container started with the variable and not to the other), its image's
// labels, OS and architecture, the node's address and its --host-group.
// `mamori policy explain` shows the facts, never the variable's value.
func TestPolicyScopesOnNodeFacts(t *testing.T) {
	podmantest.Require(t)
	ip := nodeIP(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "scopes.yaml"), []byte(scopePolicies(t, ip)), 0o644)
	a := startAlertingAgent(t, "--rules", "none", "--policy", dir, "--host-group", "scope-test-a", "--host-group", "scope-test-c")

	with := podmantest.Run(t, podmantest.Env("MAMORI_SCOPE_TEST", "s3cr3t-value"), podmantest.Args("--network", "none"))
	without := podmantest.Run(t, podmantest.Args("--network", "none"))
	time.Sleep(500 * time.Millisecond)
	podmantest.Exec(t, with, "true") // the first exec protects the container
	podmantest.Exec(t, without, "true")
	drop := "cp /bin/busybox /tmp/touch && /tmp/touch /tmp/ran; test -e /tmp/ran && echo RAN || echo REFUSED"
	if out := podmantest.Exec(t, with, "sh", "-c", drop); !strings.Contains(out, "REFUSED") {
		t.Errorf("the drift-enforcing policy scoped by env did not refuse the dropped script: %s", out)
	}
	if out := podmantest.Exec(t, without, "sh", "-c", drop); !strings.Contains(out, "RAN") {
		t.Errorf("a container without the env variable had its dropped script refused: %s", out)
	}

	want := []string{"by-image-label", "by-image-platform", "by-host-ip", "by-host-group"}
	never := []string{"by-other-env", "by-other-image-label", "by-other-platform", "by-other-ip", "by-other-group", "locked-by-facts"}
	for _, c := range []*podmantest.Container{with, without} {
		ex, raw := explainJSON(t, a.addr, c.Name)
		got := ex.applied()
		for _, p := range want {
			if !slices.Contains(got, p) {
				t.Errorf("%s: policy %s does not apply; applied %v\ntarget: %+v", c.Name, p, got, ex.Target)
			}
		}
		for _, p := range never {
			if slices.Contains(got, p) {
				t.Errorf("%s: policy %s applies; applied %v", c.Name, p, got)
			}
		}
		if slices.Contains(got, "by-env") != (c == with) {
			t.Errorf("%s: by-env applies = %v; applied %v; env names %v", c.Name, !(c == with), got, ex.Target.Container.Env)
		}
		if strings.Contains(raw, "s3cr3t-value") {
			t.Errorf("policy explain shows an environment variable's value:\n%s", raw)
		}
		if ex.Target.Image.Labels["dev.mamori.test"] != "true" || ex.Target.Image.OS != "linux" ||
			!slices.Contains(ex.Target.Host.IPs, ip.String()) || !slices.Equal(ex.Target.Host.Groups, []string{"scope-test-a", "scope-test-c"}) {
			t.Errorf("%s: explained target lacks facts: %+v", c.Name, ex.Target)
		}
	}
	out, err := exec.Command(mamoriBin, "policy", "explain", "--health-addr", a.addr, with.Name).CombinedOutput()
	for _, w := range []string{"MAMORI_SCOPE_TEST", "dev.mamori.test=true", "linux", runtime.GOARCH, ip.String(), "scope-test-a", "by-env"} {
		if err != nil || !strings.Contains(string(out), w) {
			t.Errorf("policy explain %s lacks %q (%v):\n%s", with.Name, w, err, out)
		}
	}
	if strings.Contains(string(out), "s3cr3t-value") {
		t.Errorf("policy explain shows an environment variable's value:\n%s", out)
	}

	alerts := a.stop(t)
	var blocked, audited *event.Alert
	for i := range alerts {
		al := &alerts[i]
		if al.Control != "driftPrevention" || al.Process == nil || al.Process.Exe != "/tmp/touch" {
			continue
		}
		switch al.Container.ID {
		case with.ID:
			blocked = al
		case without.ID:
			audited = al
		}
	}
	if blocked == nil || blocked.Action != event.Blocked || blocked.Policy != "by-env" {
		t.Errorf("drift alert of the container with the env variable: %+v", blocked)
	}
	if audited == nil || audited.Action != event.Audited || audited.Policy != "mamori-default" {
		t.Errorf("drift alert of the container without it: %+v", audited)
		for _, al := range alerts {
			t.Logf("alert: %s", al.Output)
		}
	}
}

// TestOCIHookScopesOnNodeFacts: at creation, the OCI hook matches scopes
// on the same facts as the runtime guard. A policy scoped by env name,
// image labels, OS and architecture, node address and host group refuses
// a privileged container that has them all, and not one without the env
// variable; with the agent in another host group, not even that one.
func TestOCIHookScopesOnNodeFacts(t *testing.T) {
	podmantest.Require(t)
	ip := nodeIP(t)
	dir := t.TempDir()
	polDir := filepath.Join(dir, "policies")
	os.Mkdir(polDir, 0o755)
	os.WriteFile(filepath.Join(polDir, "scopes.yaml"), []byte(scopePolicies(t, ip)), 0o644)
	hooks, socket := filepath.Join(dir, "hooks"), filepath.Join(dir, "hook.sock")
	if out, err := exec.Command(mamoriBin, "oci-hook", "install", "--allow-temporary-binary", "--dir", hooks, "--hook-socket", socket, "--timeout", "3s").CombinedOutput(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	n := 0
	create := func(env ...string) (string, error) {
		n++
		name := strings.ToLower(t.Name()) + "-" + string(rune('a'+n))
		t.Cleanup(func() { exec.Command("podman", "rm", "-f", name).Run() })
		argv := []string{"--hooks-dir", hooks, "run", "--rm", "--name", name, "--network", "none", "--privileged"}
		for _, e := range env {
			argv = append(argv, "--env", e)
		}
		out, err := exec.Command("podman", append(argv, podmantest.Image, "true")...).CombinedOutput()
		return string(out), err
	}

	a := startAlertingAgent(t, "--rules", "none", "--policy", polDir, "--hook-socket", socket, "--host-group", "scope-test-a")
	if out, err := create("MAMORI_SCOPE_LOCKED=1"); err == nil || !strings.Contains(out, "refused by policy") {
		t.Errorf("a privileged container with every fact of locked-by-facts was not refused at creation (%v):\n%s", err, out)
	}
	if out, err := create("OTHER=1"); err != nil {
		t.Errorf("a container without the env variable was refused: %v\n%s", err, out)
	}
	alerts := a.stop(t)
	if !slices.ContainsFunc(alerts, func(al event.Alert) bool {
		return al.Source == "runtime" && al.Policy == "locked-by-facts" && al.Action == event.Blocked
	}) {
		t.Errorf("no blocked creation alert from locked-by-facts among %d alerts", len(alerts))
	}

	a = startAlertingAgent(t, "--rules", "none", "--policy", polDir, "--hook-socket", socket, "--host-group", "scope-test-b")
	if out, err := create("MAMORI_SCOPE_LOCKED=1"); err != nil {
		t.Errorf("a container on a node outside the policy's host group was refused: %v\n%s", err, out)
	}
	a.stop(t)
}
