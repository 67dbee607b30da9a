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
// time, the way overlayfs stacks them (what podman, containerd and docker
// run a container on):
//
//   - A layer is first unpacked alone into an upper tree: entries in the
//     order of the layer, a later entry replacing an earlier one at the
//     same path, parent directories created when the layer does not list
//     them (replacing a file or symlink in their place).
//   - The upper tree is then merged over the layers below: a directory
//     over a directory merges with it; anything else replaces what was
//     there. ".wh.X" hides X and everything below it in the layers below,
//     "D/.wh..wh..opq" hides everything below D in the layers below; they
//     never hide entries of their own layer.
//
// The fuzz test holds the tree to a plain model of these rules.
type tree struct {
	root  *node
	upper *node           // the layer being read, before commit merges it
	execs []*BaselineFile // every executable version, in the order merged
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
	linked  string        // for a hard link, the path of the file it shares
	exec    *BaselineFile // this version's baseline record, when executable
	content content       // where to read the content again, if kept

	// In an upper tree only: a directory the layer lists itself (not
	// only implied), opaque, and the names it whites out.
	explicit bool
	opaque   bool
	wh       map[string]bool
}

func newTree() *tree {
	return &tree{root: &node{kids: map[string]*node{}, typ: tar.TypeDir, mode: 0o755, layer: -1}, gone: map[string]Change{}}
}

func newDir(name string, parent *node, layer int) *node {
	return &node{name: name, parent: parent, kids: map[string]*node{}, typ: tar.TypeDir, mode: 0o755, layer: layer}
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

// upperDir returns the directory at rel in the layer being read, creating
// missing ones; a file or symlink in the way is replaced, as unpacking
// the layer into a directory of its own would.
func (t *tree) upperDir(rel string, layer int) *node {
	if t.upper == nil {
		t.upper = newDir("", nil, layer)
	}
	n := t.upper
	for _, c := range split(rel) {
		k := n.kids[c]
		if k == nil || !k.isDir() {
			k = newDir(c, n, layer)
			n.kids[c] = k
		}
		n = k
	}
	return n
}

// apply adds one entry of layer L to the layer's upper tree. A regular
// file's content has been read (hashed, classified, kept) before: apply
// records the facts in e. commit merges the layer when it is read.
func (t *tree) apply(layer int, e *entry) {
	rel := cleanName(e.name)
	if rel == "" {
		if e.typ == tar.TypeDir {
			u := t.upperDir("", layer)
			u.mode, u.uid, u.gid, u.mtime, u.explicit = e.mode, e.uid, e.gid, e.mtime, true
		}
		return
	}
	dirRel, base := path.Split(rel)
	parent := t.upperDir(strings.TrimSuffix(dirRel, "/"), layer)
	switch {
	case base == opaqueMarker:
		parent.opaque = true
		return
	case strings.HasPrefix(base, whiteoutPrefix):
		if parent.wh == nil {
			parent.wh = map[string]bool{}
		}
		parent.wh[base[len(whiteoutPrefix):]] = true
		return
	}
	old := parent.kids[base]
	if old != nil && old.isDir() && e.typ == tar.TypeDir {
		old.mode, old.uid, old.gid, old.mtime, old.explicit = e.mode, e.uid, e.gid, e.mtime, true
		return
	}
	n := &node{name: base, parent: parent, typ: e.typ, mode: e.mode, size: e.size, link: e.link,
		uid: e.uid, gid: e.gid, mtime: e.mtime, layer: layer, sum: e.sum, class: e.class, content: e.content}
	if e.typ == tar.TypeDir {
		n.kids, n.explicit = map[string]*node{}, true
	}
	if e.typ == tar.TypeLink {
		t.hardlink(n, e, layer)
	}
	parent.kids[base] = n
}

// hardlink makes n a regular file with the content of the file e links
// to: in the same layer, as runtimes unpack it, or else below.
func (t *tree) hardlink(n *node, e *entry, layer int) {
	n.typ, n.link = tar.TypeReg, ""
	rel := cleanName(e.link)
	target := t.walkPath(t.upperDir("", layer), split(rel), false, 0)
	if target == nil {
		target = t.lookup(rel, false)
	}
	if target == nil || target.typ != tar.TypeReg {
		t.warnf("layer %d: /%s is a hard link to /%s, which is not a regular file in the image; taken as empty", layer, cleanName(e.name), rel)
		return
	}
	n.size, n.sum, n.class, n.content = target.size, target.sum, target.class, target.content
	e.size, e.sum, e.class, e.content = target.size, target.sum, target.class, target.content
	// A hard link is the same inode: its mode and owner are the target's,
	// whatever the link's header says.
	n.mode, n.uid, n.gid = target.mode, target.uid, target.gid
	e.mode, e.uid, e.gid = target.mode, target.uid, target.gid
	n.linked = "/" + rel
}

// commit merges the layer read since the last commit over the tree.
func (t *tree) commit(layer int) {
	u := t.upper
	t.upper = nil
	if u == nil {
		return
	}
	if u.explicit {
		r := t.root
		r.mode, r.uid, r.gid, r.mtime, r.layer = u.mode, u.uid, u.gid, u.mtime, layer
	}
	t.merge(t.root, u, layer)
}

// merge lays the upper directory u of layer L over the directory s.
func (t *tree) merge(s, u *node, layer int) {
	if u.opaque {
		for _, k := range s.kids {
			t.remove(k, layer, Deleted)
		}
	}
	for name := range u.wh {
		if k := s.kids[name]; k != nil {
			t.remove(k, layer, Deleted)
		}
	}
	for name, uk := range u.kids {
		sk := s.kids[name]
		if sk != nil && sk.isDir() && uk.isDir() {
			if uk.explicit {
				sk.mode, sk.uid, sk.gid, sk.mtime, sk.layer = uk.mode, uk.uid, uk.gid, uk.mtime, layer
			}
			t.merge(sk, uk, layer)
			continue
		}
		change := "added"
		if sk != nil {
			change = "modified"
			t.remove(sk, layer, Modified)
		}
		uk.parent = s
		s.kids[name] = uk
		t.attach(uk, layer, change)
	}
}

// attach records the executables of a subtree of layer L now in the tree.
func (t *tree) attach(n *node, layer int, change string) {
	n.explicit, n.opaque, n.wh = false, false, nil
	if n.typ == tar.TypeReg && n.mode&0o111 != 0 {
		n.exec = n.execRecord(layer, change)
		t.execs = append(t.execs, n.exec)
	}
	for _, k := range n.kids {
		t.attach(k, layer, "added")
	}
}

// remove unlinks n and marks every version below it as modified or
// deleted by layer L.
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
		r.State, r.StateLayer = how, layer
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
