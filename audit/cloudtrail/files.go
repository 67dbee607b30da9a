package cloudtrail

import "github.com/mamori-dev/mamori/audit/auditlog"

// LogFiles lists the files ReadPaths would read for paths, in the same
// order, reporting paths that cannot be read to bad. A caller that wants
// to know the work ahead (a progress bar's total) lists them first and
// reads each with ReadFile.
func LogFiles(paths []string, bad func(*Error)) []string {
	return auditlog.Files(paths, isLogName, LogNames, bad)
}
