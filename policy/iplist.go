package policy

import (
	"bufio"
	"bytes"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
)

// IPList is a set of IPv4 and IPv6 addresses held as sorted, disjoint
// ranges: a lookup is a binary search, whatever mix of addresses, CIDRs and
// ranges the list was written with.
type IPList struct {
	Name    string
	entries int // lines with an address, as written
	v4, v6  []ipRange
}

// ipRange is an inclusive range of addresses; IPv4 addresses sit in the
// low 32 bits.
type ipRange struct{ lo, hi u128 }

type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func (a u128) inc() u128 {
	lo, carry := bits.Add64(a.lo, 1, 0)
	return u128{a.hi + carry, lo}
}

func addrU128(a netip.Addr) u128 {
	b := a.As16()
	var u u128
	for i := range 8 {
		u.hi = u.hi<<8 | uint64(b[i])
		u.lo = u.lo<<8 | uint64(b[8+i])
	}
	if a.Is4() {
		u.hi, u.lo = 0, u.lo&0xffffffff
	}
	return u
}

// prefixRange is the first and last address of a prefix.
func prefixRange(p netip.Prefix) ipRange {
	p = p.Masked()
	lo := addrU128(p.Addr())
	host := p.Addr().BitLen() - p.Bits()
	hi := lo
	switch {
	case host >= 128:
		hi = u128{^uint64(0), ^uint64(0)}
	case host >= 64:
		hi.lo = ^uint64(0)
		hi.hi |= 1<<(host-64) - 1
	default:
		hi.lo |= 1<<host - 1
	}
	return ipRange{lo, hi}
}

// ParseIPList reads a block list: one IPv4 or IPv6 address, CIDR or range
// ("192.0.2.10-192.0.2.20") per line; '#' and ';' start comments; blank
// lines are skipped. This covers plain lists and FireHOL's .netset and
// .ipset files. Host bits in a CIDR are ignored (feeds write them).
func ParseIPList(name string, data []byte) (*IPList, error) {
	var errs errorList
	var v4, v6 []ipRange
	entries := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexAny(text, "#;"); i >= 0 {
			text = text[:i]
		}
		tok := strings.TrimSpace(text)
		if tok == "" {
			continue
		}
		pos := Position{File: name, Line: line, Col: strings.Index(text, tok) + 1}
		if i := strings.IndexAny(tok, " \t"); i >= 0 {
			errs.addf(Position{File: name, Line: line, Col: pos.Col + i}, "unexpected text after %q; one address, CIDR or range per line, comments start with '#'", tok[:i])
			continue
		}
		r, is4, ok := parseRange(tok)
		if !ok {
			errs.addf(pos, "%q is not an IP address, CIDR or range; fix or delete the line", tok)
			continue
		}
		entries++
		if is4 {
			v4 = append(v4, r)
		} else {
			v6 = append(v6, r)
		}
	}
	if err := sc.Err(); err != nil {
		errs.addf(Position{File: name, Line: line + 1, Col: 1}, "cannot read the list: %v", err)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return &IPList{Name: name, entries: entries, v4: normalise(v4), v6: normalise(v6)}, nil
}

func parseRange(tok string) (r ipRange, is4, ok bool) {
	if a, b, found := strings.Cut(tok, "-"); found {
		lo, err1 := netip.ParseAddr(a)
		hi, err2 := netip.ParseAddr(b)
		if err1 != nil || err2 != nil || lo.Zone() != "" || hi.Zone() != "" {
			return r, false, false
		}
		lo, hi = lo.Unmap(), hi.Unmap()
		if lo.Is4() != hi.Is4() || hi.Less(lo) {
			return r, false, false
		}
		return ipRange{addrU128(lo), addrU128(hi)}, lo.Is4(), true
	}
	p, err := parsePrefix(tok)
	if err != nil || p.Addr().Zone() != "" {
		return r, false, false
	}
	return prefixRange(p), p.Addr().Is4(), true
}

// normalise sorts ranges and joins overlapping and adjacent ones.
func normalise(rs []ipRange) []ipRange {
	slices.SortFunc(rs, func(a, b ipRange) int {
		if a.lo.less(b.lo) {
			return -1
		}
		if b.lo.less(a.lo) {
			return 1
		}
		return 0
	})
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			max := last.hi == u128{^uint64(0), ^uint64(0)}
			if max || !last.hi.inc().less(r.lo) {
				if last.hi.less(r.hi) {
					last.hi = r.hi
				}
				continue
			}
		}
		out = append(out, r)
	}
	return slices.Clip(out)
}

func newIPList(name string, prefixes []netip.Prefix) *IPList {
	var v4, v6 []ipRange
	for _, p := range prefixes {
		if p.Addr().Is4() {
			v4 = append(v4, prefixRange(p))
		} else {
			v6 = append(v6, prefixRange(p))
		}
	}
	return &IPList{Name: name, entries: len(prefixes), v4: normalise(v4), v6: normalise(v6)}
}

// Contains reports whether addr is on the list. IPv4-mapped IPv6 addresses
// are looked up as IPv4.
func (l *IPList) Contains(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	rs := l.v6
	if addr.Is4() {
		rs = l.v4
	}
	u := addrU128(addr)
	// The first range whose end is not below u.
	i, _ := slices.BinarySearchFunc(rs, u, func(r ipRange, u u128) int {
		if r.hi.less(u) {
			return -1
		}
		return 1
	})
	return i < len(rs) && !u.less(rs[i].lo)
}

// Entries is how many addresses, CIDRs and ranges the list was written
// with; Ranges how many disjoint ranges they make.
func (l *IPList) Entries() int { return l.entries }
func (l *IPList) Ranges() int  { return len(l.v4) + len(l.v6) }

// Prefixes returns the smallest set of CIDRs covering the list, as a
// kernel LPM trie map wants them.
func (l *IPList) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, r := range l.v4 {
		out = appendPrefixes(out, r, 32)
	}
	for _, r := range l.v6 {
		out = appendPrefixes(out, r, 128)
	}
	return out
}

// appendPrefixes splits a range into CIDRs: at each step the largest
// aligned block that starts at lo and does not pass hi.
func appendPrefixes(out []netip.Prefix, r ipRange, width int) []netip.Prefix {
	lo, hi := r.lo, r.hi
	for {
		host := trailingZeros(lo, width)
		for host > 0 && hi.less(blockEnd(lo, host)) {
			host--
		}
		out = append(out, netip.PrefixFrom(u128Addr(lo, width), width-host))
		end := blockEnd(lo, host)
		if end == hi {
			return out
		}
		lo = end.inc()
	}
}

func trailingZeros(u u128, width int) int {
	var n int
	if u.lo == 0 {
		n = 64 + bits.TrailingZeros64(u.hi)
	} else {
		n = bits.TrailingZeros64(u.lo)
	}
	return min(n, width)
}

// blockEnd is the last address of the 2^host block starting at lo.
func blockEnd(lo u128, host int) u128 {
	switch {
	case host >= 128:
		return u128{^uint64(0), ^uint64(0)}
	case host >= 64:
		return u128{lo.hi | (1<<(host-64) - 1), ^uint64(0)}
	default:
		return u128{lo.hi, lo.lo | (1<<host - 1)}
	}
}

func u128Addr(u u128, width int) netip.Addr {
	if width == 32 {
		return netip.AddrFrom4([4]byte{byte(u.lo >> 24), byte(u.lo >> 16), byte(u.lo >> 8), byte(u.lo)})
	}
	var b [16]byte
	for i := range 8 {
		b[i] = byte(u.hi >> (56 - 8*i))
		b[8+i] = byte(u.lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b)
}
