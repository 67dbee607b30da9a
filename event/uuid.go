package event

import "github.com/google/uuid"

// NewUUID returns a new id for an alert or an incident: a version 7 UUID,
// which begins with the time it was made (in milliseconds) and is random
// after that, and which sorts after every id this process made before it.
// The console keeps its alerts' ids in a B-tree; ids that grow are added
// at its right end, as its times are, where PostgreSQL inserts without
// descending the tree and a few pages stay hot, instead of at a random
// leaf of an index that, over weeks of alerts, no longer fits in memory.
func NewUUID() string {
	return uuid.Must(uuid.NewV7()).String()
}
