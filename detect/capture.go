package detect

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mamori-dev/mamori/rules"
)

// PathKeys say which opens of one kind the sensor reports: an open is
// reported when any key matches it. The kernel checks them on the path
// the kernel resolved and on the path argument as the program gave it
// (a relative one joined to its directory), so a rule comparing Falco's
// fd.name (the argument made absolute) is covered whether or not the path
// went through a symlink.
type PathKeys struct {
	All bool // every open of the kind
	// Containers is every open of the kind by a process in a container
	// (container.id != host).
	Containers bool
	Prefixes   []string // the path starts with one (an exact path is its own prefix)
	Dirs       []string // the file is directly in one (Falco's fd.directory), each ending in a slash
	Suffixes   []string // the path ends with one ("/environ" for a file name)
	Contains   []string // the path holds one ("../")
	Comms      []string // the process's name (the kernel's comm) is one
	// Resolved is set when some key is on the path the kernel resolved
	// (fd.realpath) rather than the path as the program gave it: the
	// kernel must then walk the opened file's dentries to decide.
	Resolved bool
}

// Empty reports whether no open of the kind is wanted.
func (k PathKeys) Empty() bool {
	return !k.All && !k.Containers && len(k.Prefixes)+len(k.Dirs)+len(k.Suffixes)+len(k.Contains)+len(k.Comms) == 0
}

// Add adds o's keys to k.
func (k *PathKeys) Add(o PathKeys) {
	k.All = k.All || o.All
	k.Containers = k.Containers || o.Containers
	k.Resolved = k.Resolved || o.Resolved
	k.Prefixes = appendNew(k.Prefixes, o.Prefixes...)
	k.Dirs = appendNew(k.Dirs, o.Dirs...)
	k.Suffixes = appendNew(k.Suffixes, o.Suffixes...)
	k.Contains = appendNew(k.Contains, o.Contains...)
	k.Comms = appendNew(k.Comms, o.Comms...)
}

func (k *PathKeys) sort() {
	sort.Strings(k.Prefixes)
	sort.Strings(k.Dirs)
	sort.Strings(k.Suffixes)
	sort.Strings(k.Contains)
	sort.Strings(k.Comms)
}

func appendNew(dst []string, vs ...string) []string {
	for _, v := range vs {
		if !slices.Contains(dst, v) {
			dst = append(dst, v)
		}
	}
	return dst
}

// String describes the keys for people: "under /etc/shadow, /etc/pam.d/;
// ending /environ; by tar".
func (k PathKeys) String() string {
	if k.All {
		return "all"
	}
	var parts []string
	add := func(what string, vs []string) {
		if len(vs) > 0 {
			parts = append(parts, what+" "+strings.Join(vs, ", "))
		}
	}
	if k.Containers {
		parts = append(parts, "in containers")
	}
	add("under", k.Prefixes)
	add("in", k.Dirs)
	add("ending", k.Suffixes)
	add("holding", k.Contains)
	add("by", k.Comms)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// breadth estimates how many opens the keys let through, to choose among
// the terms of an "and" the one whose keys the kernel can test most
// narrowly. Short prefixes are broad, file names and process names narrow.
func (k PathKeys) breadth() int {
	if k.All {
		return 1 << 30
	}
	n := 0
	if k.Containers {
		// Narrower than every open, broader than any path: a container
		// opens many files, and the host's opens are what a storm on the
		// node is made of.
		n += 1 << 20
	}
	for _, p := range k.Prefixes {
		n += 1000 / max(len(p), 1)
	}
	for _, d := range k.Dirs {
		n += 300 / max(len(d), 1)
	}
	for _, s := range k.Suffixes {
		n += 300 / max(len(s), 1)
	}
	for _, c := range k.Contains {
		n += 600 / max(len(c), 1)
	}
	n += 50 * len(k.Comms)
	return n
}

var opens = map[string]bool{"open": true, "openat": true, "openat2": true}

// opensOrCreat are opens and creat, which always creates and writes.
var opensOrCreat = map[string]bool{"open": true, "openat": true, "openat2": true, "creat": true}

// successFact is the value of a check on the result of a successful open
// (its fd), or maybe for any other field.
func successFact(f, op, v string) tri {
	switch f {
	case "fd.num", "evt.rawres":
		return numFact(op, v, func(n int64) bool { return n >= 0 })
	case "evt.res":
		return resFact(op, v, true)
	}
	return maybe
}

// readClass is the successful read-only opens (creat always writes).
var readClass = class{types: opens, keys: pathKeys, container: PathKeys{Containers: true}, fact: func(f, op, v string) tri {
	switch f {
	case "evt.is_open_read":
		return boolFact(op, v, true)
	case "evt.is_open_write", "evt.is_open_exec", "evt.is_open_create":
		return boolFact(op, v, false)
	case "evt.arg.flags":
		// The kernel counts an open that may create or truncate as a
		// write, whatever its access mode.
		if op == "contains" && (v == "O_CREAT" || v == "O_TRUNC") {
			return no
		}
	}
	return successFact(f, op, v)
}}

// writeClass is the successful opens for writing only (O_WRONLY, creat).
var writeClass = class{types: opensOrCreat, keys: pathKeys, container: PathKeys{Containers: true},
	fact: func(f, op, v string) tri {
		switch f {
		case "evt.is_open_read":
			return boolFact(op, v, false)
		case "evt.is_open_write":
			return boolFact(op, v, true)
		}
		return successFact(f, op, v)
	}}

// readWriteClass is the other successful opens the kernel counts as
// writes: O_RDWR, or O_RDONLY that may create or truncate (so
// evt.is_open_read holds and evt.is_open_write may be either).
var readWriteClass = class{types: opens, keys: pathKeys, container: PathKeys{Containers: true},
	fact: func(f, op, v string) tri {
		if f == "evt.is_open_read" {
			return boolFact(op, v, true)
		}
		return successFact(f, op, v)
	}}

// failedClass is the opens that failed, whatever their access mode.
var failedClass = class{types: opensOrCreat, keys: pathKeys, container: PathKeys{Containers: true},
	fact: func(f, op, v string) tri {
		switch f {
		case "evt.is_open_create":
			return boolFact(op, v, false)
		case "fd.num":
			return numFact(op, v, func(n int64) bool { return n == -1 })
		case "evt.rawres":
			return numFact(op, v, func(n int64) bool { return n < 0 })
		case "evt.res":
			return resFact(op, v, false)
		}
		return maybe
	}}

// boolFact is the value of "field op v" for a field that is always have.
func boolFact(op, v string, have bool) tri {
	want, err := strconv.ParseBool(v)
	if err != nil {
		return maybe
	}
	switch op {
	case "=":
		return triOf(have == want)
	case "!=":
		return triOf(have != want)
	}
	return maybe
}

// numFact is the value of "field op v" for a number known only to hold in.
// It answers when every number that holds in gives the check one value.
func numFact(op, v string, in func(int64) bool) tri {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return maybe
	}
	var check func(int64) bool
	switch op {
	case "=":
		check = func(x int64) bool { return x == n }
	case "!=":
		check = func(x int64) bool { return x != n }
	case ">=":
		check = func(x int64) bool { return x >= n }
	case ">":
		check = func(x int64) bool { return x > n }
	case "<=":
		check = func(x int64) bool { return x <= n }
	case "<":
		check = func(x int64) bool { return x < n }
	default:
		return maybe
	}
	// Sample the numbers that hold in: enough to decide the comparisons
	// rules make (against -1, 0 and small fds).
	seen := map[bool]bool{}
	for _, x := range []int64{-4095, -2, -1, 0, 1, 2, 3, 1 << 20} {
		if in(x) {
			seen[check(x)] = true
		}
	}
	if n < -1 || n > 3 {
		return maybe
	}
	switch {
	case seen[true] && !seen[false]:
		return yes
	case seen[false] && !seen[true]:
		return no
	}
	return maybe
}

// resFact is the value of a check on evt.res, SUCCESS or an errno name.
func resFact(op, v string, success bool) tri {
	switch {
	case op == "=" && v == "SUCCESS", op == "!=" && v != "SUCCESS" && success:
		return triOf(success)
	case op == "!=" && v == "SUCCESS", op == "startswith" && v == "E":
		return triOf(!success)
	case op == "=" && success:
		return no
	}
	return maybe
}

// maxKey bounds a key's length: the kernel's path keys hold 255 bytes.
const maxKey = 255

// pathKeys returns the keys a check on one of the path fields (or on
// proc.name) gives, or nil when it gives none.
func pathKeys(field, op string, values []string) keySet {
	k := PathKeys{}
	for _, v := range values {
		if !addKey(&k, field, op, v) {
			return nil
		}
	}
	return k
}

func (k PathKeys) union(o keySet) keySet {
	var u PathKeys // fresh slices: k's may be shared
	u.Add(k)
	u.Add(o.(PathKeys))
	return u
}

func addKey(k *PathKeys, field, op, v string) bool {
	if v == "" {
		return false
	}
	if field == "fd.realpath" {
		k.Resolved = true
	}
	switch field {
	case "fd.name", "fd.realpath", "fd.nameraw", "evt.arg.name":
		switch op {
		case "=", "in", "intersects", "startswith":
			return addPrefix(k, v)
		case "pmatch":
			return addPrefix(k, pmatchPrefix(v))
		case "endswith":
			return addSuffix(k, v)
		case "contains":
			return addContains(k, v)
		case "glob":
			// The literal tail after the last wildcard narrows more than
			// the head before the first, when there is one.
			if i := strings.LastIndexAny(v, "*?]"); i >= 0 && len(v)-i-1 >= 2 {
				return addSuffix(k, v[i+1:])
			}
			return addPrefix(k, literalPrefix(v))
		}
	case "fd.directory":
		switch op {
		case "=", "in", "intersects":
			if !strings.ContainsAny(v, "*?[") {
				// The directory itself, not what is below it: "/" for
				// Falco's root_dir is one directory, not every path.
				return addDir(k, v)
			}
			return addPrefix(k, literalPrefix(v))
		case "startswith":
			return addPrefix(k, literalPrefix(v))
		case "pmatch":
			// Files in the directory or below it, and the directory
			// itself, opened as one (its fd.directory is its own path).
			return addPrefix(k, pmatchPrefix(v))
		}
	case "fd.filename":
		switch op {
		case "=", "in", "intersects":
			return !strings.Contains(v, "/") && addSuffix(k, "/"+v)
		case "endswith":
			return addSuffix(k, v)
		case "startswith":
			return addContains(k, "/"+v)
		case "contains":
			return addContains(k, v)
		}
	case "proc.name":
		switch op {
		case "=", "in", "intersects":
			if len(v) > 15 {
				// The kernel's comm holds 15 bytes: a longer name never
				// matches, in Falco either.
				return true
			}
			k.Comms = appendNew(k.Comms, v)
			return true
		}
	}
	return false
}

// pmatchPrefix is the prefix of every path that a pmatch pattern (a path
// whose components may hold wildcards) matches: the path itself and what
// is below it ("/etc/apt" holds both "/etc/apt" and "/etc/apt/x"), or
// the text before its first wildcard, which may be in the middle of a
// component ("/etc/ap*" holds "/etc/apt/x").
func pmatchPrefix(v string) string {
	p := literalPrefix(v)
	if p == v {
		p = strings.TrimRight(p, "/")
	}
	return p
}

// literalPrefix is a glob's text before its first wildcard.
func literalPrefix(v string) string {
	if i := strings.IndexAny(v, "*?["); i >= 0 {
		return v[:i]
	}
	return v
}

func addPrefix(k *PathKeys, p string) bool {
	if !strings.HasPrefix(p, "/") || len(p) > maxKey {
		return false
	}
	k.Prefixes = appendNew(k.Prefixes, p)
	return true
}

func addDir(k *PathKeys, d string) bool {
	if !strings.HasSuffix(d, "/") {
		d += "/"
	}
	if !strings.HasPrefix(d, "/") || len(d) > maxKey {
		return false
	}
	k.Dirs = appendNew(k.Dirs, d)
	return true
}

func addSuffix(k *PathKeys, s string) bool {
	if len(s) > maxKey {
		s = s[len(s)-maxKey:]
	}
	k.Suffixes = appendNew(k.Suffixes, s)
	return true
}

func addContains(k *PathKeys, s string) bool {
	if len(s) > maxContains {
		// Whatever holds s holds its head: more opens, none missed.
		s = s[:maxContains]
	}
	k.Contains = appendNew(k.Contains, s)
	return true
}

// maxContains bounds the substrings the kernel looks for.
const maxContains = 16

// openCoverage is what one rule needs of the opens of a class: none (it
// cannot match them), the keys, or all of them.
func openCoverage(r *rules.Rule, c class) (keys PathKeys, needed bool) {
	k, needed := coverOf(r, c)
	switch {
	case !needed:
		return PathKeys{}, false
	case k == nil:
		return PathKeys{All: true}, true
	}
	return k.(PathKeys), true
}
