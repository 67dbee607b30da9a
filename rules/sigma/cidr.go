package sigma

import (
	"net/netip"
	"strconv"
	"strings"
)

// cidrCmp matches IPv4 addresses of a network with globs, one per value
// of the network's partial octet; the text of an IPv6 address has several
// forms, so IPv6 networks are not translated.
func (t *ruleTranslator) cidrCmp(key string, f fieldRef, s string) ([]cmp, *problem) {
	pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return nil, fail(ReasonInvalid, "%q: %q is not a network: %v", key, s, err)
	}
	if !pfx.Addr().Is4() {
		return nil, fail(ReasonModifier, "%q: %s is an IPv6 network; addresses are matched as text, and IPv6 text has several forms", key, s)
	}
	pfx = pfx.Masked()
	field := t.stringField(f)
	oct := pfx.Addr().As4()
	full, rem := pfx.Bits()/8, pfx.Bits()%8
	prefix := func(n int) string {
		var parts []string
		for i := 0; i < n; i++ {
			parts = append(parts, strconv.Itoa(int(oct[i])))
		}
		return strings.Join(parts, ".")
	}
	tail := func(n int) string { // the glob for octets n+1..4
		return strings.Repeat(".*", 3-n)
	}
	if rem == 0 {
		if full == 0 {
			return []cmp{{field: field, op: "glob", val: "*.*.*.*"}}, nil
		}
		return []cmp{{field: field, op: "glob", val: prefix(full) + tail(full-1)}}, nil
	}
	var cs []cmp
	base := int(oct[full])
	for v := base; v < base+1<<(8-rem); v++ {
		head := strconv.Itoa(v)
		if full > 0 {
			head = prefix(full) + "." + head
		}
		cs = append(cs, cmp{field: field, op: "glob", val: head + tail(full)})
	}
	return cs, nil
}
