package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// cutProxy forwards TCP connections to a target until it is cut: then it
// closes every connection it carries and those that arrive, as a network
// that goes away would, until it is restored.
type cutProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]struct{}
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { l.Close(); p.setCut(true) })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cutProxy) addr() string { return p.l.Addr().String() }

func (p *cutProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *cutProxy) serve(c net.Conn) {
	if !p.track(c) {
		return
	}
	u, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(u) {
		c.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(u, c); done <- struct{}{} }()
	go func() { io.Copy(c, u); done <- struct{}{} }()
	<-done
	c.Close()
	u.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// TestWebFeedCatchesUpAfterReconnect: the live feed misses no alert stored
// while its stream was broken (a network change under the browser, a
// console restart): once the stream is back, the page reads back what it
// missed. The browser reaches the console through a proxy the test cuts;
// without the read-back, the alert stored during the cut never showed.
func TestWebFeedCatchesUpAfterReconnect(t *testing.T) {
	b := startBrowser(t, 1280, 800)
	traces := k8sTraces(t)
	webhook := freeAddr(t)
	con := startConsole(t, filepath.Join(t.TempDir(), "console"), freeAddr(t), freeAddr(t), "--k8s-audit-listen", webhook)
	proxy := startCutProxy(t, con.api)
	ev, err := os.ReadFile(filepath.Join(traces, "exec_pod.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Each post is its own API request, now (its own audit id and
	// time): its own alert.
	post := func(auditID string) {
		t.Helper()
		now := time.Now().UTC().Format(time.RFC3339Nano)
		item := string(bytes.TrimSpace(ev))
		for _, r := range [][2]string{
			{`"auditID":"ca1ed9f4-7bf4-4c85-81a8-1b11253d1ba6"`, `"auditID":"` + auditID + `"`},
			{`"requestReceivedTimestamp":"2018-10-26T13:38:34.867116Z"`, `"requestReceivedTimestamp":"` + now + `"`},
			{`"stageTimestamp":"2018-10-26T13:38:34.902914Z"`, `"stageTimestamp":"` + now + `"`},
		} {
			if !strings.Contains(item, r[0]) {
				t.Fatalf("exec_pod.json has no %s to replace", r[0])
			}
			item = strings.Replace(item, r[0], r[1], 1)
		}
		body := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + item + `]}`
		resp, err := http.Post("http://"+webhook+"/k8s-audit", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("EventList: status %d", resp.StatusCode)
		}
	}
	// Rows of the audit request with that id (the alert's output names
	// no id: the row's uuid is looked up in the console's API).
	rowOf := func(uuid string) string {
		return `document.querySelector('tr.alert-row[data-uuid=` + jsString(uuid) + `]')`
	}
	newUUID := func(known map[string]bool) string {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			for _, a := range waitConsoleAlerts(t, con, "Exec Into Pod", "console") {
				if !known[a.UUID] {
					known[a.UUID] = true
					return a.UUID
				}
			}
		}
		t.Fatal("no new alert in the console")
		return ""
	}
	known := map[string]bool{}

	b.run(t, "open the feed", chromedp.Navigate("https://"+proxy.addr()+"/feed?fold=0"))
	b.login(t, con.token)
	b.feedLoaded(t, "the feed")
	b.waitFor(t, "the live stream", `document.querySelector('[data-live="live"]') !== null`, 10*time.Second)
	post("00000000-0000-4000-8000-000000000001")
	b.waitFor(t, "the first alert, live", rowOf(newUUID(known)), 10*time.Second)

	// The network goes away; an alert is stored meanwhile.
	proxy.setCut(true)
	b.waitFor(t, "the page to see its stream broken", `document.querySelector('[data-live="reconnecting"]') !== null`, 15*time.Second)
	post("00000000-0000-4000-8000-000000000002")
	missed := newUUID(known)
	proxy.setCut(false)
	b.waitFor(t, "the stream back", `document.querySelector('[data-live="live"]') !== null`, 20*time.Second)
	b.waitFor(t, "the alert stored while the stream was broken", rowOf(missed), 10*time.Second)

	// And the stream carries new alerts again.
	post("00000000-0000-4000-8000-000000000003")
	b.waitFor(t, "an alert after the reconnect, live", rowOf(newUUID(known)), 10*time.Second)
	if n := eval[int](t, b, `document.querySelectorAll('tr.alert-row').length`); n != 3 {
		t.Errorf("%d rows, want the 3 alerts once each", n)
	}
	// The cut's refused requests are the network's, not the page's.
	b.forget(func(e string) bool { return strings.Contains(e, "net::ERR_") })
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("browser errors: %v", errs)
	}
}
