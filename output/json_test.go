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

// TestAuditAlertJSONMatchesEncoder: the audit-log alerts written without
// reflection are byte for byte what the Encoder writes, and the others are
// left to it.
func TestAuditAlertJSONMatchesEncoder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	strs := []string{"", "a", "<NA>", "quote\"back\\slash", "<html>&amp;", "tab\tnl\nctl\x01\x1f\x7f",
		"caf\u00e9 \u2028\u2029 \U0001F600", "bad\xff\xfeutf8", "ct.user.arn", "json.value[/requestParameters/x]"}
	encoded := func(a *event.Alert) []byte {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(a); err != nil {
			t.Fatal(err)
		}
		return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	}
	fast := 0
	for i := range 5000 {
		var a event.Alert
		fill(r, reflect.ValueOf(&a).Elem(), 0)
		if i%3 != 0 {
			a.Process, a.Container, a.Forensics = nil, nil, nil
		}
		switch i % 5 {
		case 0:
			a.OutputFields = nil
		case 1:
			a.OutputFields = map[string]any{"n": 1.5} // a float: left to the Encoder
		default:
			a.OutputFields = outputFields(r, strs)
		}
		got, ok := appendAlert(nil, &a, true)
		if ok != (a.Process == nil && a.Container == nil && a.Forensics == nil && i%5 != 1) {
			t.Fatalf("alert %d: fast path %v", i, ok)
		}
		if !ok {
			continue
		}
		fast++
		if want := encoded(&a); !bytes.Equal(got, want) {
			t.Fatalf("alert %d differs:\n got %s\nwant %s", i, got, want)
		}
	}
	if fast < 1000 {
		t.Errorf("only %d alerts took the fast path", fast)
	}
}

// TestAlertJSONMatchesMarshal: AppendAlertJSON writes every alert (with a
// process, a container and forensics or not) byte for byte as json.Marshal
// does, without reflection unless its output fields hold another kind of
// value.
func TestAlertJSONMatchesMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	strs := []string{"", "a", "<NA>", "quote\"back\\slash", "<html>&amp;", "tab\tnl\nctl\x01\x1f\x7f",
		"caf\u00e9 \u2028\u2029 \U0001F600", "bad\xff\xfeutf8", "proc.name", "fd.name"}
	fast := 0
	for i := range 3000 {
		var a event.Alert
		fill(r, reflect.ValueOf(&a).Elem(), 0)
		switch i % 7 {
		case 0:
			a.OutputFields = nil
		case 1:
			a.OutputFields = map[string]any{"n": 1.5} // a float: json.Marshal writes it
		case 2:
			a.Process, a.Container, a.Forensics = nil, nil, nil
		default:
			a.OutputFields = outputFields(r, strs)
		}
		want, err := json.Marshal(&a)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendAlertJSON([]byte("x"), &a)
		if err != nil || !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("alert %d differs (%v):\n got %s\nwant %s", i, err, got, want)
		}
		if _, ok := appendAlert(nil, &a, false); ok {
			fast++
		}
	}
	if fast < 2000 {
		t.Errorf("only %d alerts of 3000 took the fast path", fast)
	}
}

// outputFields returns up to 7 output fields named and valued from strs,
// of every kind of value an alert's writer takes without reflection.
func outputFields(r *rand.Rand, strs []string) map[string]any {
	m := map[string]any{}
	for range r.IntN(8) {
		k := strs[r.IntN(len(strs))]
		switch r.IntN(7) {
		case 0:
			m[k] = nil
		case 1:
			m[k] = strs[r.IntN(len(strs))]
		case 2:
			m[k] = r.Int64() - r.Int64()
		case 3:
			m[k] = r.IntN(2) == 0
		case 4:
			m[k] = []string{strs[r.IntN(len(strs))], strs[r.IntN(len(strs))]}
		case 5:
			m[k] = r.Uint64()
		case 6:
			m[k] = r.IntN(1<<20) - 1<<19
		}
	}
	return m
}
