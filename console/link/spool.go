package link

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// spool keeps records on disk, in order, while the console cannot take
// them, and survives the agent's restart. It is a directory of segment
// files (NNNNNNNNNNNN.seg) of entries
//
//	u32 length | u32 crc32 | u16 subject length | subject | u16 id length | id | data
//
// and a cursor file naming the first entry not yet acknowledged. Its size
// is bounded: an entry that would pass the bound is refused, and the
// caller counts it as dropped. A torn entry at the end of the last segment
// (a crash mid-write) is cut off when the spool opens.
//
// It is not safe for concurrent use: the publisher's one goroutine owns it.
type spool struct {
	dir      string
	max      int64 // bytes on disk at most
	segMax   int64
	segs     []int64 // segment numbers, oldest first
	size     int64   // bytes in the segments
	w        *os.File
	wSize    int64
	rSeg     int64 // cursor: segment and offset of the next entry to read
	rOff     int64
	consumed int64 // bytes before the cursor in segments still on disk
}

type record struct {
	subject string
	id      string
	data    []byte
}

const spoolHeader = 8

func openSpool(dir string, max int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &spool{dir: dir, max: max, segMax: min(max/4+1, 8<<20)}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, n := range names {
		num, ok := strings.CutSuffix(n.Name(), ".seg")
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			continue
		}
		s.segs = append(s.segs, v)
	}
	slices.Sort(s.segs)
	if b, err := os.ReadFile(filepath.Join(dir, "cursor")); err == nil && len(b) == 16 {
		s.rSeg, s.rOff = int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
	}
	// Segments wholly before the cursor were consumed but not yet removed.
	for len(s.segs) > 0 && s.segs[0] < s.rSeg {
		os.Remove(s.segPath(s.segs[0]))
		s.segs = s.segs[1:]
	}
	if len(s.segs) == 0 || s.segs[0] != s.rSeg {
		s.rOff = 0
		if len(s.segs) > 0 {
			s.rSeg = s.segs[0]
		}
	}
	for i, n := range s.segs {
		fi, err := os.Stat(s.segPath(n))
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		size := fi.Size()
		if i == len(s.segs)-1 {
			if size, err = s.validLength(n); err != nil {
				return nil, err
			}
		}
		s.size += size
	}
	if s.rOff > 0 {
		s.consumed = s.rOff
	}
	return s, nil
}

func (s *spool) segPath(n int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%012d.seg", n))
}

// validLength returns how much of segment n holds whole entries, and cuts
// off the rest.
func (s *spool) validLength(n int64) (int64, error) {
	f, err := os.OpenFile(s.segPath(n), os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	var off int64
	for {
		_, next, err := readEntry(f, off)
		if err != nil {
			break
		}
		off = next
	}
	if err := f.Truncate(off); err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	return off, nil
}

// empty reports whether every spooled record has been acknowledged.
func (s *spool) empty() bool { return s.size-s.consumed == 0 }

// bytes is what waits in the spool.
func (s *spool) bytes() int64 { return s.size - s.consumed }

var errSpoolFull = errors.New("spool full")

// append adds r at the end; errSpoolFull when it would pass the bound.
func (s *spool) append(r record) error {
	n := int64(spoolHeader + 2 + len(r.subject) + 2 + len(r.id) + len(r.data))
	if s.size+n > s.max {
		return errSpoolFull
	}
	if s.w == nil || s.wSize+n > s.segMax {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	b := make([]byte, 0, n)
	b = binary.LittleEndian.AppendUint32(b, uint32(n-spoolHeader))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.subject)))
	b = append(b, r.subject...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.id)))
	b = append(b, r.id...)
	b = append(b, r.data...)
	binary.LittleEndian.PutUint32(b[4:8], crc32.ChecksumIEEE(b[spoolHeader:]))
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.wSize += n
	s.size += n
	return nil
}

// rotate starts a new segment after the last one.
func (s *spool) rotate() error {
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
	next := int64(1)
	if len(s.segs) > 0 {
		next = s.segs[len(s.segs)-1] + 1
	}
	f, err := os.OpenFile(s.segPath(next), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if len(s.segs) == 0 {
		s.rSeg, s.rOff = next, 0
	}
	s.segs = append(s.segs, next)
	s.w, s.wSize = f, 0
	return nil
}

// peek reads up to n records from the cursor on, without consuming them;
// pos is where the cursor goes once they are acknowledged (commit).
func (s *spool) peek(n int) (recs []record, pos [2]int64, err error) {
	seg, off := s.rSeg, s.rOff
	for i := 0; i < len(s.segs) && len(recs) < n; i++ {
		if s.segs[i] < seg {
			continue
		}
		if s.segs[i] > seg {
			seg, off = s.segs[i], 0
		}
		f, err := os.Open(s.segPath(seg))
		if err != nil {
			return nil, pos, fmt.Errorf("spool: %w", err)
		}
		for len(recs) < n {
			r, next, err := readEntry(f, off)
			if err != nil {
				break
			}
			recs = append(recs, r)
			off = next
		}
		f.Close()
	}
	return recs, [2]int64{seg, off}, nil
}

// commit moves the cursor to pos (from peek), removing finished segments
// and saving the cursor so that a restart does not replay them.
func (s *spool) commit(pos [2]int64) error {
	for len(s.segs) > 0 && s.segs[0] < pos[0] {
		fi, err := os.Stat(s.segPath(s.segs[0]))
		if err == nil {
			s.size -= fi.Size()
		}
		os.Remove(s.segPath(s.segs[0]))
		s.segs = s.segs[1:]
		s.consumed = 0
	}
	s.rSeg, s.rOff = pos[0], pos[1]
	s.consumed = pos[1]
	last := len(s.segs) > 0 && s.segs[len(s.segs)-1] == s.rSeg
	if last && s.rOff == s.wSize && s.w != nil && s.empty() {
		// Everything is acknowledged: start afresh so the file does not grow.
		s.w.Close()
		s.w = nil
		os.Remove(s.segPath(s.rSeg))
		s.size, s.consumed = 0, 0
		s.segs = s.segs[:0]
		s.rOff = 0
		s.rSeg++
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], uint64(s.rSeg))
	binary.LittleEndian.PutUint64(b[8:], uint64(s.rOff))
	tmp := filepath.Join(s.dir, "cursor.tmp")
	if err := os.WriteFile(tmp, b[:], 0o600); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "cursor")); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

func (s *spool) close() error {
	if s.w != nil {
		return s.w.Close()
	}
	return nil
}

func readEntry(f *os.File, off int64) (record, int64, error) {
	var h [spoolHeader]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return record{}, 0, err
	}
	n := int64(binary.LittleEndian.Uint32(h[:4]))
	if n < 4 || n > 64<<20 {
		return record{}, 0, io.ErrUnexpectedEOF
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off+spoolHeader); err != nil {
		return record{}, 0, err
	}
	if crc32.ChecksumIEEE(b) != binary.LittleEndian.Uint32(h[4:]) {
		return record{}, 0, errors.New("spool: checksum mismatch")
	}
	sl := int(binary.LittleEndian.Uint16(b))
	if 2+sl+2 > len(b) {
		return record{}, 0, io.ErrUnexpectedEOF
	}
	subj := string(b[2 : 2+sl])
	b = b[2+sl:]
	il := int(binary.LittleEndian.Uint16(b))
	if 2+il > len(b) {
		return record{}, 0, io.ErrUnexpectedEOF
	}
	return record{subject: subj, id: string(b[2 : 2+il]), data: b[2+il:]}, off + spoolHeader + n, nil
}
