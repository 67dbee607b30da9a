package ring

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/mamori-dev/mamori/internal/memlock"
)

// The kernel writes the records: small programs, run with BPF_PROG_TEST_RUN,
// copy the input map's value into the ring (bpf_ringbuf_output) or reserve
// a record and discard it.

const inputSize = 8192

type kernelRing struct {
	ring, input *ebpf.Map
	writers     map[string]*ebpf.Program
}

func newKernelRing(t *testing.T, size uint32) *kernelRing {
	t.Helper()
	if err := memlock.Remove(); err != nil {
		t.Fatal(err)
	}
	ring, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: size})
	if err != nil {
		t.Fatalf("create a ring buffer map: %v", err)
	}
	t.Cleanup(func() { ring.Close() })
	input, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: inputSize, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { input.Close() })
	return &kernelRing{ring: ring, input: input, writers: map[string]*ebpf.Program{}}
}

// newReader is a kernel ring of size bytes and its reader, closed when the
// test ends.
func newReader(t *testing.T, size uint32) (*kernelRing, *Reader) {
	t.Helper()
	k := newKernelRing(t, size)
	r, err := NewReader(k.ring)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return k, r
}

// waitingRead starts a ReadInto into rec and checks that it is still
// waiting 100 ms later.
func waitingRead(t *testing.T, r *Reader, rec *Record) <-chan error {
	t.Helper()
	got := make(chan error, 1)
	go func() { got <- r.ReadInto(rec) }()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("the read returned %v instead of waiting", err)
	default:
	}
	return got
}

// ended is what the read returned once what was done ended its wait.
func ended(t *testing.T, got <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-got:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not end the wait", what)
		return nil
	}
}

// load builds a program from the instructions and keeps it by name.
func (k *kernelRing) load(t *testing.T, name string, body asm.Instructions) *ebpf.Program {
	t.Helper()
	if p := k.writers[name]; p != nil {
		return p
	}
	insns := append(body, asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return())
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	t.Cleanup(func() { p.Close() })
	k.writers[name] = p
	return p
}

func run(t *testing.T, p *ebpf.Program) {
	t.Helper()
	if _, err := p.Run(&ebpf.RunOptions{Data: make([]byte, 14)}); err != nil {
		t.Fatalf("run %v: %v", p, err)
	}
}

// write has the kernel put data in the ring as one record.
func (k *kernelRing) write(t *testing.T, data []byte, flags int64) {
	t.Helper()
	value := make([]byte, inputSize)
	copy(value, data)
	if err := k.input.Put(uint32(0), value); err != nil {
		t.Fatal(err)
	}
	run(t, k.load(t, fmt.Sprintf("output %d %d", len(data), flags), asm.Instructions{
		asm.StoreImm(asm.R10, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, k.input.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMapPtr(asm.R1, k.ring.FD()),
		asm.Mov.Reg(asm.R2, asm.R0),
		asm.Mov.Imm(asm.R3, int32(len(data))),
		asm.Mov.Imm(asm.R4, int32(flags)),
		asm.FnRingbufOutput.Call(),
	}))
}

// discard has the kernel reserve a record of size bytes and discard it.
func (k *kernelRing) discard(t *testing.T, size int) {
	t.Helper()
	run(t, k.load(t, fmt.Sprintf("discard %d", size), asm.Instructions{
		asm.LoadMapPtr(asm.R1, k.ring.FD()),
		asm.Mov.Imm(asm.R2, int32(size)),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRingbufDiscard.Call(),
	}))
}

const noWakeup = 1 // BPF_RB_NO_WAKEUP

func record(seq, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(seq*31 + i)
	}
	if size >= 8 {
		binary.LittleEndian.PutUint64(b, uint64(seq))
	}
	return b
}

// TestReadsWhatTheKernelWrote writes records of many sizes through a
// one-page ring, with discarded ones between, so that records wrap past the
// end of the data at many offsets, and checks each one read back.
func TestReadsWhatTheKernelWrote(t *testing.T) {
	const size = 4096
	k, r := newReader(t, size)
	r.SetDeadline(time.Now().Add(-time.Second)) // never wait: the records are there

	sizes := []int{1, 7, 8, 100, 333, 1000, 2000, 13, 3900}
	var pos, wrapped int
	var rec Record
	for seq := range 300 {
		n := sizes[seq%len(sizes)]
		want := record(seq, n)
		if seq%4 == 3 {
			k.discard(t, 40+seq%50)
			pos += headerSize + (40+seq%50+7)&^7
		}
		k.write(t, want, noWakeup)
		if start := (pos + headerSize) % size; start+n > size {
			wrapped++
		}
		pos += headerSize + (n+7)&^7
		if got := r.AvailableBytes(); got != headerSize+(n+7)&^7+discarded(seq) {
			t.Fatalf("record %d: %d bytes available, want %d", seq, got, headerSize+(n+7)&^7+discarded(seq))
		}
		if err := r.ReadInto(&rec); err != nil {
			t.Fatalf("record %d (%d bytes): %v", seq, n, err)
		}
		if !bytes.Equal(rec.RawSample, want) {
			t.Fatalf("record %d (%d bytes) read as %d bytes %x…, want %x…", seq, n, len(rec.RawSample), head(rec.RawSample), head(want))
		}
	}
	if err := r.ReadInto(&rec); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read of an empty ring with its deadline past: %v, want a deadline error", err)
	}
	if wrapped < 50 {
		t.Fatalf("only %d of 300 records wrapped past the end: the test proves little", wrapped)
	}
	t.Logf("%d of 300 records wrapped", wrapped)
}

func discarded(seq int) int {
	if seq%4 == 3 {
		return headerSize + (40+seq%50+7)&^7
	}
	return 0
}

func head(b []byte) []byte { return b[:min(len(b), 16)] }

// TestMapsTheDataOnce: the kernel fills in a ring buffer's mapping when it
// is made, so the data pages mapped twice would count twice in the RSS.
func TestMapsTheDataOnce(t *testing.T) {
	const size = 1 << 20
	_, r := newReader(t, size)
	page := os.Getpagesize()
	length, rss := mapping(t, uintptr(unsafe.Pointer(&r.prod[0])))
	if length != page+size {
		t.Errorf("the producer page and data are mapped over %d bytes, want %d", length, page+size)
	}
	if rss > page+size {
		t.Errorf("they are %d kB resident, want at most %d", rss>>10, (page+size)>>10)
	}
	if rss < size {
		t.Errorf("they are %d kB resident: the measure is not what this test thinks", rss>>10)
	}
}

// mapping is the length and resident bytes of this process's mapping at addr.
func mapping(t *testing.T, addr uintptr) (length, rss int) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	found := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 {
			found = lo <= addr && addr < hi
			if found {
				length = int(hi - lo)
			}
			continue
		}
		if kb, ok := strings.CutPrefix(line, "Rss:"); ok && found {
			fmt.Sscanf(strings.TrimSpace(kb), "%d kB", &rss)
			return length, rss << 10
		}
	}
	t.Fatalf("no mapping at %#x in /proc/self/smaps", addr)
	return 0, 0
}

// TestWaitsForTheKernel: a reader waiting on an empty ring, with no
// deadline, returns the record the kernel writes.
func TestWaitsForTheKernel(t *testing.T) {
	k, r := newReader(t, 4096)
	var rec Record
	got := waitingRead(t, r, &rec)
	k.write(t, []byte("hello, ring"), 0)
	if err := ended(t, got, "the kernel's wakeup"); err != nil || string(rec.RawSample) != "hello, ring" {
		t.Fatalf("read %q, %v", rec.RawSample, err)
	}
}

// TestDeadline: a wait ends at the deadline, then waits again once the
// deadline is moved.
func TestDeadline(t *testing.T) {
	k, r := newReader(t, 4096)
	var rec Record
	start := time.Now()
	r.SetDeadline(start.Add(200 * time.Millisecond))
	if err := r.ReadInto(&rec); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read of an empty ring: %v, want a deadline error", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Fatalf("the read returned after %v, before its deadline", waited)
	}
	// A record written without a wakeup is read at the next deadline.
	k.write(t, []byte("quiet"), noWakeup)
	r.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if err := r.ReadInto(&rec); err != nil || string(rec.RawSample) != "quiet" {
		t.Fatalf("read %q, %v", rec.RawSample, err)
	}
}

// TestFlush: records already written are delivered, then ErrFlushed once;
// a Flush ends a wait with no deadline.
func TestFlush(t *testing.T) {
	k, r := newReader(t, 4096)
	for i := range 3 {
		k.write(t, record(i, 16), noWakeup)
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	var rec Record
	for i := range 3 {
		if err := r.ReadInto(&rec); err != nil || !bytes.Equal(rec.RawSample, record(i, 16)) {
			t.Fatalf("record %d after the flush: %x, %v", i, rec.RawSample, err)
		}
	}
	if err := r.ReadInto(&rec); !errors.Is(err, ErrFlushed) {
		t.Fatalf("read after the flushed records: %v, want ErrFlushed", err)
	}
	r.SetDeadline(time.Now().Add(100 * time.Millisecond))
	if err := r.ReadInto(&rec); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after ErrFlushed: %v, want to wait again until the deadline", err)
	}

	r.SetDeadline(time.Time{})
	got := waitingRead(t, r, &rec)
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ended(t, got, "Flush"); !errors.Is(err, ErrFlushed) {
		t.Fatalf("waiting read after a flush: %v, want ErrFlushed", err)
	}
}

// TestCloseEndsAWait: Close interrupts a read with no deadline, and later
// reads say the reader is closed.
func TestCloseEndsAWait(t *testing.T) {
	k := newKernelRing(t, 4096)
	r, err := NewReader(k.ring)
	if err != nil {
		t.Fatal(err)
	}
	var rec Record
	got := waitingRead(t, r, &rec)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ended(t, got, "Close"); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("waiting read after Close: %v, want os.ErrClosed", err)
	}
	if err := r.ReadInto(&rec); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read after Close: %v, want os.ErrClosed", err)
	}
	if n := r.AvailableBytes(); n != 0 {
		t.Fatalf("AvailableBytes after Close: %d", n)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNotARing(t *testing.T) {
	k := newKernelRing(t, 4096)
	if _, err := NewReader(k.input); err == nil || !strings.Contains(err.Error(), "not a ring buffer") {
		t.Fatalf("reader of an array map: %v", err)
	}
}
