// Package k8saudit reads Kubernetes audit events and is the field
// catalogue of Falco's "k8s_audit" source over them, so that upstream
// Falco k8s_audit rules, and mamori's own, run on a cluster's audit log.
//
// It owns the reading of audit log files (one event per line, an
// audit.k8s.io/v1 EventList, gzip of either), the audit webhook that
// kube-apiserver's webhook backend posts EventLists to, and the meaning of
// the ka.*, jevt.*, json.* and evt.* fields. File reading, JSON access and
// the alerts' shape are shared with the other audit logs in
// audit/auditlog; the rule language lives in package rules. It must not
// print, or decide what a caller does with errors and alerts.
package k8saudit
