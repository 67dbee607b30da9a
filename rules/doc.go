// Package rules loads Falco rule files and evaluates their conditions.
//
// It owns the Falco rules-file semantics (lists, macros, rules, exceptions,
// append and override, versions), the compilation of conditions into typed
// evaluation nodes, the event-type index and the rendering of outputs. The
// condition syntax itself lives in package rules/condition.
//
// It must not know about any particular event: every field comes from a
// Catalog that the caller supplies for each event source, and events are
// opaque values handed back to the catalogue's extractors. It does not print,
// log or read configuration; warnings and errors are returned to the caller.
package rules
