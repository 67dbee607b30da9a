package rules

import (
	"github.com/mamori-dev/mamori/internal/textdist"
	"net/netip"
	"sort"
)

// A Catalog describes the fields of one event source, such as "syscall",
// "k8s_audit" or "aws_cloudtrail".
//
// Fields lists every field the language knows for the source. A field whose
// extractor is nil is known but not provided by this caller: rules that use
// it load as inactive, with the field named as the reason, instead of
// failing the load. A name not listed at all is an error.
type Catalog interface {
	Source() string
	Fields() []Field
}

// An EventTypeCatalog also says which values of evt.type its caller can
// deliver. A rule whose evt.type set has none of them loads inactive; one
// that names some it cannot receive stays active and lists the others in
// Rule.MissingEventTypes.
type EventTypeCatalog interface {
	Catalog
	EventTypes() []string
}

// FieldType is the type of the values a field extracts.
type FieldType int

const (
	TypeString     FieldType = iota + 1 // text, extracted with ExtractString
	TypeNumber                          // integer, extracted with ExtractNumber
	TypeBool                            // extracted with ExtractBool
	TypeIP                              // address, extracted with ExtractIP; compared with addresses or CIDR networks
	TypeStringList                      // several strings, extracted with ExtractStrings
	TypeBytes                           // a byte buffer carried in a string, extracted with ExtractString
)

var typeNames = [...]string{
	TypeString: "string", TypeNumber: "number", TypeBool: "bool",
	TypeIP: "ip", TypeStringList: "list", TypeBytes: "bytes",
}

func (t FieldType) String() string {
	if t > 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "invalid"
}

// ArgKind tells whether a field takes an argument in brackets, and of what
// kind.
type ArgKind int

const (
	NoArg    ArgKind = iota // proc.name
	IndexArg                // proc.aname[2]: a non-negative integer
	KeyArg                  // ka.uri.param[command], json.value[/a/b]: any text
)

// Arg is the argument a condition gave a field, as passed to its extractor.
type Arg struct {
	Key   string // the text in brackets
	Index int    // Key as a number, for IndexArg fields
	Set   bool   // an argument was given
}

// Field describes one field of a source.
//
// The extractors return the value for an event and whether the event has
// one; a comparison on a value that is not there is false. Exactly one
// extractor, the one matching Type, is set for a provided field. They are
// called on every evaluation, so they should not allocate; a string list
// may be returned from the event's own storage, and is not retained or
// modified.
type Field struct {
	Name        string
	Type        FieldType
	Arg         ArgKind
	ArgRequired bool
	// AnyIndex, for an IndexArg field, gives the field Falco's ancestor
	// semantics when it has no argument: the check holds if it holds for
	// any index from 1 up to the first the extractor has no value for
	// (proc.aname in (a, b): some ancestor is named a or b).
	AnyIndex bool
	Desc     string

	ExtractString  func(evt any, arg Arg) (string, bool)
	ExtractNumber  func(evt any, arg Arg) (int64, bool)
	ExtractBool    func(evt any, arg Arg) (bool, bool)
	ExtractIP      func(evt any, arg Arg) (netip.Addr, bool)
	ExtractStrings func(evt any, arg Arg) ([]string, bool)
}

// provided reports whether the field has the extractor its type needs.
func (f *Field) provided() bool {
	switch f.Type {
	case TypeString, TypeBytes:
		return f.ExtractString != nil
	case TypeNumber:
		return f.ExtractNumber != nil
	case TypeBool:
		return f.ExtractBool != nil
	case TypeIP:
		return f.ExtractIP != nil
	case TypeStringList:
		return f.ExtractStrings != nil
	}
	return false
}

// fieldTable indexes a catalogue's fields by name.
type fieldTable struct {
	source string
	byName map[string]*Field
	names  []string
	// evtTypes holds the evt.type values the caller delivers; nil when the
	// catalogue does not say.
	evtTypes map[string]bool
	// stateful: the caller evaluates stateful rules (a StatefulCatalog).
	stateful bool
}

func newFieldTable(c Catalog) *fieldTable {
	fields := c.Fields()
	t := &fieldTable{source: c.Source(), byName: make(map[string]*Field, len(fields))}
	for i := range fields {
		f := &fields[i]
		t.byName[f.Name] = f
		t.names = append(t.names, f.Name)
	}
	sort.Strings(t.names)
	_, t.stateful = c.(StatefulCatalog)
	if ec, ok := c.(EventTypeCatalog); ok {
		t.evtTypes = map[string]bool{}
		for _, n := range ec.EventTypes() {
			t.evtTypes[n] = true
		}
	}
	return t
}

// suggest returns up to three known names closest to name by edit distance.
func (t *fieldTable) suggest(name string) []string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	limit := max(2, len(name)/3)
	for _, n := range t.names {
		if d := textdist.Levenshtein(name, n); d <= limit {
			cs = append(cs, cand{n, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	var out []string
	for i := 0; i < len(cs) && i < 3; i++ {
		out = append(out, cs[i].name)
	}
	return out
}
