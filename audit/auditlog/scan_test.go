package auditlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// scanValid is the scanner's verdict on data as a single JSON value with
// whitespace around it, as json.Valid takes it.
func scanValid(data []byte) bool {
	end := validValue(data, skipSpace(data, 0), 0)
	return end >= 0 && skipSpace(data, end) == len(data)
}

// splitResult is what Split or Decode report about data, as text.
func splitResult(data []byte, split bool) (vals []any, lines []int, bad []string, err error) {
	badLine := func(line int, err error) { bad = append(bad, fmt.Sprintf("%d: %v", line, err)) }
	var line int
	if split {
		line, err = Split(data, func(v Value, line int) {
			vals = append(vals, decodeText(v.Text()))
			lines = append(lines, line)
		}, badLine)
	} else {
		line, err = Decode(data, func(v any, line int) {
			vals = append(vals, v)
			lines = append(lines, line)
		}, badLine)
	}
	if err != nil {
		err = fmt.Errorf("line %d: %w", line, err)
	}
	return vals, lines, bad, err
}

// checkSplit fails unless Split reads data as Decode does, and the
// Objects of its values answer as their decoded maps do for every path
// in them and for extra, a key or pointer of the fuzzer's choosing.
func checkSplit(t *testing.T, data []byte, extra string) {
	t.Helper()
	if got, want := scanValid(data), json.Valid(data); got != want {
		t.Fatalf("scanner says valid %v, encoding/json %v, on %q", got, want, data)
	}
	vals, lines, bad, err := splitResult(data, true)
	wvals, wlines, wbad, werr := splitResult(data, false)
	if fmt.Sprint(err) != fmt.Sprint(werr) || !reflect.DeepEqual(lines, wlines) || !reflect.DeepEqual(bad, wbad) {
		t.Fatalf("Split: lines %v, bad %q, err %v; Decode: lines %v, bad %q, err %v; on %q", lines, bad, err, wlines, wbad, werr, data)
	}
	if !reflect.DeepEqual(vals, wvals) {
		t.Fatalf("Split values %#v, Decode values %#v, on %q", vals, wvals, data)
	}
	// The Objects: every value's text again, each read lazily (as the scan
	// listed it, and from its text alone) and whole; and the elements of
	// arrays, as the scan listed them and walked afterwards.
	Split(data, func(v Value, _ int) {
		text := v.Text()
		var elems [2][]string
		v.Elements(func(e Value) bool {
			elems[0] = append(elems[0], string(e.Text()))
			return true
		})
		(Value{data: v.data, sp: span{val0: v.sp.val0, val1: v.sp.val1, kid0: -1, kid1: -1}}).Elements(func(e Value) bool {
			elems[1] = append(elems[1], string(e.Text()))
			return true
		})
		if !reflect.DeepEqual(elems[0], elems[1]) {
			t.Fatalf("elements listed %q, walked %q", elems[0], elems[1])
		}
		checkListed(t, v, 4)
		if text[0] != '{' {
			return
		}
		whole := decodeText(text)
		listed := v.Object()
		lazy := NewObject(text)
		eager := DecodedObject(text)
		keys := pathsOf(whole, nil, 4)
		keys = append(keys, nil, []string{extra}, strings.Split(extra, "/"), []string{"nothing"})
		for _, k := range keys {
			for _, o := range []*Object{&listed, &lazy, &eager} {
				compareObject(t, o, whole, k)
			}
			fresh := v.Object() // nothing read yet
			compareObject(t, &fresh, whole, k)
			fresh = NewObject(text)
			compareObject(t, &fresh, whole, k)
		}
		for _, p := range []string{"", "/", extra, "/" + extra, "/nothing", "a"} {
			checkPointer(t, &listed, whole, p)
		}
		for _, k := range keys {
			checkPointer(t, &lazy, whole, pointerOf(k))
		}
	}, func(int, error) {})
}

// checkListed walks v, depth levels deep, through the members and
// elements the scan listed, and reads each object it meets as the scan
// listed it: the answers must be those of its text decoded.
func checkListed(t *testing.T, v Value, depth int) {
	t.Helper()
	text := v.Text()
	if depth == 0 || len(text) == 0 {
		return
	}
	switch text[0] {
	case '[':
		v.Elements(func(e Value) bool {
			checkListed(t, e, depth-1)
			return true
		})
	case '{':
		whole := decodeText(text)
		for _, k := range pathsOf(whole, nil, 2) {
			o := v.Object()
			compareObject(t, &o, whole, k)
		}
		o := v.Object()
		for _, k := range pathsOf(whole, nil, 1) {
			m, ok := o.Member(k[0])
			if !ok {
				t.Fatalf("member %q of %s not found", k[0], text)
			}
			if got, want := decodeText(m.Text()), whole.(map[string]any)[k[0]]; !reflect.DeepEqual(got, want) {
				t.Fatalf("member %q of %s: %#v, want %#v", k[0], text, got, want)
			}
			checkListed(t, m, depth-1)
		}
	}
}

func compareObject(t *testing.T, o *Object, whole any, keys []string) {
	t.Helper()
	got, ok := o.Lookup(keys...)
	want, wok := Lookup(whole, keys...)
	if ok != wok || !reflect.DeepEqual(got, want) {
		t.Fatalf("Lookup %q = %#v, %v; decoded %#v, %v", keys, got, ok, want, wok)
	}
	s, ok := o.String(keys...)
	ws, wok := want.(string)
	if ok != wok || s != ws {
		t.Fatalf("String %q = %q, %v; decoded %#v", keys, s, ok, want)
	}
	if len(keys) == 1 {
		raw, ok := o.Raw(keys[0])
		m, _ := whole.(map[string]any)
		wv, wok := m[keys[0]]
		if ok != wok || (ok && !reflect.DeepEqual(decodeText(raw), wv)) || (ok && TextOf(raw) != Text(wv)) {
			t.Fatalf("Raw %q = %q, %v; decoded %#v, %v", keys[0], raw, ok, wv, wok)
		}
	}
}

func checkPointer(t *testing.T, o *Object, whole any, p string) {
	t.Helper()
	got, ok := o.Pointer(p)
	want, wok := Pointer(whole, p)
	if ok != wok || !reflect.DeepEqual(got, want) {
		t.Fatalf("Pointer %q = %#v, %v; decoded %#v, %v", p, got, ok, want, wok)
	}
}

// pathsOf lists the key paths into v's objects, depth levels deep.
func pathsOf(v any, prefix []string, depth int) [][]string {
	m, ok := v.(map[string]any)
	if !ok || depth == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out [][]string
	for _, k := range keys {
		p := append(append([]string(nil), prefix...), k)
		out = append(out, p)
		out = append(out, pathsOf(m[k], p, depth-1)...)
		if l, ok := m[k].([]any); ok && len(l) > 0 {
			out = append(out, pathsOf(l[0], append(p, "0"), depth-1)...)
		}
	}
	return out
}

// pointerOf is the RFC 6901 pointer of a key path.
func pointerOf(keys []string) string {
	var b strings.Builder
	for _, k := range keys {
		b.WriteString("/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(k))
	}
	return b.String()
}

var splitSeeds = []string{
	`{"Records":[{"eventName":"A","x":[{"y":1},{"z":[2,{"w":3}]}]},{"eventName":"B","r":{"q":[]}}],"n":{"m":[{"k":1}]}}`,
	"[{\"a\":[{\"b\":1}],\"c\":{\"d\":2}},\n {\"a\":[]}]",
	`{"Records":[{"eventName":"A","userIdentity":{"type":"AssumedRole","arn":"a/b/c"}},{"eventName":"B"}]}`,
	`[{"eventName":"A"},2,"x",null]`,
	"{\"eventName\":\"A\"}\n{bad\n[{\"a\":1}]\n",
	"{\"a\":1}\n\n  {\"a\":2} \n",
	`{"event\u004eame":"A","eventName":"B","x":{"y":[1,{"z":"\ud83d\ude00"}]},"eventName":"C"}`,
	"{\"k\":\"caf\xc3\xa9\",\"bad\":\"\xff\xfe\",\"\xff\":1}",
	`{"n":-0.5e+10,"m":0,"t":true,"f":false,"z":null,"e":{},"l":[]}`,
	`1-2`, `truefalse`, `{}{}`, `[] []`, `"a""b"`, `1 2`, `01`, `1.`, `-`, `.5`, `1e`, `"\x"`, "\"\t\"",
	`{"a" : [ 1 , 2 ] , "b" : { } }`,
	`{"a":1,}`, `[1,]`, `{"a"}`, `{"a":}`, `{1:2}`, ``, ` `, `nul`, `{"a":"\u12"}`,
	`{"requestParameters":{"a/b":[1,{"d~e":true}],"n":null,"s":"x"}}`,
	"{\"a\":1}\n{\"a\":1} }\n",
}

func FuzzSplit(f *testing.F) {
	for _, s := range splitSeeds {
		f.Add([]byte(s), "eventName")
	}
	f.Add([]byte(`{"a":{"b/c":[1,{"d~e":true}]}}`), "a/b~1c/1/d~0e")
	f.Fuzz(func(t *testing.T, data []byte, extra string) {
		checkSplit(t, data, extra)
	})
}

// TestSplitSeeds runs the fuzzer's seeds, and text around the nesting
// limit that encoding/json sets.
func TestSplitSeeds(t *testing.T) {
	for _, s := range splitSeeds {
		checkSplit(t, []byte(s), "eventName")
	}
	for _, n := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		arr := strings.Repeat("[", n) + strings.Repeat("]", n)
		obj := strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n)
		for _, s := range []string{arr, obj} {
			if got, want := scanValid([]byte(s)), json.Valid([]byte(s)); got != want {
				t.Errorf("nesting %d: scanner says valid %v, encoding/json %v", n, got, want)
			}
		}
	}
}

// TestSplitLineErrors: in a file of one record per line, a bad line is
// reported with its number and the others are read, as Decode does.
func TestSplitLineErrors(t *testing.T) {
	data := []byte("{\"a\":1}\n{\"a\":\n{\"b\":2}\n")
	var got []string
	_, err := Split(data, func(v Value, line int) { got = append(got, fmt.Sprintf("%d:%s", line, v.Text())) },
		func(line int, err error) { got = append(got, fmt.Sprintf("bad %d: %v", line, err)) })
	want := `1:{"a":1} bad 2: unexpected EOF 3:{"b":2}`
	if err != nil || strings.Join(got, " ") != want {
		t.Errorf("got %q, %v; want %q", strings.Join(got, " "), err, want)
	}
	if !bytes.Equal(data[:7], []byte(`{"a":1}`)) {
		t.Fatal("Split changed its input")
	}
}
