package sbom

import (
	"context"
	"io/fs"
)

// extractRPM lists nothing yet: reading the rpm database (Berkeley DB, NDB
// or SQLite) comes next.
func extractRPM(ctx context.Context, fsys fs.FS, d distro, errs *fileErrors) []Package {
	return nil
}
