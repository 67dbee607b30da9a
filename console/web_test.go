package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/console/api"
	"github.com/mamori-dev/mamori/console/auth"
	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/event"
)

// browser is an HTTP client that keeps cookies and does not follow
// redirects, as a test of what a browser is told.
func browser(t *testing.T, ca []byte) *http.Client {
	tlsCfg, err := auth.ClientTLS(ca)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func send(t *testing.T, hc *http.Client, method, url, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestWebLogin: a page without the login cookie sends the browser to the
// login page (and back afterwards); logging in with a token sets an
// HttpOnly, SameSite=Strict, Secure cookie; with it the pages and the API
// answer; a change made with the cookie needs the console's own header
// (no cross-site form can add it); a read token's cookie cannot change
// anything; a wrong token is refused.
func TestWebLogin(t *testing.T) {
	dir := t.TempDir()
	c := start(t, Config{DataDir: dir, NATSListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", Secure: true})
	tok, _ := os.ReadFile(c.FirstToken)
	admin := strings.TrimSpace(string(tok))
	ca, _ := os.ReadFile(c.CAFile())
	base := "https://" + c.APIAddr()
	b := browser(t, ca)

	resp, _ := send(t, b, "GET", base+"/feed?namespace=shop&rule=Secret+file+read", "")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login?next="+"%2Ffeed%3Fnamespace%3Dshop%26rule%3DSecret%2Bfile%2Bread" {
		t.Fatalf("a page without a login: %s, Location %q; want a redirect to the login page that names it", resp.Status, resp.Header.Get("Location"))
	}
	if resp, _ := send(t, b, "GET", base+"/", ""); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/feed" {
		t.Errorf("/: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	resp, body := send(t, b, "GET", base+"/login", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `src="/assets/app.js"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("the login page: %s %q, CSP %q", resp.Status, body, resp.Header.Get("Content-Security-Policy"))
	}
	resp, body = send(t, b, "GET", base+"/assets/app.js", "")
	if resp.StatusCode != 200 || len(body) < 1000 || resp.Header.Get("ETag") == "" {
		t.Fatalf("app.js: %s, %d bytes, ETag %q", resp.Status, len(body), resp.Header.Get("ETag"))
	}
	if resp, _ := send(t, b, "GET", base+"/assets/app.js", "", "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
		t.Errorf("app.js again with its ETag: %s, want 304", resp.Status)
	}
	if resp, _ := send(t, b, "GET", base+"/etc/passwd", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown path: %s, want 404", resp.Status)
	}

	if resp, _ := send(t, b, "POST", base+"/api/v1/login", `{"token":"mamori_wrong"}`); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("a wrong token: %s, cookies %v", resp.Status, resp.Cookies())
	}
	resp, body = send(t, b, "POST", base+"/api/v1/login", `{"token":"`+admin+`"}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"role":"admin"`) {
		t.Fatalf("login: %s %s", resp.Status, body)
	}
	ck := resp.Cookies()
	if len(ck) != 1 || ck[0].Name != api.CookieName || !ck[0].HttpOnly || !ck[0].Secure || ck[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("login cookie %+v: want one HttpOnly, Secure, SameSite=Strict %s", ck, api.CookieName)
	}
	if resp, _ := send(t, b, "GET", base+"/feed?namespace=shop", ""); resp.StatusCode != 200 {
		t.Errorf("a page with the login: %s", resp.Status)
	}
	if resp, body := send(t, b, "GET", base+"/api/v1/whoami", ""); resp.StatusCode != 200 || !strings.Contains(body, `"name":"admin"`) {
		t.Errorf("whoami: %s %s", resp.Status, body)
	}
	pol := `{"files":[{"name":"w.yaml","content":"apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata:\n  name: w\nspec:\n  mode: audit\n  scope: {container: {}}\n  controls:\n    forkGuard: {maxProcesses: 100}\n"}]}`
	if resp, body := send(t, b, "POST", base+"/api/v1/policies", pol); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, api.CSRFHeader) {
		t.Errorf("a change with the cookie and without %s: %s %s, want 403", api.CSRFHeader, resp.Status, body)
	}
	if resp, body := send(t, b, "POST", base+"/api/v1/policies", pol, api.CSRFHeader, "1"); resp.StatusCode != 200 {
		t.Errorf("a change with the cookie and the header: %s %s", resp.Status, body)
	}
	// The Authorization header needs no such header: no browser sends it
	// by itself.
	bearer := strings.NewReplacer("w.yaml", "x.yaml", "name: w", "name: x").Replace(pol)
	if resp, body := send(t, &http.Client{Transport: b.Transport}, "POST", base+"/api/v1/policies", bearer, "Authorization", "Bearer "+admin); resp.StatusCode != 200 {
		t.Errorf("a change with a bearer token: %s %s", resp.Status, body)
	}

	// A change another site's page asks for is refused, cookie or not.
	if resp, _ := send(t, b, "POST", base+"/api/v1/policies", pol, api.CSRFHeader, "1", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site change: %s, want 403", resp.Status)
	}
	if resp, _ := send(t, b, "GET", base+"/assets/", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the assets' directory: %s, want 404", resp.Status)
	}

	// A read token logs in, reads, and changes nothing.
	readTok, err := c.AddToken("rita", auth.Read)
	if err != nil {
		t.Fatal(err)
	}
	r := browser(t, ca)
	if resp, body := send(t, r, "POST", base+"/api/v1/login", `{"token":"`+readTok+`"}`); resp.StatusCode != 200 || !strings.Contains(body, `"role":"read"`) {
		t.Fatalf("read login: %s %s", resp.Status, body)
	}
	if resp, _ := send(t, r, "GET", base+"/policies", ""); resp.StatusCode != 200 {
		t.Errorf("a read login's page: %s", resp.Status)
	}
	if resp, _ := send(t, r, "POST", base+"/api/v1/policies", pol, api.CSRFHeader, "1"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a read login changing a policy: %s, want 403", resp.Status)
	}
	ingestTok, _ := c.AddToken("falco", auth.Ingest)
	if resp, _ := send(t, browser(t, ca), "POST", base+"/api/v1/login", `{"token":"`+ingestTok+`"}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an ingest token logging in: %s, want 403", resp.Status)
	}

	// Logging out drops the cookie: the pages send to the login again.
	send(t, b, "POST", base+"/api/v1/logout", "", api.CSRFHeader, "1")
	if resp, _ := send(t, b, "GET", base+"/nodes", ""); resp.StatusCode != http.StatusFound {
		t.Errorf("a page after logging out: %s, want a redirect", resp.Status)
	}
}

// TestWebViewsAPI: the calls the views added: counts by tag, the
// containers a policy file covers, the cloud view's groups, the image
// store.
func TestWebViewsAPI(t *testing.T) {
	dir := t.TempDir()
	c := start(t, Config{DataDir: dir, NATSListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", Images: filepath.Join(dir, "images.db")})
	base := "http://" + c.APIAddr()

	l, err := link.New(link.Config{URL: c.NATSURL(), Cluster: "lab", Node: "n1", SpoolDir: filepath.Join(dir, "spool"),
		HeartbeatEvery: 200 * time.Millisecond}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx, shopNode{node{"n1"}}); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 3 {
		a := alertFrom("n1", i)
		a.Tags = []string{"mitre_credential_access", "T1552"}
		if i == 2 {
			a.Tags = []string{"mitre_execution"}
		}
		l.Alert(a)
	}
	// Falco's http_output, as a CloudTrail source would post.
	for i, user := range []string{"alice", "alice", "bob"} {
		body := fmt.Sprintf(`{"time":%q,"rule":"Console login without MFA","priority":"Critical","output":"login %d","source":"aws_cloudtrail",
			"output_fields":{"ct.user":%q,"ct.user.accountid":"123456789012","ct.region":"eu-west-1","ct.user.identitytype":"IAMUser","ct.name":"ConsoleLogin"},"hostname":"trail"}`,
			time.Now().UTC().Format(time.RFC3339Nano), i, user)
		resp, err := http.Post(base+"/api/v1/falco?cluster=aws", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("post a CloudTrail alert: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	waitAlerts(t, c.APIAddr(), 6, 10*time.Second)

	var counts struct{ Counts []struct{ Value string } }
	getJSON(t, base+"/api/v1/counts?by=tag&source=syscall", &counts)
	got := map[string]bool{}
	for _, c := range counts.Counts {
		got[c.Value] = true
	}
	if len(counts.Counts) != 3 || !got["T1552"] || !got["mitre_execution"] || !got["mitre_credential_access"] {
		t.Errorf("counts by tag: %+v", counts.Counts)
	}

	var cloud struct {
		Sources []api.CloudSource
	}
	getJSON(t, base+"/api/v1/cloud?since=1h", &cloud)
	if len(cloud.Sources) != 2 || cloud.Sources[0].Source != "aws_cloudtrail" || cloud.Sources[0].Alerts != 3 {
		t.Fatalf("cloud: %+v", cloud.Sources)
	}
	users := cloud.Sources[0].By["user"]
	if len(users) != 2 || users[0] != (api.CloudGroup{Value: "alice", Count: 2}) || cloud.Sources[0].By["region"][0].Count != 3 ||
		cloud.Sources[0].By["account"][0].Value != "123456789012" {
		t.Errorf("cloud groups: %+v", cloud.Sources[0].By)
	}

	// The shop policy covers the shop pod's container, not the other one.
	if code, msg := apply(t, c.APIAddr(), api.ApplyRequest{Files: []api.PolicyFile{{Name: "shop.yaml", Content: fmt.Sprintf(shopPolicy, "audit")}}}); code != 200 {
		t.Fatalf("apply: %d %s", code, msg)
	}
	var affected struct{ Containers []api.AffectedContainer }
	for deadline := time.Now().Add(10 * time.Second); len(affected.Containers) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		getJSON(t, base+"/api/v1/policies/shop.yaml/containers", &affected)
	}
	if len(affected.Containers) != 1 || affected.Containers[0].Container.Name != "cart" || affected.Containers[0].Policies[0] != "shop-strict" {
		t.Errorf("containers shop.yaml covers: %+v", affected.Containers)
	}
	if resp, _ := http.Get(base + "/api/v1/policies/none.yaml/containers"); resp.StatusCode != 404 {
		t.Errorf("an unknown file: %s", resp.Status)
	}

	// Without tokens (--insecure) too, another site's page cannot post.
	req, _ := http.NewRequest("POST", base+"/api/v1/policies", strings.NewReader(`{"remove":["shop.yaml"]}`))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site change without tokens: %v %v, want 403", err, resp)
	}

	var images struct{ Images []json.RawMessage }
	getJSON(t, base+"/api/v1/images", &images)
	if images.Images == nil || len(images.Images) != 0 {
		t.Errorf("images with no image store file: %+v", images)
	}
}

// shopNode runs a pod's container in namespace shop and a plain one.
type shopNode struct{ node }

func (n shopNode) Containers() []event.ContainerState {
	return []event.ContainerState{
		{Node: n.name, Running: true, Protection: "audited", Container: &event.Container{ID: "c0ffee", Name: "cart", Image: "shop/cart:1",
			Pod:    &event.Pod{Name: "cart-7d9f8b6c5d-x2x7q", Namespace: "shop"},
			Labels: map[string]string{"io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.name": "cart-7d9f8b6c5d-x2x7q"}}},
		{Node: n.name, Running: true, Protection: "unprotected", Container: &event.Container{ID: "beef", Name: "db", Image: "postgres"}},
	}
}
