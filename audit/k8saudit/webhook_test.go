package k8saudit

import (
	"bytes"
	"context"
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
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// traceEventList builds the EventList kube-apiserver would post for the
// events of Falco's trace files, and counts the alerts scanning the files
// raises.
func traceEventList(t *testing.T) ([]byte, map[string]int) {
	t.Helper()
	dir := corpora(t, "k8saudit", "falco-test-trace-files", "trace_files")
	var items []map[string]any
	var rd Reader
	rd.ReadPaths([]string{dir}, func(e *Event) { items = append(items, e.Fields) }, func(*Error) {})
	body, err := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": map[string]any{}, "items": items})
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := scan(t, load(t, upstreamRules(t)), true, dir)
	return body, want
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mamori k8s audit test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// startServer runs a webhook server over TLS on a free port, collecting
// alerts, until the test ends.
func startServer(t *testing.T, maxBody int64) (*Server, *http.Client, func() []*event.Alert) {
	t.Helper()
	certFile, keyFile, pool := selfSigned(t)
	var mu sync.Mutex
	var alerts []*event.Alert
	srv, err := Listen(ServerConfig{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, Webhook: WebhookConfig{
		Rules: load(t, upstreamRules(t)), All: true, MaxBodyBytes: maxBody,
		Alert: func(a *event.Alert) { mu.Lock(); alerts = append(alerts, a); mu.Unlock() },
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return srv, client, func() []*event.Alert { mu.Lock(); defer mu.Unlock(); return append([]*event.Alert(nil), alerts...) }
}

func post(t *testing.T, c *http.Client, url, ctype string, body []byte) (int, string) {
	t.Helper()
	resp, err := c.Post(url, ctype, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestWebhookEventList posts, over TLS and as kube-apiserver does, an
// EventList of every event of Falco's trace files to a listening server:
// it raises the same alerts as scanning the files.
func TestWebhookEventList(t *testing.T) {
	body, want := traceEventList(t)
	srv, client, alerts := startServer(t, 0)
	if !srv.TLS() {
		t.Fatal("server without TLS")
	}
	url := "https://" + srv.Addr().String() + "/k8s-audit"
	if code, msg := post(t, client, url, "application/json", body); code != http.StatusOK {
		t.Fatalf("status %d: %s", code, msg)
	}
	got := map[string]int{}
	for _, a := range alerts() {
		got[a.Rule]++
		if a.Source != Source || a.Time.IsZero() {
			t.Errorf("alert %+v", a)
		}
	}
	if len(got) == 0 || len(got) != len(want) {
		t.Errorf("webhook raised %v, the files %v", got, want)
	}
	for r, n := range want {
		if got[r] != n {
			t.Errorf("%s: webhook raised %d, the files %d", r, got[r], n)
		}
	}
	st := srv.Webhook().Stats()
	if st.Requests != 1 || st.Events != 51 || st.Alerts != uint64(len(alerts())) || st.Refused != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestWebhookRefuses checks what the webhook refuses, and why.
func TestWebhookRefuses(t *testing.T) {
	srv, client, alerts := startServer(t, 4096)
	url := "https://" + srv.Addr().String() + "/"
	ev := `{"kind":"Event","auditID":"a","stage":"ResponseStarted","stageTimestamp":"2024-05-01T10:00:00Z","verb":"create","objectRef":{"resource":"pods","subresource":"exec"}}`
	for _, tt := range []struct {
		name, ctype, body string
		code              int
		reason            string
	}{
		{"not JSON", "application/json", "{oops", 400, "body is not JSON"},
		{"two values", "application/json", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]} {}`, 400, "more than one JSON value"},
		{"a single event", "application/json", ev, 400, "body has kind Event: want an audit.k8s.io/v1 EventList"},
		{"another API", "application/json", `{"kind":"EventList","apiVersion":"v1","items":[]}`, 400, "apiVersion v1"},
		{"items not a list", "application/json", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":{}}`, 400, "not an array"},
		{"bad item", "application/json", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"kind":0},` + ev + `]}`, 400,
			`1 of 2 items are not audit events (the others were evaluated): item 0: kind is 0`},
		{"text", "text/plain", "{}", 415, "want application/json"},
		{"too big", "application/json", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + strings.Repeat(ev+",", 40) + ev + `]}`, 413, "larger than 4096 bytes"},
		{"empty list", "application/json; charset=utf-8", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":null}`, 200, ""},
	} {
		code, msg := post(t, client, url, tt.ctype, []byte(tt.body))
		if code != tt.code || !strings.Contains(msg, tt.reason) {
			t.Errorf("%s: %d %q, want %d with %q", tt.name, code, msg, tt.code, tt.reason)
		}
	}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	// The good item of the bad request was evaluated; nothing else was.
	if a := alerts(); len(a) != 1 || a[0].Rule != "Attach/Exec Pod" {
		t.Errorf("alerts %v", a)
	}
	if st := srv.Webhook().Stats(); st.Refused != 9 || st.Requests != 1 || st.BadEvents != 1 || st.Events != 1 {
		t.Errorf("stats %+v", st)
	}
	// Plain HTTP to the TLS server is turned away.
	if resp, err := http.Post("http://"+srv.Addr().String()+"/", "application/json", strings.NewReader("{}")); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS server: %d", resp.StatusCode)
		}
	}
}

func TestListenChecksTLSFiles(t *testing.T) {
	cfg := ServerConfig{Addr: "127.0.0.1:0", CertFile: "/nonexistent/cert.pem", KeyFile: "/nonexistent/key.pem",
		Webhook: WebhookConfig{Rules: load(t, upstreamRules(t)), Alert: func(*event.Alert) {}}}
	if _, err := Listen(cfg); err == nil || !strings.Contains(err.Error(), "/nonexistent/cert.pem") {
		t.Errorf("Listen with missing files: %v", err)
	}
	cfg.KeyFile = ""
	if _, err := Listen(cfg); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("Listen with a certificate only: %v", err)
	}
}

// TestWebhookBusy: a request beyond MaxConcurrent being read is answered
// 429 with Retry-After, which kube-apiserver retries; once a slot is free
// the next request is read.
func TestWebhookBusy(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	srv, err := Listen(ServerConfig{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, Webhook: WebhookConfig{
		Rules: load(t, upstreamRules(t)), MaxConcurrent: 1, Alert: func(*event.Alert) {},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := "https://" + srv.Addr().String() + "/"

	// A slow client holds the only slot: its body arrives in two parts.
	pr, pw := io.Pipe()
	slow := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url, pr)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	pw.Write([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[`))
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.Webhook().sem) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	body := []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}`)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(msg), "1 requests are being read") {
		t.Errorf("while saturated: %d %q, Retry-After %q", resp.StatusCode, msg, resp.Header.Get("Retry-After"))
	}
	pw.Write([]byte(`]}`))
	pw.Close()
	if code := <-slow; code != http.StatusOK {
		t.Errorf("the slow request: %d", code)
	}
	if code, msg := post(t, client, url, "application/json", body); code != http.StatusOK {
		t.Errorf("after the slot is free: %d %s", code, msg)
	}
	if st := srv.Webhook().Stats(); st.Busy != 1 || st.Requests != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestWebhookAuthentication: with a token file, a request without the
// token is answered 401; with a client CA, a client without a certificate
// it signed cannot connect.
func TestWebhookAuthentication(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	os.WriteFile(tokens, []byte("# kube-apiserver's token\ns3cret,system:apiserver,uid\n"), 0o600)
	ca, caKey, caFile := testCA(t, dir)
	clientCert := leafCert(t, ca, caKey)

	body := []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}`)
	for _, tc := range []struct {
		name      string
		cfg       ServerConfig
		token     string
		cert      *tls.Certificate
		wantCode  int
		wantError bool
	}{
		{"no token", ServerConfig{TokenFile: tokens}, "", nil, 401, false},
		{"wrong token", ServerConfig{TokenFile: tokens}, "guess", nil, 401, false},
		{"token", ServerConfig{TokenFile: tokens}, "s3cret", nil, 200, false},
		{"no client certificate", ServerConfig{ClientCAFile: caFile}, "", nil, 0, true},
		{"client certificate", ServerConfig{ClientCAFile: caFile}, "", &clientCert, 200, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Addr, cfg.CertFile, cfg.KeyFile = "127.0.0.1:0", certFile, keyFile
			cfg.Webhook = WebhookConfig{Rules: load(t, upstreamRules(t)), Alert: func(*event.Alert) {}}
			srv, err := Listen(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !srv.Authenticated() {
				t.Error("Authenticated() = false")
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go srv.Serve(ctx)
			tlsCfg := &tls.Config{RootCAs: pool}
			if tc.cert != nil {
				tlsCfg.Certificates = []tls.Certificate{*tc.cert}
			}
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
			req, _ := http.NewRequest(http.MethodPost, "https://"+srv.Addr().String()+"/", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := client.Do(req)
			if tc.wantError {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("connected without a client certificate: %d", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantCode)
			}
		})
	}
	if _, err := Listen(ServerConfig{Addr: "127.0.0.1:0", ClientCAFile: caFile,
		Webhook: WebhookConfig{Rules: load(t, upstreamRules(t)), Alert: func(*event.Alert) {}}}); err == nil || !strings.Contains(err.Error(), "need TLS") {
		t.Errorf("client CA without TLS: %v", err)
	}
}

// testCA makes a CA certificate and key, and writes the certificate.
func testCA(t *testing.T, dir string) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := filepath.Join(dir, "ca.pem")
	os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	return cert, key, p
}

// leafCert makes a client certificate signed by ca.
func leafCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
