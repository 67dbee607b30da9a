package store

import (
	"context"
	"errors"
)

// OpenPostgres connects to the PostgreSQL database at url.
func OpenPostgres(ctx context.Context, url string) (Store, error) {
	return nil, errors.New("the PostgreSQL store is not built yet")
}
