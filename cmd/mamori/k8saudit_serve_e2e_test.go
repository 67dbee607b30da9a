package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serveProc is a `mamori k8saudit serve` started by a test.
type serveProc struct {
	cmd *exec.Cmd
	url string
	log *strings.Builder
	mu  *sync.Mutex
}

func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(mamoriBin, append([]string{"k8saudit", "serve", "--listen", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := &serveProc{cmd: cmd, log: &strings.Builder{}, mu: &sync.Mutex{}}
	lines := bufio.NewScanner(stderr)
	urlRe := regexp.MustCompile(`url=(https?://\S+)`)
	for p.url == "" && lines.Scan() {
		p.log.WriteString(lines.Text() + "\n")
		if m := urlRe.FindStringSubmatch(lines.Text()); m != nil {
			p.url = m[1]
		}
	}
	if p.url == "" {
		t.Fatalf("serve did not say where it listens:\n%s", p.log.String())
	}
	go func() {
		for lines.Scan() {
			p.mu.Lock()
			p.log.WriteString(lines.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	return p
}

// peakRSS is the process's highest resident set size so far (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// bigEventList is an EventList of about size bytes, as kube-apiserver
// posts at the RequestResponse level: Falco's trace events, each carrying
// a ConfigMap of some 75 KB as its request object.
func bigEventList(t *testing.T, size int) ([]byte, int) {
	t.Helper()
	traces := filepath.Join(k8sCorpus(t, "falco-test-trace-files"), "trace_files")
	ev, err := os.ReadFile(filepath.Join(traces, "exec_pod.json"))
	if err != nil {
		t.Fatal(err)
	}
	var item map[string]any
	if err := json.Unmarshal(ev, &item); err != nil {
		t.Fatal(err)
	}
	data := map[string]string{}
	for i := range 75 {
		data[fmt.Sprintf("key-%03d", i)] = strings.Repeat(string(rune('a'+i%26)), 1000)
	}
	item["requestObject"] = map[string]any{"kind": "ConfigMap", "apiVersion": "v1", "data": data}
	one, _ := json.Marshal(item)
	n := size / (len(one) + 1)
	var b bytes.Buffer
	b.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(one)
	}
	b.WriteString("]}")
	return b.Bytes(), n
}

// TestK8sauditServeBounded: 8 concurrent 31 MB EventLists, as a busy API
// server posts them, keep `mamori k8saudit serve` under 200 MB of RSS:
// the body is read as a stream, one event at a time, and requests beyond
// --max-concurrent are answered 429 and retried, as kube-apiserver does.
// Every event is evaluated. (Each body decoded whole took the process to
// 2.5 GB, and it kept it.)
func TestK8sauditServeBounded(t *testing.T) {
	body, items := bigEventList(t, 31<<20+512<<10)
	out := filepath.Join(t.TempDir(), "alerts.json")
	p := startServe(t, "--alerts-output", out)
	var wg sync.WaitGroup
	codes := make([][]int, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for try := 0; try < 200; try++ {
				resp, err := http.Post(p.url, "application/json", bytes.NewReader(body))
				if err != nil {
					codes[i] = append(codes[i], -1)
					return
				}
				resp.Body.Close()
				codes[i] = append(codes[i], resp.StatusCode)
				if resp.StatusCode != http.StatusTooManyRequests {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	rss := peakRSS(t, p.cmd.Process.Pid)
	busy := 0
	for i, cs := range codes {
		if len(cs) == 0 || cs[len(cs)-1] != http.StatusOK {
			t.Errorf("request %d: statuses %v", i, cs)
		}
		for _, c := range cs {
			if c == http.StatusTooManyRequests {
				busy++
			}
		}
	}
	t.Logf("%d MB bodies of %d events: peak RSS %d MB, %d answers 429", len(body)>>20, items, rss>>20, busy)
	if rss > 200<<20 {
		t.Errorf("peak RSS %d MB, want under 200 MB", rss>>20)
	}
	if busy == 0 {
		t.Errorf("8 concurrent requests and none answered 429 (--max-concurrent defaults to 4)")
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	p.cmd.Wait()
	p.mu.Lock()
	log := p.log.String()
	p.mu.Unlock()
	if want := fmt.Sprintf("requests=8 refused=%d events=%d bad_events=0 alerts=%d", busy, 8*items, 8*items); !strings.Contains(log, want) {
		t.Errorf("stop summary lacks %q:\n%s", want, log)
	}
}

// TestK8sauditServeToken: with --token-file, a post without the API
// server's token is answered 401; with it, 200. (There was no client
// authentication.)
func TestK8sauditServeToken(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokens, []byte("s3cret\n"), 0o600)
	p := startServe(t, "--token-file", tokens, "--alerts-output", filepath.Join(t.TempDir(), "alerts.json"))
	body := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}`
	for _, tc := range []struct {
		token string
		want  int
	}{{"", 401}, {"nope", 401}, {"s3cret", 200}} {
		req, _ := http.NewRequest(http.MethodPost, p.url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("token %q: status %d, want %d", tc.token, resp.StatusCode, tc.want)
		}
	}
}
