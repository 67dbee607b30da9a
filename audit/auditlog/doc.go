// Package auditlog holds what the readers of audit logs (CloudTrail,
// Kubernetes audit) share: reading log files and folders, gzip and all,
// into JSON values with errors that say which file and record was bad;
// a scanner that splits a log into its records' JSON texts without
// decoding them, and the Object that decodes a record only as far as it
// is read; access to values inside a JSON record (keys, RFC 6901
// pointers, Falco's text rendering); and the Detector that shows a record
// to the rules that can match it and turns a match into an alert.
//
// It knows no log format: deciding what a record is, and the meaning of
// any field, belongs to the package of each source. It must not print,
// fetch logs from anywhere but the paths it is given, or decide what a
// caller does with errors and alerts.
package auditlog
