package link

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestSpoolKeepsOrderAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	s.segMax = 300 // several segments
	for i := range 40 {
		if err := s.append(record{subject: "mamori.alert.c.n", id: fmt.Sprint(i), data: []byte(fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
			t.Fatal(err)
		}
	}
	recs, pos, err := s.peek(15)
	if err != nil || len(recs) != 15 {
		t.Fatalf("peek: %d records, %v", len(recs), err)
	}
	if err := s.commit(pos); err != nil {
		t.Fatal(err)
	}
	s.close()

	// A torn write at the end: the entry is cut off on open.
	last := s.segPath(s.segs[len(s.segs)-1])
	f, _ := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{200, 0, 0, 0, 1, 2})
	f.Close()

	s, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for !s.empty() {
		recs, pos, err := s.peek(7)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			t.Fatalf("spool says %d bytes wait but gives no record", s.bytes())
		}
		for _, r := range recs {
			got = append(got, r.id)
		}
		if err := s.commit(pos); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 25 || got[0] != "15" || got[24] != "39" {
		t.Fatalf("replayed %v, want 15..39", got)
	}
	for i, id := range got {
		if id != fmt.Sprint(15+i) {
			t.Fatalf("out of order at %d: %v", i, got)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) > 1 {
		t.Errorf("consumed segments left on disk: %v", segs)
	}
}

func TestSpoolRefusesPastItsBound(t *testing.T) {
	s, err := openSpool(t.TempDir(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		err := s.append(record{subject: "s", id: "i", data: make([]byte, 100)})
		if err == errSpoolFull {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 8 || s.bytes() > 1000 {
		t.Fatalf("%d records, %d bytes in a 1000-byte spool", n, s.bytes())
	}
	recs, pos, _ := s.peek(100)
	s.commit(pos)
	if len(recs) != n || !s.empty() {
		t.Fatalf("read %d of %d", len(recs), n)
	}
	if err := s.append(record{subject: "s", id: "i", data: make([]byte, 100)}); err != nil {
		t.Fatalf("an emptied spool refuses: %v", err)
	}
}

// FuzzSpoolOpen: whatever a crash or a disk left in the spool directory,
// opening it and reading it back does not fail or loop.
func FuzzSpoolOpen(f *testing.F) {
	f.Add([]byte{}, []byte{})
	f.Add([]byte{20, 0, 0, 0, 1, 2, 3, 4, 1, 0, 's', 1, 0, 'i', 'x'}, []byte{1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, seg, cursor []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "000000000001.seg"), seg, 0o600)
		os.WriteFile(filepath.Join(dir, "cursor"), cursor, 0o600)
		s, err := openSpool(dir, 1<<20)
		if err != nil {
			return
		}
		for i := 0; !s.empty() && i < 1000; i++ {
			recs, pos, err := s.peek(10)
			if err != nil || len(recs) == 0 {
				return
			}
			s.commit(pos)
		}
	})
}
