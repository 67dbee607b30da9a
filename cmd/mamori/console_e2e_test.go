package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/agent"
	"github.com/mamori-dev/mamori/console/auth"
	"github.com/mamori-dev/mamori/console/falco"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

// consoleProc is a `mamori console` process started by a test.
type consoleProc struct {
	cmd       *exec.Cmd
	api, nats string
	dir       string
	stderr    *strings.Builder
	token, ca string // the first run's admin token, the CA file
	client    *http.Client
	apiURL    string
}

func startConsole(t *testing.T, dir string, api, nats string, args ...string) *consoleProc {
	t.Helper()
	c := &consoleProc{api: api, nats: nats, dir: dir, stderr: &strings.Builder{}}
	c.cmd = exec.Command(mamoriBin, append([]string{"console", "--data-dir", dir, "--listen", api, "--nats-listen", nats}, args...)...)
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.kill() })
	c.ca = filepath.Join(dir, "pki", "ca.pem")
	c.apiURL = "https://" + api
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pem, err := os.ReadFile(c.ca); err == nil && c.client == nil {
			cfg, err := auth.ClientTLS(pem)
			if err != nil {
				t.Fatal(err)
			}
			c.client = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
		}
		if c.client != nil {
			resp, err := c.client.Get(c.apiURL + "/healthz")
			if err == nil {
				resp.Body.Close()
				tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
				if err != nil {
					t.Fatal(err)
				}
				c.token = strings.TrimSpace(string(tok))
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("console not ready after 30s\n%s", c.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *consoleProc) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
}

// creds issues node's credential with `mamori console agent add`.
func (c *consoleProc) creds(t *testing.T, cluster, node string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), node+".creds")
	b, err := exec.Command(mamoriBin, "console", "agent", "add", "--console", c.apiURL, "--token", c.token, "--ca", c.ca,
		"--cluster", cluster, "--node", node, "--out", out).CombinedOutput()
	if err != nil {
		t.Fatalf("console agent add: %v\n%s", err, b)
	}
	return out
}

// get calls the console's API with the admin token.
func (c *consoleProc) get(t *testing.T, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", c.apiURL+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func apiGet(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestConsoleSeesAContainerAction: a real agent joined to a real console
// reports a secret read in a real container; the alert, with its process
// ids, the node's heartbeat and the container's state reach the API. The
// agent is the lean mamori-agent, as the DaemonSet runs it.
func TestConsoleSeesAContainerAction(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	con := startConsole(t, filepath.Join(dir, "console"), freeAddr(t), freeAddr(t))
	a := &alertingAgent{launchCmd(t, []string{leanBin}, "--alerts-output", "--console", "nats://"+con.nats, "--console-creds", con.creds(t, "e2e", "e2e-node"),
		"--console-spool", filepath.Join(dir, "spool"), "--console-policies", filepath.Join(dir, "policies"))}
	c := podmantest.Run(t)

	podmantest.Exec(t, c, "sh", "-c", "touch /etc/shadow /tmp/m-console")
	acted := time.Now()
	podmantest.Exec(t, c, "/bin/cat", "/etc/shadow", "/tmp/m-console")
	var found *event.Alert
	var seenAfter time.Duration
	for deadline := time.Now().Add(15 * time.Second); found == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no alert in the console's API 15s after the action\nagent:\n%s\nconsole:\n%s", a.stderr, con.stderr)
		}
		var page store.AlertPage
		con.get(t, "/api/v1/alerts?rule=Secret+file+read&node=e2e-node", &page)
		for _, raw := range page.Alerts {
			var al event.Alert
			json.Unmarshal(raw, &al)
			if hasMarker(&al, "m-console") {
				found, seenAfter = &al, time.Since(acted)
			}
		}
	}
	t.Logf("the alert was in the API %v after the action", seenAfter.Round(time.Millisecond))
	if found.UUID == "" || found.Cluster != "e2e" || found.Container == nil || found.Container.ID != c.ID {
		t.Errorf("alert uuid %q cluster %q container %+v; want a uuid, cluster e2e and container %s", found.UUID, found.Cluster, found.Container, c.ID)
	}
	p := found.Process
	if p.ID == "" || len(p.Ancestors) == 0 || p.ParentID != p.Ancestors[0].ID {
		t.Errorf("process id %q parent %q, first ancestor %+v: want ids chained", p.ID, p.ParentID, p.Ancestors)
	}

	var detail store.AlertDetail
	con.get(t, "/api/v1/alerts/"+found.UUID, &detail)
	if len(detail.Ancestry) < 2 || detail.Ancestry[0].ID != p.ID {
		t.Errorf("alert detail ancestry %+v", detail.Ancestry)
	}

	var nodes struct{ Nodes []store.Node }
	var cons struct{ Containers []store.ContainerRow }
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		con.get(t, "/api/v1/nodes", &nodes)
		con.get(t, "/api/v1/containers?node=e2e-node", &cons)
		if len(nodes.Nodes) > 0 && containsContainer(cons.Containers, c.ID) || time.Now().After(deadline) {
			break
		}
	}
	if len(nodes.Nodes) != 1 || nodes.Nodes[0].Node != "e2e-node" || len(nodes.Nodes[0].Heartbeat.Capabilities) == 0 ||
		nodes.Nodes[0].Heartbeat.Kernel == "" {
		t.Errorf("nodes: %+v", nodes.Nodes)
	}
	if !containsContainer(cons.Containers, c.ID) {
		t.Errorf("container %s not in the inventory: %+v", c.ID, cons.Containers)
	}

	var st agent.Status
	apiGet(t, "http://"+a.addr+"/status", &st)
	if st.Console == nil || st.Console.Published == 0 || st.Console.Dropped != 0 {
		t.Errorf("agent's console counters: %+v", st.Console)
	}
	// The agent's own output names the alert by the same uuid.
	local := a.stop(t)
	same := false
	for _, al := range local {
		same = same || al.UUID == found.UUID
	}
	if !same {
		t.Errorf("the agent's own alerts output has no alert %s", found.UUID)
	}
}

func containsContainer(cs []store.ContainerRow, id string) bool {
	for _, c := range cs {
		if c.ID == id {
			return true
		}
	}
	return false
}

// TestConsolePolicyApply: `mamori policy apply` against a console reaches
// a real agent, and `mamori policy status` shows the node enforcing the
// revision; an invalid file is refused with its position, as by validate.
func TestConsolePolicyApply(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the agent loads eBPF programs: run the tests as root")
	}
	dir := t.TempDir()
	con := startConsole(t, filepath.Join(dir, "console"), freeAddr(t), freeAddr(t))
	a := startAlertingAgent(t, "--console", "nats://"+con.nats, "--console-creds", con.creds(t, "e2e", "pol-node"),
		"--console-spool", filepath.Join(dir, "spool"), "--console-policies", filepath.Join(dir, "policies"))
	defer a.stop(t)

	pol := filepath.Join(dir, "web.yaml")
	os.WriteFile(pol, []byte("apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata:\n  name: web-guard\nspec:\n  mode: audit\n"+
		"  scope:\n    container: {labels: {app: web}}\n  controls:\n    forkGuard: {maxProcesses: 300}\n"), 0o644)
	cli := []string{"--console", con.apiURL, "--token", con.token, "--ca", con.ca}
	out, err := exec.Command(mamoriBin, append(append([]string{"policy", "apply"}, cli...), pol)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "applied web.yaml revision 1") {
		t.Fatalf("policy apply: %v\n%s", err, out)
	}
	var status string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err := exec.Command(mamoriBin, append([]string{"policy", "status"}, cli...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("policy status: %v\n%s", err, out)
		}
		status = string(out)
		if strings.Contains(status, "e2e/pol-node") && strings.Contains(status, "current") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(status, "web.yaml (r1)") || !strings.Contains(status, "current") || !strings.Contains(status, "r1\n") {
		t.Fatalf("policy status does not show the node enforcing r1:\n%s\nagent:\n%s", status, a.stderr)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata:\n  name: bad\nspec:\n  mode: enforse\n"+
		"  scope: {}\n  controls:\n    forkGuard: {maxProcesses: 300}\n"), 0o644)
	out, err = exec.Command(mamoriBin, append(append([]string{"policy", "apply"}, cli...), bad)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), bad+":6:9") {
		t.Fatalf("an invalid policy: %v\n%s", err, out)
	}
}

// TestConsoleFalcosidekickFromAgent: the agent forwards its alerts to
// falcosidekick (here a server of the test's that reads what falcosidekick
// reads) in Falco's payload, with a uuid.
func TestConsoleFalcosidekickFromAgent(t *testing.T) {
	podmantest.Require(t)
	got := make(chan falco.Alert, 100)
	sidekick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a falco.Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err == nil {
			got <- a
		}
	}))
	defer sidekick.Close()
	a := startAlertingAgent(t, "--falcosidekick", sidekick.URL+"/")
	defer a.stop(t)
	c := podmantest.Run(t)
	podmantest.Exec(t, c, "sh", "-c", "touch /etc/shadow /tmp/m-sidekick")
	podmantest.Exec(t, c, "/bin/cat", "/etc/shadow", "/tmp/m-sidekick")
	timeout := time.After(15 * time.Second)
	for {
		select {
		case fa := <-got:
			if fa.Rule == "Secret file read" {
				if fa.UUID == "" || fa.Hostname == "" || fa.Time.IsZero() || fa.OutputFields == nil {
					t.Fatalf("payload %+v lacks Falco's fields", fa)
				}
				return
			}
		case <-timeout:
			t.Fatalf("falcosidekick received no alert\n%s", a.stderr)
		}
	}
}
