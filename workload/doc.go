// Package workload owns the normalized description of a workload about to
// run (Spec: a pod's containers with their security settings, its host
// namespaces and its volumes) and the checks of the pre-run policy
// controls against it (Check, Evaluate): Limit Container Privileges,
// Prevent Override of Default Configurations, Volumes Blocklist, Host
// Path Volumes, Read-only Root Filesystem, Block Privilege Escalation,
// Image References, Block Unregistered Images and Block Non-compliant
// Images.
//
// Producers turn their own input into a Spec: the admission webhook and
// `mamori check` from Kubernetes objects, a runtime hook from an OCI
// config. Each field of a Spec may carry the path of the field it came
// from, so that a finding points at the line to fix.
//
// It must not import Kubernetes or container runtime packages, talk to a
// cluster or a runtime, or decide what to do with a finding: callers
// refuse or report according to the finding's mode.
package workload
