package sensor

import (
	"fmt"
	"time"

	"github.com/mamori-dev/mamori/event"
	"golang.org/x/sys/unix"
)

// Records the kernel could not deliver are counted in the `dropped` map by
// slot: the record's kind for lifecycle records, slotSyscall plus the
// syscall's code for the others (see sensor.bpf.c).
const slotSyscall = 8

// Drops counts the records of one event type that the kernel lost, by cause.
type Drops struct {
	// RingFull counts records for which the ring buffer had no room.
	RingFull uint64 `json:"ring_full"`
	// Reserve counts syscall records turned away because only the
	// lifecycle reserve was left.
	Reserve uint64 `json:"reserve"`
}

// Total is the records lost whatever the cause.
func (d Drops) Total() uint64 { return d.RingFull + d.Reserve }

// defaultReserve is the lifecycle reserve for a ring of size bytes: an
// eighth, at least 64 KiB (a few hundred exec records, as the reader may
// take that long to come back after a stall), at most half the ring.
func defaultReserve(size uint32) uint32 {
	return min(max(size/8, 64<<10), size/2)
}

// dropSlots lists the slots that can count drops, with their event types.
func (s *Sensor) dropSlots() map[uint32]event.Type {
	slots := map[uint32]event.Type{kindExec: event.Exec, kindFork: event.Fork, kindExit: event.Exit}
	if s.wants(event.CgroupMove) {
		slots[kindMove] = event.CgroupMove
	}
	for i, d := range syscallTable {
		if s.wants(d.typ) {
			slots[uint32(slotSyscall+i+1)] = d.typ
		}
	}
	return slots
}

func (s *Sensor) dropsByType() map[event.Type]Drops {
	out := map[event.Type]Drops{}
	var per []sensorDrops
	for slot, t := range s.dropSlots() {
		if err := s.objs.Dropped.Lookup(slot, &per); err != nil {
			continue
		}
		d := out[t]
		for _, c := range per {
			d.RingFull += c.RingFull
			d.Reserve += c.Reserve
		}
		if d.Total() > 0 {
			out[t] = d
		}
	}
	return out
}

func (s *Sensor) windows() []sensorBlindWindow {
	var per []sensorBlindWindow
	if err := s.objs.Blind.Lookup(uint32(0), &per); err != nil {
		return nil
	}
	return per
}

// lastDrop is when the kernel last lost a record, on any CPU.
func (s *Sensor) lastDrop() time.Time {
	var last uint64
	for _, w := range s.windows() {
		last = max(last, w.Last)
	}
	if last == 0 {
		return time.Time{}
	}
	return s.dec.wall(last)
}

// Blindness is a span of time in which the kernel lost records: the
// sensor was blind to some of what happened from From to To.
type Blindness struct {
	From, To time.Time
}

// Duration is how long the sensor was blind; 0 when a single record was lost.
func (b Blindness) Duration() time.Duration { return b.To.Sub(b.From) }

// Blindness returns the span from the first to the last record the kernel
// lost since the previous call, and false when it lost none. Each call
// starts a new span, so one caller should own it, as the agent's watch
// does. A loss at the very moment of a call may fall in both spans.
func (s *Sensor) Blindness() (Blindness, bool, error) {
	s.blindMu.Lock()
	defer s.blindMu.Unlock()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return Blindness{}, false, err
	}
	now := uint64(ts.Nano())
	prev := s.blindSeen
	// From now on the kernel starts a new span at its next loss.
	if err := s.objs.BlindSeen.Set(now); err != nil {
		return Blindness{}, false, fmt.Errorf("start a new blind window: %w", err)
	}
	s.blindSeen = now
	var first, last uint64
	for _, w := range s.windows() {
		if w.Last <= prev {
			continue // nothing lost on this CPU since the previous look
		}
		f := max(w.First, prev)
		if first == 0 || f < first {
			first = f
		}
		last = max(last, w.Last)
	}
	if last == 0 {
		return Blindness{}, false, nil
	}
	return Blindness{From: s.dec.wall(first), To: s.dec.wall(last)}, true, nil
}

// Lifecycle reports whether records of type t are lifecycle records: the
// ones the reserve keeps room for, which are never turned away for it.
func Lifecycle(t event.Type) bool {
	switch t {
	case event.Exec, event.Fork, event.Exit, event.CgroupMove:
		return true
	}
	return false
}
