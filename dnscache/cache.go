// Package dnscache keeps the names of addresses as DNS responses seen on
// the node gave them, for Falco's fd.sip.name and the like: a program that
// resolved pool.example.com and connected to one of its addresses is known
// to have connected to pool.example.com. It owns the cache and its bounds;
// it must not capture or parse anything itself.
package dnscache

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// Config bounds the cache.
type Config struct {
	// MaxAddrs is how many addresses it keeps names of; the one named
	// longest ago goes first. 0 means 16384.
	MaxAddrs int
	// MaxNames is how many names it keeps per address, the most recent
	// first. 0 means 4.
	MaxNames int
	// MinTTL is the least time a name is kept: programs connect some time
	// after they resolve, and records with TTLs of seconds are common.
	// 0 means 2 minutes.
	MinTTL time.Duration
	// MaxTTL is the most. 0 means a day.
	MaxTTL time.Duration
}

// Cache maps addresses to the names DNS answered them for. It is safe for
// concurrent use.
type Cache struct {
	cfg   Config
	mu    sync.Mutex
	addrs map[netip.Addr]*entry
	// order holds the addresses by when they were last named, oldest
	// first; stale keys (renamed since) are skipped when evicting.
	order []key
	seq   uint64 // counts namings
}

type key struct {
	addr netip.Addr
	seq  uint64
}

type entry struct {
	names []name // most recent first
	seq   uint64 // of the last naming
}

type name struct {
	name    string
	expires time.Time
}

// New returns an empty cache.
func New(cfg Config) *Cache {
	if cfg.MaxAddrs <= 0 {
		cfg.MaxAddrs = 16384
	}
	if cfg.MaxNames <= 0 {
		cfg.MaxNames = 4
	}
	if cfg.MinTTL <= 0 {
		cfg.MinTTL = 2 * time.Minute
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = 24 * time.Hour
	}
	return &Cache{cfg: cfg, addrs: map[netip.Addr]*entry{}}
}

// Add learns from a DNS response received at at: each address answered is
// named by the question (what the program asked for) and by every name on
// the alias chain to it, for the answer's TTL (within the configured
// bounds).
func (c *Cache) Add(r *event.DNSReply, at time.Time) {
	if r == nil || len(r.Answers) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range r.Answers {
		if a.Type != "A" && a.Type != "AAAA" {
			continue
		}
		addr, err := netip.ParseAddr(a.Data)
		if err != nil {
			continue
		}
		ttl := min(max(time.Duration(a.TTL)*time.Second, c.cfg.MinTTL), c.cfg.MaxTTL)
		for _, n := range aliasChain(r, a.Name) {
			c.add(addr.Unmap(), strings.ToLower(n), at.Add(ttl))
		}
	}
}

// aliasChain returns the names that lead to owner through the response's
// CNAMEs, the question first when it does, and owner.
func aliasChain(r *event.DNSReply, owner string) []string {
	chain := []string{owner}
	for range len(r.Answers) {
		prev := ""
		for _, a := range r.Answers {
			if a.Type == "CNAME" && strings.EqualFold(a.Data, chain[0]) && !slices.Contains(chain, a.Name) {
				prev = a.Name
				break
			}
		}
		if prev == "" {
			break
		}
		chain = append([]string{prev}, chain...)
	}
	return chain
}

func (c *Cache) add(addr netip.Addr, n string, expires time.Time) {
	c.seq++
	seq := c.seq
	e := c.addrs[addr]
	if e == nil {
		if len(c.addrs) >= c.cfg.MaxAddrs {
			c.evict()
		}
		e = &entry{}
		c.addrs[addr] = e
	}
	e.names = slices.DeleteFunc(e.names, func(x name) bool { return x.name == n })
	e.names = slices.Insert(e.names, 0, name{n, expires})
	if len(e.names) > c.cfg.MaxNames {
		e.names = e.names[:c.cfg.MaxNames]
	}
	e.seq = seq
	c.order = append(c.order, key{addr, seq})
	if len(c.order) > 4*c.cfg.MaxAddrs {
		c.compact()
	}
}

// evict drops the address named longest ago.
func (c *Cache) evict() {
	for len(c.order) > 0 {
		k := c.order[0]
		c.order = c.order[1:]
		if e := c.addrs[k.addr]; e != nil && e.seq == k.seq {
			delete(c.addrs, k.addr)
			return
		}
	}
}

// compact drops the stale keys of order.
func (c *Cache) compact() {
	kept := c.order[:0]
	for _, k := range c.order {
		if e := c.addrs[k.addr]; e != nil && e.seq == k.seq {
			kept = append(kept, k)
		}
	}
	c.order = slices.Clip(kept)
}

// Names returns the names of addr still valid at at, the most recent
// first, appended to dst.
func (c *Cache) Names(dst []string, addr netip.Addr, at time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.addrs[addr.Unmap()]
	if e == nil {
		return dst
	}
	for _, n := range e.names {
		if at.Before(n.expires) {
			dst = append(dst, n.name)
		}
	}
	return dst
}

// Len returns how many addresses the cache names.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.addrs)
}
