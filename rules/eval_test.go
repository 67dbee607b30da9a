package rules

import (
	"net/netip"
	"strings"
	"testing"
)

// unitCatalog is a handful of fields for evaluator tests. absent.* fields
// never have a value; notprovided.name is known but has no extractor.
func unitCatalog() *testCatalog {
	return newTestCatalog("syscall", []fieldSpec{
		{name: "evt.type", typ: TypeString, provided: true},
		{name: "proc.name", typ: TypeString, provided: true},
		{name: "proc.pname", typ: TypeString, provided: true},
		{name: "proc.cmdline", typ: TypeString, provided: true},
		{name: "proc.exepath", typ: TypeString, provided: true},
		{name: "proc.b64", typ: TypeString, provided: true},
		{name: "proc.aname", typ: TypeString, arg: IndexArg, provided: true},
		{name: "proc.argv", typ: TypeStringList, arg: IndexArg, provided: true},
		{name: "fd.name", typ: TypeString, provided: true},
		{name: "fd.num", typ: TypeNumber, provided: true},
		{name: "fd.lport", typ: TypeNumber, provided: true},
		{name: "fd.sip", typ: TypeIP, provided: true},
		{name: "evt.is_open_write", typ: TypeBool, provided: true},
		{name: "evt.buffer", typ: TypeBytes, provided: true},
		{name: "json.value", typ: TypeString, arg: KeyArg, provided: true},
		{name: "absent.str", typ: TypeString, provided: true},
		{name: "absent.num", typ: TypeNumber, provided: true},
		{name: "absent.list", typ: TypeStringList, provided: true},
		{name: "notprovided.name", typ: TypeString},
	})
}

func unitEvent(c *testCatalog) *testEvent {
	return c.event(map[string]any{
		"evt.type":          "execve",
		"proc.name":         "Bash",
		"proc.pname":        "bash",
		"proc.cmdline":      "bash -c 'echo BEGIN PRIVATE key'",
		"proc.exepath":      "/usr/bin/bash",
		"proc.b64":          "aGVsbG8=",
		"proc.aname":        map[string]string{"1": "sshd", "2": "systemd"},
		"proc.argv":         []string{"-x", "-o", "out", "file"},
		"fd.name":           "/etc/ssh/sshd_config",
		"fd.num":            3,
		"fd.lport":          3,
		"fd.sip":            netip.MustParseAddr("10.1.2.3"),
		"evt.is_open_write": true,
		"evt.buffer":        "\x7fELF\xca\xfe\xba\xbe",
		"json.value":        map[string]string{"/a/b": "Success"},
	})
}

// compileCondition compiles a macro-free condition for the tests.
func compileCondition(t *testing.T, cat *testCatalog, cond string) (*Rule, error) {
	t.Helper()
	rs, err := Load(Config{Catalogs: []Catalog{cat}}, File{Name: "test.yaml", Data: []byte(
		"- list: shells\n  items: [bash, sh]\n- list: empty\n  items: []\n" +
			"- rule: r\n  desc: d\n  output: o\n  priority: INFO\n  condition: " + yamlQuote(cond) + "\n")})
	if err != nil {
		return nil, err
	}
	return rs.Rule("r"), nil
}

func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func TestEval(t *testing.T) {
	cat := unitCatalog()
	evt := unitEvent(cat)
	tests := []struct {
		cond string
		want bool
	}{
		{`proc.name = Bash`, true},
		{`proc.name == bash`, false},
		{`proc.name != bash`, true},
		{`proc.name != Bash`, false},
		{`proc.name < C and proc.name > A and proc.name <= Bash and proc.name >= Bash`, true},
		{`proc.cmdline contains "BEGIN PRIVATE"`, true},
		{`proc.cmdline contains "begin private"`, false},
		{`proc.cmdline icontains "begin PRIVATE"`, true},
		{`proc.cmdline icontains "nope"`, false},
		{`proc.name startswith Ba and proc.name endswith sh`, true},
		{`proc.name startswith ba`, false},
		{`fd.name glob "/etc/*/sshd_*"`, true},
		{`fd.name glob "/etc/*"`, true}, // * crosses "/" as fnmatch without FNM_PATHNAME
		{`fd.name glob "/etc/ssh/sshd_confi?"`, true},
		{`fd.name glob "/etc/ssh/[rs]shd_config"`, true},
		{`fd.name glob "/etc/ssh/[!s]shd_config"`, false},
		{`fd.name glob "/ETC/*"`, false},
		{`fd.name iglob "/ETC/*"`, true},
		{`proc.exepath regex "/usr/(s)?bin/ba.*"`, true},
		{`proc.exepath regex "bin/bash"`, false}, // anchored
		{`proc.name in (bash, Bash)`, true},
		{`proc.pname in (shells)`, true},
		{`proc.name in (shells)`, false},
		{`proc.name intersects (Bash)`, true},
		{`proc.pname in (a, b, c, d, e, f, g, h, i, j, bash)`, true}, // hashed set
		{`proc.pname in (empty)`, false},
		{`proc.pname in (empty, bash)`, true},
		{`fd.name pmatch (/etc/ssh, /tmp)`, true},
		{`fd.name pmatch (/etc/ss)`, false},
		{`fd.name pmatch (/etc/*/sshd_config)`, true},
		{`evt.buffer bcontains cafebabe`, true},
		{`evt.buffer bcontains CAFEBABF`, false},
		{`evt.buffer bstartswith 7F454C46`, true},
		{`evt.buffer bstartswith 454C46`, false},
		{`fd.num = 3 and fd.num != 4 and fd.num < 4 and fd.num <= 3 and fd.num > 2 and fd.num >= 3`, true},
		{`fd.num = 0x3`, true},
		{`fd.num in (1, 2, 3)`, true},
		{`fd.num in (1, 2)`, false},
		{`fd.num = val(fd.lport)`, true},
		{`fd.sip = 10.1.2.3`, true},
		{`fd.sip = "10.0.0.0/8"`, true},
		{`fd.sip != "192.168.0.0/16"`, true},
		{`fd.sip in ("192.168.0.0/16", "10.1.0.0/16")`, true},
		{`evt.is_open_write = true`, true},
		{`evt.is_open_write != true`, false},
		{`evt.is_open_write in (false)`, false},
		{`proc.argv in (-x, -o, out, file, more)`, true},
		{`proc.argv in (-x, -o)`, false},
		{`proc.argv intersects (out)`, true},
		{`proc.argv intersects (nope)`, false},
		{`proc.argv[2] in (out)`, true},
		{`proc.aname[1] = sshd and proc.aname[2] = systemd`, true},
		{`proc.aname[3] exists`, false},
		{`json.value[/a/b] = Success`, true},
		{`json.value["/a/c"] exists`, false},
		{`proc.name exists and not absent.str exists`, true},
		// A comparison on a missing value is false, whatever the operator.
		{`absent.str = x`, false},
		{`absent.str != x`, false},
		{`absent.str in (x)`, false},
		{`absent.str contains x`, false},
		{`not absent.str = x`, true},
		{`absent.num != 1`, false},
		{`absent.list intersects (x)`, false},
		{`proc.name = val(absent.str)`, false},
		{`tolower(absent.str) = ""`, false},
		// Transformers.
		{`tolower(proc.name) = bash`, true},
		{`toupper(proc.name) = BASH`, true},
		{`tolower(proc.name) = tolower(proc.pname)`, true},
		{`proc.name = val(proc.pname)`, false},
		{`tolower(proc.name) = val(proc.pname)`, true},
		{`b64(proc.b64) = hello`, true},
		{`b64(proc.cmdline) exists`, false}, // not base64
		{`basename(proc.exepath) = bash`, true},
		{`basename(fd.name) = sshd_config`, true},
		{`toupper(basename(proc.exepath)) = BASH`, true},
		{`len(proc.argv) = 4`, true},
		{`len(proc.name) > 3`, true},
		{`join(",", proc.argv) = "-x,-o,out,file"`, true},
		{`concat(proc.pname, "-", proc.name) = "bash-Bash"`, true},
		{`getopt(proc.argv, "xo:")[o] = out`, true},
		{`getopt(proc.argv, "xo:")[x] = ""`, true},
		{`getopt(proc.argv, "xo:")[z] exists`, false},
		// Modifiers.
		{`proc.name startswith anyof (Ba, Zz)`, true},
		{`proc.name startswith oneof (B, Ba)`, false},
		{`proc.name startswith allof (B, Ba)`, true},
		{`proc.name != allof (x, y)`, true},
		{`proc.name = anyof (shells)`, false},
		// Boolean structure.
		{`proc.name = x or proc.name = Bash`, true},
		{`not (proc.name = x or proc.name = y)`, true},
		{`not not proc.name = Bash`, true},
	}
	for _, tt := range tests {
		r, err := compileCondition(t, cat, tt.cond)
		if err != nil {
			t.Errorf("%s: %v", tt.cond, err)
			continue
		}
		if !r.Active() {
			t.Errorf("%s: inactive: %s", tt.cond, r.Inactive)
			continue
		}
		if got := r.Eval(evt); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.cond, got, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	cat := unitCatalog()
	tests := []struct{ cond, want string }{
		{`proc.nme = x`, `unknown field "proc.nme" for source "syscall"; did you mean "proc.name"`},
		{`fd.num contains 3`, `operator "contains" cannot be used on fd.num, a number field`},
		{`fd.num = abc`, `"abc" is not an integer`},
		{`proc.argv = x`, `operator "=" cannot be used on proc.argv, a list field`},
		{`proc.name bcontains 00`, `operator "bcontains" cannot be used`},
		{`evt.buffer bcontains xyz`, `needs a hex string`},
		{`proc.name regex "a("`, `invalid regular expression`},
		{`proc.name[1] = x`, `field proc.name takes no argument`},
		{`proc.aname[x] = y`, `needs a non-negative index`},
		{`fd.sip = nope`, `neither an address nor a network`},
		{`evt.is_open_write = yes`, `is not true or false`},
		{`undefined_macro`, `undefined macro "undefined_macro"`},
		{`proc.name in undefined_list`, `"undefined_list" is not a defined list`},
		{`proc.name regex val(proc.pname)`, `cannot compare with a field`},
		{`proc.name = val(fd.num)`, `cannot compare proc.name (string) with fd.num (number)`},
		{`len(fd.num) = 1`, `len() needs a string or list`},
		{`join(",", proc.name) = x`, `join() needs a list`},
		{`concat(proc.name) = x`, `concat() takes at least two arguments`},
		{`getopt(proc.argv, "x") = x`, `needs the option character`},
	}
	for _, tt := range tests {
		_, err := compileCondition(t, cat, tt.cond)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want ...%s...", tt.cond, err, tt.want)
		}
	}
}

func TestInactiveRule(t *testing.T) {
	cat := unitCatalog()
	r, err := compileCondition(t, cat, `proc.name = x and notprovided.name = y`)
	if err != nil {
		t.Fatal(err)
	}
	if r.Active() || len(r.MissingFields) != 1 || r.MissingFields[0] != "notprovided.name" {
		t.Errorf("Active %v, MissingFields %v, Inactive %q; want inactive on notprovided.name", r.Active(), r.MissingFields, r.Inactive)
	}
}

func TestEvalNoAllocs(t *testing.T) {
	cat := unitCatalog()
	evt := unitEvent(cat)
	r, err := compileCondition(t, cat, `evt.type in (open, openat) or (proc.cmdline icontains "xyz" and fd.name pmatch (/tmp)) or fd.name glob "*.sh" or not proc.name exists or fd.sip in ("192.168.0.0/16") or proc.argv intersects (zz)`)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { r.Eval(evt) }); n != 0 {
		t.Errorf("Eval allocates %v times per non-matching event, want 0", n)
	}
}
