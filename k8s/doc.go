// Package k8s owns mamori's objects in a Kubernetes API server: the
// CustomResourceDefinitions of RuntimePolicy and ImageAssurancePolicy
// (their schemas derived from package policy's types), and PolicySync,
// which watches those objects through client-go informers, writes them as
// policy files for the agent or the admission webhook, has the caller
// load them, and reports in each object's status what this node made of
// it.
//
// It must not judge a policy itself (package policy does) nor run on an
// event path: it only writes files and status when objects change.
package k8s
