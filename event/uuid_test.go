package event

import (
	"testing"

	"github.com/google/uuid"
)

func TestNewUUIDGrows(t *testing.T) {
	prev := NewUUID()
	for i := 0; i < 20000; i++ {
		id := NewUUID()
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("NewUUID() = %q: want an RFC 4122 version 7 UUID (err %v)", id, err)
		}
		if id <= prev {
			t.Fatalf("NewUUID() = %s after %s: ids must grow", id, prev)
		}
		prev = id
	}
}
