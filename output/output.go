// Package output writes events (and, later, alerts) as JSON lines or as a
// readable one-line form, to stdout or a file. It owns serialisation only:
// nothing here decides what is written.
package output

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/mamori-dev/mamori/event"
	"golang.org/x/sys/unix"
)

// Format is how events are written.
type Format string

const (
	JSON Format = "json"
	Text Format = "text"
)

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case JSON, Text:
		return Format(s), nil
	}
	return "", fmt.Errorf("unknown format %q: use json or text", s)
}

// A Writer gathers lines in a buffer of bufferBytes and writes them out
// once less than lineRoom is left, so that the next line (an event with
// its ancestors' command lines is kilobytes) mostly fits without growing it.
const (
	bufferBytes = 256 << 10
	lineRoom    = 32 << 10
)

// Writer serialises events to one destination. It is safe for concurrent
// use. Writes are buffered; Flush pushes them out, and a Writer on a
// terminal flushes after every event.
type Writer struct {
	mu     sync.Mutex
	format Format
	out    io.Writer
	// pending are the lines not written out yet. Lines are built in it,
	// rather than in a buffer of their own and then copied to a
	// bufio.Writer's: a copy of kilobytes per event.
	pending  []byte
	err      error // the first error out gave: nothing is written after it, as with bufio
	closer   io.Closer
	autoSync bool
	memo     *processMemo // JSON events' processes, made with the first
	written  uint64
	errors   uint64
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Open returns a Writer to path, or to stdout when path is "" or "-". An
// empty format means text on a terminal and JSON elsewhere.
func Open(path string, format Format) (*Writer, error) {
	var f *os.File
	var closer io.Closer
	if path == "" || path == "-" {
		f = os.Stdout
	} else {
		var err error
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("open output %s: %w", path, err)
		}
		closer = f
	}
	tty := IsTerminal(f)
	if format == "" {
		format = JSON
		if tty {
			format = Text
		}
	}
	w := New(f, format)
	w.closer, w.autoSync = closer, tty
	return w, nil
}

// New returns a Writer to w.
func New(w io.Writer, format Format) *Writer {
	return &Writer{format: format, out: w, pending: make([]byte, 0, bufferBytes)}
}

// WriteEvent writes one event.
func (w *Writer) WriteEvent(e *event.Event) error {
	return w.writeLine("event", func(b []byte) ([]byte, error) {
		if w.format == Text {
			return AppendText(b, e), nil
		}
		if w.memo == nil {
			w.memo = new(processMemo)
		}
		return appendEvent(b, e, w.memo), nil
	})
}

// writeLine appends one line built by build, under the Writer's lock.
func (w *Writer) writeLine(what string, build func([]byte) ([]byte, error)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.err
	if err == nil {
		var line []byte
		// A line that fails to build leaves pending as it was.
		if line, err = build(w.pending); err == nil {
			w.pending = append(line, '\n')
			if w.autoSync || len(w.pending) > bufferBytes-lineRoom {
				err = w.flush()
			}
		}
	}
	if err != nil {
		w.errors++
		return fmt.Errorf("write %s: %w", what, err)
	}
	w.written++
	return nil
}

// Counts returns how many events were written and how many writes failed.
func (w *Writer) Counts() (written, failed uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written, w.errors
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flush()
}

// flush writes pending out; what out did not take stays pending.
func (w *Writer) flush() error {
	if w.err != nil || len(w.pending) == 0 {
		return w.err
	}
	n, err := w.out.Write(w.pending)
	if n < len(w.pending) && err == nil {
		err = io.ErrShortWrite
	}
	w.pending = w.pending[:copy(w.pending, w.pending[n:])]
	w.err = err
	return err
}

// Close flushes and closes the destination (never stdout).
func (w *Writer) Close() error {
	err := w.Flush()
	if w.closer != nil {
		if cerr := w.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// AppendText appends the readable one-line form of e:
//
//	15:04:05.000000 exec     host        bash[812]<-sshd[790] uid=0  /usr/bin/ls -la
func AppendText(b []byte, e *event.Event) []byte {
	b = e.Time.AppendFormat(b, "15:04:05.000000")
	b = append(b, ' ')
	b = appendPadded(b, string(e.Type), 11)
	where := "host"
	if e.Container != nil && !e.Container.IsHost() {
		where = e.Container.Name
		if where == "" {
			where = shortID(e.Container.ID)
		}
	}
	b = appendPadded(b, where, 14)
	p := &e.Process
	b = append(b, p.Name...)
	b = append(b, '[')
	b = strconv.AppendUint(b, uint64(p.PID), 10)
	b = append(b, ']')
	if len(p.Ancestors) > 0 {
		b = append(b, "<-"...)
		b = append(b, p.Ancestors[0].Name...)
	}
	b = append(b, " uid="...)
	b = strconv.AppendUint(b, uint64(p.UID), 10)
	b = append(b, ' ')
	switch {
	case e.Type == event.Exec:
		b = append(b, p.Exe...)
		if len(p.Args) > 1 {
			b = append(b, ' ')
			b = append(b, strings.Join(p.Args[1:], " ")...)
		}
		if p.ExeUpperLayer {
			b = append(b, " [upper layer]"...)
		}
		if p.ExeFromMemfd {
			b = append(b, " [memfd]"...)
		}
	case e.Type == event.Exit:
		if p.ExitSignal != nil {
			b = append(b, "signal="...)
			b = strconv.AppendInt(b, int64(*p.ExitSignal), 10)
		} else if p.ExitCode != nil {
			b = append(b, "code="...)
			b = strconv.AppendInt(b, int64(*p.ExitCode), 10)
		}
	case e.Type == event.Fork:
		b = append(b, "child="...)
		b = strconv.AppendUint(b, uint64(p.ChildPID), 10)
	case e.Cgroup != nil:
		b = append(b, "pid="...)
		b = strconv.AppendUint(b, uint64(e.Cgroup.PID), 10)
		b = append(b, " -> "...)
		b = append(b, e.Cgroup.Path...)
	case e.File != nil:
		b = append(b, e.File.Path...)
		if e.File.Target != "" {
			b = append(b, " -> "...)
			b = append(b, e.File.Target...)
		}
		if e.File.Flags != "" {
			b = append(b, ' ')
			b = append(b, e.File.Flags...)
		}
	case e.Network != nil:
		n := e.Network
		b = append(b, n.Family...)
		b = append(b, '/')
		b = append(b, n.Protocol...)
		if n.SrcIP != "" || n.SrcPort != 0 {
			b = append(b, ' ')
			b = appendHostPort(b, n.SrcIP, n.SrcPort)
		}
		if n.DstIP != "" || n.DstPort != 0 {
			b = append(b, " -> "...)
			b = appendHostPort(b, n.DstIP, n.DstPort)
		}
		if n.Path != "" {
			b = append(b, ' ')
			b = append(b, n.Path...)
		}
	case e.Args != nil:
		a := e.Args
		for _, kv := range [][2]string{{"request", a.Request}, {"source", a.Source}, {"target", a.Target},
			{"fstype", a.FSType}, {"flags", a.Flags}, {"module", a.Module}} {
			if kv[1] != "" {
				b = append(b, kv[0]...)
				b = append(b, '=')
				b = append(b, kv[1]...)
				b = append(b, ' ')
			}
		}
		if a.TargetPID != 0 {
			b = append(b, "pid="...)
			b = strconv.AppendUint(b, uint64(a.TargetPID), 10)
		}
		for _, kv := range []struct {
			k string
			v *uint32
		}{{"uid", a.UID}, {"euid", a.EUID}, {"gid", a.GID}, {"egid", a.EGID}} {
			if kv.v != nil {
				b = append(b, kv.k...)
				b = append(b, '=')
				b = strconv.AppendUint(b, uint64(*kv.v), 10)
				b = append(b, ' ')
			}
		}
	}
	if e.Result < 0 {
		b = append(b, " = "...)
		b = strconv.AppendInt(b, e.Result, 10)
	}
	return b
}

func appendHostPort(b []byte, ip string, port uint16) []byte {
	if strings.Contains(ip, ":") {
		b = append(b, '[')
		b = append(b, ip...)
		b = append(b, ']')
	} else {
		b = append(b, ip...)
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(port), 10)
}

func appendPadded(b []byte, s string, n int) []byte {
	b = append(b, s...)
	for i := len(s); i < n; i++ {
		b = append(b, ' ')
	}
	return append(b, ' ')
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
