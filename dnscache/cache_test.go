package dnscache

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
)

var t0 = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

func TestNamesFromAResponse(t *testing.T) {
	c := New(Config{MinTTL: 10 * time.Second})
	c.Add(&event.DNSReply{Question: "Miner.Example.com", Type: "A", Answers: []event.DNSAnswer{
		{Name: "Miner.Example.com", Type: "CNAME", Data: "edge.cdn.example", TTL: 300},
		{Name: "edge.cdn.example", Type: "CNAME", Data: "pool.example.net", TTL: 300},
		{Name: "pool.example.net", Type: "A", Data: "198.51.100.7", TTL: 60},
		{Name: "pool.example.net", Type: "AAAA", Data: "2001:db8::7", TTL: 5},
	}}, t0)
	a := netip.MustParseAddr("198.51.100.7")
	if got := c.Names(nil, a, t0.Add(time.Second)); !slices.Equal(got, []string{"pool.example.net", "edge.cdn.example", "miner.example.com"}) {
		t.Errorf("names %q", got)
	}
	// The TTL is kept, above the floor.
	if got := c.Names(nil, a, t0.Add(61*time.Second)); len(got) != 0 {
		t.Errorf("after the TTL: %q", got)
	}
	v6 := netip.MustParseAddr("2001:db8::7")
	if got := c.Names(nil, v6, t0.Add(9*time.Second)); len(got) != 3 {
		t.Errorf("a 5 s TTL is kept at least 10 s: %q", got)
	}
	if got := c.Names(nil, netip.MustParseAddr("::ffff:198.51.100.7"), t0); len(got) != 3 {
		t.Errorf("a mapped address is the IPv4 one: %q", got)
	}
	if got := c.Names(nil, netip.MustParseAddr("198.51.100.9"), t0); len(got) != 0 {
		t.Errorf("an address never answered: %q", got)
	}
}

// TestBounds fills the cache past its bounds: it forgets the addresses
// named longest ago, and keeps the most recent names of each.
func TestBounds(t *testing.T) {
	c := New(Config{MaxAddrs: 100, MaxNames: 2})
	for i := range 1000 {
		c.Add(&event.DNSReply{Question: fmt.Sprintf("h%d.example", i), Answers: []event.DNSAnswer{
			{Name: fmt.Sprintf("h%d.example", i), Type: "A", Data: fmt.Sprintf("10.0.%d.%d", i/256, i%256), TTL: 3600},
		}}, t0)
		// One address keeps being renamed.
		c.Add(&event.DNSReply{Question: fmt.Sprintf("n%d.example", i), Answers: []event.DNSAnswer{
			{Name: fmt.Sprintf("n%d.example", i), Type: "A", Data: "192.0.2.1", TTL: 3600},
		}}, t0)
	}
	if n := c.Len(); n != 100 {
		t.Errorf("%d addresses kept, want 100", n)
	}
	if got := c.Names(nil, netip.MustParseAddr("10.0.3.231"), t0); !slices.Equal(got, []string{"h999.example"}) {
		t.Errorf("the newest address: %q", got)
	}
	if got := c.Names(nil, netip.MustParseAddr("10.0.0.1"), t0); len(got) != 0 {
		t.Errorf("the oldest address is still named %q", got)
	}
	if got := c.Names(nil, netip.MustParseAddr("192.0.2.1"), t0); !slices.Equal(got, []string{"n999.example", "n998.example"}) {
		t.Errorf("the renamed address: %q", got)
	}
	if len(c.order) > 4*100 {
		t.Errorf("the eviction order grew to %d", len(c.order))
	}
}
