package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// readLayers runs layer tars through the scan's layer reading, without an
// image around them.
func readLayers(t testing.TB, layers [][]byte) *scanner {
	t.Helper()
	s := &scanner{ctx: t.Context(), opts: &Options{}, rep: &Report{Config: &v1.ConfigFile{}}, t: newTree()}
	for i, data := range layers {
		l := layerSource{open: func(func(int64)) (layerReader, io.Closer, error) {
			return tarLayer{bytes.NewReader(data)}, io.NopCloser(nil), nil
		}}
		if err := s.readLayer(i, l, nil); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
	}
	return s
}

// listing prints the final tree: one line per path, "d" for a directory,
// else the layer and the content.
func listing(tr *tree) string {
	var b strings.Builder
	tr.each(func(p string, n *node) {
		switch n.typ {
		case tar.TypeDir:
			fmt.Fprintf(&b, "%s d\n", p)
		case tar.TypeSymlink:
			fmt.Fprintf(&b, "%s -> %s\n", p, n.link)
		default:
			fmt.Fprintf(&b, "%s %d %s\n", p, n.layer, n.sum[:8])
		}
	})
	return b.String()
}

// The layer rules in tree.go, one case each; the fuzz test below checks
// random layer stacks against a model of overlayfs.
func TestWhiteouts(t *testing.T) {
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:])[:8] }
	cases := []struct {
		name   string
		layers [][]tarEntry
		want   string
	}{
		{"whiteout deletes a lower file", [][]tarEntry{
			{dir("a/", 0o755), file("a/x", 0o644, "x"), file("a/y", 0o644, "y")},
			{whiteout("a/.wh.x")},
		}, "/a d\n/a/y 0 " + sum("y") + "\n"},
		{"whiteout deletes a lower directory with its contents", [][]tarEntry{
			{dir("a/", 0o755), file("a/x", 0o644, "x")},
			{whiteout(".wh.a")},
		}, ""},
		{"a whiteout keeps its own layer's file, in either order", [][]tarEntry{
			{file("x", 0o644, "old"), file("y", 0o644, "old")},
			{file("x", 0o644, "new"), whiteout(".wh.x"), whiteout(".wh.y"), file("y", 0o644, "new")},
		}, "/x 1 " + sum("new") + "\n/y 1 " + sum("new") + "\n"},
		{"opaque hides lower contents, keeps its layer's, in either order", [][]tarEntry{
			{dir("d/", 0o755), file("d/old", 0o644, "o"), dir("d/sub/", 0o755), file("d/sub/deep", 0o644, "o")},
			{file("d/new", 0o644, "n"), whiteout("d/.wh..wh..opq"), file("d/sub/mine", 0o644, "m")},
		}, "/d d\n/d/new 1 " + sum("n") + "\n/d/sub d\n/d/sub/mine 1 " + sum("m") + "\n"},
		{"a file replaces a directory", [][]tarEntry{
			{dir("a/", 0o755), file("a/x", 0o644, "x")},
			{file("a", 0o644, "f")},
		}, "/a 1 " + sum("f") + "\n"},
		{"a directory entry over a directory keeps its contents", [][]tarEntry{
			{dir("a/", 0o755), file("a/x", 0o644, "x")},
			{dir("a/", 0o700)},
		}, "/a d\n/a/x 0 " + sum("x") + "\n"},
		{"writing below a symlink makes a directory, as overlayfs does", [][]tarEntry{
			{dir("usr/", 0o755), dir("usr/bin/", 0o755), symlink("bin", "usr/bin"), file("usr/bin/sh", 0o755, "sh")},
			{file("bin/extra", 0o755, "e")},
		}, "/bin d\n/bin/extra 1 " + sum("e") + "\n/usr d\n/usr/bin d\n/usr/bin/sh 0 " + sum("sh") + "\n"},
		{"names cannot climb out of the root", [][]tarEntry{
			{file("../../etc/x", 0o644, "x"), file("./y", 0o644, "y")},
		}, "/etc d\n/etc/x 0 " + sum("x") + "\n/y 0 " + sum("y") + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var layers [][]byte
			for _, l := range c.layers {
				layers = append(layers, tarOf(t, l...))
			}
			s := readLayers(t, layers)
			if got := listing(s.t); got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

// model is a plain implementation of the OCI layer rules as overlayfs
// applies them: each layer is unpacked alone into an upper tree (later
// entries win, parents are created), then merged over the layers below.
// It is slow and obvious; the fuzz test holds the tree to it.
type mnode struct {
	dir     bool
	content string
	layer   int
}

func modelApply(state map[string]mnode, layer int, entries []tarEntry) map[string]mnode {
	upper := map[string]mnode{}
	wh := map[string]bool{}
	opq := map[string]bool{}
	// Replacing p in the upper tree drops what was below it, including
	// the opaque mark of a directory there and whiteouts inside it;
	// whiteouts of p itself belong to its parent and stay.
	delUnder := func(m map[string]mnode, p string) {
		for q := range m {
			if q == p || strings.HasPrefix(q, p+"/") {
				delete(m, q)
			}
		}
		for q := range opq {
			if q == p || strings.HasPrefix(q, p+"/") {
				delete(opq, q)
			}
		}
		for q := range wh {
			if strings.HasPrefix(q, p+"/") {
				delete(wh, q)
			}
		}
	}
	parents := func(p string) {
		parts := strings.Split(p, "/")
		for i := 1; i < len(parts); i++ {
			q := strings.Join(parts[:i], "/")
			if n, ok := upper[q]; ok && n.dir {
				continue
			}
			delUnder(upper, q)
			upper[q] = mnode{dir: true}
		}
	}
	for _, e := range entries {
		p := cleanName(e.name)
		if p == "" {
			continue
		}
		parents(p)
		base := p[strings.LastIndexByte(p, '/')+1:]
		switch {
		case base == opaqueMarker:
			d := strings.TrimSuffix(strings.TrimSuffix(p, base), "/")
			opq[d] = true
		case strings.HasPrefix(base, whiteoutPrefix):
			wh[strings.TrimSuffix(p, base)+base[len(whiteoutPrefix):]] = true
		case e.typ == tar.TypeDir:
			if n, ok := upper[p]; ok && n.dir {
				continue
			}
			delUnder(upper, p)
			upper[p] = mnode{dir: true}
		default:
			delUnder(upper, p)
			upper[p] = mnode{content: e.body, layer: layer}
		}
	}
	out := map[string]mnode{}
	for p, n := range state {
		hidden := false
		parts := strings.Split(p, "/")
		for i := 1; i <= len(parts) && !hidden; i++ {
			q := strings.Join(parts[:i], "/")
			u, inUpper := upper[q]
			switch {
			case wh[q]:
				hidden = true
			case i < len(parts) && (opq[q] || inUpper && !u.dir):
				hidden = true
			case i == len(parts) && inUpper && !(u.dir && n.dir):
				hidden = true
			}
		}
		if !hidden {
			out[p] = n
		}
	}
	for p, n := range upper {
		if o, ok := out[p]; ok && o.dir && n.dir {
			continue
		}
		out[p] = n
	}
	return out
}

func modelListing(state map[string]mnode) string {
	paths := make([]string, 0, len(state))
	for p := range state {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool {
		// the tree lists a directory's children after it, by name
		return strings.ReplaceAll(paths[i], "/", "\x00") < strings.ReplaceAll(paths[j], "/", "\x00")
	})
	var b strings.Builder
	for _, p := range paths {
		n := state[p]
		if n.dir {
			fmt.Fprintf(&b, "/%s d\n", p)
			continue
		}
		h := sha256.Sum256([]byte(n.content))
		fmt.Fprintf(&b, "/%s %d %s\n", p, n.layer, hex.EncodeToString(h[:])[:8])
	}
	return b.String()
}

// layersFromBytes turns fuzz input into layers: two bytes an entry, an
// operation and a path over the names a, b, c up to three deep.
func layersFromBytes(data []byte) [][]tarEntry {
	layers := [][]tarEntry{nil}
	for i := 0; i+1 < len(data) && i < 128; i += 2 {
		op, pb := data[i]%7, data[i+1]
		depth := 1 + int(pb%3)
		var parts []string
		for d := 0; d < depth; d++ {
			parts = append(parts, string(rune('a'+int(pb>>(2+2*d))%3)))
		}
		p := strings.Join(parts, "/")
		dirOf, base := "", p
		if j := strings.LastIndexByte(p, '/'); j >= 0 {
			dirOf, base = p[:j+1], p[j+1:]
		}
		cur := &layers[len(layers)-1]
		switch op {
		case 0, 1:
			*cur = append(*cur, file(p, 0o644|int64(op)*0o111, fmt.Sprintf("%d:%s", i, p)))
		case 2:
			*cur = append(*cur, dir(p+"/", 0o755))
		case 3:
			*cur = append(*cur, whiteout(dirOf+whiteoutPrefix+base))
		case 4:
			*cur = append(*cur, whiteout(p+"/"+opaqueMarker))
		case 5:
			if len(layers) < 4 {
				layers = append(layers, nil)
			}
		case 6:
			*cur = append(*cur, file(p, 0o4755, fmt.Sprintf("suid %d", i)))
		}
	}
	return layers
}

// FuzzLayers holds the tree's whiteout, opaque and replacement handling to
// the overlayfs model, and the baseline to the final tree: every
// executable present in the final filesystem is a Present version, and
// every other version says which later layer modified or deleted it.
func FuzzLayers(f *testing.F) {
	seeds := [][]byte{
		{0, 0x00, 5, 0, 3, 0x00},                   // file a; next layer; whiteout a
		{2, 0x01, 1, 0x05, 5, 0, 4, 0x01, 0, 0x09}, // dir a, exec a/b; opaque a, file a/c
		{1, 0x02, 5, 0, 0, 0x00, 1, 0x06},          // exec a/a/a; file a; exec
		{2, 0x01, 0, 0x05, 5, 0, 0, 0x05, 3, 0x01, 5, 0, 1, 0x05},
		{6, 0x05, 5, 0, 2, 0x01, 3, 0x05, 0, 0x09},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		layers := layersFromBytes(data)
		var tars [][]byte
		state := map[string]mnode{}
		for i, l := range layers {
			tars = append(tars, tarOf(t, l...))
			state = modelApply(state, i, l)
		}
		s := readLayers(t, tars)
		got, want := listing(s.t), modelListing(state)
		if got != want {
			t.Fatalf("layers %v\ntree:\n%s\nmodel:\n%s", layers, got, want)
		}
		s.finish()
		present := map[string]int{}
		for _, v := range s.rep.Baseline.Files {
			switch v.State {
			case Present:
				present[v.Path] = v.Layer
			case Modified, Deleted:
				if v.StateLayer <= v.Layer {
					t.Fatalf("%+v: removed by a layer not above its own", v)
				}
			default:
				t.Fatalf("%+v: unknown state", v)
			}
		}
		s.t.each(func(p string, n *node) {
			exec := n.typ == tar.TypeReg && n.mode&0o111 != 0
			if l, ok := present[p]; exec != ok || ok && l != n.layer {
				t.Fatalf("%s: executable %v in layer %d, baseline present in layer %d (%v)", p, exec, n.layer, l, ok)
			}
			delete(present, p)
		})
		if len(present) > 0 {
			t.Fatalf("baseline has present versions not in the tree: %v", present)
		}
	})
}
