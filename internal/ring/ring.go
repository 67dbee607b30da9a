// Package ring reads a BPF ring buffer (BPF_MAP_TYPE_RINGBUF) with its data
// pages mapped once.
//
// cilium/ebpf's ringbuf.Reader maps the data pages twice, back to back, so
// that a record which wraps past the end reads as one slice. The kernel
// fills in every page of a ring buffer's mapping when it is made, so each
// copy counts in the process's resident set: a 4 MiB ring costs 8 MiB of
// RSS. This reader maps the data once and copies a wrapping record in two
// pieces. The rest follows the kernel's protocol (kernel/bpf/ringbuf.c): a
// writable consumer page, a read-only producer page followed by the data,
// and an 8-byte header before each record whose length carries a busy bit
// (reserved, not committed yet) and a discard bit. The reader waits for the
// kernel's wakeups on Go's netpoller (the map's descriptor is pollable).
package ring

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ErrFlushed is returned by ReadInto once it has delivered every record
// that was in the ring when Flush was called.
var ErrFlushed = errors.New("ring buffer flushed")

const (
	headerSize = 8 // struct bpf_ringbuf_hdr: u32 len, u32 pg_off
	busyBit    = 1 << 31
	discardBit = 1 << 30
)

// Record is one record read from the ring. RawSample is reused by the next
// ReadInto given the same Record.
type Record struct {
	RawSample []byte
}

// Reader reads one ring buffer map. ReadInto is for one goroutine at a
// time; SetDeadline, Flush, Close and AvailableBytes may be called from any.
type Reader struct {
	file *os.File // a duplicate of the map's descriptor, on the netpoller
	raw  syscall.RawConn

	mu sync.Mutex // one ReadInto at a time

	mapMu sync.RWMutex // the pages: read-held while used, Close unmaps them
	cons  []byte       // the consumer page (read-write)
	prod  []byte       // the producer page, then the data (read-only)
	data  []byte
	mask  uint64

	deadline atomic.Int64 // Unix nanoseconds; 0 waits for ever
	flushing atomic.Bool
	closed   atomic.Bool
}

// NewReader maps m, which must be a ring buffer map, and returns its reader.
func NewReader(m *ebpf.Map) (*Reader, error) {
	if m.Type() != ebpf.RingBuf {
		return nil, fmt.Errorf("map %v is a %v, not a ring buffer", m, m.Type())
	}
	size := int(m.MaxEntries())
	page := os.Getpagesize()
	if size < page || size&(size-1) != 0 {
		return nil, fmt.Errorf("ring buffer size %d is not a power of two of at least a page", size)
	}
	fd, err := unix.FcntlInt(uintptr(m.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicate the ring buffer's descriptor: %w", err)
	}
	// Non-blocking, so os.NewFile puts it on the netpoller. The flag is the
	// open file's, shared with the map's own descriptor; no map operation
	// looks at it.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("make the ring buffer's descriptor non-blocking: %w", err)
	}
	r := &Reader{file: os.NewFile(uintptr(fd), "ringbuf"), mask: uint64(size - 1)}
	if r.raw, err = r.file.SyscallConn(); err != nil {
		r.file.Close()
		return nil, err
	}
	if err := r.file.SetReadDeadline(time.Time{}); err != nil {
		r.file.Close()
		return nil, fmt.Errorf("the ring buffer's descriptor cannot be waited on: %w", err)
	}
	r.cons, err = unix.Mmap(fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		r.file.Close()
		return nil, fmt.Errorf("map the ring buffer's consumer page: %w", err)
	}
	r.prod, err = unix.Mmap(fd, int64(page), page+size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		unix.Munmap(r.cons)
		r.file.Close()
		return nil, fmt.Errorf("map the ring buffer's data: %w", err)
	}
	r.data = r.prod[page:]
	return r, nil
}

func (r *Reader) consPos() *uint64 { return (*uint64)(unsafe.Pointer(&r.cons[0])) }
func (r *Reader) prodPos() *uint64 { return (*uint64)(unsafe.Pointer(&r.prod[0])) }

// SetDeadline bounds how long ReadInto waits for a record; the zero time
// waits for ever.
func (r *Reader) SetDeadline(t time.Time) {
	if t.IsZero() {
		r.deadline.Store(0)
	} else {
		r.deadline.Store(t.UnixNano())
	}
}

var errClosed = fmt.Errorf("read the ring buffer: %w", os.ErrClosed)

// ReadInto reads the next record into rec, waiting for one when the ring is
// empty. It returns os.ErrDeadlineExceeded when the deadline passed and the
// ring is empty, ErrFlushed when Flush was called and the ring is empty,
// and an error matching os.ErrClosed after Close.
func (r *Reader) ReadInto(rec *Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mapMu.RLock()
	defer r.mapMu.RUnlock()
	if r.data == nil {
		return errClosed
	}
	timedOut := false
	for {
		ok, err := r.next(rec)
		if ok || err != nil {
			return err
		}
		if r.flushing.CompareAndSwap(true, false) {
			return ErrFlushed
		}
		if timedOut {
			return os.ErrDeadlineExceeded
		}
		err = r.wait()
		switch {
		case r.closed.Load():
			return errClosed
		case errors.Is(err, os.ErrDeadlineExceeded):
			timedOut = true // read once more, then say so
		case err != nil:
			return fmt.Errorf("wait for the ring buffer: %w", err)
		}
	}
}

// wait returns when the kernel wakes the ring's waiters, the deadline
// passes, Flush is called or the reader is closed. Records may be waiting
// when it returns, or not.
func (r *Reader) wait() error {
	var deadline time.Time
	if ns := r.deadline.Load(); ns != 0 {
		deadline = time.Unix(0, ns)
	}
	// The deadline is set before the flag is read below, and Flush sets the
	// flag before it moves the deadline to the past: either this sees the
	// flag, or the wait sees Flush's deadline.
	if err := r.file.SetReadDeadline(deadline); err != nil {
		return err
	}
	return r.raw.Read(func(uintptr) bool {
		// Called before the netpoller waits, and after each wakeup: a
		// record committed or a Flush since the ring was last read ends
		// the wait.
		return r.flushing.Load() || r.available() > 0
	})
}

// next reads one committed record, skipping discarded ones. It returns
// false when there is none.
func (r *Reader) next(rec *Record) (bool, error) {
	for {
		cons := atomic.LoadUint64(r.consPos())
		prod := atomic.LoadUint64(r.prodPos())
		if prod == cons {
			return false, nil
		}
		if prod-cons < headerSize {
			return false, fmt.Errorf("read the ring buffer's record header: %w", io.ErrUnexpectedEOF)
		}
		// The header never wraps: records start 8-byte aligned and the
		// data's size is a multiple of the page size.
		n := atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.data[cons&r.mask])))
		if n&busyBit != 0 {
			// Reserved by a program that has not committed it yet: it
			// is being written on another CPU now.
			runtime.Gosched()
			continue
		}
		size := uint64(n &^ (busyBit | discardBit))
		end := cons + headerSize + (size+7)&^7
		if size > r.mask+1 || end > prod {
			return false, fmt.Errorf("ring buffer record of %d bytes at %d, with %d bytes written: %w",
				size, cons, prod-cons, io.ErrUnexpectedEOF)
		}
		if n&discardBit != 0 {
			atomic.StoreUint64(r.consPos(), end)
			continue
		}
		// A record that runs past the end of the data goes on at its start.
		off := (cons + headerSize) & r.mask
		first := r.data[off:min(off+size, uint64(len(r.data)))]
		rec.RawSample = append(rec.RawSample[:0], first...)
		rec.RawSample = append(rec.RawSample, r.data[:size-uint64(len(first))]...)
		atomic.StoreUint64(r.consPos(), end)
		return true, nil
	}
}

func (r *Reader) available() uint64 {
	return atomic.LoadUint64(r.prodPos()) - atomic.LoadUint64(r.consPos())
}

// AvailableBytes is how many bytes of records wait to be read.
func (r *Reader) AvailableBytes() int {
	r.mapMu.RLock()
	defer r.mapMu.RUnlock()
	if r.data == nil {
		return 0
	}
	return int(r.available())
}

// Flush makes ReadInto deliver the records in the ring, then return
// ErrFlushed once, without waiting.
func (r *Reader) Flush() error {
	r.flushing.Store(true)
	return r.file.SetReadDeadline(time.Unix(1, 0))
}

// Close interrupts a waiting ReadInto and unmaps the ring.
func (r *Reader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	err := r.file.Close() // a waiting ReadInto returns
	r.mapMu.Lock()
	defer r.mapMu.Unlock()
	r.data = nil
	return errors.Join(err, unix.Munmap(r.prod), unix.Munmap(r.cons))
}
