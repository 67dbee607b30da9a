package admission

import (
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mamori-dev/mamori/policy"
)

// TestWebhookEveryKind sends each workload kind, built from Kubernetes'
// own types, to the running webhook under the default policy: the
// privileged pod by latest is refused with every reason and the field
// path of its kind; the hardened one is allowed without a word.
func TestWebhookEveryKind(t *testing.T) {
	w := startWebhook(t, staticSource{DefaultPolicies()})
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			obj, spec := wrap(kind, "web", badPod(), map[string]string{"app": "web"})
			resp := w.send(t, request(t, obj, "shop"))
			if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusForbidden {
				t.Fatalf("the privileged %s by latest was not refused: %+v", kind, resp)
			}
			msg := resp.Result.Message
			for _, want := range []string{
				"mamori refused " + kind + " shop/web: 3 violations",
				spec + ".containers[0].securityContext.privileged: container \"web\" is privileged",
				spec + ".containers[0].image: container \"web\" uses image \"nginx:latest\" by the mutable tag latest",
				"without a digest",
				"[limitContainerPrivileges/privileged, policy mamori-admission-default]",
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("the message lacks %q:\n%s", want, msg)
				}
			}
			obj, _ = wrap(kind, "web", goodPod(), map[string]string{"app": "web"})
			if resp := w.send(t, request(t, obj, "shop")); !resp.Allowed || len(resp.Warnings) > 0 || resp.Result != nil {
				t.Errorf("the hardened %s was not allowed cleanly: %+v", kind, resp)
			}
		})
	}
}

// TestWebhookEveryCheck: each check of the issue, one setting at a time
// on the hardened pod, is refused by the default policy for the reason
// it names.
func TestWebhookEveryCheck(t *testing.T) {
	w := startWebhook(t, staticSource{DefaultPolicies()})
	for _, tc := range []struct {
		check string
		edit  func(ps *corev1.PodSpec, c *corev1.Container)
	}{
		{"privileged", func(ps *corev1.PodSpec, c *corev1.Container) { c.SecurityContext.Privileged = ptr(true) }},
		{"hostNetwork", func(ps *corev1.PodSpec, c *corev1.Container) { ps.HostNetwork = true }},
		{"hostPID", func(ps *corev1.PodSpec, c *corev1.Container) { ps.HostPID = true }},
		{"hostIPC", func(ps *corev1.PodSpec, c *corev1.Container) { ps.HostIPC = true }},
		{"addedCapabilities", func(ps *corev1.PodSpec, c *corev1.Container) {
			c.SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}},
		{"runAsRoot", func(ps *corev1.PodSpec, c *corev1.Container) { c.SecurityContext.RunAsUser = ptr(int64(0)) }},
		{"runAsRoot", func(ps *corev1.PodSpec, c *corev1.Container) { ps.SecurityContext.RunAsNonRoot = nil }},
		{"allowPrivilegeEscalation", func(ps *corev1.PodSpec, c *corev1.Container) { c.SecurityContext.AllowPrivilegeEscalation = nil }},
		{"lowPorts", func(ps *corev1.PodSpec, c *corev1.Container) { c.Ports[0].ContainerPort = 443 }},
		{"lowPorts", func(ps *corev1.PodSpec, c *corev1.Container) { c.Ports[0].HostPort = 80 }},
		{"hostPathVolumes", func(ps *corev1.PodSpec, c *corev1.Container) {
			ps.Volumes = append(ps.Volumes, corev1.Volume{Name: "logs", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}})
		}},
		{"volumesBlocklist", func(ps *corev1.PodSpec, c *corev1.Container) {
			ps.Volumes = append(ps.Volumes, corev1.Volume{Name: "sock", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/run/containerd/containerd.sock"}}})
		}},
		{"seccompUnconfined", func(ps *corev1.PodSpec, c *corev1.Container) {
			c.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}},
		{"apparmorUnconfined", func(ps *corev1.PodSpec, c *corev1.Container) {
			c.SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		}},
		{"readOnlyRootFilesystem", func(ps *corev1.PodSpec, c *corev1.Container) { c.SecurityContext.ReadOnlyRootFilesystem = nil }},
		{"latestTag", func(ps *corev1.PodSpec, c *corev1.Container) {
			c.Image = "registry.example.com/shop/web:latest@sha256:" + strings.Repeat("0", 64)
		}},
		{"noDigest", func(ps *corev1.PodSpec, c *corev1.Container) { c.Image = "registry.example.com/shop/web:1.4" }},
	} {
		t.Run(tc.check, func(t *testing.T) {
			ps := goodPod()
			tc.edit(&ps, &ps.Containers[0])
			obj, _ := wrap("Pod", "web", ps, nil)
			resp := w.send(t, request(t, obj, "shop"))
			if resp.Allowed || !strings.Contains(resp.Result.Message, "/"+tc.check+", policy") {
				t.Fatalf("want a refusal for %s, got %+v", tc.check, resp)
			}
		})
	}
}

func writePolicies(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func openStore(t *testing.T, dir string) *policy.Store {
	t.Helper()
	st, err := policy.Open(slog.New(slog.DiscardHandler), dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

const privilegedEnforce = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: no-privileged}
spec:
  mode: enforce
  scope: {kubernetes: {}}
  controls:
    limitContainerPrivileges: {block: [privileged]}
`

const pinnedAudit = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: pinned-images-trial}
spec:
  mode: audit
  scope: {kubernetes: {}}
  controls:
    imageReferences: {}
    limitContainerPrivileges: {block: [privileged, hostNetwork]}
`

// TestWebhookEnforceAndAudit: an enforcing policy refuses, an auditing
// one allows with a warning per reason, and a setting both refuse is
// enforced once, not also warned about.
func TestWebhookEnforceAndAudit(t *testing.T) {
	dir := t.TempDir()
	writePolicies(t, dir, map[string]string{"a.yaml": privilegedEnforce, "b.yaml": pinnedAudit})
	w := startWebhook(t, StoreSource{openStore(t, dir)})

	obj, _ := wrap("Deployment", "web", badPod(), map[string]string{"app": "web"})
	resp := w.send(t, request(t, obj, "shop"))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "1 violation of enforcing policies") ||
		!strings.Contains(resp.Result.Message, "[limitContainerPrivileges/privileged, policy no-privileged]") {
		t.Errorf("privileged is enforced: %+v", resp)
	}
	if len(resp.Warnings) != 2 || !strings.Contains(resp.Warnings[0], "mamori audit (pinned-images-trial): spec.template.spec.containers[0].image:") ||
		!strings.Contains(resp.Warnings[1], "without a digest") {
		t.Errorf("the audit policy's two reasons are warnings: %q", resp.Warnings)
	}

	ps := goodPod()
	ps.Containers[0].Image = "nginx"
	ps.HostNetwork = true
	obj, _ = wrap("Deployment", "web", ps, map[string]string{"app": "web"})
	resp = w.send(t, request(t, obj, "shop"))
	if !resp.Allowed || resp.Result != nil || len(resp.Warnings) != 3 {
		t.Errorf("audit only: allowed with three warnings, got %+v", resp)
	}
}

// TestWebhookScopes: policies apply by namespace, pod labels and image,
// the way they do to running containers.
func TestWebhookScopes(t *testing.T) {
	dir := t.TempDir()
	writePolicies(t, dir, map[string]string{"scoped.yaml": `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: shop-web-read-only}
spec:
  mode: enforce
  scope:
    kubernetes:
      namespace: ["shop", "shop-*"]
      labels: {app: web}
  controls:
    readOnlyRootFilesystem: {}
---
apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: public-images-pinned}
spec:
  mode: enforce
  scope:
    all:
      - kubernetes: {}
      - image: {registry: docker.io}
  controls:
    imageReferences: {block: [noDigest]}
`})
	w := startWebhook(t, StoreSource{openStore(t, dir)})
	writable := goodPod()
	writable.Containers[0].SecurityContext.ReadOnlyRootFilesystem = nil
	for _, tc := range []struct {
		ns     string
		labels map[string]string
		refuse bool
	}{
		{"shop", map[string]string{"app": "web"}, true},
		{"shop-eu", map[string]string{"app": "web", "tier": "front"}, true},
		{"shop", map[string]string{"app": "db"}, false},
		{"billing", map[string]string{"app": "web"}, false},
	} {
		obj, _ := wrap("StatefulSet", "web", writable, tc.labels)
		resp := w.send(t, request(t, obj, tc.ns))
		if resp.Allowed == tc.refuse {
			t.Errorf("namespace %s labels %v: allowed %v, want %v (%+v)", tc.ns, tc.labels, resp.Allowed, !tc.refuse, resp.Result)
		}
	}

	// Per container: the public image without a digest is refused, the
	// private one next to it is not.
	ps := goodPod()
	side := ps.Containers[0]
	side.Name, side.Image = "proxy", "envoyproxy/envoy:v1.31"
	ps.Containers = append(ps.Containers, side)
	obj, _ := wrap("Pod", "web", ps, nil)
	resp := w.send(t, request(t, obj, "billing"))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "1 violation") || !strings.Contains(resp.Result.Message, `container "proxy" uses image "envoyproxy/envoy:v1.31" without a digest`) {
		t.Errorf("the public image is refused and only it: %+v", resp.Result)
	}
}

// TestWebhookReload: the running webhook answers by the new policies once
// the Store reloads, and keeps the old ones when the new file is broken.
func TestWebhookReload(t *testing.T) {
	dir := t.TempDir()
	audit := strings.Replace(privilegedEnforce, "mode: enforce", "mode: audit", 1)
	writePolicies(t, dir, map[string]string{"p.yaml": audit})
	st := openStore(t, dir)
	w := startWebhook(t, StoreSource{st})
	obj, _ := wrap("DaemonSet", "agent", badPod(), map[string]string{"app": "agent"})

	if resp := w.send(t, request(t, obj, "kube-system")); !resp.Allowed || len(resp.Warnings) != 1 {
		t.Fatalf("audit: %+v", resp)
	}
	writePolicies(t, dir, map[string]string{"p.yaml": privilegedEnforce})
	if err := st.Reload(); err != nil {
		t.Fatal(err)
	}
	if resp := w.send(t, request(t, obj, "kube-system")); resp.Allowed {
		t.Fatalf("after the switch to enforce the privileged DaemonSet is still allowed: %+v", resp)
	}
	writePolicies(t, dir, map[string]string{"p.yaml": audit + "    bogus: {}\n"})
	if err := st.Reload(); err == nil || !strings.Contains(err.Error(), "p.yaml:") {
		t.Fatalf("a broken file must not load, with its position: %v", err)
	}
	if resp := w.send(t, request(t, obj, "kube-system")); resp.Allowed {
		t.Errorf("a broken file replaced the enforcing policy: %+v", resp)
	}
}

// TestWebhookOtherRequests: what the webhook does not judge it allows,
// and what is not an AdmissionReview it refuses at the HTTP level.
func TestWebhookOtherRequests(t *testing.T) {
	w := startWebhook(t, staticSource{DefaultPolicies()})
	obj, _ := wrap("Deployment", "web", badPod(), nil)

	del := request(t, obj, "shop")
	del.Operation, del.Object, del.OldObject = admissionv1.Delete, runtime.RawExtension{}, del.Object
	if resp := w.send(t, del); !resp.Allowed {
		t.Errorf("a delete is not judged: %+v", resp)
	}
	scale := request(t, obj, "shop")
	scale.SubResource = "scale"
	scale.Object.Raw = []byte(`{"apiVersion":"autoscaling/v1","kind":"Scale","spec":{"replicas":3}}`)
	if resp := w.send(t, scale); !resp.Allowed {
		t.Errorf("a scale is not judged: %+v", resp)
	}
	upd := request(t, obj, "shop")
	upd.Operation = admissionv1.Update
	if resp := w.send(t, upd); resp.Allowed {
		t.Errorf("an update to a privileged pod template is judged like a create: %+v", resp)
	}
	cm := request(t, obj, "shop")
	cm.Kind.Kind, cm.Object.Raw = "ConfigMap", []byte(`{"apiVersion":"v1","kind":"ConfigMap","data":{"privileged":"true"}}`)
	if resp := w.send(t, cm); !resp.Allowed {
		t.Errorf("a ConfigMap holds no pod: %+v", resp)
	}
	garbled := request(t, obj, "shop")
	garbled.Object.Raw = []byte(`{"spec":{"template":{"spec":{"containers":"web"}}}}`)
	if resp := w.send(t, garbled); resp.Allowed || resp.Result.Code != http.StatusBadRequest {
		t.Errorf("an object that does not decode is refused as a bad request: %+v", resp)
	}

	for _, tc := range []struct {
		method, ctype, body string
		code                int
	}{
		{"GET", "", "", http.StatusMethodNotAllowed},
		{"POST", "text/plain", "{}", http.StatusUnsupportedMediaType},
		{"POST", "application/json", `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}`, http.StatusBadRequest},
		{"POST", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, http.StatusBadRequest},
		{"POST", "application/json", `[`, http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(tc.method, w.url, strings.NewReader(tc.body))
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		r, err := w.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != tc.code {
			t.Errorf("%s %s %q: HTTP %d, want %d", tc.method, tc.ctype, tc.body, r.StatusCode, tc.code)
		}
	}
}

// TestDefaultPolicyLoads keeps the embedded default valid and covering
// every check of the issue.
func TestDefaultPolicyLoads(t *testing.T) {
	ps, err := policy.Parse(DefaultFile, DefaultYAML())
	if err != nil || len(ps) != 1 || ps[0].Mode() != policy.Enforce {
		t.Fatalf("default policy: %v", err)
	}
	c := ps[0].Spec.Controls
	for _, name := range []string{"limitContainerPrivileges", "preventDefaultOverride", "volumesBlocklist", "hostPathVolumes",
		"readOnlyRootFilesystem", "blockPrivilegeEscalation", "imageReferences"} {
		if c.Get(name) == nil {
			t.Errorf("the default policy lacks %s", name)
		}
	}
	if l := c.LimitContainerPrivileges; slices.Contains(l.Block, "hostUserNamespace") {
		t.Errorf("hostUserNamespace would refuse every pod that does not set hostUsers: false")
	}
}
