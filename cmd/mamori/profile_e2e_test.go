package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mamori-dev/mamori/agent"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

// learnHost is a host outside the containers: a network namespace the test
// makes, with two addresses, each serving HTTP (busybox httpd), and a DNS
// server on the host's side of the link that names the first.
type learnHost struct {
	ns                 string
	gw, api, other     string // the host's side; the named server; a server no one names
	name               string // the DNS name of api
	dns                *net.UDPConn
	httpds             []*exec.Cmd
	hostIf, nsIf, root string
}

func newLearnHost(t *testing.T) *learnHost {
	t.Helper()
	pid := os.Getpid()
	x := pid%200 + 20
	h := &learnHost{ns: fmt.Sprintf("mamori-learn-%d", pid), gw: fmt.Sprintf("10.213.%d.1", x), api: fmt.Sprintf("10.213.%d.2", x),
		other: fmt.Sprintf("10.213.%d.3", x), name: "api.example.test", hostIf: fmt.Sprintf("mlh%d", pid%100000),
		nsIf: fmt.Sprintf("mln%d", pid%100000), root: t.TempDir()}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	exec.Command("ip", "netns", "del", h.ns).Run()
	exec.Command("ip", "link", "del", h.hostIf).Run()
	run("ip", "netns", "add", h.ns)
	t.Cleanup(func() {
		for _, c := range h.httpds {
			c.Process.Kill()
			c.Wait()
		}
		if h.dns != nil {
			h.dns.Close()
		}
		exec.Command("ip", "link", "del", h.hostIf).Run()
		exec.Command("ip", "netns", "del", h.ns).Run()
	})
	run("ip", "link", "add", h.hostIf, "type", "veth", "peer", "name", h.nsIf)
	run("ip", "link", "set", h.nsIf, "netns", h.ns)
	run("ip", "addr", "add", h.gw+"/29", "dev", h.hostIf)
	run("ip", "link", "set", h.hostIf, "up")
	in := func(args ...string) { run(append([]string{"ip", "netns", "exec", h.ns}, args...)...) }
	in("ip", "addr", "add", h.api+"/29", "dev", h.nsIf)
	in("ip", "addr", "add", h.other+"/29", "dev", h.nsIf)
	in("ip", "link", "set", h.nsIf, "up")
	in("ip", "link", "set", "lo", "up")
	in("ip", "route", "add", "default", "via", h.gw)
	os.WriteFile(filepath.Join(h.root, "index.html"), []byte("api\n"), 0o644)
	for _, addr := range []string{h.api + ":8081", h.other + ":8082"} {
		c := exec.Command("ip", "netns", "exec", h.ns, "busybox", "httpd", "-f", "-p", addr, "-h", h.root)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		h.httpds = append(h.httpds, c)
	}
	var err error
	if h.dns, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(h.gw), Port: 53}); err != nil {
		t.Fatalf("DNS server on %s:53: %v", h.gw, err)
	}
	go serveDNS(h.dns, h.name, net.ParseIP(h.api).To4())
	return h
}

// serveDNS answers A questions for name with addr, and every other
// question with NXDOMAIN: enough DNS for a resolver and for the agent's
// reading of responses.
func serveDNS(c *net.UDPConn, name string, addr net.IP) {
	buf := make([]byte, 512)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		q := buf[:n]
		if n < 12 {
			continue
		}
		// The question: labels up to the zero byte, then type and class.
		i := 12
		var labels []string
		for i < n && q[i] != 0 {
			l := int(q[i])
			if i+1+l > n {
				break
			}
			labels = append(labels, string(q[i+1:i+1+l]))
			i += 1 + l
		}
		end := i + 5
		if end > n {
			continue
		}
		qtype := binary.BigEndian.Uint16(q[i+1:])
		resp := append([]byte{}, q[:2]...)
		match := strings.EqualFold(strings.Join(labels, "."), name)
		flags := uint16(0x8180) // a response, recursion desired and available
		ancount := 0
		if !match {
			flags |= 3 // NXDOMAIN
		} else if qtype == 1 {
			ancount = 1
		}
		resp = binary.BigEndian.AppendUint16(resp, flags)
		resp = binary.BigEndian.AppendUint16(resp, 1)
		resp = binary.BigEndian.AppendUint16(resp, uint16(ancount))
		resp = append(resp, 0, 0, 0, 0)
		resp = append(resp, q[12:end]...)
		if ancount == 1 {
			resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
			resp = append(resp, addr...)
		}
		c.WriteToUDP(resp, from)
	}
}

// buildImage builds a local image from the test image, told apart by a
// label, so that each workload has an image digest of its own, with
// /usr/bin/tool (busybox again): a program of the image's that the
// workload never runs.
func buildImage(t *testing.T, tag, label string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "/bin/busybox", filepath.Join(dir, "tool")).CombinedOutput(); err != nil {
		t.Fatalf("cp busybox: %v %s", err, out)
	}
	// The pid in the label: the runs of two test processes build images
	// of their own.
	os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(fmt.Sprintf("FROM %s\nCOPY tool /usr/bin/tool\nLABEL dev.mamori.test.role=\"%s-%d\"\n",
		podmantest.Image, label, os.Getpid())), 0o644)
	ref := "localhost/" + tag
	if out, err := exec.Command("podman", "build", "-q", "-t", ref, dir).CombinedOutput(); err != nil {
		t.Fatalf("podman build %s: %v\n%s", ref, err, out)
	}
	t.Cleanup(func() { exec.Command("podman", "rmi", "-f", ref).Run() })
	return ref
}

// mamoriCLI runs mamori against the test's console and returns its output.
func (c *consoleProc) cli(t *testing.T, args ...string) string {
	t.Helper()
	full := append(args[:1:1], append([]string{args[1], "--console", c.apiURL, "--token", c.token, "--ca", c.ca}, args[2:]...)...)
	out, err := exec.Command(mamoriBin, full...).CombinedOutput()
	if err != nil {
		t.Fatalf("mamori %s: %v\n%s", strings.Join(full, " "), err, out)
	}
	return string(out)
}

func (c *consoleProc) profiles(t *testing.T) []store.Profile {
	var resp struct{ Profiles []store.Profile }
	c.get(t, "/api/v1/profiles", &resp)
	return resp.Profiles
}

func profileOf(ps []store.Profile, name string) *store.Profile {
	for i := range ps {
		if ps[i].Workload.Name == name {
			return &ps[i]
		}
	}
	return nil
}

func findItem(p *store.Profile, kind, key string) *store.ProfileItem {
	for i := range p.Items {
		if p.Items[i].Kind == kind && p.Items[i].Key == key {
			return &p.Items[i]
		}
	}
	return nil
}

// TestProfileLearnExportEnforce: a web server and a worker that calls it
// and a name outside (a test host in a network namespace) run in podman
// with an agent that learns. Their profiles learn what they do, on every
// count: the worker's short-lived program outside its image with its
// digest, its destinations with the DNS name, its own port and the web
// server's, and the web server's caller. Once stable, the worker's profile
// is exported, dry-run and applied in enforce mode: the same workload
// keeps running clean (it takes its port anew each round), while an
// injected binary, a new destination and a new listening port are refused
// and alerted, and learning goes on under the policy (a directory written
// outside the image is a deviation, alerted with the profile's evidence).
// The network map shows the edges.
func TestProfileLearnExportEnforce(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	host := newLearnHost(t)
	con := startConsole(t, filepath.Join(dir, "console"), freeAddr(t), freeAddr(t), "--profile-stable-after", "5s")
	a := startAlertingAgent(t, "--console", "nats://"+con.nats, "--console-creds", con.creds(t, "lab", "learn-node"),
		"--console-spool", filepath.Join(dir, "spool"), "--console-policies", filepath.Join(dir, "policies"),
		"--learn", "--learn-every", "1s", "--console-events")
	defer a.stop(t)

	pid := os.Getpid()
	webImg := buildImage(t, fmt.Sprintf("mamori-learn-web-%d", pid), "web")
	workerImg := buildImage(t, fmt.Sprintf("mamori-learn-worker-%d", pid), "worker")
	// The web server is a Kubernetes pod of a Deployment (the labels the
	// CRI sets): its profile is keyed by namespace and owner. The worker
	// is a plain container: keyed by its image digest.
	namespace, owner := fmt.Sprintf("shop-%d", pid), fmt.Sprintf("web%d", pid)
	webName, workerName := owner, fmt.Sprintf("learn-worker-%d", pid)
	web := podmantest.Run(t, podmantest.FromImage(webImg), podmantest.Name(fmt.Sprintf("learn-web-%d", pid)),
		podmantest.Label("io.kubernetes.pod.namespace", namespace), podmantest.Label("io.kubernetes.pod.name", owner+"-7d4b9c8f6-x2x4z"),
		podmantest.Command("sh", "-c", "mkdir -p /tmp/www && echo web > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"))
	webIP := containerIP(t, web)
	// The worker also serves on 7070 (a status port), taking the port
	// anew each round, and asks itself once through loopback.
	script := fmt.Sprintf(`cp /bin/busybox /tmp/true
while true; do
  wget -q -O /dev/null http://%s:8080/ && echo web-ok
  wget -q -O /dev/null http://%s:8081/ && echo api-ok
  /tmp/true
  nc -l -p 7070 -e true & l=$!
  for i in 1 2 3 4 5; do nc 127.0.0.1 7070 </dev/null 2>/dev/null && echo listen-ok && break; sleep 0.05; done
  kill $l 2>/dev/null; wait $l 2>/dev/null
  sleep 0.3
done`, webIP, host.name)
	worker := podmantest.Run(t, podmantest.FromImage(workerImg), podmantest.Name(workerName),
		podmantest.Args("--dns", host.gw), podmantest.Command("sh", "-c", script))
	workerIP := containerIP(t, worker)

	// Learning: wait until both profiles hold what the workloads do, and
	// are stable.
	var wp, sp *store.Profile
	apiKey := host.api + ":8081/tcp"
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		ps := con.profiles(t)
		w, s := profileOf(ps, workerName), profileOf(ps, webName)
		if w != nil && s != nil {
			wp, sp = new(store.Profile), new(store.Profile)
			con.get(t, "/api/v1/profiles/"+w.ID, wp)
			con.get(t, "/api/v1/profiles/"+s.ID, sp)
			api := findItem(wp, event.ItemEgress, apiKey)
			tr := findItem(wp, event.ItemExec, "/tmp/true")
			if wp.State == store.Stable && sp.State == store.Stable && api != nil && len(api.Names) > 0 && tr != nil && len(tr.Digests) > 0 &&
				findItem(sp, event.ItemListen, "8080/tcp") != nil && findItem(wp, event.ItemListen, "7070/tcp") != nil {
				break
			}
		}
		if time.Now().After(deadline) {
			out, _ := exec.Command("podman", "logs", "--tail", "5", worker.ID).CombinedOutput()
			t.Fatalf("profiles not learnt and stable in 90s: worker %+v\nweb %+v\nworker log: %s\nagent:\n%s\nconsole:\n%s", wp, sp, out, a.stderr, con.stderr)
		}
	}
	if wp.Workload.ImageDigest == sp.Workload.ImageDigest {
		t.Fatalf("the two images have one digest: %s", wp.Workload.ImageDigest)
	}
	if sp.Workload.Namespace != namespace || sp.Workload.Owner != owner || wp.Workload.Namespace != "" {
		t.Errorf("workload identities: web %+v, worker %+v", sp.Workload, wp.Workload)
	}
	// Short-lived: /tmp/true exits at once, and is recorded with the
	// digest of what it is (busybox).
	sum, _ := exec.Command("podman", "exec", worker.ID, "sha256sum", "/tmp/true").Output()
	tr := findItem(wp, event.ItemExec, "/tmp/true")
	if f := strings.Fields(string(sum)); len(f) == 0 || tr.Digests[0] != f[0] || !tr.Drifted {
		t.Errorf("short-lived /tmp/true: %+v, sha256sum says %s", tr, sum)
	}
	api := findItem(wp, event.ItemEgress, apiKey)
	if api.Names[0] != host.name {
		t.Errorf("destination %s named %v, want %s", apiKey, api.Names, host.name)
	}
	if it := findItem(wp, event.ItemEgress, webIP+":8080/tcp"); it == nil || it.Peer == "" {
		t.Errorf("the worker's calls to the web server: %+v", it)
	}
	if it := findItem(wp, event.ItemExec, "/"); it != nil {
		t.Errorf("the runtime's exec of the entrypoint learnt as a program: %+v", it)
	}
	if findItem(wp, event.ItemEgress, host.gw+":53/udp") == nil {
		t.Errorf("the worker's DNS queries are not in its profile: %+v", wp.Items)
	}
	if findItem(sp, event.ItemIngress, workerIP+"->8080/tcp") == nil {
		t.Errorf("the web server's callers: %+v", sp.Items)
	}
	if wp.MaxProcesses < 2 {
		t.Errorf("worker max processes %d", wp.MaxProcesses)
	}
	t.Logf("worker profile %s: %d items, web profile %s: %d items", wp.ID, len(wp.Items), sp.ID, len(sp.Items))

	// Export, check and apply in enforce mode.
	out := con.cli(t, "profile", "list")
	if !strings.Contains(out, wp.ID) || !strings.Contains(out, "stable") {
		t.Errorf("profile list:\n%s", out)
	}
	pol := filepath.Join(dir, "worker.yaml")
	con.cli(t, "profile", "export", wp.ID, "-f", pol)
	doc, _ := os.ReadFile(pol)
	for _, want := range []string{"mode: enforce", "- /tmp/true # seen", "executableAllowlist:", "- /bin/busybox # parent", "- " + host.api + " # " + host.name + " 8081/tcp", "- " + webIP + " # workload " + namespace + "/" + owner,
		"listeningPorts:\n      allow:\n        - 7070/tcp # seen"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("the export lacks %q:\n%s", want, doc)
		}
	}
	if out := con.cli(t, "profile", "dryrun", wp.ID, "--since", "10m"); !strings.Contains(out, ": 0 would have been refused") {
		t.Errorf("the profile's own policy would refuse its behaviour:\n%s", out)
	}
	con.cli(t, "policy", "apply", pol)
	waitControl(t, a, workerName, "networkEgress", "enforced")
	waitControl(t, a, workerName, "driftPrevention", "enforced")
	waitControl(t, a, workerName, "executableAllowlist", "enforced")
	waitControl(t, a, workerName, "listeningPorts", "enforced")

	// The same workload runs clean under the policy, its own port too.
	count := func() (int, int, int) {
		out, _ := exec.Command("podman", "logs", worker.ID).CombinedOutput()
		return strings.Count(string(out), "web-ok"), strings.Count(string(out), "api-ok"), strings.Count(string(out), "listen-ok")
	}
	w0, a0, l0 := count()
	enforcedAt := time.Now()
	time.Sleep(4 * time.Second)
	w1, a1, l1 := count()
	if w1-w0 < 3 || a1-a0 < 3 || l1-l0 < 3 {
		t.Errorf("under its policy the worker stopped working: web %d→%d, api %d→%d, its own port %d→%d", w0, w1, a0, a1, l0, l1)
	}

	// An injected binary and a new destination are refused.
	bin := filepath.Join(dir, "evil")
	exec.Command("cp", "/bin/busybox", bin).Run()
	if out, err := exec.Command("podman", "cp", bin, worker.ID+":/tmp/evil").CombinedOutput(); err != nil {
		t.Fatalf("podman cp: %v %s", err, out)
	}
	if out, err := exec.Command("podman", "exec", worker.ID, "/tmp/evil", "echo", "EVIL-RAN").CombinedOutput(); err == nil || strings.Contains(string(out), "EVIL-RAN") {
		t.Errorf("the injected binary ran: %v %s", err, out)
	}
	// A program of the image's that the workload never ran is refused too.
	if out, err := exec.Command("podman", "exec", worker.ID, "/usr/bin/tool", "echo", "TOOL-RAN").CombinedOutput(); err == nil || strings.Contains(string(out), "TOOL-RAN") {
		t.Errorf("an image program off the profile ran: %v %s", err, out)
	}
	// (nc, not busybox's wget, which crashes when a connection fails.)
	if out, err := exec.Command("podman", "exec", worker.ID, "nc", "-w", "3", host.other, "8082").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "not permitted") {
		t.Errorf("the new destination was not refused: %v %s", err, out)
	}
	// A new listening port is refused (a deviation before the profile's
	// ports were exported: busybox nc waits on a taken port, hence the
	// timeout).
	if out, err := exec.Command("podman", "exec", worker.ID, "timeout", "5", "nc", "-l", "-p", "9999").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "bind: Operation not permitted") {
		t.Errorf("the new listening port was not refused: %v %s", err, out)
	}
	// Learning goes on under the policy: a directory written outside the
	// image (no control refuses it) is a deviation of the stable profile.
	exec.Command("podman", "exec", worker.ID, "sh", "-c", "mkdir -p /srv/spool && echo x > /srv/spool/job").Run()

	var drift, tool, egress, listen, deviation *event.Alert
	for deadline := time.Now().Add(30 * time.Second); drift == nil || tool == nil || egress == nil || listen == nil || deviation == nil; time.Sleep(300 * time.Millisecond) {
		if time.Now().After(deadline) {
			var page store.AlertPage
			con.get(t, "/api/v1/alerts?since=5m&limit=1000", &page)
			var outs []string
			for _, raw := range page.Alerts {
				var al event.Alert
				json.Unmarshal(raw, &al)
				outs = append(outs, al.Control+" "+al.Action+" "+al.Output)
			}
			t.Fatalf("alerts: injected binary %v image program %v egress %v listening port %v deviation %v\n%s\nagent:\n%s", drift != nil, tool != nil, egress != nil,
				listen != nil, deviation != nil, strings.Join(outs, "\n"), a.stderr)
		}
		var page store.AlertPage
		con.get(t, "/api/v1/alerts?since=5m&limit=1000", &page)
		for _, raw := range page.Alerts {
			var al event.Alert
			json.Unmarshal(raw, &al)
			if al.Container == nil || al.Container.Name != workerName {
				continue
			}
			switch {
			// The allow list judges first; Drift Prevention would
			// refuse it as well.
			case (al.Control == "executableAllowlist" || al.Control == "driftPrevention") && al.Action == event.Blocked && strings.Contains(al.Output, "/tmp/evil"):
				drift = &al
			case al.Control == "executableAllowlist" && al.Action == event.Blocked && strings.Contains(al.Output, "/usr/bin/tool"):
				tool = &al
			case al.Control == "networkEgress" && al.Action == event.Blocked && strings.Contains(al.Output, host.other):
				egress = &al
			case al.Control == "listeningPorts" && al.Action == event.Blocked && strings.Contains(al.Output, "port 9999/tcp"):
				listen = &al
			case al.Rule == "Behaviour profile deviation" && strings.Contains(al.Output, "new directory written /srv/spool"):
				deviation = &al
			}
		}
	}
	// Applying the export in enforce mode was the decision to enforce.
	if deviation.OutputFields["profile.id"] != wp.ID || deviation.OutputFields["profile.state"] != store.Enforced || deviation.Priority != "Error" {
		t.Errorf("deviation alert's evidence: %+v", deviation.OutputFields)
	}
	// Nothing else of the worker was refused: it ran clean.
	var page store.AlertPage
	con.get(t, "/api/v1/alerts?action=blocked&since=5m&limit=1000", &page)
	for _, raw := range page.Alerts {
		var al event.Alert
		json.Unmarshal(raw, &al)
		if al.Container != nil && al.Container.Name == workerName && al.Time.After(enforcedAt.Add(-time.Second)) &&
			!strings.Contains(al.Output, "/tmp/evil") && !strings.Contains(al.Output, "/usr/bin/tool") && !strings.Contains(al.Output, host.other) &&
			!strings.Contains(al.Output, "port 9999/tcp") {
			t.Errorf("the worker's own behaviour was refused: %s", al.Output)
		}
	}
	// The dry run of the profile's policy names the refused destination
	// and port.
	dry := con.cli(t, "profile", "dryrun", wp.ID, "--since", "10m")
	named, bound := false, false
	for _, line := range strings.Split(dry, "\n") {
		// Found in the stored events of the worker's container.
		named = named || strings.HasPrefix(line, "networkEgress") && strings.Contains(line, "connect "+host.other+":8082/tcp") &&
			strings.HasSuffix(strings.TrimSpace(line), "events")
		bound = bound || strings.HasPrefix(line, "listeningPorts") && strings.Contains(line, "bind 9999/tcp") &&
			strings.HasSuffix(strings.TrimSpace(line), "events")
	}
	if !named || !bound {
		t.Errorf("dry run after the refusal:\n%s", dry)
	}
	// Learning is not blind under the policy: the profile still counts.
	var after store.Profile
	con.get(t, "/api/v1/profiles/"+wp.ID, &after)
	if it := findItem(&after, event.ItemExec, "/tmp/true"); it == nil || !it.Last.After(enforcedAt) {
		t.Errorf("the profile stopped learning once a policy was in force: %+v", it)
	}

	// The network map: the worker's edges, the refused one in its colour.
	// The map is built from what the console has stored, which may trail
	// the profile on a loaded machine: wait for it a little.
	var m store.NetMap
	var want map[string]string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		con.get(t, "/api/v1/netmap?since=10m", &m)
		want = map[string]string{
			"w:" + sp.ID + " 8080":       store.EdgeAllowed,
			"ip:" + host.api + " 8081":   store.EdgeAllowed,
			"ip:" + host.gw + " 53":      store.EdgeAllowed,
			"ip:" + host.other + " 8082": store.EdgeRefused,
		}
		for _, e := range m.Edges {
			if e.Source != "w:"+wp.ID {
				continue
			}
			k := e.Target + " " + fmt.Sprint(e.Port)
			if v, ok := want[k]; ok && v == e.Verdict {
				delete(want, k)
			}
		}
		if len(want) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(want) > 0 {
		t.Errorf("network map lacks %v: %+v", want, m)
	}
	if t.Failed() {
		return
	}
	webMapCheck(t, con, wp, sp, host)
}

// webMapCheck draws the test's network map in Chromium: the worker's
// edges to the web server, to the named test host and to its DNS server
// in the colour of allowed, and the one to the new destination in the
// colour of refused; filtering by workload keeps them.
func webMapCheck(t *testing.T, con *consoleProc, wp, sp *store.Profile, host *learnHost) {
	b := startBrowser(t, 1280, 720)
	b.run(t, "open the map", chromedp.Navigate(con.apiURL+"/map?since=15m&workload="+url.QueryEscape(wp.Workload.Name)))
	b.login(t, con.token)
	b.waitFor(t, "the map", `document.querySelector('svg.netmap') !== null`, 15*time.Second)
	edge := func(target string, port int, verdict string) string {
		return fmt.Sprintf(`document.querySelector('g.edge[data-source="w:%s"][data-target="%s"][data-port="%d"][data-verdict="%s"]') !== null`,
			wp.ID, target, port, verdict)
	}
	for _, e := range []struct {
		target  string
		port    int
		verdict string
	}{{"w:" + sp.ID, 8080, "allowed"}, {"ip:" + host.api, 8081, "allowed"}, {"ip:" + host.gw, 53, "allowed"}, {"ip:" + host.other, 8082, "refused"}} {
		b.waitFor(t, fmt.Sprintf("the edge to %s:%d, %s", e.target, e.port, e.verdict), edge(e.target, e.port, e.verdict), 5*time.Second)
	}
	// The named host is drawn with its DNS name, the web server as the
	// workload it is; the refused edge in red.
	if !eval[bool](t, b, `[...document.querySelectorAll('g.edge')].some((g) => g.textContent.includes(`+jsString(host.name)+`))`) {
		t.Errorf("no edge names %s", host.name)
	}
	if got := eval[string](t, b, `document.querySelector('g.edge[data-verdict="refused"] path').getAttribute('stroke')`); got != "#b3261e" {
		t.Errorf("refused edge drawn in %s", got)
	}
	webNode := sp.Workload.Namespace + "/" + sp.Workload.Name
	if got := eval[string](t, b, `document.querySelector('g.node[data-id="w:`+sp.ID+`"]').dataset.name`); got != webNode {
		t.Errorf("the web server's node is named %q, want %q", got, webNode)
	}
	b.screenshot(t, "netmap")

	// Per namespace: the web server's namespace shows the worker's calls
	// into it, and none of the worker's edges elsewhere.
	b.run(t, "the map of the web server's namespace", chromedp.Navigate(con.apiURL+"/map?since=15m&namespace="+url.QueryEscape(sp.Workload.Namespace)))
	b.waitFor(t, "the namespace's edge", edge("w:"+sp.ID, 8080, "allowed"), 10*time.Second)
	if n := eval[float64](t, b, `document.querySelectorAll('g.edge').length`); n != 1 {
		t.Errorf("the namespace's map has %v edges, want the one into the web server", n)
	}

	// The profiles: the worker's, its items with their evidence, and a
	// dry run of its policy that names the refused destination.
	b.run(t, "open the profiles", chromedp.Navigate(con.apiURL+"/profiles"))
	b.waitFor(t, "the worker's profile listed", `document.querySelector('tr[data-profile="`+wp.ID+`"]') !== null`, 10*time.Second)
	b.run(t, "open the worker's profile", chromedp.Click(chromedp.CSS(`tr[data-profile="`+wp.ID+`"] a`)))
	b.waitFor(t, "its items", `document.querySelector('tr.item[data-kind="exec"][data-key="/tmp/true"][data-status="learned"]') !== null`, 10*time.Second)
	b.run(t, "dry-run its policy", chromedp.Click(chromedp.CSS("#pf-dryrun")))
	b.waitFor(t, "the dry run naming the refused destination",
		`[...document.querySelectorAll('#pf-dry tr.dry-row')].some((r) => r.textContent.includes(`+jsString(host.other+":8082/tcp")+`))`, 10*time.Second)
	b.screenshot(t, "profile")
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the pages logged errors: %v", errs)
	}
}

// waitControl waits until the agent reports control of container name in
// state.
func waitControl(t *testing.T, a *alertingAgent, name, control, state string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last []agent.ContainerProtection
	for time.Now().Before(deadline) {
		last = agentStatus(t, a.addr).Enforcement
		for _, c := range last {
			for _, x := range c.Controls {
				if c.Name == name && x.Control == control && x.State == state {
					return
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s of %s never %s: %+v\nagent:\n%s", control, name, state, last, a.stderr)
}

// containerIP is a container's address on podman's default network.
func containerIP(t *testing.T, c *podmantest.Container) string {
	t.Helper()
	out, err := exec.Command("podman", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", c.ID).Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("podman inspect %s: no address: %v %s", c.Name, err, out)
	}
	return strings.TrimSpace(string(out))
}
