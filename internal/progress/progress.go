// Package progress draws a one-line progress bar for long batch work (log
// scans, image scans) on a terminal, and nothing anywhere else, so that
// redirected output and CI logs stay clean.
//
// It owns the drawing and its rate limit. It must not decide what is
// counted: callers add units (bytes, records) as they finish them.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// redraw is the shortest time between two drawings of a bar.
const redraw = 100 * time.Millisecond

// width is the number of cells of the bar itself.
const width = 30

// Bar is a progress bar. The zero value and a nil *Bar draw nothing. Its
// methods may be called from several goroutines.
type Bar struct {
	mu    sync.Mutex
	w     io.Writer // nil when not drawing
	label string
	unit  string // "" counts bytes; else the name of the items counted
	total int64
	done  int64
	start time.Time
	last  time.Time
	drawn bool
	now   func() time.Time
}

// New returns a bar labelled label counting bytes towards total (0 when
// the total is not known), shown with binary prefixes (KiB, MiB). It draws
// only when w is an *os.File that is a terminal.
func New(w io.Writer, label string, total int64) *Bar {
	b := &Bar{label: label, total: total, now: time.Now}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		b.w = w
	}
	b.start = b.now()
	return b
}

// Files returns a bar for reading files, sized by their lengths, and each
// file's length to Add when it is done. Off a terminal the bar draws
// nothing and the files are not even stat'ed.
func Files(w io.Writer, label string, files []string) (*Bar, []int64) {
	b := New(w, label, 0)
	sizes := make([]int64, len(files))
	if b.w == nil {
		return b, sizes
	}
	var total int64
	for i, f := range files {
		if st, err := os.Stat(f); err == nil {
			sizes[i] = st.Size()
			total += sizes[i]
		}
	}
	b.total = total
	return b, sizes
}

// NewItems returns a bar like New that counts items named unit
// ("advisories", "records") instead of bytes.
func NewItems(w io.Writer, label, unit string, total int64) *Bar {
	b := New(w, label, total)
	b.unit = unit
	return b
}

// newTo returns a bar that draws to w whatever w is, with clock now.
func newTo(w io.Writer, label string, total int64, now func() time.Time) *Bar {
	b := &Bar{w: w, label: label, total: total, now: now}
	b.start = now()
	return b
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Add counts n more units done and redraws if the last drawing is old.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if b.w == nil {
		return
	}
	if t := b.now(); !b.drawn || t.Sub(b.last) >= redraw {
		b.last = t
		b.draw(t)
	}
}

// Set says that n units are done in all, for callers told a running
// count rather than increments.
func (b *Bar) Set(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	d := n - b.done
	b.mu.Unlock()
	b.Add(d)
}

// SetTotal changes the total, for work whose size is learnt on the way.
func (b *Bar) SetTotal(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.total = n
	b.mu.Unlock()
}

// Clear erases the bar's line, so that a message can be written there; the
// bar draws again at the next Add. On a nil bar, or off a terminal, it
// does nothing.
func (b *Bar) Clear() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.w != nil && b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
		b.drawn = false
	}
}

// Done draws the final state and ends the line, so that what the caller
// prints next starts on a line of its own. A bar that never drew prints
// nothing.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.w == nil {
		return
	}
	b.draw(b.now())
	fmt.Fprint(b.w, "\n")
	b.w = nil
}

// draw writes the bar over the current line.
func (b *Bar) draw(t time.Time) {
	b.drawn = true
	elapsed := t.Sub(b.start)
	rate := ""
	if s := elapsed.Seconds(); s > 0 {
		rate = " " + b.count(float64(b.done)/s) + "/s"
	}
	if b.total <= 0 {
		fmt.Fprintf(b.w, "\r\033[K%s %s%s %s", b.label, b.count(float64(b.done)), rate, elapsed.Truncate(time.Second))
		return
	}
	frac := min(float64(b.done)/float64(b.total), 1)
	filled := int(frac * width)
	eta := ""
	if frac > 0 && frac < 1 {
		left := time.Duration(float64(elapsed) * (1 - frac) / frac)
		eta = " eta " + left.Truncate(time.Second).String()
	}
	fmt.Fprintf(b.w, "\r\033[K%s [%s%s] %3.0f%% %s/%s%s%s", b.label,
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100,
		b.count(float64(b.done)), b.count(float64(b.total)), rate, eta)
}

// count writes an amount in the bar's unit.
func (b *Bar) count(v float64) string {
	if b.unit != "" {
		return fmt.Sprintf("%.0f %s", v, b.unit)
	}
	return human(v)
}

// human writes a byte count with a binary prefix: 512B, 1.5KiB, 20.0MiB.
func human(v float64) string {
	const units = "KMGTPE"
	if v < 1024 {
		return fmt.Sprintf("%.0fB", v)
	}
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f%ciB", v, units[i])
}
