package rules

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/rules/condition"
	"gopkg.in/yaml.v3"
)

// testCatalog is a catalogue over testEvent, whose values sit in slots
// numbered by field, so extraction is a slice index as in a real decoder.
type testCatalog struct {
	source string
	fields []Field
	slot   map[string]int
}

func (c *testCatalog) Source() string  { return c.source }
func (c *testCatalog) Fields() []Field { return c.fields }

type fieldSpec struct {
	name     string
	typ      FieldType
	arg      ArgKind
	provided bool
}

// testEvent holds one value per slot; has marks the slots with a value.
type testEvent struct {
	has  []bool
	str  []string
	num  []int64
	b    []bool
	ip   []netip.Addr
	list [][]string
	keys []map[string]string // values of fields taking an argument, by argument
}

func newTestCatalog(source string, specs []fieldSpec) *testCatalog {
	c := &testCatalog{source: source, slot: map[string]int{}}
	for i, s := range specs {
		c.slot[s.name] = i
		f := Field{Name: s.name, Type: s.typ, Arg: s.arg, Desc: "test field " + s.name}
		if s.provided {
			setExtractor(&f, i)
		}
		c.fields = append(c.fields, f)
	}
	return c
}

func setExtractor(f *Field, i int) {
	switch f.Type {
	case TypeString, TypeBytes:
		if f.Arg != NoArg {
			f.ExtractString = func(e any, a Arg) (string, bool) {
				ev := e.(*testEvent)
				v, ok := ev.keys[i][a.Key]
				return v, ok
			}
			return
		}
		f.ExtractString = func(e any, _ Arg) (string, bool) {
			ev := e.(*testEvent)
			return ev.str[i], ev.has[i]
		}
	case TypeNumber:
		f.ExtractNumber = func(e any, _ Arg) (int64, bool) {
			ev := e.(*testEvent)
			return ev.num[i], ev.has[i]
		}
	case TypeBool:
		f.ExtractBool = func(e any, _ Arg) (bool, bool) {
			ev := e.(*testEvent)
			return ev.b[i], ev.has[i]
		}
	case TypeIP:
		f.ExtractIP = func(e any, _ Arg) (netip.Addr, bool) {
			ev := e.(*testEvent)
			return ev.ip[i], ev.has[i]
		}
	case TypeStringList:
		f.ExtractStrings = func(e any, a Arg) ([]string, bool) {
			ev := e.(*testEvent)
			l := ev.list[i]
			if a.Set {
				if a.Index >= len(l) {
					return nil, false
				}
				l = l[a.Index : a.Index+1]
			}
			return l, ev.has[i]
		}
	}
}

// event builds an event from values by field name: string, int, bool,
// netip.Addr, []string, or map[string]string for fields with arguments.
func (c *testCatalog) event(vals map[string]any) *testEvent {
	n := len(c.fields)
	ev := &testEvent{
		has: make([]bool, n), str: make([]string, n), num: make([]int64, n), b: make([]bool, n),
		ip: make([]netip.Addr, n), list: make([][]string, n), keys: make([]map[string]string, n),
	}
	for name, v := range vals {
		i, ok := c.slot[name]
		if !ok {
			panic("test event: unknown field " + name)
		}
		ev.has[i] = true
		switch v := v.(type) {
		case string:
			ev.str[i] = v
		case int:
			ev.num[i] = int64(v)
		case bool:
			ev.b[i] = v
		case netip.Addr:
			ev.ip[i] = v
		case []string:
			ev.list[i] = v
		case map[string]string:
			ev.keys[i] = v
		default:
			panic(fmt.Sprintf("test event: %s: unsupported %T", name, v))
		}
	}
	return ev
}

// corpusDir returns the upstream Falco rules directory, or skips the test.
func corpusDir(t testing.TB) string {
	dir := filepath.Join("..", "..", "shared", "corpora", "falco")
	if _, err := os.Stat(filepath.Join(dir, "falco_rules.yaml")); err != nil {
		t.Skip("../shared/corpora not found: ", err)
	}
	return dir
}

func corpusFiles(t testing.TB, names ...string) []File {
	dir := corpusDir(t)
	var paths []string
	for _, n := range names {
		paths = append(paths, filepath.Join(dir, n))
	}
	files, err := ReadFiles(paths...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range files {
		files[i].Name = names[i]
	}
	return files
}

// Types of the syscall fields the upstream files use that are not strings.
var syscallTypes = map[string]FieldType{
	"fd.num": TypeNumber, "evt.rawres": TypeNumber, "user.uid": TypeNumber, "user.loginuid": TypeNumber,
	"fd.rport": TypeNumber, "fd.lport": TypeNumber, "fd.sport": TypeNumber, "fd.port": TypeNumber,
	"proc.vpid": TypeNumber, "proc.pid": TypeNumber, "evt.num": TypeNumber, "proc.duration": TypeNumber,
	"proc.ppid.duration": TypeNumber, "container.start_ts": TypeNumber, "proc.exe_ino.ctime": TypeNumber,
	"proc.exe_ino.mtime": TypeNumber, "proc.exe_ino.ctime_duration_proc_start": TypeNumber, "group.gid": TypeNumber,
	"proc.tty": TypeNumber, "proc.sid": TypeNumber, "proc.vpgid": TypeNumber,
	"evt.is_open_write": TypeBool, "evt.is_open_read": TypeBool, "evt.is_open_exec": TypeBool,
	"proc.is_vpgid_leader": TypeBool, "proc.is_exe_upper_layer": TypeBool, "proc.is_exe_from_memfd": TypeBool,
	"container.privileged": TypeBool, "fd.name_changed": TypeBool, "fd.connected": TypeBool,
	"proc.is_exe_writable": TypeBool, "proc.is_sid_leader": TypeBool,
	"fd.ip": TypeIP, "fd.sip": TypeIP, "fd.cip": TypeIP, "fd.rip": TypeIP, "fd.lip": TypeIP,
	"fd.net": TypeIP, "fd.snet": TypeIP, "fd.cnet": TypeIP, "fd.rnet": TypeIP, "fd.lnet": TypeIP,
	"evt.buffer": TypeBytes,
}

var syscallArgs = map[string]ArgKind{
	"proc.aname": IndexArg, "proc.aexepath": IndexArg, "proc.aexe": IndexArg, "proc.apid": IndexArg,
	"container.mount.dest": KeyArg, "evt.arg": KeyArg, "proc.env": KeyArg, "fd.types": IndexArg,
}

// usedFields collects the field names in the conditions, exceptions and
// outputs of rules files, using the condition parser on each item.
func usedFields(t testing.TB, files []File) []string {
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	var walkNode func(n condition.Node)
	walkNode = func(n condition.Node) {
		switch n := n.(type) {
		case *condition.Field:
			add(n.Name)
		case *condition.Transform:
			for _, a := range n.Args {
				walkNode(a)
			}
		}
	}
	outRef := regexp.MustCompile(`%[0-9]*([a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+)`)
	for _, f := range files {
		var items []map[string]any
		if err := yaml.Unmarshal(f.Data, &items); err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if c, ok := it["condition"].(string); ok {
				e, err := condition.Parse(c)
				if err != nil {
					if it["append"] != nil || it["override"] != nil {
						continue // a fragment such as "or proc.name = x"
					}
					t.Fatalf("%s: %v", f.Name, err)
				}
				condition.Walk(e, func(x condition.Expr) bool {
					if c, ok := x.(*condition.Check); ok {
						walkNode(c.Field)
						if v, ok := c.Value.(condition.Node); ok {
							walkNode(v)
						}
					}
					return true
				})
			}
			if o, ok := it["output"].(string); ok {
				for _, m := range outRef.FindAllStringSubmatch(o, -1) {
					add(strings.TrimRight(m[1], "."))
				}
			}
			if excs, ok := it["exceptions"].([]any); ok {
				for _, e := range excs {
					switch fs := e.(map[string]any)["fields"].(type) {
					case string:
						add(fs)
					case []any:
						for _, f := range fs {
							add(f.(string))
						}
					}
				}
			}
		}
	}
	return names
}

// syscallCatalog supplies every field the given files use, all provided.
func syscallCatalog(t testing.TB, files []File) *testCatalog {
	var specs []fieldSpec
	for _, n := range usedFields(t, files) {
		typ := syscallTypes[n]
		if typ == 0 {
			typ = TypeString
		}
		specs = append(specs, fieldSpec{name: n, typ: typ, arg: syscallArgs[n], provided: true})
	}
	for _, n := range []string{"evt.time", "evt.hostname", "evt.source"} {
		specs = append(specs, fieldSpec{name: n, typ: TypeString, provided: true})
	}
	return newTestCatalog("syscall", specs)
}

// pluginCatalog reads the ct.* or ka.* field table of FIELDS.md, adding the
// json plugin fields and generic evt.* fields the plugin rules use.
func pluginCatalog(t testing.TB, source, prefix string) *testCatalog {
	data, err := os.ReadFile(filepath.Join(corpusDir(t), "FIELDS.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([a-z0-9]+\\.[A-Za-z0-9_.]+)` \\| ([^|]+)\\|(?: ([^|]*)\\|)?")
	var specs []fieldSpec
	for _, line := range strings.Split(string(data), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil || !strings.HasPrefix(m[1], prefix) && !(prefix == "ct." && (strings.HasPrefix(m[1], "s3.") || strings.HasPrefix(m[1], "ec2.") || strings.HasPrefix(m[1], "ecr.") || strings.HasPrefix(m[1], "iam."))) {
			continue
		}
		s := fieldSpec{name: m[1], typ: TypeString, provided: true}
		switch {
		case strings.Contains(m[2], "list"):
			s.typ = TypeStringList
		case strings.HasPrefix(m[2], "uint64"):
			s.typ = TypeNumber
		}
		switch {
		case strings.HasPrefix(m[3], "arg: index") || strings.Contains(m[2], "index arg"):
			s.arg = IndexArg
		case strings.HasPrefix(m[3], "arg: key"):
			s.arg = KeyArg
		}
		specs = append(specs, s)
		if strings.HasPrefix(m[1], "ka.req.pod.containers.") {
			for _, kind := range []string{"initContainers", "ephemeralContainers"} {
				c := s
				c.name = strings.Replace(m[1], "containers", kind, 1)
				specs = append(specs, c)
			}
		}
	}
	if len(specs) < 60 {
		t.Fatalf("FIELDS.md: found only %d %s fields", len(specs), prefix)
	}
	for _, n := range []string{"json.value", "jevt.value"} {
		specs = append(specs, fieldSpec{name: n, typ: TypeString, arg: KeyArg, provided: true})
	}
	for _, n := range []string{"json.obj", "jevt.obj", "evt.plugininfo", "evt.time", "evt.time.iso8601", "evt.source", "evt.hostname"} {
		specs = append(specs, fieldSpec{name: n, typ: TypeString, provided: true})
	}
	for _, n := range []string{"json.rawtime", "jevt.rawtime", "evt.num", "evt.rawtime"} {
		specs = append(specs, fieldSpec{name: n, typ: TypeNumber, provided: true})
	}
	return newTestCatalog(source, specs)
}
