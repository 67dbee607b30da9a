package detect

import (
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/syscalls"
)

// Calls that change the file tree by path (removes, renames, mkdirs) are
// filtered in the kernel by keys on their path arguments as the event
// gives them, made absolute: Falco's evt.arg.path (unlink, rmdir, mkdir,
// mkdirat), evt.arg.name (unlinkat), evt.arg.oldpath and evt.arg.newpath
// (rename, renameat, renameat2). These calls have no fd of their own, so
// fd.name and the other fd fields are not their paths; an evt.arg field
// none of a class's calls has is never there, and a check on it never
// holds (the "modify" macro's removes never match a check on
// evt.arg.newpath). Their failed calls are reported as their successful
// ones: the kernel tests only their paths.

var (
	removes = map[string]bool{"unlink": true, "unlinkat": true, "rmdir": true}
	renames = map[string]bool{"rename": true, "renameat": true, "renameat2": true}
	mkdirs  = map[string]bool{"mkdir": true, "mkdirat": true}
)

// removeClass is the unlinks and rmdirs: evt.arg.path and evt.arg.name
// are the path removed.
var removeClass = class{types: removes, fact: changeFact, absent: absentOn(removes),
	keys: argKeys("evt.arg.path", "evt.arg.name"), container: PathKeys{Containers: true}}

// mkdirClass is the mkdirs: evt.arg.path is the directory made.
var mkdirClass = class{types: mkdirs, fact: changeFact, absent: absentOn(mkdirs),
	keys: argKeys("evt.arg.path"), container: PathKeys{Containers: true}}

// renameClass is the renames, whose keys are on either path.
var renameClass = class{types: renames, fact: changeFact, absent: absentOn(renames),
	keys: renameKeys, container: RenameKeys{From: PathKeys{Containers: true}}}

// changeFact is the value of a check that is the same on every call on
// paths: those on opens are false there.
func changeFact(f, op, v string) tri {
	switch f {
	case "evt.is_open_read", "evt.is_open_write", "evt.is_open_exec", "evt.is_open_create":
		return boolFact(op, v, false)
	}
	return maybe
}

// absentOn says which fields are never there on events of the types: the
// evt.arg fields none of them has.
func absentOn(types map[string]bool) func(string) bool {
	return func(field string) bool {
		name, ok := strings.CutPrefix(field, "evt.arg.")
		if !ok {
			return false
		}
		for t := range types {
			if syscalls.HasArg(t, name) {
				return false
			}
		}
		return true
	}
}

// argKeys gives the keys of checks on the call's path, which the fields
// name, and on the process's name.
func argKeys(fields ...string) func(field, op string, values []string) keySet {
	return func(field, op string, values []string) keySet {
		switch {
		case field == "proc.name":
			return pathKeys(field, op, values)
		case slices.Contains(fields, field):
			// As an open's evt.arg.name: the argument made absolute.
			return pathKeys("evt.arg.name", op, values)
		}
		return nil
	}
}

// RenameKeys say which renames the sensor reports: those whose old path a
// From key matches, or whose new path a To key does. Keys on the call
// rather than a path (a process name, being in a container) are From's.
type RenameKeys struct {
	From, To PathKeys
}

// renameKeys gives the keys of a check on either path or on the
// process's name.
func renameKeys(field, op string, values []string) keySet {
	var k keySet
	switch field {
	case "evt.arg.oldpath", "proc.name":
		if field == "evt.arg.oldpath" {
			field = "evt.arg.name"
		}
		if k = pathKeys(field, op, values); k != nil {
			return RenameKeys{From: k.(PathKeys)}
		}
	case "evt.arg.newpath":
		if k = pathKeys("evt.arg.name", op, values); k != nil {
			return RenameKeys{To: k.(PathKeys)}
		}
	}
	return nil
}

// All reports whether every rename is wanted.
func (k RenameKeys) All() bool { return k.From.All || k.To.All }

// Empty reports whether no rename is wanted.
func (k RenameKeys) Empty() bool { return k.From.Empty() && k.To.Empty() }

// Add adds o's keys to k.
func (k *RenameKeys) Add(o RenameKeys) {
	k.From.Add(o.From)
	k.To.Add(o.To)
}

func (k RenameKeys) union(o keySet) keySet {
	var u RenameKeys
	u.Add(k)
	u.Add(o.(RenameKeys))
	return u
}

func (k RenameKeys) breadth() int { return k.From.breadth() + k.To.breadth() }

func (k *RenameKeys) sort() {
	k.From.sort()
	k.To.sort()
}

// String describes the keys for people: "from under /bin/; to holding /.".
func (k RenameKeys) String() string {
	switch {
	case k.All():
		return "all"
	case k.Empty():
		return "none"
	}
	var parts []string
	if !k.From.Empty() {
		parts = append(parts, "from "+k.From.String())
	}
	if !k.To.Empty() {
		parts = append(parts, "to "+k.To.String())
	}
	return strings.Join(parts, "; ")
}

// renameCoverage is what one rule needs of the renames: none, the keys,
// or all of them.
func renameCoverage(r *rules.Rule) (keys RenameKeys, needed bool) {
	k, needed := coverOf(r, renameClass)
	switch {
	case !needed:
		return RenameKeys{}, false
	case k == nil:
		return RenameKeys{From: PathKeys{All: true}}, true
	}
	rk := k.(RenameKeys)
	rk.sort()
	return rk, true
}
