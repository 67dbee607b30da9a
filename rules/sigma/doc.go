// Package sigma translates Sigma rules for cloud audit logs into Falco rules,
// so that one engine (package rules) evaluates both.
//
// It owns the reading of Sigma documents (detections, selections, value
// modifiers, wildcards and condition expressions), the mapping of the
// fields of the aws/cloudtrail and kubernetes/audit log sources onto the
// fields of Falco's aws_cloudtrail and k8s_audit sources, and the report of
// what cannot be translated and why. It emits Falco rules-file YAML that
// rules.Load compiles; it must not evaluate events itself, know how records
// are read, or print: the report is returned to the caller.
package sigma
