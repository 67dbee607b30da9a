package learn

import (
	"bufio"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Addresses returns the IPv4 and IPv6 addresses of the network namespace
// process pid is in, loopback and link-local left out: what a container
// is reached at. It reads /proc/PID/net/fib_trie (the local routes) and
// /proc/PID/net/if_inet6.
func Addresses(pid uint32) []string {
	base := "/proc/" + strconv.FormatUint(uint64(pid), 10) + "/net/"
	var out []string
	add := func(a netip.Addr) {
		if !a.IsValid() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() {
			return
		}
		s := a.String()
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	if f, err := os.Open(base + "fib_trie"); err == nil {
		// An address is a leaf "|-- A.B.C.D" followed by "/32 host LOCAL".
		sc := bufio.NewScanner(f)
		var last string
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			switch {
			case strings.HasPrefix(line, "|-- "):
				last = strings.TrimPrefix(line, "|-- ")
			case strings.HasPrefix(line, "/32 host LOCAL") && last != "":
				a, _ := netip.ParseAddr(last)
				add(a)
			}
		}
		f.Close()
	}
	if f, err := os.Open(base + "if_inet6"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 0 || len(fields[0]) != 32 {
				continue
			}
			var b [16]byte
			ok := true
			for i := range 16 {
				v, err := strconv.ParseUint(fields[0][2*i:2*i+2], 16, 8)
				ok = ok && err == nil
				b[i] = byte(v)
			}
			if ok {
				add(netip.AddrFrom16(b))
			}
		}
		f.Close()
	}
	return out
}
