package k8stest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Node is a kubelet registered with a Cluster, running pods with a
// containerd of its own (its socket, root and state under the cluster's
// directory, so that the machine's containerd is left alone).
type Node struct {
	Name string
	// ContainerdRoot and ContainerdState are the private containerd's
	// --root and --state, where the agent reads pods' metadata.
	ContainerdRoot, ContainerdState string
	// Socket is containerd's socket, for ctr.
	Socket string

	c          *Cluster
	containerd *proc
	kubelet    *proc
}

// BusyboxImage is the test busybox image (scripts/build-test-image.sh),
// for pods; ImportImage puts it into the node's containerd.
const BusyboxImage = "localhost/mamori-test-busybox:latest"

// PauseImage is the sandbox image the node's containerd uses: the test
// busybox image sleeping, built locally (no registry here).
const PauseImage = "localhost/mamori-test-pause:latest"

// StartNode starts containerd and a kubelet for the cluster, waits until
// the node is Ready, and removes both, their pods, mounts and the CNI
// bridge when the test ends. It skips t when podman (to build the images)
// or containerd is missing. The cluster must have been started with
// Options.Node.
func (c *Cluster) StartNode(t testing.TB) *Node {
	t.Helper()
	if c.nodeToken == "" {
		t.Fatal("k8stest: StartNode needs a cluster started with Options{Node: true}")
	}
	for _, tool := range []string{"containerd", "ctr", "runc", "podman"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip(t, "a node needs %s (scripts/install-deps.sh installs it)", tool)
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		skip(t, "a node needs the CNI plugins in /usr/lib/cni (apt-get install containernetworking-plugins)")
	}
	n := &Node{Name: c.nodeName, c: c,
		ContainerdRoot:  filepath.Join(c.Dir, "containerd", "root"),
		ContainerdState: filepath.Join(c.Dir, "containerd", "state"),
		Socket:          filepath.Join(c.Dir, "containerd.sock"),
	}
	t.Cleanup(func() { n.stop(t) })
	n.startContainerd(t)
	if err := n.ImportImage(PauseImage, pauseImage); err != nil {
		t.Fatal(err)
	}
	n.startKubelet(t)
	cs := c.Client(t)
	waitFor(t, "node "+n.Name+" Ready", 120*time.Second, func(ctx context.Context) error {
		node, err := cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("not ready: %v", node.Status.Conditions)
	}, n.containerd, n.kubelet, c.apiserver)
	return n
}

func (n *Node) startContainerd(t testing.TB) {
	t.Helper()
	dir := n.c.Dir
	cniConf := filepath.Join(dir, "cni", "net.d")
	os.MkdirAll(cniConf, 0o755)
	writeFile(t, filepath.Join(cniConf, "10-mamori-test.conflist"), fmt.Appendf(nil, `{
  "cniVersion": "0.4.0",
  "name": "mamori-test",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "dataDir": %q}},
    {"type": "loopback"}
  ]
}
`, n.c.bridge, n.c.subnet, filepath.Join(dir, "cni", "ipam")))
	config := filepath.Join(dir, "containerd.toml")
	writeFile(t, config, fmt.Appendf(nil, `version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # This VM refuses an oom_score_adj below the caller's; without this runc
  # fails with "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
`, n.ContainerdRoot, n.ContainerdState, n.Socket, PauseImage, cniConf))
	n.containerd = startProc(t, dir, "containerd", []string{"containerd", "--config", config})
	waitFor(t, "containerd", 30*time.Second, func(ctx context.Context) error {
		return exec.CommandContext(ctx, "ctr", "--address", n.Socket, "version").Run()
	}, n.containerd)
}

func (n *Node) startKubelet(t testing.TB) {
	t.Helper()
	c := n.c
	dir := c.Dir
	kubeconfig := filepath.Join(dir, "kubelet.kubeconfig")
	writeFile(t, kubeconfig, []byte(c.kubeconfig("system:node:"+n.Name, c.nodeToken)))
	config := filepath.Join(dir, "kubelet.yaml")
	writeFile(t, config, fmt.Appendf(nil, `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Hybrid cgroups (v1 controllers and a v2 hierarchy) on this machine kind.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
containerRuntimeEndpoint: unix://%s
port: %d
readOnlyPort: 0
healthzPort: 0
# The API server calls the kubelet (exec, logs) with a client certificate
# of the cluster's CA; nothing else is let in.
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %s}
authorization: {mode: AlwaysAllow}
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, n.Socket, freePort(t), filepath.Join(dir, "ca.crt")))
	n.kubelet = startProc(t, dir, "kubelet", []string{filepath.Join(c.Bin, "kubelet"),
		"--config=" + config,
		"--kubeconfig=" + kubeconfig,
		"--root-dir=" + filepath.Join(dir, "kubelet"),
		"--hostname-override=" + n.Name,
	})
}

// ImportImage imports a podman image into the node's containerd (its
// k8s.io namespace), as ref; build makes the image in podman first when
// it is not there.
func (n *Node) ImportImage(ref string, build func(ref string) error) error {
	if exec.Command("podman", "image", "exists", ref).Run() != nil {
		if build == nil {
			return fmt.Errorf("podman has no image %s", ref)
		}
		if err := build(ref); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "mamori-k8s-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	archive := filepath.Join(tmp, "image.tar")
	if out, err := exec.Command("podman", "save", "-q", "--format", "oci-archive", "-o", archive, ref).CombinedOutput(); err != nil {
		return fmt.Errorf("podman save %s: %v: %s", ref, err, out)
	}
	base, _, _ := strings.Cut(ref, ":")
	if out, err := exec.Command("ctr", "--address", n.Socket, "-n", "k8s.io", "images", "import", "--base-name", base, archive).CombinedOutput(); err != nil {
		return fmt.Errorf("ctr images import %s: %v: %s", ref, err, out)
	}
	return nil
}

// pauseImage builds the sandbox image from the test busybox image
// (scripts/build-test-image.sh).
func pauseImage(ref string) error {
	script := filepath.Join(RepoDir(), "scripts", "build-test-image.sh")
	out, err := exec.Command(script).Output()
	if err != nil {
		return fmt.Errorf("%s: %v", script, err)
	}
	busybox := strings.TrimSpace(string(out))
	tmp, err := os.MkdirTemp("", "mamori-k8s-pause-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	os.WriteFile(filepath.Join(tmp, "Containerfile"), []byte("FROM "+busybox+"\nCMD [\"/bin/sleep\", \"2147483647\"]\n"), 0o644)
	if out, err := exec.Command("podman", "build", "-q", "-t", ref, tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("podman build %s: %v: %s", ref, err, out)
	}
	return nil
}

// stop deletes the pods (the kubelet stops their containers), stops the
// kubelet and containerd, kills what is left of the containers, and
// undoes what they left on the host: mounts under the cluster's
// directory and the CNI bridge.
func (n *Node) stop(t testing.TB) {
	c := n.c
	if n.kubelet != nil && !n.kubelet.exited() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cs := c.Client(t)
		nss, _ := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if nss != nil {
			for _, ns := range nss.Items {
				cs.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}, metav1.ListOptions{})
			}
		}
		for ctx.Err() == nil {
			pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n.Name})
			if err != nil || len(pods.Items) == 0 {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		cancel()
		n.kubelet.stop()
	}
	if n.containerd != nil && !n.containerd.exited() {
		ctr := func(args ...string) string {
			out, _ := exec.Command("ctr", append([]string{"--address", n.Socket, "-n", "k8s.io"}, args...)...).Output()
			return string(out)
		}
		for _, id := range strings.Fields(ctr("tasks", "ls", "-q")) {
			ctr("tasks", "kill", "-s", "SIGKILL", id)
		}
		for _, id := range strings.Fields(ctr("tasks", "ls", "-q")) {
			for range 20 {
				if ctr("tasks", "rm", "-f", id); !strings.Contains(ctr("tasks", "ls", "-q"), id) {
					break
				}
				time.Sleep(250 * time.Millisecond)
			}
		}
		n.containerd.stop()
	}
	unmountUnder(t, c.Dir)
}

// unmountUnder lazily unmounts every mount point under dir, deepest
// first.
func unmountUnder(t testing.TB, dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		if err := unix.Unmount(points[i], unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			t.Logf("unmount %s: %v", points[i], err)
		}
	}
}

// makeBridge makes the bridge the node's CNI plugin will use, with its
// gateway address, in a /24 of 10.200.0.0/13 no interface of the machine
// is in; it is deleted when the test ends.
func makeBridge(t testing.TB) (name, gateway, subnet string) {
	t.Helper()
	used := map[string]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				ip := ipn.IP.To4()
				used[fmt.Sprintf("%d.%d.%d", ip[0], ip[1], ip[2])] = true
			}
		}
	}
	start := os.Getpid()
	for i := range 2000 {
		n := (start + i) % 2000
		net24 := fmt.Sprintf("10.%d.%d", 200+n/250, n%250)
		if used[net24] {
			continue
		}
		name = fmt.Sprintf("mk8s%d", n)
		if out, err := exec.Command("ip", "link", "add", name, "type", "bridge").CombinedOutput(); err != nil {
			if strings.Contains(string(out), "exists") {
				continue
			}
			skip(t, "cannot make a bridge for the node's pods: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
		gateway = net24 + ".1"
		for _, args := range [][]string{{"addr", "add", gateway + "/24", "dev", name}, {"link", "set", name, "up"}} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		return name, gateway, net24 + ".0/24"
	}
	t.Fatal("no free /24 in 10.200.0.0/13 for the node's pods")
	return "", "", ""
}
