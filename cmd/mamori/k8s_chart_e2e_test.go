package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/k8stest"
)

// helmTemplate renders the chart with helm as a user would.
func helmTemplate(t *testing.T, c *k8stest.Cluster, args ...string) string {
	t.Helper()
	chart := filepath.Join(k8stest.RepoDir(), "deploy", "helm", "mamori")
	cmd := exec.Command(filepath.Join(c.Bin, "helm"), append([]string{"template", "mamori", chart, "--namespace", "mamori"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, err.(*exec.ExitError).Stderr)
	}
	return string(out)
}

// TestKubernetesChart checks that deploy/kubernetes/mamori.yaml is what
// the chart renders, and applies it to a real API server with server-side
// (strict) validation: every object, CRDs and webhook included, is one the
// API server takes as written.
func TestKubernetesChart(t *testing.T) {
	c := k8stest.Start(t, k8stest.Options{})
	repo := k8stest.RepoDir()
	rendered := helmTemplate(t, c, "--include-crds", "-f", filepath.Join(repo, "deploy", "kubernetes", "values.yaml"))
	committed, err := os.ReadFile(filepath.Join(repo, "deploy", "kubernetes", "mamori.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, body, _ := strings.Cut(string(committed), "\n---\n"); "---\n"+body != rendered {
		t.Errorf("deploy/kubernetes/mamori.yaml is stale: render it again (docs/kubernetes.md, \"Plain manifests\")")
	}

	// As docs/kubernetes.md says: the namespace, the webhook's Secret,
	// its CA in place of CA_BUNDLE, then the manifests.
	c.MustKubectl(t, "", "create", "namespace", "mamori")
	dir := t.TempDir()
	cert, key := c.CA.Issue(t, dir, "admission", "mamori-admission.mamori.svc")
	os.WriteFile(filepath.Join(dir, "ca.crt"), c.CA.PEM, 0o644)
	c.MustKubectl(t, "", "-n", "mamori", "create", "secret", "generic", "mamori-admission-tls",
		"--from-file=tls.crt="+cert, "--from-file=tls.key="+key, "--from-file=ca.crt="+filepath.Join(dir, "ca.crt"))
	manifests := strings.ReplaceAll(string(committed), "CA_BUNDLE", base64.StdEncoding.EncodeToString(c.CA.PEM))
	out := c.MustKubectl(t, manifests, "apply", "--server-side", "--validate=strict", "-f", "-")
	for _, want := range []string{
		"customresourcedefinition.apiextensions.k8s.io/runtimepolicies.mamori.dev serverside-applied",
		"daemonset.apps/mamori-agent serverside-applied",
		"deployment.apps/mamori-console serverside-applied",
		"deployment.apps/mamori-admission serverside-applied",
		"service/mamori-console serverside-applied",
		"validatingwebhookconfiguration.admissionregistration.k8s.io/mamori-admission serverside-applied",
		"clusterrole.rbac.authorization.k8s.io/mamori-policy-reader serverside-applied",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply does not say %q:\n%s", want, out)
		}
	}
	// The agent's service account may read the policies and report on
	// them, and read its pods' owners; nothing else.
	for check, want := range map[string]string{
		"list runtimepolicies.mamori.dev":                       "yes",
		"patch runtimepolicies.mamori.dev --subresource=status": "yes",
		"update runtimepolicies.mamori.dev":                     "no",
		"list secrets":                                          "no",
		"list pods":                                             "yes",
		"get replicasets.apps":                                  "yes",
		"list replicasets.apps":                                 "no",
		"delete pods":                                           "no",
	} {
		out, _ := c.Kubectl("", append([]string{"auth", "can-i", "--as=system:serviceaccount:mamori:mamori-agent"}, strings.Fields(check)...)...)
		lines := strings.Fields(out) // a warning may come first
		if len(lines) == 0 || lines[len(lines)-1] != want {
			t.Errorf("can the agent %s? %q, want %s", check, out, want)
		}
	}
	// The chart's values for PostgreSQL, an external NATS and the audit
	// webhook render objects the API server takes too (dry run).
	alt := helmTemplate(t, c, "--set", "console.store.kind=postgres,console.store.postgres.secret=pg,console.nats.url=nats://nats:4222,"+
		"console.auditWebhook.enabled=true,console.auditWebhook.secret=audit,agent.console.credsSecret=creds,console.replicas=3,"+
		"admission.tls.secret=mamori-admission-tls,admission.tls.caBundle="+base64.StdEncoding.EncodeToString(c.CA.PEM))
	if out, err := c.Kubectl(alt, "apply", "--server-side", "--validate=strict", "--dry-run=server", "-f", "-"); err != nil {
		t.Errorf("the chart with PostgreSQL, NATS and the audit webhook: %v\n%s", err, out)
	}
}

// TestKubernetesAgentPod runs the agent as the chart's DaemonSet would on
// a real kubelet: its image built by scripts/build-image.sh and imported
// into the node's containerd, a pod made from the DaemonSet's template
// (there is no controller manager here to make it), watching the
// RuntimePolicy objects: a policy applied with kubectl that enforces Drift
// Prevention is reported in force by the node. A binary dropped into another pod through
// kubectl exec is refused when it runs, and the agent's alert names the
// pod, its namespace, its labels and its owner (the Deployment above its
// ReplicaSet); the same exec, seen by the API
// server's audit webhook, raises "Exec Into Pod" for the same pod.
func TestKubernetesAgentPod(t *testing.T) {
	rulesFile := upstreamRules(t, "k8s_audit_rules.yaml")
	k8stest.Bin(t)
	audit := startAuditWebhook(t, rulesFile)
	opts := audit.options
	opts.Node = true
	c := k8stest.Start(t, opts)
	n := c.StartNode(t)
	image, agentImage := mamoriImages(t, n)
	if err := n.ImportImage(k8stest.BusyboxImage, nil); err != nil {
		t.Fatal(err)
	}

	// A console where the pods reach it (on their bridge), and the node's
	// credential in the Secret the chart mounts.
	con := startConsole(t, filepath.Join(t.TempDir(), "console"), podAddr(t, c), podAddr(t, c), "--tls-name", c.PodHost())
	creds := con.creds(t, "e2e", n.Name)

	repo, tag, _ := strings.Cut(image, ":")
	agentRepo, agentTag, _ := strings.Cut(agentImage, ":")
	values := fmt.Sprintf(`image: {repository: %s, tag: %s, pullPolicy: Never}
cluster: e2e
console: {enabled: false}
admission: {enabled: false}
agent:
  image: {repository: %s, tag: %s}
  containerd: {root: %s, state: %s}
  stateDir: %s
  console: {url: "nats://%s", credsSecret: mamori-agent-creds}
`, repo, tag, agentRepo, agentTag, n.ContainerdRoot, n.ContainerdState, filepath.Join(c.Dir, "mamori-state"), con.nats)
	valuesFile := filepath.Join(t.TempDir(), "values.yaml")
	os.WriteFile(valuesFile, []byte(values), 0o644)
	rendered := helmTemplate(t, c, "--include-crds", "-f", valuesFile)
	c.Namespace(t, "mamori")
	c.MustKubectl(t, "", "-n", "mamori", "create", "secret", "generic", "mamori-agent-creds", "--from-file="+n.Name+".creds="+creds)
	c.MustKubectl(t, rendered, "apply", "--server-side", "--validate=strict", "-f", "-")
	c.MustKubectl(t, "", "wait", "--for=condition=Established", "--timeout=60s", "crd/runtimepolicies.mamori.dev")

	// Play the DaemonSet controller: one pod for the node, owned by the
	// DaemonSet, from its template.
	cs := c.Client(t)
	ctx := context.Background()
	ds, err := cs.AppsV1().DaemonSets("mamori").Get(ctx, "mamori-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Spec.Template.Spec.Containers[0].Image; got != agentImage {
		t.Fatalf("the DaemonSet runs %s; want the lean agent's image %s", got, agentImage)
	}
	agentPod := podFrom(t, c, n, ds, "DaemonSet", ds.Spec.Template)
	waitPod(t, c, "mamori", agentPod.Name, true)

	// Policy is a kubectl apply away; the agent reports it in force.
	c.MustKubectl(t, `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: no-drift-in-shop}
spec:
  mode: enforce
  scope: {kubernetes: {namespace: shop}}
  controls:
    driftPrevention: {}
`, "apply", "--server-side", "-f", "-")
	eventually(t, "the agent reports the policy in force", 60*time.Second, func() error {
		out, _ := c.Kubectl("", "get", "runtimepolicy", "no-drift-in-shop", "-o", "jsonpath={.status.reporters[*].name}={.status.reporters[*].state}")
		if out != n.Name+"=Enforcing" {
			return fmt.Errorf("status %q\nagent log:\n%s", out, podLog(c, "mamori", agentPod.Name))
		}
		return nil
	})

	// The workload, as a Deployment's controllers would leave it: a
	// Deployment, its ReplicaSet, the ReplicaSet's pod.
	c.Namespace(t, "shop")
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: k8stest.BusyboxImage}}}}
	deploy, err := cs.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := cs.AppsV1().ReplicaSets("shop").Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-6d4b8",
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(deploy, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
		Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	web := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web", "tier": "front"},
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
		Spec: corev1.PodSpec{NodeName: n.Name, AutomountServiceAccountToken: new(false),
			Containers: []corev1.Container{{Name: "web", Image: k8stest.BusyboxImage, ImagePullPolicy: corev1.PullNever, Command: []string{"sleep", "3600"}}}}}
	if _, err := cs.CoreV1().Pods("shop").Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "shop", "web", true)

	// Through the API server and the kubelet, as kubectl exec does: the
	// image's own binaries run, a dropped one does not.
	if out, err := c.Kubectl("", "-n", "shop", "exec", "web", "--", "/bin/busybox", "true"); err != nil {
		p, _ := cs.CoreV1().Pods("shop").Get(ctx, "web", metav1.GetOptions{})
		t.Fatalf("an image binary in the pod: %v\n%s\npod status: %+v\nagent log:\n%s", err, out, p.Status.ContainerStatuses, podLog(c, "mamori", agentPod.Name))
	}
	var out string
	eventually(t, "the dropped binary refused", 60*time.Second, func() error {
		out, err = c.Kubectl("", "-n", "shop", "exec", "web", "--", "sh", "-c", "cp /bin/busybox /tmp/dropped && /tmp/dropped echo ran")
		if err == nil || strings.Contains(out, "ran") {
			return fmt.Errorf("the dropped binary ran: %v\n%s\nagent log:\n%s", err, out, podLog(c, "mamori", agentPod.Name))
		}
		return nil
	})
	var alert event.Alert
	eventually(t, "the agent's drift alert", 60*time.Second, func() error {
		logs := podLog(c, "mamori", agentPod.Name)
		lines := bufio.NewScanner(strings.NewReader(logs))
		lines.Buffer(nil, 1<<20)
		for lines.Scan() {
			var a event.Alert
			if json.Unmarshal(lines.Bytes(), &a) == nil && a.Process != nil && a.Process.Exe == "/tmp/dropped" {
				alert = a
				return nil
			}
		}
		return fmt.Errorf("no alert for /tmp/dropped in the agent's log:\n%s", logs)
	})
	ctr := alert.Container
	if ctr == nil || ctr.Pod == nil || ctr.Pod.Name != "web" || ctr.Pod.Namespace != "shop" || ctr.Pod.Container != "web" {
		b, _ := yaml.Marshal(alert)
		t.Fatalf("the alert does not name pod shop/web:\n%s", b)
	}
	if o := ctr.Pod.Owner; o == nil || o.Kind != "Deployment" || o.Name != "web" {
		t.Errorf("the alert names the owner %+v, want Deployment web", o)
	}
	if ctr.Pod.Labels["app"] != "web" || ctr.Pod.Labels["tier"] != "front" || len(ctr.Pod.Labels) != 2 {
		t.Errorf("the alert does not carry the pod's labels: %v", ctr.Pod.Labels)
	}
	if alert.Policy != "no-drift-in-shop" || alert.Control != "driftPrevention" {
		t.Errorf("the alert names policy %q, control %q", alert.Policy, alert.Control)
	}
	// The first rule that matches raises the alert: mamori's own, which
	// reads the exec's answer (101, the connection upgraded), before
	// Falco's.
	// The console has the same alert, with the same pod, labels and owner.
	eventually(t, "the alert in the console", 60*time.Second, func() error {
		var page store.AlertPage
		con.get(t, "/api/v1/alerts?namespace=shop&pod=web&node="+n.Name, &page)
		for _, raw := range page.Alerts {
			var al event.Alert
			if json.Unmarshal(raw, &al) == nil && al.UUID == alert.UUID {
				if p := al.Container.Pod; p.Owner == nil || p.Owner.Kind != "Deployment" || p.Owner.Name != "web" || p.Labels["app"] != "web" {
					return fmt.Errorf("the console's alert names pod %+v owner %+v", p, p.Owner)
				}
				return nil
			}
		}
		return fmt.Errorf("no alert %s among the console's %d for pod shop/web\nconsole log:\n%s\nagent log:\n%s", alert.UUID, len(page.Alerts), con.stderr, podLog(c, "mamori", agentPod.Name))
	})
	audit.waitAlerts(t, map[string]string{
		"Exec Into Pod": "user=admin groups=(system:masters,system:authenticated) pod=web ns=shop container=web command=sh ",
	})
}

// mamoriImages builds mamori's two images with scripts/build-image.sh, as
// a user would, and imports them into the node's containerd: the whole
// platform's (console, webhook) and the lean agent's.
func mamoriImages(t *testing.T, n *k8stest.Node) (image, agentImage string) {
	t.Helper()
	image = fmt.Sprintf("localhost/mamori:e2e-%d", os.Getpid())
	out, err := exec.Command(filepath.Join(k8stest.RepoDir(), "scripts", "build-image.sh"), image).Output()
	if err != nil {
		t.Fatalf("scripts/build-image.sh: %v\n%s%s", err, out, stderrOf(err))
	}
	names := strings.Fields(string(out))
	if want := []string{image, fmt.Sprintf("localhost/mamori-agent:e2e-%d", os.Getpid())}; !slices.Equal(names, want) {
		t.Fatalf("scripts/build-image.sh printed %q; want %q", names, want)
	}
	agentImage = names[1]
	t.Cleanup(func() { exec.Command("podman", "rmi", "-f", image, agentImage).Run() })
	for _, im := range names {
		if err := n.ImportImage(im, nil); err != nil {
			t.Fatal(err)
		}
	}
	return image, agentImage
}

// stderrOf is what a failed command wrote on stderr.
func stderrOf(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}

// podFrom plays a workload controller: a pod from the template of owner,
// bound to the node, pointed at the API server on the pods' bridge.
func podFrom(t *testing.T, c *k8stest.Cluster, n *k8stest.Node, owner metav1.Object, kind string, tmpl corev1.PodTemplateSpec) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: owner.GetName() + "-" + n.Name, Namespace: owner.GetNamespace(), Labels: tmpl.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, appsv1.SchemeGroupVersion.WithKind(kind))}},
		Spec: tmpl.Spec,
	}
	pod.Spec.NodeName = n.Name
	// No kube-proxy here for the kubernetes Service: the in-cluster
	// client is pointed at the API server's address on the pods' bridge.
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].Env = append(pod.Spec.Containers[i].Env, c.PodEnv()...)
	}
	pod, err := c.Client(t).CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// podAddr is a free address on the host's side of the pods' bridge.
func podAddr(t *testing.T, c *k8stest.Cluster) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(c.PodHost(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitPod waits until the pod runs (and with ready, passes its readiness
// probe).
func waitPod(t *testing.T, c *k8stest.Cluster, ns, name string, ready bool) {
	t.Helper()
	cs := c.Client(t)
	eventually(t, "pod "+ns+"/"+name, 180*time.Second, func() error {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			t.Fatalf("pod %s/%s ended (%s):\n%s", ns, name, p.Status.Phase, podLog(c, ns, name))
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("phase %s %+v", p.Status.Phase, p.Status.ContainerStatuses)
		}
		if ready {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					return nil
				}
			}
			return fmt.Errorf("not ready:\n%s", podLog(c, ns, name))
		}
		return nil
	})
}

func podLog(c *k8stest.Cluster, ns, name string) string {
	out, _ := c.Kubectl("", "-n", ns, "logs", name)
	return out
}

// TestKubernetesChartAdmission runs the chart's admission webhook in a
// pod on the kubelet, with the certificate the chart made and the
// ValidatingWebhookConfiguration it registered: the API server calls it
// through its Service (routed to the pod's endpoint, as there is no
// kube-proxy), it takes its policies from RuntimePolicy objects applied
// with kubectl, reports them in their status, and refuses a privileged
// pod with the reason.
func TestKubernetesChartAdmission(t *testing.T) {
	k8stest.Bin(t)
	c := k8stest.Start(t, k8stest.Options{Node: true, APIServerArgs: []string{"--enable-aggregator-routing=true"}})
	n := c.StartNode(t)
	image, _ := mamoriImages(t, n)
	repo, tag, _ := strings.Cut(image, ":")
	rendered := helmTemplate(t, c, "--include-crds", "--set", "image.repository="+repo+",image.tag="+tag+
		",image.pullPolicy=Never,agent.enabled=false,console.enabled=false,admission.replicas=1")
	c.Namespace(t, "mamori")
	c.MustKubectl(t, rendered, "apply", "--server-side", "--validate=strict", "-f", "-")
	c.MustKubectl(t, "", "wait", "--for=condition=Established", "--timeout=60s", "crd/runtimepolicies.mamori.dev")

	cs := c.Client(t)
	ctx := context.Background()
	dep, err := cs.AppsV1().Deployments("mamori").Get(ctx, "mamori-admission", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := podFrom(t, c, n, dep, "Deployment", dep.Spec.Template)
	waitPod(t, c, "mamori", pod.Name, true)
	pod, err = cs.CoreV1().Pods("mamori").Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// What the endpoints controller would publish for the Service.
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "mamori-admission-e2e", Labels: map[string]string{discoveryv1.LabelServiceName: "mamori-admission"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{pod.Status.PodIP}, Conditions: discoveryv1.EndpointConditions{Ready: new(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: new("https"), Port: new(int32(8443)), Protocol: new(corev1.ProtocolTCP)}},
	}
	if _, err := cs.DiscoveryV1().EndpointSlices("mamori").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	c.MustKubectl(t, `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: no-privileged-pods}
spec:
  mode: enforce
  scope: {kubernetes: {namespace: shop}}
  controls:
    limitContainerPrivileges: {block: [privileged]}
`, "apply", "--server-side", "-f", "-")
	reporter := "admission/" + pod.Name
	eventually(t, "the webhook reports the policy in force", 60*time.Second, func() error {
		out, _ := c.Kubectl("", "get", "runtimepolicy", "no-privileged-pods", "-o", "jsonpath={.status.reporters[*].name}={.status.reporters[*].state}")
		if out != reporter+"=Enforcing" {
			return fmt.Errorf("status %q\nwebhook log:\n%s", out, podLog(c, "mamori", pod.Name))
		}
		return nil
	})
	c.Namespace(t, "shop")
	out, err := c.Kubectl(`apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: shop}
spec:
  containers: [{name: sh, image: busybox, securityContext: {privileged: true}}]
`, "apply", "-f", "-")
	if err == nil || !strings.Contains(out, `admission webhook "workloads.admission.mamori.dev" denied the request`) ||
		!strings.Contains(out, `spec.containers[0].securityContext.privileged: container "sh" is privileged`) {
		t.Fatalf("a privileged pod through the chart's webhook: %v\n%s\nwebhook log:\n%s", err, out, podLog(c, "mamori", pod.Name))
	}
}
