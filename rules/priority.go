package rules

import (
	"fmt"
	"strings"
)

// Priority is a rule's severity, most severe first as in syslog.
type Priority int

const (
	PriorityEmergency Priority = iota
	PriorityAlert
	PriorityCritical
	PriorityError
	PriorityWarning
	PriorityNotice
	PriorityInformational
	PriorityDebug
)

var priorityNames = [...]string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}

func (p Priority) String() string {
	if p >= 0 && int(p) < len(priorityNames) {
		return priorityNames[p]
	}
	return fmt.Sprintf("Priority(%d)", int(p))
}

// ParsePriority parses a priority name, ignoring case; "info" is accepted
// for Informational.
func ParsePriority(s string) (Priority, error) {
	if strings.EqualFold(s, "info") {
		return PriorityInformational, nil
	}
	for i, n := range priorityNames {
		if strings.EqualFold(s, n) {
			return Priority(i), nil
		}
	}
	return 0, fmt.Errorf("unknown priority %q, expected one of %s", s, strings.Join(priorityNames[:], ", "))
}
