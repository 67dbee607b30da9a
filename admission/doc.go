// Package admission owns mamori's Kubernetes admission control: the
// conversion of Pods and of the workload kinds that hold a pod template
// (Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController,
// Job, CronJob) into workload.Spec, the ValidatingAdmissionWebhook that
// answers AdmissionReview v1 requests over HTTPS with the verdict of the
// runtime policies, and the reading of manifest files (multi-document
// YAML, List kinds) with the line of every field for `mamori check`.
//
// The checks themselves belong to package workload and the policies to
// package policy; this package only translates Kubernetes objects and
// answers the API server. It must not be imported by the node agent's
// per-event path: it pulls in the Kubernetes API types.
package admission
