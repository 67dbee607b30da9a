package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium (scripts/install-deps.sh installs it).
const chromiumPath = "/usr/bin/chromium"

// browserProc is a headless Chromium driven over the DevTools protocol,
// recording every error its pages log or throw.
type browserProc struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

// startBrowser starts Chromium for a test; without it the test skips, or
// fails where the setup must be complete (MAMORI_REQUIRE_PODMAN=1, as in
// CI).
func startBrowser(t *testing.T, width, height int) *browserProc {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("MAMORI_REQUIRE_PODMAN") == "1" {
			t.Fatalf("%s is missing: scripts/install-deps.sh installs Debian's chromium", chromiumPath)
		}
		t.Skipf("%s is missing (apt-get install chromium)", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.WindowSize(width, height),
		// The console's certificate is signed by its own CA, which
		// this throwaway profile does not hold.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	b := &browserProc{ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // the browser and its tab
		t.Fatalf("start chromium: %v", err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, fmt.Sprint(a.Value)+a.Description)
				}
				msg = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				msg = "log: " + ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		// The host's interfaces change under the browser when other tests
		// start containers (veth pairs): Chromium then fails requests in
		// flight with ERR_NETWORK_CHANGED, which the pages retry. Not the
		// pages' error.
		if msg != "" && !strings.Contains(msg, "ERR_NETWORK_CHANGED") {
			b.mu.Lock()
			b.errs = append(b.errs, msg)
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, enable := range []cdp.Command[cdp.Empty, cdp.Empty]{log.Enable, runtime.Enable} {
		if _, err := chromedp.Call(ctx, enable, cdp.Empty{}); err != nil {
			t.Fatalf("chromium: %v", err)
		}
	}
	return b
}

// where says where the page is and what it shows, for a failure.
func (b *browserProc) where() string {
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ''`))
	return fmt.Sprintf("at %s\n%s\nbrowser errors: %v", loc, body, b.errors())
}

// run runs actions with a deadline. A page load that failed with
// ERR_NETWORK_CHANGED is tried again, as a user would reload: the host's
// interfaces change under this browser when tests start containers (a
// veth pair each), which an analyst's browser on another machine never
// sees.
func (b *browserProc) run(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		err := chromedp.Do(ctx, actions...)
		cancel()
		if err == nil {
			return
		}
		if try == 3 || !strings.Contains(err.Error(), "ERR_NETWORK_CHANGED") {
			t.Fatalf("%s: %v\n%s", what, err, b.where())
		}
		t.Logf("%s: %v: again", what, err)
	}
}

// eval returns a JavaScript expression's value.
func eval[T any](t *testing.T, b *browserProc, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v\n%s", expr, err, b.where())
	}
	return v
}

// waitFor waits until a JavaScript expression is true. It asks again and
// again, so that a navigation meanwhile (which ends a polling script) does
// not matter. A navigation that failed with ERR_NETWORK_CHANGED (see run)
// leaves Chromium on its error page, which is reloaded, as a user would,
// twice at most: that is how the page after a login was lost once in CI.
func (b *browserProc) waitFor(t *testing.T, what, expr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	check := `location.protocol === 'chrome-error:' && document.body !== null && document.body.innerText.includes('ERR_NETWORK_CHANGED') ? 'network changed' : !!(` + expr + `) ? 'yes' : ''`
	var lastErr error
	reloads := 0
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](check))
		cancel()
		if err == nil && got == "yes" {
			return
		}
		if err == nil && got == "network changed" && reloads < 2 {
			reloads++
			t.Logf("%s: a page load failed with ERR_NETWORK_CHANGED: loading it again", what)
			b.run(t, what+": reload", chromedp.Reload())
			continue
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %v (%v)\n%s", what, within, lastErr, b.where())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// feedLoaded waits until the feed shows what its URL asks (the page marks
// the rows it loaded with the query they answer).
func (b *browserProc) feedLoaded(t *testing.T, what string) {
	t.Helper()
	b.waitFor(t, what, `document.querySelector('section.feed[data-ready="true"]') && document.querySelector('section.feed').dataset.search === location.search`, 10*time.Second)
}

func (b *browserProc) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// forget drops the recorded errors that match: those a step caused on
// purpose (a refused change, a console that was restarted).
func (b *browserProc) forget(match func(string) bool) (forgotten []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := b.errs[:0]
	for _, e := range b.errs {
		if match(e) {
			forgotten = append(forgotten, e)
		} else {
			keep = append(keep, e)
		}
	}
	b.errs = keep
	return forgotten
}

// screenshot saves the page as docs/img/console-NAME.png when
// MAMORI_WEB_SCREENSHOTS names a directory (how docs/console.md's
// pictures are made).
func (b *browserProc) screenshot(t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("MAMORI_WEB_SCREENSHOTS")
	if dir == "" {
		return
	}
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err = os.WriteFile(filepath.Join(dir, "console-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// login logs in through the login page with token. A load of the page
// that a network change aborted (podman adding a container's interface)
// leaves it without its form and without an error to see: the page is
// loaded again, twice at most.
func (b *browserProc) login(t *testing.T, token string) {
	t.Helper()
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#token")))
		cancel()
		if err == nil || try == 3 {
			break
		}
		t.Logf("the login form did not show (%v): loading the page again", err)
		b.run(t, "reload the login page", chromedp.Reload())
	}
	b.run(t, "log in", chromedp.WaitVisible(chromedp.CSS("#token")), chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#login")))
	b.waitFor(t, "the page after the login", `location.pathname !== '/login' && document.querySelector('header.top') !== null`, 10*time.Second)
}

// addToken makes an API token with `mamori console token add`.
func (c *consoleProc) addToken(t *testing.T, name, role string) string {
	t.Helper()
	out, err := exec.Command(mamoriBin, "console", "token", "add", "--console", c.apiURL, "--token", c.token, "--ca", c.ca,
		"--name", name, "--role", role).CombinedOutput()
	if err != nil {
		t.Fatalf("console token add: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }
