package procfs

import "testing"

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/var/lib/a\040b`: "/var/lib/a b",
		`/plain`:          "/plain",
		`tab\011x\134y`:   "tab\tx\\y",
		`short\04`:        `short\04`,
		`bad\999`:         `bad\999`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
