//go:build !agentonly

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/mamori-dev/mamori/audit/auditlog"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/progress"
	"github.com/mamori-dev/mamori/output"
)

// exitInterrupted is the exit status of a scan stopped by SIGINT or
// SIGTERM, as a shell reports a command ended by Ctrl-C (128+2).
const exitInterrupted = 130

// auditScan is what the CloudTrail and Kubernetes audit scans share:
// counting what was read, writing alerts, reporting unreadable input,
// and stopping cleanly on SIGINT or SIGTERM: the alerts found so far are
// written (not left in a buffer), the summary is printed, and the scan
// exits 130, even when the signal comes while a read blocks (a FIFO, a
// slow mount).
type auditScan struct {
	what   string // "CloudTrail records", for messages
	out    *output.Writer
	stderr io.Writer
	bar    *progress.Bar

	// mu is held while a record is evaluated and its alerts written, and
	// by the signal handler, which so never sees half a record.
	mu       sync.Mutex
	sum      scanSummary
	writeErr error
	stopped  bool
	ctx      context.Context // ends on the signal, for reads that take one (S3)
	cancel   context.CancelFunc
	stopSigs func()
}

func newAuditScan(what string, out *output.Writer, stderr io.Writer) *auditScan {
	s := &auditScan{what: what, out: out, stderr: stderr}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	s.stopSigs = func() { signal.Stop(sigs); close(done) }
	go func() {
		select {
		case sig := <-sigs:
			s.interrupt(sig)
		case <-done:
		}
	}()
	return s
}

// record counts a record of file and evaluates it with detect, writing
// each alert; after a signal it does nothing.
func (s *auditScan) record(file string, detect func(emit func(*event.Alert))) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.sum.record(file)
	detect(func(a *event.Alert) {
		s.sum.alert(a)
		if err := s.out.WriteAlert(a); err != nil && s.writeErr == nil {
			s.writeErr = fmt.Errorf("write alert: %w", err)
		}
	})
}

// bad reports a file or record that cannot be read.
func (s *auditScan) bad(e *auditlog.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.sum.errors++
	s.bar.Clear() // the progress bar owns the last line of a terminal
	fmt.Fprintf(s.stderr, "skipped: %v\n", e)
}

// interrupted reports whether a signal stopped the scan, for loops that
// would otherwise go on to the next file.
func (s *auditScan) interrupted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// interrupt stops the scan where it is: no record is half evaluated (mu),
// the alerts are flushed, the summary printed, and the process exits 130.
func (s *auditScan) interrupt(sig os.Signal) {
	s.mu.Lock()
	s.stopped = true
	s.cancel()
	s.bar.Clear()
	err := s.out.Close()
	s.sum.print(s.stderr)
	name := "SIGINT"
	if sig == syscall.SIGTERM {
		name = "SIGTERM"
	}
	fmt.Fprintf(s.stderr, "mamori: interrupted by %s after %s: the %s found so far are written\n",
		name, countOf(s.sum.records, strings.TrimSuffix(s.what, "s")), countOf(s.sum.alerts, "alert"))
	if err != nil {
		fmt.Fprintf(s.stderr, "mamori: write alerts: %v\n", err)
	}
	os.Exit(exitInterrupted)
}

// finish ends a scan that read all its input: alerts flushed, summary
// printed, and an error when nothing was read or something was skipped.
func (s *auditScan) finish(paths []string) error {
	s.stopSigs()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.cancel()
	if err := s.out.Close(); err != nil && s.writeErr == nil {
		s.writeErr = fmt.Errorf("write alerts: %w", err)
	}
	s.sum.print(s.stderr)
	switch {
	case s.writeErr != nil:
		return s.writeErr
	case s.sum.records == 0 && s.sum.errors == 0:
		return fmt.Errorf("no %s in %s: name files or directories that hold them", s.what, strings.Join(paths, ", "))
	case s.sum.records == 0:
		return fmt.Errorf("no %s read: %s could not be read (listed above)", s.what, countOf(s.sum.errors, "file or record"))
	case s.sum.errors == 1:
		return fmt.Errorf("1 file or record could not be read and was skipped (listed above)")
	case s.sum.errors > 0:
		return fmt.Errorf("%s could not be read and were skipped (listed above)", countOf(s.sum.errors, "file or record"))
	}
	return nil
}

// countOf says "1 alert" or "3 alerts"; "unreadable file or record"
// becomes "unreadable files or records".
func countOf(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	parts := strings.Split(what, " or ")
	for i, p := range parts {
		parts[i] = p + "s"
	}
	return fmt.Sprintf("%d %s", n, strings.Join(parts, " or "))
}
