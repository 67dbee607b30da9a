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

// fill sets every field reachable from v to a random value, or leaves it
// zero, so that both sides of omitempty are exercised. A field added to the
// event model is filled too, and the comparison below then fails until
// AppendJSON writes it.
func fill(r *rand.Rand, v reflect.Value, depth int) {
	strs := []string{"", "a", "/usr/bin/ls", "quote\"back\\slash", "<html>&amp;", "tab\tnl\nctl\x01\x1f\x7f",
		"caf\u00e9 \u2028\u2029 \U0001F600", "bad\xff\xfeutf8", "\b\f"}
	if r.IntN(4) == 0 {
		return // leave it zero
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(strs[r.IntN(len(strs))])
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(r.Uint64()) >> (64 - uint(v.Type().Bits())))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(r.Uint64() >> (64 - uint(v.Type().Bits())))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(r, p.Elem(), depth)
		v.Set(p)
	case reflect.Slice:
		n := r.IntN(3)
		if depth > 0 && v.Type().Elem().Kind() == reflect.Struct {
			n = 0 // ancestors have no ancestors
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fill(r, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range r.IntN(4) {
			m.SetMapIndex(reflect.ValueOf(strs[r.IntN(len(strs))]), reflect.ValueOf(strs[r.IntN(len(strs))]))
		}
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(r.Int64N(2e9), r.Int64N(1e9)).In(time.FixedZone("x", r.IntN(20)*1800-36000))))
			return
		}
		for i := range v.NumField() {
			fill(r, v.Field(i), depth)
		}
	}
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		var e event.Event
		fill(r, reflect.ValueOf(&e).Elem(), 0)
		want, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendJSON(nil, &e); !bytes.Equal(got, want) {
			t.Fatalf("event %d differs:\n got %s\nwant %s", i, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\<>&\x00\x1f", "\u2028\xff\xc3", "\U0001F600\b\f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := event.Event{Kind: s, Process: event.Process{Args: []string{s}}, Container: &event.Container{ID: s, Labels: map[string]string{s: s}}}
		want, _ := json.Marshal(&e)
		if got := AppendJSON(nil, &e); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	})
}

func BenchmarkEventJSON(b *testing.B) {
	e := sample()
	for range 8 {
		e.Process.Ancestors = append(e.Process.Ancestors, e.Process)
	}
	e.Process.Ancestors = e.Process.Ancestors[:8]
	for i := range e.Process.Ancestors {
		e.Process.Ancestors[i].Ancestors = nil
	}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(e)
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = AppendJSON(buf[:0], e)
		}
	})
}
