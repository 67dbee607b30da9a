package k8stest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Cluster is a running control plane: etcd and kube-apiserver on
// 127.0.0.1, stopped when the test that started it ends.
type Cluster struct {
	// Dir holds the cluster's files: certificates, kubeconfigs, logs.
	Dir string
	// Bin is the directory of the Kubernetes binaries.
	Bin string
	// Server is the API server's URL.
	Server string
	// Kubeconfig is a kubeconfig file for a cluster administrator
	// (system:masters).
	Kubeconfig string
	// CA issued the API server's certificate; tests issue their webhooks'
	// certificates from it too.
	CA *CA

	adminToken string
	// With Options.Node: the bridge the node's pods are on, made before
	// the API server so that it can listen on the bridge's address, which
	// pods reach without a kube-proxy.
	bridge, gateway, subnet string
	nodeName                string
	nodeToken               string
	apiserver               *proc
	etcd                    *proc
}

// Options change how the API server runs.
type Options struct {
	// APIServerArgs are added to kube-apiserver's flags (e.g. the audit
	// webhook's).
	APIServerArgs []string
	// CA issues the API server's certificate; nil makes a new one. A test
	// that must issue a webhook's certificate before the API server starts
	// (the audit webhook's) makes it first.
	CA *CA
	// Node prepares the cluster for StartNode: a kubelet's credentials,
	// and the API server's client certificate for calling it.
	Node bool
}

// Start brings up etcd and kube-apiserver and waits until the API server
// is ready. It skips t when the binaries cannot be built or it is not
// root (see Bin).
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	bin := Bin(t)
	// Short and free of the test's name: the kubelet and containerd put
	// sockets under it, and a socket path has a length limit.
	dir, err := os.MkdirTemp("", "mamori-k8s-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("MAMORI_K8S_KEEP") == "1" {
			t.Logf("cluster files kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	c := &Cluster{Dir: dir, Bin: bin, CA: o.CA, adminToken: randomToken(t)}
	if c.CA == nil {
		c.CA = NewCA(t)
	}

	etcdPort, peerPort := freePort(t), freePort(t)
	c.etcd = startProc(t, dir, "etcd", []string{filepath.Join(bin, "etcd"),
		"-data-dir", filepath.Join(dir, "etcd"),
		"-listen-client", fmt.Sprintf("http://127.0.0.1:%d", etcdPort),
		"-listen-peer", fmt.Sprintf("http://127.0.0.1:%d", peerPort)})
	t.Cleanup(c.etcd.stop)

	hosts := []string{"127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "10.96.0.1"}
	writeFile(t, filepath.Join(dir, "ca.crt"), c.CA.PEM)
	saKey := filepath.Join(dir, "sa.key")
	rsaKey(t, saKey)
	tokens := filepath.Join(dir, "tokens.csv")
	users := c.adminToken + `,admin,admin,"system:masters"` + "\n"
	if o.Node {
		c.nodeName = "mamori-test-" + strings.ToLower(rand.Text()[:8])
		c.nodeToken = randomToken(t)
		users += fmt.Sprintf("%s,system:node:%s,node,\"system:nodes\"\n", c.nodeToken, c.nodeName)
	}
	writeFile(t, tokens, []byte(users))
	bind := "127.0.0.1"
	if o.Node {
		c.bridge, c.gateway, c.subnet = makeBridge(t)
		bind = c.gateway
	}
	port := freePort(t)
	c.Server = fmt.Sprintf("https://%s:%d", bind, port)
	if bind != "127.0.0.1" {
		hosts = append(hosts, bind)
	}
	certFile, keyFile := c.CA.Issue(t, dir, "apiserver", hosts...)
	args := []string{filepath.Join(bin, "kube-apiserver"),
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdPort),
		"--bind-address=" + bind,
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + certFile,
		"--tls-private-key-file=" + keyFile,
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
		"--token-auth-file=" + tokens,
		"--authorization-mode=Node,RBAC",
		"--service-account-key-file=" + saKey,
		"--service-account-signing-key-file=" + saKey,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.96.0.0/16",
		// Validation of a privileged pod must not pre-empt the admission
		// webhook's verdict: the cluster allows them, mamori decides.
		"--allow-privileged=true",
		"--profiling=false",
	}
	if o.Node {
		cert, key := c.CA.Issue(t, dir, "apiserver-kubelet-client", "kube-apiserver-kubelet-client")
		// The node name is made up: the API server reaches the kubelet by
		// the address it reports.
		args = append(args, "--kubelet-client-certificate="+cert, "--kubelet-client-key="+key, "--kubelet-preferred-address-types=InternalIP")
	}
	args = append(args, o.APIServerArgs...)
	c.apiserver = startProc(t, dir, "kube-apiserver", args)
	t.Cleanup(c.apiserver.stop)

	c.Kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	writeFile(t, c.Kubeconfig, []byte(c.kubeconfig("admin", c.adminToken)))

	client := &http.Client{Transport: c.transport(t)}
	waitFor(t, "kube-apiserver /readyz", 90*time.Second, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", c.Server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+c.adminToken)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}, c.etcd, c.apiserver)
	return c
}

// kubeconfig is a kubeconfig for user authenticating with token.
func (c *Cluster) kubeconfig(user, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: test
  context: {cluster: test, user: %s}
current-context: test
`, c.Server, filepath.Join(c.Dir, "ca.crt"), user, token, user)
}

func (c *Cluster) transport(t testing.TB) http.RoundTripper {
	t.Helper()
	tr, err := rest.TransportFor(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// Config is a client-go configuration for a cluster administrator.
func (c *Cluster) Config() *rest.Config {
	return &rest.Config{
		Host:            c.Server,
		BearerToken:     c.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CA.PEM},
		QPS:             100,
		Burst:           200,
	}
}

// Client is a typed client-go clientset for a cluster administrator.
func (c *Cluster) Client(t testing.TB) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Kubectl runs the kubectl built with the cluster, as its administrator,
// with stdin; it returns the combined output and the error of the run.
func (c *Cluster) Kubectl(stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.Bin, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// MustKubectl is Kubectl that fails t on an error.
func (c *Cluster) MustKubectl(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, err := c.Kubectl(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// APIServerLog is what kube-apiserver has logged so far.
func (c *Cluster) APIServerLog() string {
	b, _ := os.ReadFile(c.apiserver.log)
	return string(b)
}

// randomToken is a bearer token no other cluster knows.
func randomToken(t testing.TB) string { return rand.Text() }

// Namespace creates a namespace and its default ServiceAccount, which
// no controller manager is there to make.
func (c *Cluster) Namespace(t testing.TB, name string) {
	t.Helper()
	cs := c.Client(t)
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// What the root CA publisher of the controller manager would put
	// there: pods' service account volumes read it.
	ca := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": string(c.CA.PEM)}}
	if _, err := cs.CoreV1().ConfigMaps(name).Create(ctx, ca, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// PodHost is the host's address on the pods' bridge (Options.Node): what a
// server of the test listens on for pods to reach it.
func (c *Cluster) PodHost() string { return c.gateway }

// PodEnv is the environment that points a pod's in-cluster client at the
// API server, which pods reach on the bridge's address (there is no
// kube-proxy for the kubernetes Service).
func (c *Cluster) PodEnv() []corev1.EnvVar {
	host, port, _ := strings.Cut(strings.TrimPrefix(c.Server, "https://"), ":")
	return []corev1.EnvVar{{Name: "KUBERNETES_SERVICE_HOST", Value: host}, {Name: "KUBERNETES_SERVICE_PORT", Value: port}}
}
