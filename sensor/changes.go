package sensor

// ChangeFilter says which calls that change the file tree by path the
// sensor reports, when their event types are captured: removes (unlink,
// unlinkat, rmdir), renames (rename, renameat, renameat2) and mkdirs
// (mkdir, mkdirat), failed or not. A call is reported when its kind is
// wanted whole (All), when its process is in a container and
// InContainers (the filter's or its kind's) is set, or when a key of its
// kind matches one of its path arguments as the event gives it (Falco's
// evt.arg.path, name, oldpath, newpath): the argument when absolute, the
// argument joined to the directory it is relative to otherwise. An
// argument the kernel cannot compare so (with a ".", ".." or empty
// component, relative to no directory, of 4 KiB or more) has its call
// reported. The keys share the kernel's maps, and its four substrings,
// with the opens'.
type ChangeFilter struct {
	InContainers bool
	Removes      ChangeKeys
	// A rename is reported when a From key matches its old path or a To
	// key its new path; All in either reports every rename.
	RenamesFrom, RenamesTo ChangeKeys
	Mkdirs                 ChangeKeys
}

// ChangeKeys are the keys of one kind of call on paths.
type ChangeKeys struct {
	All          bool // every call of the kind
	InContainers bool // every call of the kind by a process in a container
	Prefixes     []string
	Dirs         []string // the path is directly in one, ending in a slash
	Suffixes     []string
	Contains     []string
	Comms        []string // every call of the kind by a process of this name
}

// Classes of the keys of calls on paths, as sensor.bpf.c defines them.
const (
	classRemove     = 8
	classRenameFrom = 16
	classRenameTo   = 32
	classMkdir      = 64
)

// classKeys are one class's keys.
type classKeys struct {
	keys  ChangeKeys
	class uint8
}

// classes returns the keys of each class; none for a nil filter, which
// reports every call.
func (f *ChangeFilter) classes() []classKeys {
	if f == nil {
		return nil
	}
	return []classKeys{{f.Removes, classRemove}, {f.RenamesFrom, classRenameFrom}, {f.RenamesTo, classRenameTo}, {f.Mkdirs, classMkdir}}
}

// containerClasses are the classes whose every call in a container is
// reported.
func (f *ChangeFilter) containerClasses() uint32 {
	var c uint32
	for _, k := range f.classes() {
		if f.InContainers || k.keys.InContainers {
			c |= uint32(k.class)
		}
	}
	return c
}

// whole reports whether every call whose path arguments are of the
// classes is reported, whatever its paths: with no filter, or when one of
// the classes is wanted whole.
func (f *ChangeFilter) whole(classes [2]uint8) bool {
	if f == nil {
		return true
	}
	for _, k := range f.classes() {
		if k.keys.All && (classes[0] == k.class || classes[1] == k.class) {
			return true
		}
	}
	return false
}
