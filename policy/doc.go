// Package policy owns mamori's runtime policies: the RuntimePolicy document
// (apiVersion mamori.dev/v1) and its strict decoding, the controls it can
// set, the scope that says which containers and hosts it applies to, the
// merge of every matching policy into one set of effective controls with
// where each setting came from, and the Store that reloads policies from
// disk without a restart.
//
// A caller loads a Set (Load) or a Store (Open), builds a Target for each
// container (TargetFromContainer plus the runtime facts it knows), and asks
// Set.Effective for the merged controls. Effective controls are computed
// when a container starts and when the Store swaps in a new Set, never per
// event.
//
// It must not enforce anything, read the kernel or talk to a container
// runtime: enforcers in enforce/ read the effective controls this package
// computes. It returns errors and never prints; the one logger it takes is
// for reloads that happen in the background.
package policy
