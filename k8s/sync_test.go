package k8s

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"

	"github.com/mamori-dev/mamori/internal/k8stest"
	"github.com/mamori-dev/mamori/policy"
)

// installCRDs applies the chart's CustomResourceDefinitions with kubectl
// (server-side, so the API server validates them) and waits until they
// are served.
func installCRDs(t *testing.T, c *k8stest.Cluster) {
	t.Helper()
	dir := filepath.Join(k8stest.RepoDir(), "deploy", "helm", "mamori", "crds")
	c.MustKubectl(t, "", "apply", "--server-side", "-f", dir)
	for _, r := range Resources {
		c.MustKubectl(t, "", "wait", "--for=condition=Established", "--timeout=60s", "crd/"+r.Plural+"."+Group)
	}
}

// userPolicies are the policies in force but the built-in default.
func userPolicies(st *policy.Store) []*policy.Policy {
	var out []*policy.Policy
	for _, p := range st.Current().Policies() {
		if !p.Builtin() {
			out = append(out, p)
		}
	}
	return out
}

func eventually(t *testing.T, what string, ok func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := ok()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestPolicySync runs PolicySync against a real API server with the
// chart's CRDs, and a real policy.Store loading what it writes; policies
// are changed with kubectl. The API server refuses what the schema can
// say (a mode that does not exist, an unknown field under strict
// validation); what only mamori can judge (a misspelt name in a block
// list) is applied but reported in the object's status with mamori's own
// message, and the policies in force do not change. A deleted object's
// file goes.
func TestPolicySync(t *testing.T) {
	c := k8stest.Start(t, k8stest.Options{})
	installCRDs(t, c)

	dir := t.TempDir()
	synced := filepath.Join(dir, "synced")
	os.Mkdir(synced, 0o755)
	store, err := policy.Open(nil, synced)
	if err != nil {
		t.Fatal(err)
	}
	sync := &PolicySync{
		Dir: synced, Reporter: "node-a", Client: dynamic.NewForConfigOrDie(c.Config()),
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Load: func() (map[string]policy.Mode, error) {
			if err := store.Reload(); err != nil {
				return nil, err
			}
			modes := map[string]policy.Mode{}
			for _, p := range store.Current().Policies() {
				modes[p.Name()] = p.Mode()
			}
			return modes, nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sync.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	c.MustKubectl(t, `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: no-drift}
spec:
  mode: enforce
  scope: {kubernetes: {namespace: shop}}
  controls:
    driftPrevention: {}
---
apiVersion: mamori.dev/v1
kind: ImageAssurancePolicy
metadata: {name: no-criticals}
spec:
  scope: {image: {}}
  rules: {maxSeverity: high}
`, "apply", "--server-side", "-f", "-")

	states := func(kind string) string {
		out, _ := c.Kubectl("", "get", kind, "-o", `jsonpath={range .items[*]}{.metadata.name}={range .status.reporters[*]}{.name}:{.state}:{.message}{end};{end}`)
		return out
	}
	eventually(t, "the policy in force and reported", func() error {
		if got := states("runtimepolicies"); got != "no-drift=node-a:Enforcing:;" {
			return fmt.Errorf("runtimepolicies: %q", got)
		}
		if got := states("imageassurancepolicies"); got != "no-criticals=node-a:Valid:;" {
			return fmt.Errorf("imageassurancepolicies: %q", got)
		}
		return nil
	})
	if p := userPolicies(store); len(p) != 1 || p[0].Name() != "no-drift" || p[0].Mode() != policy.Enforce {
		t.Fatalf("the store holds %v", p)
	}
	// kubectl get shows the columns.
	if out := c.MustKubectl(t, "", "get", "runtimepolicies"); !strings.Contains(out, "no-drift") || !strings.Contains(out, "enforce") || !strings.Contains(out, "node-a") || !strings.Contains(out, "Enforcing") {
		t.Errorf("kubectl get runtimepolicies:\n%s", out)
	}

	// What the schema says, the API server refuses.
	out, err := c.Kubectl(`apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: bad-mode}
spec:
  mode: enforcing
  controls: {driftPrevention: {}}
`, "apply", "--server-side", "-f", "-")
	if err == nil || !strings.Contains(out, `spec.mode: Unsupported value: "enforcing": supported values: "audit", "enforce"`) {
		t.Errorf("a mode that does not exist: err %v\n%s", err, out)
	}
	out, err = c.Kubectl(`apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: typo}
spec:
  controls: {driftPrevention: {}, forkGuard: {maxProcesss: 10}}
`, "apply", "--server-side", "--validate=strict", "-f", "-")
	if err == nil || !strings.Contains(out, `.spec.controls.forkGuard.maxProcesss: field not declared in schema`) {
		t.Errorf("an unknown field: err %v\n%s", err, out)
	}
	out, err = c.Kubectl(`apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: nothing}
spec:
  controls: {}
`, "apply", "--server-side", "-f", "-")
	if err == nil || !strings.Contains(out, "spec.controls: Invalid value: 0: spec.controls in body should have at least 1 properties") {
		t.Errorf("no control: err %v\n%s", err, out)
	}

	// What only mamori can judge is reported in the status, with the
	// message mamori's own loader gives; the store keeps what it had.
	c.MustKubectl(t, `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: privileges}
spec:
  mode: enforce
  controls:
    limitContainerPrivileges: {block: [privilegd]}
`, "apply", "--server-side", "-f", "-")
	_, want := policy.Parse("x.yaml", []byte("apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: privileges}\nspec:\n  controls:\n    limitContainerPrivileges: {block: [privilegd]}\n"))
	if want == nil {
		t.Fatal("mamori accepts the misspelt block list")
	}
	wantMsg := policy.Errors(want)[0].Msg
	eventually(t, "the invalid policy reported", func() error {
		got := states("runtimepolicies")
		if !strings.Contains(got, "privileges=node-a:Error:"+wantMsg) {
			return fmt.Errorf("runtimepolicies: %q, want the message %q", got, wantMsg)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(synced, "runtimepolicies-privileges.yaml")); !os.IsNotExist(err) {
		t.Errorf("the invalid policy was written: %v", err)
	}

	// Switching the mode is a kubectl apply; the store follows.
	c.MustKubectl(t, "", "patch", "runtimepolicy", "no-drift", "--type=merge", "-p", `{"spec":{"mode":"audit"}}`)
	eventually(t, "the mode change in force", func() error {
		if got := states("runtimepolicies"); !strings.Contains(got, "no-drift=node-a:Auditing:;") {
			return fmt.Errorf("runtimepolicies: %q", got)
		}
		if p := userPolicies(store); len(p) != 1 || p[0].Mode() != policy.Audit {
			return fmt.Errorf("the store holds %v", p)
		}
		return nil
	})

	c.MustKubectl(t, "", "delete", "runtimepolicy", "no-drift")
	eventually(t, "the deleted policy's file removed", func() error {
		if _, err := os.Stat(filepath.Join(synced, "runtimepolicies-no-drift.yaml")); !os.IsNotExist(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
}
