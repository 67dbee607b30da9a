// Package runtimehook refuses containers when they are created, before
// their entrypoint runs, on nodes without a Kubernetes admission webhook or
// beside one: an OCI runtime hook (stage createRuntime) asks the node agent
// over a local socket whether the container may run, and the agent judges
// the container's OCI configuration with the same checks as admission
// (package workload).
//
// It owns the hook's wire protocol (Ask, Handler), the hooks.d file that
// registers the hook with podman and CRI-O (HookFile), and the mapping of
// an OCI runtime configuration (config.json) onto a workload.Spec (Spec).
// It must not decide policy (the agent does), resolve container metadata
// beyond the configuration and annotations it is given, or print.
//
// # Failure policy
//
// The hook fails open by default: if the agent cannot be reached within
// the timeout, the container starts and the hook says so on stderr (which
// the runtime logs). With --fail-closed it fails the container's creation
// instead. Either way the runtime waits at most the hook's timeout.
package runtimehook
