// Package proctree owns mamori's view of the process tree: for every live
// process (tgid) what its latest exec said and who its parent is, seeded from
// /proc at start-up and kept current by the sensor's exec, fork and exit
// events. Enrichment asks it to fill in what the kernel did not send with an
// event (exe, args, cwd of the acting process) and the chain of ancestors.
//
// It reads event.Event and /proc; it must not know about BPF, containers,
// rules or outputs, and it never writes to /proc.
//
// The agent calls Update then Enrich for each event from one goroutine; Lookup,
// Stats and Prune may be called from others. Slices handed out by Enrich and Lookup
// (Args) are shared with the tree and must be treated as read-only.
package proctree
