package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/k8stest"
)

// mamoriProc is a mamori server started by a Kubernetes test; its stderr
// is kept for failure messages.
type mamoriProc struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	log strings.Builder
}

func startMamori(t *testing.T, args ...string) *mamoriProc {
	t.Helper()
	p := &mamoriProc{cmd: exec.Command(mamoriBin, args...)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			p.mu.Lock()
			p.log.WriteString(lines.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	return p
}

func (p *mamoriProc) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// eventually polls ok every 200 ms until it returns nil, and fails t with
// its last error after limit.
func eventually(t *testing.T, what string, limit time.Duration, ok func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := ok()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// registerAdmission registers the webhook of deploy/admission/webhook.yaml
// with the cluster, calling url instead of the in-cluster Service.
func registerAdmission(t *testing.T, cs kubernetes.Interface, url string, caBundle []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(k8stest.RepoDir(), "deploy", "admission", "webhook.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// certs.sh fills the placeholder in; the test sets the bundle below.
	raw = []byte(strings.Replace(string(raw), "caBundle: CA_BUNDLE", `caBundle: ""`, 1))
	var cfg admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		t.Fatalf("deploy/admission/webhook.yaml: %v", err)
	}
	for i := range cfg.Webhooks {
		cfg.Webhooks[i].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle}
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(context.Background(), &cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// makeNamespace creates a namespace and its default ServiceAccount (there
// is no controller manager to make it).
func makeNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

const k8sAdmissionPolicies = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: no-privileged-pods}
spec:
  mode: enforce
  scope: {kubernetes: {namespace: shop}}
  controls:
    limitContainerPrivileges: {block: [privileged, hostPID]}
---
apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: read-only-roots}
spec:
  mode: audit
  scope: {kubernetes: {namespace: shop}}
  controls:
    readOnlyRootFilesystem: {}
`

// warnings collects the warnings the API server sends back.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	w.list = append(w.list, text)
	w.mu.Unlock()
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

// TestKubernetesAdmission registers `mamori admission serve` with a real
// kube-apiserver through deploy/admission/webhook.yaml and creates
// workloads with real clients (client-go and kubectl): a privileged Pod,
// and the pod templates of a Deployment, a DaemonSet, a Job and a CronJob,
// are refused with the field and the policy in the API server's answer; a
// compliant Pod is created, with the audit policy's reason as a warning.
func TestKubernetesAdmission(t *testing.T) {
	c := k8stest.Start(t, k8stest.Options{})
	dir := t.TempDir()
	cert, key := c.CA.Issue(t, dir, "admission", "127.0.0.1")
	pol := filepath.Join(dir, "policies.yaml")
	os.WriteFile(pol, []byte(k8sAdmissionPolicies), 0o644)
	addr := freeAddr(t)
	webhook := startMamori(t, "admission", "serve", "--listen", addr, "--tls-cert", cert, "--tls-key", key, "--policy", pol)

	cs := c.Client(t)
	registerAdmission(t, cs, "https://"+addr+"/validate", c.CA.PEM)
	makeNamespace(t, cs, "shop")

	var warned warnings
	cfg := c.Config()
	cfg.WarningHandler = &warned
	cs = kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()

	privileged := func() corev1.PodSpec {
		return corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "busybox:1.36",
			SecurityContext: &corev1.SecurityContext{Privileged: new(true)}}}}
	}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: privileged()}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	jobTmpl := tmpl
	jobTmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	meta := metav1.ObjectMeta{Name: "web", Namespace: "shop"}

	// The webhook may take a moment to listen: the first refusal waits
	// for it (failurePolicy Fail refuses with another reason meanwhile).
	var err error
	eventually(t, "a privileged pod is refused by mamori", 30*time.Second, func() error {
		_, err = cs.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{ObjectMeta: meta, Spec: privileged()}, metav1.CreateOptions{})
		if err != nil && strings.Contains(err.Error(), "mamori refused") {
			return nil
		}
		return fmt.Errorf("create: %v\nwebhook log:\n%s", err, webhook)
	})
	for name, create := range map[string]func() error{
		"Pod": func() error { return err },
		"Deployment": func() error {
			_, err := cs.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
			return err
		},
		"DaemonSet": func() error {
			_, err := cs.AppsV1().DaemonSets("shop").Create(ctx, &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
			return err
		},
		"Job": func() error {
			_, err := cs.BatchV1().Jobs("shop").Create(ctx, &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Template: jobTmpl}}, metav1.CreateOptions{})
			return err
		},
		"CronJob": func() error {
			_, err := cs.BatchV1().CronJobs("shop").Create(ctx, &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{Schedule: "@hourly",
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTmpl}}}}, metav1.CreateOptions{})
			return err
		},
	} {
		field := map[string]string{"Pod": "spec.containers[0]", "CronJob": "spec.jobTemplate.spec.template.spec.containers[0]"}[name]
		if field == "" {
			field = "spec.template.spec.containers[0]"
		}
		err := create()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: want Forbidden from the API server, got %v", name, err)
			continue
		}
		for _, want := range []string{
			`admission webhook "workloads.admission.mamori.dev" denied the request`,
			"mamori refused " + name + " shop/web",
			field + `.securityContext.privileged: container "web" is privileged`,
			"[limitContainerPrivileges/privileged, policy no-privileged-pods]",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the refusal does not say %q:\n%v", name, want, err)
			}
		}
	}
	warned.take()

	// A compliant pod is admitted; the audit policy's finding comes back
	// as a warning.
	ok := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ok", Namespace: "shop"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "busybox:1.36"}}}}
	if _, err := cs.CoreV1().Pods("shop").Create(ctx, ok, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a compliant pod was refused: %v", err)
	}
	if w := strings.Join(warned.take(), "\n"); !strings.Contains(w, "mamori audit (read-only-roots): spec.containers[0].securityContext.readOnlyRootFilesystem") {
		t.Errorf("no audit warning for the writable root, got %q", w)
	}

	// kubectl, as a user would apply a manifest: the refusal is its error.
	out, err := c.Kubectl(`apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      hostPID: true
      containers: [{name: api, image: "busybox:1.36"}]
`, "apply", "--server-side", "-f", "-")
	if err == nil || !strings.Contains(out, `denied the request`) || !strings.Contains(out, "spec.template.spec.hostPID: the pod shares the host's process namespace") {
		t.Errorf("kubectl apply of a hostPID Deployment: err %v, output:\n%s", err, out)
	}
	if l := webhook.String(); !strings.Contains(l, "admission review") {
		t.Errorf("the webhook's log shows no review:\n%s", l)
	}
}

// auditWebhook is `mamori k8saudit serve` with the given rules, over TLS
// with a bearer token, and the API server options that send it the audit
// events of deploy/audit/policy.yaml.
type auditWebhook struct {
	serve   *serveProc
	alerts  string
	options k8stest.Options
}

func startAuditWebhook(t *testing.T, rulesFile string) *auditWebhook {
	t.Helper()
	dir := t.TempDir()
	ca := k8stest.NewCA(t)
	cert, key := ca.Issue(t, dir, "audit", "127.0.0.1")
	os.WriteFile(filepath.Join(dir, "tokens"), []byte("audit-secret-token\n"), 0o600)
	a := &auditWebhook{alerts: filepath.Join(dir, "alerts.json")}
	a.serve = startServe(t, "--tls-cert", cert, "--tls-key", key, "--token-file", filepath.Join(dir, "tokens"),
		"--rules", rulesFile, "--alerts-output", a.alerts)
	os.WriteFile(filepath.Join(dir, "ca.crt"), ca.PEM, 0o644)
	os.WriteFile(filepath.Join(dir, "audit-webhook.kubeconfig"), fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: mamori
  cluster: {server: %s/k8s-audit, certificate-authority: %s}
users:
- name: apiserver
  user: {token: audit-secret-token}
contexts:
- name: default
  context: {cluster: mamori, user: apiserver}
current-context: default
`, a.serve.url, filepath.Join(dir, "ca.crt")), 0o600)
	a.options = k8stest.Options{CA: ca, APIServerArgs: []string{
		"--audit-policy-file=" + filepath.Join(k8stest.RepoDir(), "deploy", "audit", "policy.yaml"),
		"--audit-webhook-config-file=" + filepath.Join(dir, "audit-webhook.kubeconfig"),
		"--audit-webhook-batch-max-wait=1s",
	}}
	return a
}

// waitAlerts waits until, for each rule, an alert's output says the text.
func (a *auditWebhook) waitAlerts(t *testing.T, want map[string]string) {
	t.Helper()
	eventually(t, "the audit alerts", 60*time.Second, func() error {
		got := map[string]string{}
		if b, err := os.ReadFile(a.alerts); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var al event.Alert
				if json.Unmarshal([]byte(line), &al) == nil {
					got[al.Rule] += al.Output + "\n"
				}
			}
		}
		for rule, text := range want {
			if !strings.Contains(got[rule], text) {
				return fmt.Errorf("no %q alert saying %q; alerts by rule: %v\nserve log:\n%s", rule, text, got, a.serve.log.String())
			}
		}
		return nil
	})
}

// TestKubernetesAudit points a real kube-apiserver's audit webhook backend
// (--audit-policy-file, --audit-webhook-config-file) at `mamori k8saudit
// serve` over TLS with a bearer token, and checks that requests made with
// real clients raise the upstream k8s_audit rules' alerts: an exec into a
// pod (Attach/Exec Pod) and reading a secret (K8s Secret Get
// Successfully).
func TestKubernetesAudit(t *testing.T) {
	rulesFile := upstreamRules(t, "k8s_audit_rules.yaml")
	k8stest.Bin(t) // skip before starting anything
	audit := startAuditWebhook(t, rulesFile)
	c := k8stest.Start(t, audit.options)
	cs := c.Client(t)
	ctx := context.Background()
	makeNamespace(t, cs, "shop")
	if _, err := cs.CoreV1().Secrets("shop").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-password"}, StringData: map[string]string{"password": "hunter2"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "busybox:1.36"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Real clients: kubectl reads the secret and execs into the pod. The
	// pod has no node, so the exec itself fails; the API server has begun
	// answering the request by then, which is what the rule looks at.
	c.MustKubectl(t, "", "-n", "shop", "get", "secret", "db-password", "-o", "name")
	if out, err := c.Kubectl("", "-n", "shop", "exec", "web", "--", "cat", "/etc/shadow"); err == nil {
		t.Fatalf("exec into a pod without a node succeeded:\n%s", out)
	}

	audit.waitAlerts(t, map[string]string{
		"Attach/Exec Pod":             "pod=web resource=pods ns=shop action=exec command=cat",
		"K8s Secret Get Successfully": "user=admin secret=db-password ns=shop",
	})
	// The secret's value never reaches the audit backend: the policy logs
	// secrets at the Metadata level.
	if b, _ := os.ReadFile(audit.alerts); strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "aHVudGVyMg") {
		t.Errorf("the secret's value reached an alert")
	}
}

// TestKubernetesPolicyObjects runs `mamori admission serve
// --kubernetes-policies` against a real API server with the chart's
// CustomResourceDefinitions: policy is changed with `kubectl apply` of a
// RuntimePolicy object, the webhook enforces it, and `kubectl get
// runtimepolicies` shows the webhook's report.
func TestKubernetesPolicyObjects(t *testing.T) {
	c := k8stest.Start(t, k8stest.Options{})
	c.MustKubectl(t, "", "apply", "--server-side", "-f", filepath.Join(k8stest.RepoDir(), "deploy", "helm", "mamori", "crds"))
	c.MustKubectl(t, "", "wait", "--for=condition=Established", "--timeout=60s", "crd/runtimepolicies.mamori.dev", "crd/imageassurancepolicies.mamori.dev")
	dir := t.TempDir()
	cert, key := c.CA.Issue(t, dir, "admission", "127.0.0.1")
	addr := freeAddr(t)
	webhook := startMamori(t, "admission", "serve", "--listen", addr, "--tls-cert", cert, "--tls-key", key,
		"--kubernetes-policies", "--kubeconfig", c.Kubeconfig, "--kubernetes-policy-dir", filepath.Join(dir, "synced"),
		"--kubernetes-reporter", "admission-0")
	cs := c.Client(t)
	registerAdmission(t, cs, "https://"+addr+"/validate", c.CA.PEM)
	makeNamespace(t, cs, "shop")
	ctx := context.Background()
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "busybox:1.36",
				SecurityContext: &corev1.SecurityContext{Privileged: new(true)}}}}}
	}
	// No policy object yet: nothing to refuse (once the webhook answers).
	eventually(t, "a privileged pod admitted with no policy object", 30*time.Second, func() error {
		_, err := cs.CoreV1().Pods("shop").Create(ctx, pod("before"), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("%v\nwebhook log:\n%s", err, webhook)
		}
		return nil
	})

	c.MustKubectl(t, `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: no-privileged-pods}
spec:
  mode: enforce
  scope: {kubernetes: {namespace: shop}}
  controls:
    limitContainerPrivileges: {block: [privileged]}
`, "apply", "--server-side", "-f", "-")
	eventually(t, "the webhook reports the policy in force", 60*time.Second, func() error {
		out, _ := c.Kubectl("", "get", "runtimepolicies", "no-privileged-pods")
		if !strings.Contains(out, "admission-0") || !strings.Contains(out, "Enforcing") {
			return fmt.Errorf("kubectl get runtimepolicies:\n%s\nwebhook log:\n%s", out, webhook)
		}
		return nil
	})
	_, err := cs.CoreV1().Pods("shop").Create(ctx, pod("after"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "[limitContainerPrivileges/privileged, policy no-privileged-pods]") {
		t.Fatalf("a privileged pod under the applied policy: %v", err)
	}

	// A policy object mamori cannot load is reported, and the one in
	// force stays.
	c.MustKubectl(t, "", "patch", "runtimepolicy", "no-privileged-pods", "--type=merge", "-p", `{"spec":{"controls":{"limitContainerPrivileges":{"block":["privileged","hostPIDD"]}}}}`)
	eventually(t, "the bad edit reported", 60*time.Second, func() error {
		out, _ := c.Kubectl("", "get", "runtimepolicy", "no-privileged-pods", "-o", "jsonpath={.status.reporters[0].state}: {.status.reporters[0].message}")
		if out != `Error: unknown privilege "hostPIDD"; did you mean "hostPID"?; generation 1 stays in force` {
			return fmt.Errorf("status: %q", out)
		}
		return nil
	})
	if _, err := cs.CoreV1().Pods("shop").Create(ctx, pod("still"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the bad edit lifted the policy in force: %v", err)
	}
}
