package k8stest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNodeRunsPods brings up the whole cluster, node included, and runs a
// real pod: scheduled by hand (there is no scheduler), started by the
// kubelet through containerd, with an address from the CNI bridge, and
// entered with kubectl exec through the API server and the kubelet.
func TestNodeRunsPods(t *testing.T) {
	c := Start(t, Options{Node: true})
	n := c.StartNode(t)
	if err := n.ImportImage(BusyboxImage, nil); err != nil {
		t.Fatal(err)
	}
	cs := c.Client(t)
	ctx := context.Background()
	c.Namespace(t, "shop")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: corev1.PodSpec{
		NodeName:                     n.Name,
		AutomountServiceAccountToken: new(false),
		Containers: []corev1.Container{{Name: "web", Image: BusyboxImage, ImagePullPolicy: corev1.PullNever,
			Command: []string{"sleep", "3600"}}},
	}}
	if _, err := cs.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ip string
	waitFor(t, "pod shop/web Running", 120*time.Second, func(ctx context.Context) error {
		p, err := cs.CoreV1().Pods("shop").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("phase %s: %+v", p.Status.Phase, p.Status.ContainerStatuses)
		}
		ip = p.Status.PodIP
		return nil
	}, n.kubelet, n.containerd)
	if ip == "" || !strings.HasPrefix(ip, "10.") {
		t.Errorf("pod IP %q is not from the CNI bridge", ip)
	}
	if out := c.MustKubectl(t, "", "-n", "shop", "exec", "web", "--", "cat", "/etc/hostname"); strings.TrimSpace(out) != "web" {
		t.Errorf("kubectl exec: %q", out)
	}
}
