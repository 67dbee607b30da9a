package s3live

import (
	"fmt"
	"strings"
)

// ParseURL splits s3://bucket/prefix into its bucket and key prefix. The
// prefix may be empty (the whole bucket); it is kept as written, so that
// s3://b/AWSLogs/ and s3://b/AWSLogs differ as they do in S3.
func ParseURL(s string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an S3 URL: write s3://BUCKET/PREFIX", s)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket: write s3://BUCKET/PREFIX", s)
	}
	return bucket, prefix, nil
}

// IsURL reports whether s names an S3 location rather than a local path.
func IsURL(s string) bool { return strings.HasPrefix(s, "s3://") }
