package event

import (
	"testing"
	"time"
)

func TestProcessID(t *testing.T) {
	start := time.Unix(1700000000, 123_000_000)
	id := ProcessID("boot-a", 42, start)
	if len(id) != 16 {
		t.Fatalf("id %q: want 16 hex digits", id)
	}
	for _, c := range []struct {
		name  string
		other string
		same  bool
	}{
		{"same process, start within the same 10 ms", ProcessID("boot-a", 42, start.Add(4*time.Millisecond)), true},
		{"pid reused later", ProcessID("boot-a", 42, start.Add(time.Second)), false},
		{"another pid", ProcessID("boot-a", 43, start), false},
		{"another boot", ProcessID("boot-b", 42, start), false},
	} {
		if (c.other == id) != c.same {
			t.Errorf("%s: %q vs %q", c.name, c.other, id)
		}
	}
	if got := ProcessID("boot-a", 42, time.Time{}); got != "" {
		t.Errorf("unknown start time gave %q", got)
	}
}

func TestSetProcessIDsChainsAncestors(t *testing.T) {
	at := func(s int64) time.Time { return time.Unix(1700000000+s, 0) }
	p := Process{PID: 30, StartTime: at(3), Ancestors: []Process{
		{PID: 20, StartTime: at(2)}, {PID: 10, StartTime: at(1)}, {PID: 1, StartTime: at(0)},
	}}
	SetProcessIDs("b", &p)
	if p.ID == "" || p.ParentID != p.Ancestors[0].ID {
		t.Fatalf("process %q parent %q, first ancestor %q", p.ID, p.ParentID, p.Ancestors[0].ID)
	}
	for i := 0; i < len(p.Ancestors)-1; i++ {
		if p.Ancestors[i].ParentID != p.Ancestors[i+1].ID {
			t.Errorf("ancestor %d's parent %q, want %q", i, p.Ancestors[i].ParentID, p.Ancestors[i+1].ID)
		}
	}
	if last := p.Ancestors[len(p.Ancestors)-1]; last.ParentID != "" {
		t.Errorf("oldest ancestor has parent id %q", last.ParentID)
	}
}
