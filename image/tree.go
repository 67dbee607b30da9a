package image

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// The whiteout names of the OCI image layer format: ".wh.NAME" deletes
// NAME, and ".wh..wh..opq" in a directory hides everything the layers
// below put in it.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// maxLinkHops bounds symlink resolution inside the image, as the kernel's
// own limit bounds it in a container.
const maxLinkHops = 40

// tree is an image's filesystem as its layers build it, one layer at a
// time. The rules, which the fuzz test checks against a plain model:
//
//   - An entry of layer L replaces what is at its path; a directory entry
//     over a directory only changes its metadata and keeps its contents.
//   - ".wh.X" in layer L deletes X and everything below it that came from
//     layers before L; "D/.wh..wh..opq" deletes everything below D that
//     came from layers before L. Entries of layer L itself are kept,
//     whatever their order in the layer.
//   - Parent directories that a layer does not list are created; a
//     symlink among them is followed inside the image, as a runtime
//     applying the layer would.
type tree struct {
	root  *node
	execs []*BaselineFile // every executable version, in the order read
	// gone records, for each regular file version a later layer replaced
	// or deleted ("path\x00layer"), what that layer did.
	gone map[string]Change
	// warnings are oddities worth telling the user that do not stop the
	// scan (a hard link to nothing, a file where a directory should be).
	warnings []string
}

// node is one file, directory or link of the tree.
type node struct {
	name   string
	parent *node
	kids   map[string]*node // non-nil exactly for directories

	typ   byte        // tar.TypeReg, TypeDir, TypeSymlink, TypeChar, TypeBlock, TypeFifo
	mode  fs.FileMode // permissions plus fs.ModeSetuid, ModeSetgid, ModeSticky
	size  int64
	link  string // symlink target
	uid   int
	gid   int
	mtime time.Time
	layer int // the layer whose entry made this node (or implied it)

	sum     string        // sha256 of a regular file's content
	class   fileClass     // what a regular file's first bytes say it is
	exec    *BaselineFile // this version's baseline record, when executable
	content content       // where to read the content again, if kept
}

func newTree() *tree {
	return &tree{root: &node{kids: map[string]*node{}, typ: tar.TypeDir, mode: 0o755, layer: -1}, gone: map[string]Change{}}
}

func (n *node) isDir() bool { return n.kids != nil }

// pathOf returns the node's absolute path in the image.
func (n *node) pathOf() string {
	if n.parent == nil {
		return "/"
	}
	var parts []string
	for ; n.parent != nil; n = n.parent {
		parts = append(parts, n.name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return "/" + strings.Join(parts, "/")
}

// cleanName turns a tar entry name into a path relative to the image root
// ("" for the root itself); ".." cannot climb out of it.
func cleanName(name string) string {
	p := path.Clean("/" + name)
	return strings.TrimPrefix(p, "/")
}

// split breaks a relative path into its components.
func split(rel string) []string {
	if rel == "" {
		return nil
	}
	return strings.Split(rel, "/")
}

func (t *tree) warnf(format string, args ...any) {
	if len(t.warnings) < 100 {
		t.warnings = append(t.warnings, fmt.Sprintf(format, args...))
	}
}

// dir returns the directory at rel for layer L to write into, creating
// missing directories and following symlinks among the components.
func (t *tree) dir(rel string, layer int) *node {
	n := t.root
	for _, c := range split(rel) {
		n = t.child(n, c, layer, 0)
	}
	return n
}

// child returns the directory c in dir n for layer L, following a symlink
// there and creating it when missing; a non-directory in the way is
// replaced, with a warning.
func (t *tree) child(n *node, c string, layer, hops int) *node {
	k := n.kids[c]
	if k != nil && k.typ == tar.TypeSymlink && hops < maxLinkHops {
		if d := t.resolveDir(n, k.link, layer, hops+1); d != nil {
			return d
		}
	}
	if k != nil && k.isDir() {
		return k
	}
	if k != nil {
		t.warnf("layer %d: %s is not a directory but the layer writes below it; replaced by a directory", layer, k.pathOf())
		t.remove(k, layer, Deleted)
	}
	k = &node{name: c, parent: n, kids: map[string]*node{}, typ: tar.TypeDir, mode: 0o755, layer: layer}
	n.kids[c] = k
	return k
}

// resolveDir follows a symlink target from directory n to a directory,
// creating missing components as a runtime's extraction would.
func (t *tree) resolveDir(n *node, target string, layer, hops int) *node {
	if strings.HasPrefix(target, "/") {
		n = t.root
	}
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if n.parent != nil {
				n = n.parent
			}
			continue
		}
		n = t.child(n, c, layer, hops)
	}
	return n
}

// apply adds one entry of layer L. A regular file's content has been read
// (hashed, classified, kept) before: apply records the facts in e.
func (t *tree) apply(layer int, e *entry) {
	rel := cleanName(e.name)
	if rel == "" {
		if e.typ == tar.TypeDir {
			t.root.mode, t.root.uid, t.root.gid, t.root.mtime = e.mode, e.uid, e.gid, e.mtime
		}
		return
	}
	dirRel, base := path.Split(rel)
	parent := t.dir(strings.TrimSuffix(dirRel, "/"), layer)
	switch {
	case base == opaqueMarker:
		t.prune(parent, layer)
		return
	case strings.HasPrefix(base, whiteoutPrefix):
		if k := parent.kids[base[len(whiteoutPrefix):]]; k != nil {
			t.whiteout(k, layer)
		}
		return
	}
	old := parent.kids[base]
	if old != nil && old.isDir() && e.typ == tar.TypeDir {
		old.mode, old.uid, old.gid, old.mtime, old.layer = e.mode, e.uid, e.gid, e.mtime, layer
		return
	}
	n := &node{name: base, parent: parent, typ: e.typ, mode: e.mode, size: e.size, link: e.link,
		uid: e.uid, gid: e.gid, mtime: e.mtime, layer: layer, sum: e.sum, class: e.class, content: e.content}
	if e.typ == tar.TypeDir {
		n.kids = map[string]*node{}
	}
	if e.typ == tar.TypeLink {
		t.hardlink(n, e, layer)
	}
	change := "added"
	if old != nil {
		change = "modified"
		t.remove(old, layer, Modified)
	}
	parent.kids[base] = n
	if n.typ == tar.TypeReg && n.mode&0o111 != 0 {
		n.exec = e.execRecord(n.pathOf(), layer, change)
		t.execs = append(t.execs, n.exec)
	}
}

// hardlink makes n a regular file with the content of the file e links to.
func (t *tree) hardlink(n *node, e *entry, layer int) {
	n.typ = tar.TypeReg
	target := t.lookup(cleanName(e.link), false)
	if target == nil || target.typ != tar.TypeReg {
		t.warnf("layer %d: /%s is a hard link to /%s, which is not a regular file in the image; taken as empty", layer, cleanName(e.name), cleanName(e.link))
		return
	}
	n.size, n.sum, n.class, n.content = target.size, target.sum, target.class, target.content
	e.size, e.sum, e.class, e.content = target.size, target.sum, target.class, target.content
	if n.mode == 0 {
		n.mode = target.mode
	}
	e.linkedTo = target.pathOf()
}

// whiteout deletes n for a ".wh." entry of layer L: the parts of it from
// layers before L.
func (t *tree) whiteout(n *node, layer int) {
	if n.layer >= layer {
		// Layer L's own entry at that path stays; its lower contents go.
		if n.isDir() {
			t.prune(n, layer)
		}
		return
	}
	t.remove(n, layer, Deleted)
}

// prune deletes everything below directory d that came from layers
// before L.
func (t *tree) prune(d *node, layer int) {
	for name, k := range d.kids {
		if k.layer >= layer {
			if k.isDir() {
				t.prune(k, layer)
			}
			continue
		}
		if k.isDir() {
			t.prune(k, layer)
			if len(k.kids) > 0 {
				continue // holds entries of layer L
			}
		}
		delete(d.kids, name)
		t.mark(k, layer, Deleted)
	}
}

// remove unlinks n and marks every executable version below it as
// modified or deleted by layer L.
func (t *tree) remove(n *node, layer int, how string) {
	if n.parent != nil && n.parent.kids[n.name] == n {
		delete(n.parent.kids, n.name)
	}
	t.mark(n, layer, how)
}

func (t *tree) mark(n *node, layer int, how string) {
	if n.typ == tar.TypeReg && n.layer < layer {
		t.gone[goneKey(n.pathOf(), n.layer)] = Change{Layer: layer, How: how}
	}
	if r := n.exec; r != nil {
		if r.Layer == layer {
			r.dropped = true // replaced within the layer that wrote it
		} else {
			r.State, r.StateLayer = how, layer
		}
	}
	for _, k := range n.kids {
		t.mark(k, layer, Deleted)
	}
}

func goneKey(p string, layer int) string { return fmt.Sprintf("%s\x00%d", p, layer) }

// goneAt says how a later layer removed the version of p that layer
// wrote; nil if none did.
func (t *tree) goneAt(p string, layer int) *Change {
	if c, ok := t.gone[goneKey(p, layer)]; ok {
		return &c
	}
	return nil
}

// lookup finds rel in the final tree; follow says whether a symlink as
// the last component is followed. Symlinks among the directories are
// always followed, inside the image.
func (t *tree) lookup(rel string, follow bool) *node {
	return t.walkPath(t.root, split(rel), follow, 0)
}

func (t *tree) walkPath(n *node, comps []string, follow bool, hops int) *node {
	for i, c := range comps {
		switch c {
		case "", ".":
			continue
		case "..":
			if n.parent != nil {
				n = n.parent
			}
			continue
		}
		if !n.isDir() {
			return nil
		}
		k := n.kids[c]
		if k == nil {
			return nil
		}
		last := i == len(comps)-1
		if k.typ == tar.TypeSymlink && (!last || follow) {
			if hops >= maxLinkHops {
				return nil
			}
			start := n
			if strings.HasPrefix(k.link, "/") {
				start = t.root
			}
			if k = t.walkPath(start, strings.Split(k.link, "/"), true, hops+1); k == nil {
				return nil
			}
		}
		n = k
	}
	return n
}

// each calls fn for every node of the final tree in path order.
func (t *tree) each(fn func(p string, n *node)) {
	var walk func(prefix string, d *node)
	walk = func(prefix string, d *node) {
		names := make([]string, 0, len(d.kids))
		for name := range d.kids {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			k := d.kids[name]
			p := prefix + "/" + name
			fn(p, k)
			if k.isDir() {
				walk(p, k)
			}
		}
	}
	walk("", t.root)
}
