package output

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// change makes v differ from what it was, whatever its kind.
func change(t *testing.T, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		} else {
			p := reflect.New(v.Type().Elem())
			p.Elem().Set(v.Elem())
			change(t, p.Elem())
			v.Set(p)
		}
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
	default:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Nanosecond)))
			return
		}
		t.Fatalf("change: no way to change a %s", v.Type())
	}
}

// TestSameProcessSeesEveryField: a process that differs from the
// remembered one in any field but its ancestors is written anew. It fails
// when event.Process gains a field that sameProcess does not compare.
func TestSameProcessSeesEveryField(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	typ := reflect.TypeFor[event.Process]()
	for range 50 {
		var base event.Process
		fill(r, reflect.ValueOf(&base).Elem(), 1)
		if cp := base; !sameProcess(&base, &cp) {
			t.Fatalf("a process differs from its copy: %+v", base)
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Name == "Ancestors" {
				continue
			}
			other := base
			change(t, reflect.ValueOf(&other).Elem().Field(i))
			if sameProcess(&base, &other) {
				t.Errorf("sameProcess misses a change of %s", f.Name)
			}
		}
		// args: null and [] are written differently.
		a, b := base, base
		a.Args, b.Args = nil, []string{}
		if sameProcess(&a, &b) {
			t.Error("sameProcess takes nil args for empty ones")
		}
	}
}

// TestWriterMatchesEncodingJSON: what a Writer writes, remembering its
// processes, is every event in order, each line byte for byte what
// encoding/json makes of the event as it was when written; with processes
// that come back unchanged, changed in one field, or changed in place in
// the caller's own slices (as an agent reusing its event would).
func TestWriterMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	typ := reflect.TypeFor[event.Process]()
	pool := make([]event.Process, 6)
	for i := range pool {
		fill(r, reflect.ValueOf(&pool[i]).Elem(), 1)
		pool[i].PID = uint32(100 + i%3) // pids shared: slots meet other processes
		pool[i].Args = append(pool[i].Args, "arg")
	}
	var buf bytes.Buffer
	w := New(&buf, JSON)
	var want [][]byte
	for n := range 20000 {
		var e event.Event
		fill(r, reflect.ValueOf(&e).Elem(), 0)
		// Mostly a process of the pool, now and then changed in one field.
		k := r.IntN(len(pool))
		switch r.IntN(10) {
		case 0:
			change(t, reflect.ValueOf(&pool[k]).Elem().Field(r.IntN(typ.NumField()-1)))
		case 1:
			// Changed in place: the slice the Writer saw last time.
			if len(pool[k].Args) > 0 {
				pool[k].Args[0] += "y"
			}
		}
		e.Process = pool[k]
		e.Process.Ancestors = nil
		for range r.IntN(4) {
			a := pool[r.IntN(len(pool))]
			a.Ancestors = nil
			e.Process.Ancestors = append(e.Process.Ancestors, a)
		}
		if err := w.WriteEvent(&e); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
		if n%1000 == 0 {
			w.Flush()
		}
	}
	w.Flush()
	got := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), []byte{'\n'})
	if len(got) != len(want) {
		t.Fatalf("%d events in, %d lines out", len(want), len(got))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("event %d differs:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	if n, failed := w.Counts(); n != uint64(len(want)) || failed != 0 {
		t.Errorf("counts: %d written, %d failed; want %d, 0", n, failed, len(want))
	}
}
