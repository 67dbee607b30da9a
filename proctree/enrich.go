package proctree

import "github.com/mamori-dev/mamori/event"

// Enrich fills in what e's acting process lacks (exe, args, cwd and the
// like, which the sensor sends only with exec) from the tree, and sets its
// Ancestors, nearest first, up to Config.MaxAncestors. The walk follows the
// event's own ppid, then the tree's, and stops after pid 1, at a process the
// tree does not know, or where the chain loops back on itself.
//
// If e.Process.Ancestors already has the capacity it is reused, so an agent
// that recycles its events enriches without allocating; otherwise Enrich
// makes one allocation of exactly the ancestors found.
func (t *Tree) Enrich(e *event.Event) {
	p := &e.Process
	var chain [MaxAncestorsLimit]*entry
	n := 0

	t.mu.Lock()
	defer t.mu.Unlock()
	if en := t.procs[p.PID]; en != nil && p.PID != 0 {
		en.complete(p)
	}
	for ppid := p.PPID; ppid != 0 && n < t.cfg.MaxAncestors; {
		if ppid == p.PID || inChain(chain[:n], ppid) {
			break // a loop: stale or reused pids in the tree
		}
		a := t.procs[ppid]
		if a == nil {
			break
		}
		chain[n] = a
		n++
		if ppid == 1 {
			break
		}
		ppid = a.ppid
	}

	anc := p.Ancestors[:0] // empty keeps its capacity and still marshals as omitted
	if cap(anc) < n {
		anc = make([]event.Process, n)
	}
	anc = anc[:n]
	for i, a := range chain[:n] {
		a.fill(&anc[i])
	}
	p.Ancestors = anc
}

func inChain(chain []*entry, pid uint32) bool {
	for _, a := range chain {
		if a.pid == pid {
			return true
		}
	}
	return false
}
