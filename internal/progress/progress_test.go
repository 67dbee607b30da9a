package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// clock is a test clock that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestBarDrawsProgressRateAndEnd(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	b := newTo(&buf, "scanning", 4096, c.now)
	c.t = c.t.Add(time.Second)
	b.Add(1024)
	got := buf.String()
	for _, want := range []string{"scanning [", "25%", "1.0KiB/4.0KiB", "1.0KiB/s", "eta 3s"} {
		if !strings.Contains(got, want) {
			t.Errorf("first drawing %q lacks %q", got, want)
		}
	}
	// Within the redraw interval nothing more is drawn.
	n := buf.Len()
	b.Add(1024)
	if buf.Len() != n {
		t.Errorf("redrew %q within %v of the last drawing", buf.String()[n:], redraw)
	}
	c.t = c.t.Add(redraw)
	b.Add(2048)
	b.Done()
	end := buf.String()
	if !strings.HasSuffix(end, "\n") || !strings.Contains(end[n:], "100%") {
		t.Errorf("final drawing %q: want 100%% and a newline", end[n:])
	}
	n = buf.Len()
	b.Add(1)
	b.Done()
	if buf.Len() != n {
		t.Errorf("a finished bar drew again: %q", buf.String()[n:])
	}
}

func TestBarUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	b := newTo(&buf, "reading", 0, c.now)
	c.t = c.t.Add(2 * time.Second)
	b.Add(3 << 20)
	if got := buf.String(); !strings.Contains(got, "reading 3.0MiB 1.5MiB/s 2s") || strings.Contains(got, "%") {
		t.Errorf("unknown-total drawing %q", got)
	}
}

func TestBarSilentOffTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	for _, b := range []*Bar{New(f, "x", 10), New(&buf, "x", 10)} {
		b.Add(5)
		b.Done()
	}
	if st, _ := f.Stat(); st.Size() != 0 || buf.Len() != 0 {
		t.Errorf("drew off a terminal: file %d bytes, buffer %q", st.Size(), buf.String())
	}
	var nilBar *Bar
	nilBar.Add(1)
	nilBar.SetTotal(2)
	nilBar.Done()
}

func TestBarItems(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	b := newTo(&buf, "loading", 200, c.now)
	b.unit = "advisories"
	c.t = c.t.Add(time.Second)
	b.Set(50)
	b.Set(50) // no change, no drawing
	if got := buf.String(); !strings.Contains(got, "25% 50 advisories/200 advisories 50 advisories/s") {
		t.Errorf("items drawing %q", got)
	}
}

func TestBarClear(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	b := newTo(&buf, "scan", 10, c.now)
	b.Add(1)
	n := buf.Len()
	b.Clear()
	if got := buf.String()[n:]; got != "\r\033[K" {
		t.Errorf("Clear wrote %q", got)
	}
	// The next Add draws at once, whatever the redraw interval.
	n = buf.Len()
	b.Add(1)
	if buf.Len() == n {
		t.Error("no drawing after Clear")
	}
	var nilBar *Bar
	nilBar.Clear()
}

func TestFilesOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	b, sizes := Files(&buf, "scan", []string{"/etc/hostname", "/nonexistent"})
	if len(sizes) != 2 || sizes[0] != 0 || b.total != 0 {
		t.Errorf("off a terminal: sizes %v total %d; want no stat", sizes, b.total)
	}
}
