package condition

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`proc.name=bash`, `proc.name = "bash"`},
		{`proc.name == bash`, `proc.name = "bash"`},
		{`proc.name != "ba sh"`, `proc.name != "ba sh"`},
		{`fd.num>=0`, `fd.num >= "0"`},
		{`fd.num=-1`, `fd.num = "-1"`},
		{`fd.num<3 or fd.num>5 or fd.num<=1`, `(fd.num < "3" or fd.num > "5" or fd.num <= "1")`},
		{`a.b=1 and c.d=2 or e.f=3`, `((a.b = "1" and c.d = "2") or e.f = "3")`},
		{`a.b=1 and (c.d=2 or e.f=3)`, `(a.b = "1" and (c.d = "2" or e.f = "3"))`},
		{`not a.b exists`, `not a.b exists`},
		{`not not a.b exists`, `a.b exists`},
		{`not(a.b exists)`, `not a.b exists`},
		{`not (m1 or m2)`, `not (m1 or m2)`},
		{`not(not a.b exists)`, `not (not a.b exists)`},
		{`m1 and(m2)`, `(m1 and m2)`},
		{`spawned_process and not proc.name in (shell_binaries)`, `(spawned_process and not proc.name in ("shell_binaries"))`},
		{`evt.type in (open,openat, "openat2")`, `evt.type in ("open", "openat", "openat2")`},
		{`evt.type in ()`, `evt.type in ()`},
		{`evt.type in(open)`, `evt.type in ("open")`},
		{`proc.name in my_list`, `proc.name in my_list`},
		{`fd.name startswith /etc/`, `fd.name startswith "/etc/"`},
		{`fd.name endswith .sh`, `fd.name endswith ".sh"`},
		{`fd.name contains '/.ssh/' and fd.name glob '/home/*/.ssh/*'`, `(fd.name contains "/.ssh/" and fd.name glob "/home/*/.ssh/*")`},
		{`fd.name iglob *.SH`, `fd.name iglob "*.SH"`},
		{`proc.args icontains "BEGIN PRIVATE"`, `proc.args icontains "BEGIN PRIVATE"`},
		{`evt.buffer bcontains cafebabe`, `evt.buffer bcontains "cafebabe"`},
		{`evt.buffer bstartswith 7F454C46`, `evt.buffer bstartswith "7F454C46"`},
		{`proc.cmdline regex "^a.*b$"`, `proc.cmdline regex "^a.*b$"`},
		{`fd.name pmatch (/tmp, /var/lib)`, `fd.name pmatch ("/tmp", "/var/lib")`},
		{`ka.req.role.rules.verbs intersects ("*")`, `ka.req.role.rules.verbs intersects ("*")`},
		{`proc.aname[2]=sshd`, `proc.aname[2] = "sshd"`},
		{`evt.arg.flags contains O_TRUNC`, `evt.arg.flags contains "O_TRUNC"`},
		{`evt.arg[1] = x`, `evt.arg[1] = "x"`},
		{`ka.uri.param[command] exists`, `ka.uri.param[command] exists`},
		{`json.value[/responseElements/ConsoleLogin]="Success"`, `json.value[/responseElements/ConsoleLogin] = "Success"`},
		{`container.mount.dest[/proc*] in ("<NA>","N/A")`, `container.mount.dest[/proc*] in ("<NA>", "N/A")`},
		{`x.y["a b"] = c`, `x.y["a b"] = "c"`},
		{`tolower(proc.name) = bash`, `tolower(proc.name) = "bash"`},
		{`toupper(basename(proc.exepath)) = BASH`, `toupper(basename(proc.exepath)) = "BASH"`},
		{`len(proc.args) > 3`, `len(proc.args) > "3"`},
		{`b64(evt.buffer) contains x`, `b64(evt.buffer) contains "x"`},
		{`proc.name = val(proc.pname)`, `proc.name = val(proc.pname)`},
		{`tolower(proc.name) = tolower(proc.pname)`, `tolower(proc.name) = tolower(proc.pname)`},
		{`join(",", proc.args) = "a,b"`, `join(",", proc.args) = "a,b"`},
		{`concat(proc.name, "-", proc.pname) = "a-b"`, `concat(proc.name, "-", proc.pname) = "a-b"`},
		{`getopt(proc.args, "ab:")[b] = x`, `getopt(proc.args, "ab:")[b] = "x"`},
		{`len(proc.args, 2, ("a", 3)) = 1`, `len(proc.args, 2, ("a", 3)) = "1"`},
		{`proc.name = anyof (a, b)`, `proc.name = anyof ("a", "b")`},
		{`proc.name startswith oneof my_list`, `proc.name startswith oneof my_list`},
		{`proc.name != allof (a)`, `proc.name != allof ("a")`},
		{`proc.name = anyof`, `proc.name = "anyof"`},
		{`proc.name = anyof and m`, `(proc.name = "anyof" and m)`},
		{`(proc.args contains "\ " or proc.args endswith \)`, `(proc.args contains "\\ " or proc.args endswith "\\")`},
		{`proc.cmdline startswith "sh -c envdir \"/run\" x"`, `proc.cmdline startswith "sh -c envdir \"/run\" x"`},
		{`a.b = 'it''s'`, ""}, // trailing quoted string is garbage
		{`a.b = "\x41\t"`, `a.b = "A\t"`},
		{"a.b\t=\n\"x\"\r\nand\bm", `(a.b = "x" and m)`},
		{`fd.sip in (127.0.0.1, ::1, 10.0.0.0/8)`, `fd.sip in ("127.0.0.1", "::1", "10.0.0.0/8")`},
		{`proc.pname=a>b`, `proc.pname = "a>b"`},
	}
	for _, tt := range tests {
		e, err := Parse(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %s, want an error", tt.in, e)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := e.String(); got != tt.want {
			t.Errorf("Parse(%q)\n got %s\nwant %s", tt.in, got, tt.want)
		}
		// The printed form must parse back to itself.
		e2, err := Parse(e.String())
		if err != nil {
			t.Errorf("reparse %q: %v", e.String(), err)
		} else if e2.String() != e.String() {
			t.Errorf("reparse %q = %q", e.String(), e2.String())
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		pos  string // line:col
		want string // substring of the message
	}{
		{``, "1:1", "unexpected end of condition"},
		{`   `, "1:4", "unexpected end of condition"},
		{`proc.name`, "1:10", `expected an operator`},
		{`proc.name = bash garbage`, "1:18", `expected "and", "or"`},
		{`proc.name = bash andx m`, "1:18", `unexpected identifier "andx"`},
		{`(proc.name = bash`, "1:18", `expected ")"`},
		{`proc.name = bash)`, "1:17", `unexpected ")"`},
		{"a.b = x and\n  c.d in (a, b", "2:15", "unexpected end of condition"},
		{"a.b = x and\n  c.d = \"abc", "2:9", "unterminated quoted string"},
		{`a.b = "\q"`, "1:8", `invalid escape sequence "\q"`},
		{`a.b = '\"'`, "1:8", `invalid escape sequence`},
		{`a.b = "\x4"`, "1:8", `invalid escape "\x"`},
		{`a.b[x = y`, "1:6", `expected "]"`},
		{`a.b[] = y`, "1:5", `expected a field argument`},
		{`a. = y`, "1:3", `expected a letter after "."`},
		{`a.b ! c`, "1:5", `expected "!="`},
		{`a.b = `, "1:7", `expected a value`},
		{`a.b in /etc`, "1:8", `expected a list`},
		{`a.b in (a b)`, "1:11", `"," or ")"`},
		{`a.b exists and`, "1:15", "unexpected end of condition"},
		{`a.b contains = c`, "1:14", `unexpected operator "="`},
		{`val(a.b) = c`, "1:1", `right-hand side`},
		{`tolower(a.b = c`, "1:13", `")" to close tolower(`},
		{`a.b = val("x")`, "1:11", `a field inside val()`},
		{`a.b in anyof (x)`, "1:8", `only allowed after a string operator`},
		{`@`, "1:1", `unexpected character '@'`},
		{`m1 and not`, "1:11", "unexpected end"},
		{strings.Repeat("(", 1001) + "m" + strings.Repeat(")", 1001), "1:1001", "maximum depth of 1000"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q): no error, want %s: ...%s", tt.in, tt.pos, tt.want)
			continue
		}
		perr, ok := err.(*Error)
		if !ok {
			t.Errorf("Parse(%q): error %T, want *Error", tt.in, err)
			continue
		}
		if perr.Pos.String() != tt.pos || !strings.Contains(perr.Msg, tt.want) {
			t.Errorf("Parse(%q) error = %q, want %s: ...%s...", tt.in, err, tt.pos, tt.want)
		}
	}
}

func TestParseDepthOK(t *testing.T) {
	src := strings.Repeat("(", 1000) + "m" + strings.Repeat(")", 1000)
	if _, err := Parse(src); err != nil {
		t.Fatalf("depth 1000: %v", err)
	}
	src = strings.Repeat("not ", 5000) + "m"
	if _, err := Parse(src); err != nil {
		t.Fatalf("5000 nots: %v", err)
	}
}

func TestParseOperand(t *testing.T) {
	for in, want := range map[string]string{
		"proc.name":                       "proc.name",
		"proc.aname[2]":                   "proc.aname[2]",
		"json.value[/a/b]":                "json.value[/a/b]",
		"tolower(ct.user)":                "tolower(ct.user)",
		"concat(proc.name, \"x\")[0]":     "concat(proc.name, \"x\")[0]",
		"toupper(basename(proc.exepath))": "toupper(basename(proc.exepath))",
	} {
		op, err := ParseOperand(in)
		if err != nil {
			t.Errorf("ParseOperand(%q): %v", in, err)
			continue
		}
		if op.String() != want {
			t.Errorf("ParseOperand(%q) = %q, want %q", in, op, want)
		}
	}
	for _, in := range []string{"", "proc.name x", "m", "val(proc.name)", "proc.name = x"} {
		if _, err := ParseOperand(in); err == nil {
			t.Errorf("ParseOperand(%q): no error", in)
		}
	}
}
