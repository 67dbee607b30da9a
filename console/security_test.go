package console

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mamori-dev/mamori/console/auth"
	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/console/wire"
)

type secureClient struct {
	base, token string
	hc          *http.Client
}

func (c secureClient) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSecureConsole: TLS on both ports, the API only with a token and
// changes only with an admin's, each agent publishing as its own node
// only, and a revoked credential refused.
func TestSecureConsole(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, NATSListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", Secure: true}
	c := start(t, cfg)
	if c.FirstToken == "" {
		t.Fatal("a first run made no admin token")
	}
	tok, _ := os.ReadFile(c.FirstToken)
	ca, _ := os.ReadFile(c.CAFile())
	tlsCfg, err := auth.ClientTLS(ca)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 10 * time.Second}
	admin := secureClient{"https://" + c.APIAddr(), strings.TrimSpace(string(tok)), hc}

	if _, err := http.Get("http://" + c.APIAddr() + "/api/v1/alerts"); err == nil {
		// Go's client gets an HTTP 400 from a TLS server; either way
		// nothing is served in the clear.
		resp, _ := http.Get("http://" + c.APIAddr() + "/api/v1/alerts")
		if resp != nil && resp.StatusCode == 200 {
			t.Error("the API answers without TLS")
		}
	}
	anon := secureClient{admin.base, "", hc}
	if code, _ := anon.do(t, "GET", "/api/v1/alerts", ""); code != 401 {
		t.Errorf("no token: %d, want 401", code)
	}
	if code, _ := (secureClient{admin.base, "mamori_wrong", hc}).do(t, "GET", "/api/v1/alerts", ""); code != 401 {
		t.Errorf("a wrong token: %d, want 401", code)
	}
	code, body := admin.do(t, "POST", "/api/v1/tokens", `{"name":"analyst","role":"read"}`)
	if code != 200 {
		t.Fatalf("make a read token: %d %s", code, body)
	}
	var rt struct{ Token string }
	json.Unmarshal([]byte(body), &rt)
	reader := secureClient{admin.base, rt.Token, hc}
	if code, _ := reader.do(t, "GET", "/api/v1/alerts", ""); code != 200 {
		t.Errorf("a read token reading: %d", code)
	}
	// A dry run only reads (no such profile: 404, not 403); enforcing a
	// profile is a change.
	if code, body := reader.do(t, "POST", "/api/v1/profiles/abc/dryrun", `{}`); code != 404 {
		t.Errorf("a read token dry-running a policy: %d %s, want 404", code, body)
	}
	if code, _ := reader.do(t, "POST", "/api/v1/profiles/abc", `{"action":"enforce"}`); code != 403 {
		t.Errorf("a read token enforcing a profile: %d, want 403", code)
	}
	if code, _ := reader.do(t, "POST", "/api/v1/agents", `{"cluster":"c","node":"n1"}`); code != 403 {
		t.Errorf("a read token issuing a credential: %d, want 403", code)
	}
	if code, _ := admin.do(t, "POST", "/api/v1/policies", strings.Repeat("x", 5<<20)); code != 400 {
		t.Errorf("an oversized body: %d, want 400", code)
	}

	issue := func(node string) *wire.Credential {
		code, body := admin.do(t, "POST", "/api/v1/agents", `{"cluster":"c","node":"`+node+`"}`)
		if code != 200 {
			t.Fatalf("issue %s: %d %s", node, code, body)
		}
		var cred wire.Credential
		json.Unmarshal([]byte(body), &cred)
		return &cred
	}
	n1, n2 := issue("n1"), issue("n2")

	// Without a credential, or without TLS, nothing connects.
	if nc, err := nats.Connect(c.NATSURL(), nats.Secure(tlsCfg)); err == nil {
		nc.Close()
		t.Error("connected to NATS without a credential")
	}

	// n1 publishes its own alerts; as n2 (n2's subject) it is refused
	// by the server, and the console never stores it.
	l, err := link.New(link.Config{URL: c.NATSURL(), Cluster: "c", Node: "n1", Creds: n1, SpoolDir: filepath.Join(dir, "spool1")}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx, node{"n1"}); close(done) }()
	l.Alert(alertFrom("n1", 1))
	l.Alert(alertFrom("n2", 2)) // as another node: the server refuses it
	l.Alert(alertFrom("n1", 3))
	waitFor(t, "n1's alerts stored", 10*time.Second, func() bool {
		code, body := admin.do(t, "GET", "/api/v1/alerts?node=n1", "")
		return code == 200 && strings.Count(body, `"kind":"alert"`) == 2
	})
	// The server drops it and no acknowledgement comes: after the
	// publish timeout the agent keeps it in its spool.
	waitFor(t, "the refused alert spooled", 15*time.Second, func() bool { return l.Counts().Spooled > 0 })
	if code, body := admin.do(t, "GET", "/api/v1/alerts?node=n2", ""); code != 200 || strings.Contains(body, `"kind":"alert"`) {
		t.Errorf("n1 published as n2: %s", body)
	}

	// Revoked: the connection is closed and a new one refused.
	if code, body := admin.do(t, "DELETE", "/api/v1/agents/c/n1", ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	waitFor(t, "the revoked agent is disconnected", 10*time.Second, func() bool {
		l.Alert(alertFrom("n1", 9))
		time.Sleep(100 * time.Millisecond)
		return !l.Counts().Connected
	})
	cancel()
	<-done
	kp := credConn(t, c.NATSURL(), n1, tlsCfg)
	if kp == nil {
		t.Error("a revoked credential connected")
	}
	if credConn(t, c.NATSURL(), n2, tlsCfg) != nil {
		t.Error("a valid credential could not connect")
	}
}

// credConn connects with cred and returns the error (nil: connected).
func credConn(t *testing.T, url string, cred *wire.Credential, _ *tls.Config) error {
	t.Helper()
	opts, err := link.CredOptions(cred)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, opts...)
	if err == nil {
		nc.Close()
	}
	return err
}
