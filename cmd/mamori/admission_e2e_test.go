package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// selfSigned writes a self-signed serving certificate for 127.0.0.1.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mamori-admission"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

const e2ePrivileged = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: no-privileged-pods}
spec:
  mode: MODE
  scope: {kubernetes: {namespace: shop}}
  controls:
    limitContainerPrivileges: {block: [privileged]}
`

// TestAdmissionServeE2E runs `mamori admission serve` as a user would and
// sends it AdmissionReviews over HTTPS: a privileged pod is allowed with a
// warning under the audit policy, refused once the policy file is edited
// to enforce (the running webhook reloads it), and the process stops
// cleanly on SIGTERM.
func TestAdmissionServeE2E(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, roots := selfSigned(t, dir)
	polDir := filepath.Join(dir, "policies")
	os.Mkdir(polDir, 0o755)
	polFile := filepath.Join(polDir, "privileged.yaml")
	os.WriteFile(polFile, []byte(strings.Replace(e2ePrivileged, "MODE", "audit", 1)), 0o644)
	addr := freeAddr(t)
	var stderr strings.Builder
	cmd := exec.Command(mamoriBin, "admission", "serve", "--listen", addr, "--tls-cert", certFile, "--tls-key", keyFile, "--policy", polDir)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}

	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := client.Get("https://" + addr + "/healthz")
		if err == nil {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if !strings.Contains(string(b), "no-privileged-pods") {
				t.Fatalf("healthz does not name the policy: %s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook did not come up: %v\n%s", err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "debug"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "sh", Image: "busybox:1.36",
			SecurityContext: &corev1.SecurityContext{Privileged: &[]bool{true}[0]}}}}}
	raw, _ := json.Marshal(pod)
	review := func() *admissionv1.AdmissionResponse {
		body, _ := json.Marshal(&admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: "e2e-1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
				Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: "shop", Operation: admissionv1.Create,
				Object: runtime.RawExtension{Raw: raw}},
		})
		r, err := client.Post("https://"+addr+"/validate", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var out admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&out); err != nil || out.Response == nil || out.Response.UID != "e2e-1" {
			t.Fatalf("HTTP %d: %v %+v", r.StatusCode, err, out)
		}
		return out.Response
	}

	if resp := review(); !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], `container "sh" is privileged`) {
		t.Fatalf("audit: want allowed with a warning, got %+v", resp)
	}
	os.WriteFile(polFile, []byte(strings.Replace(e2ePrivileged, "MODE", "enforce", 1)), 0o644)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp := review()
		if !resp.Allowed {
			if !strings.Contains(resp.Result.Message, "spec.containers[0].securityContext.privileged: container \"sh\" is privileged") {
				t.Errorf("the refusal does not say why: %s", resp.Result.Message)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edited policy was never reloaded:\n%s", stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("mamori admission serve exited with %v:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("mamori admission serve did not stop on SIGTERM")
	}
	if !strings.Contains(stderr.String(), "policies reloaded") || !strings.Contains(stderr.String(), "admission review") {
		t.Errorf("the log does not show the reload and the reviews:\n%s", stderr.String())
	}
}
