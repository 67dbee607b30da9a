package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseIPListFireHOL(t *testing.T) {
	b, err := os.ReadFile("testdata/lists/firehol_sample.netset")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ParseIPList("firehol_sample.netset", b)
	if err != nil {
		t.Fatal(err)
	}
	if l.Entries() != 8 {
		t.Errorf("entries %d, want 8", l.Entries())
	}
	// 198.51.100.7-9 join into one range, the two 203.0.113 prefixes too.
	if l.Ranges() != 5 {
		t.Errorf("ranges %d, want 5", l.Ranges())
	}
	for addr, want := range map[string]bool{
		"0.1.2.3": true, "192.0.2.0": true, "192.0.2.255": true, "192.0.3.0": false, "192.0.1.255": false,
		"198.51.100.6": false, "198.51.100.7": true, "198.51.100.9": true, "198.51.100.10": false,
		"203.0.113.63": false, "203.0.113.64": true, "203.0.113.255": true,
		"2001:db8:dead:1::5": true, "2001:db8:beef::1": false, "::ffff:192.0.2.7": true, "::": false,
		"255.255.255.255": false,
	} {
		if got := l.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", addr, got, want)
		}
	}
	got := fmt.Sprint(l.Prefixes())
	want := "[0.0.0.0/8 192.0.2.0/24 198.51.100.7/32 198.51.100.8/31 203.0.113.64/26 203.0.113.128/25 2001:db8:dead::/48]"
	if got != want {
		t.Errorf("Prefixes:\n%s\nwant\n%s", got, want)
	}
}

func TestParseIPListForms(t *testing.T) {
	l, err := ParseIPList("l", []byte("10.0.0.1 # inline comment\n\t10.0.0.0/30 ; SBL123\n192.0.2.10-192.0.2.20\n2001:db8::1-2001:db8::ff\n10.9.9.9/8\n0.0.0.0/0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !l.Contains(netip.MustParseAddr("192.0.2.15")) || !l.Contains(netip.MustParseAddr("2001:db8::80")) ||
		l.Contains(netip.MustParseAddr("2001:db8::100")) {
		t.Error("ranges are not looked up")
	}
	if got := fmt.Sprint(l.Prefixes()); !strings.HasPrefix(got, "[0.0.0.0/0 2001:db8::1/128 2001:db8::2/127") {
		t.Errorf("prefixes %s", got)
	}
	if l.Contains(netip.Addr{}) {
		t.Error("the zero address is on the list")
	}
}

func TestParseIPListErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.0.0.1\n300.1.1.1\n", `l:2:1: "300.1.1.1" is not an IP address, CIDR or range`},
		{"  10.0.0.0/33\n", `l:1:3: "10.0.0.0/33" is not`},
		{"10.0.0.1 10.0.0.2\n", `l:1:9: unexpected text after "10.0.0.1"`},
		{"10.0.0.9-10.0.0.1\n", `l:1:1: "10.0.0.9-10.0.0.1" is not`},
		{"10.0.0.1-2001:db8::1\n", `is not an IP address`},
		{"fe80::1%eth0\n", `"fe80::1%eth0" is not`},
	}
	for _, tt := range tests {
		_, err := ParseIPList("l", []byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseIPList(%q): %v, want %q", tt.in, err, tt.want)
		}
	}
}

// TestIPListAgainstLinearScan checks lookups in a random list against
// checking every prefix.
func TestIPListAgainstLinearScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var prefixes []netip.Prefix
	var b strings.Builder
	for range 2000 {
		p := randomPrefix(r)
		prefixes = append(prefixes, p)
		b.WriteString(p.String() + "\n")
	}
	l, err := ParseIPList("random", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	for range 20000 {
		a := randomAddr(r)
		want := slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
		if got := l.Contains(a); got != want {
			t.Fatalf("Contains(%s) = %v, want %v", a, got, want)
		}
	}
	// Prefixes covers exactly the same addresses.
	again := newIPList("again", l.Prefixes())
	if !slices.Equal(again.v4, l.v4) || !slices.Equal(again.v6, l.v6) {
		t.Error("Prefixes does not cover the list exactly")
	}
}

func randomAddr(r *rand.Rand) netip.Addr {
	if r.IntN(4) > 0 {
		// Mostly 10.0.0.0/12, so random prefixes overlap and lookups hit.
		return netip.AddrFrom4([4]byte{10, byte(r.IntN(16)), byte(r.IntN(256)), byte(r.IntN(256))})
	}
	var b [16]byte
	b[0], b[1], b[2] = 0x20, 0x01, byte(r.IntN(4))
	for i := 3; i < 16; i++ {
		b[i] = byte(r.IntN(256))
	}
	return netip.AddrFrom16(b)
}

func randomPrefix(r *rand.Rand) netip.Prefix {
	a := randomAddr(r)
	bits := 12 + r.IntN(21)
	if a.Is6() {
		bits = 14 + r.IntN(115)
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// BenchmarkIPListContains looks addresses up in a 50,000-entry list.
func BenchmarkIPListContains(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var sb strings.Builder
	for range 50000 {
		sb.WriteString(netip.AddrFrom4([4]byte{byte(r.IntN(224)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}).String())
		if r.IntN(2) == 0 {
			sb.WriteString("/" + itoa(16+r.IntN(17)))
		}
		sb.WriteByte('\n')
	}
	data := []byte(sb.String())
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := ParseIPList("bench", data); err != nil {
				b.Fatal(err)
			}
		}
	})
	l, err := ParseIPList("bench", data)
	if err != nil {
		b.Fatal(err)
	}
	addrs := make([]netip.Addr, 1024)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
	}
	b.Run("lookup", func(b *testing.B) {
		i := 0
		for b.Loop() {
			l.Contains(addrs[i&1023])
			i++
		}
	})
}
