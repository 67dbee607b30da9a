package condition

import (
	"testing"
)

var fuzzSeeds = []string{
	`proc.name=bash`,
	`spawned_process and not proc.name in (shell_binaries) or fd.num>=0`,
	`(evt.type in (open,openat,openat2) and evt.is_open_write=true and fd.typechar='f' and fd.num>=0)`,
	`not not (a.b exists)`,
	`proc.aname[2] startswith "/usr/bin" and json.value[/a/b]="x"`,
	`tolower(basename(proc.exepath)) = val(proc.pname)`,
	`getopt(proc.args, "ab:")[b] glob "*x*"`,
	`proc.name = anyof (a, "b c") and fd.name pmatch (/tmp)`,
	`a.b = "\x41\t\"" and c.d = '\''`,
	`(proc.args contains "\ " or proc.args endswith \)`,
	`len(proc.args, 2, ("a", 3)) >= -1.5e+3`,
	"a.b\t=\n\"x\"\r\nand\bm",
}

func FuzzLex(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		l := lex(src)
		prev := -1
		for n := 0; ; n++ {
			if n > 2*len(src)+2 {
				t.Fatalf("lexer did not stop after %d items", n)
			}
			it := l.nextItem()
			if it.pos.Offset < prev || it.pos.Offset > len(src) {
				t.Fatalf("item %v at offset %d after %d (len %d)", it, it.pos.Offset, prev, len(src))
			}
			if it.pos.Line < 1 || it.pos.Col < 1 {
				t.Fatalf("item %v at bad position %v", it, it.pos)
			}
			prev = it.pos.Offset
			if it.typ == itemEOF || it.typ == itemError {
				return
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := ParseDepth(src, 50)
		if err != nil {
			return
		}
		printed := e.String()
		e2, err := ParseDepth(printed, 200)
		if err != nil {
			t.Fatalf("printed form of %q does not parse: %q: %v", src, printed, err)
		}
		if got := e2.String(); got != printed {
			t.Fatalf("round trip of %q:\n first %q\nsecond %q", src, printed, got)
		}
	})
}
