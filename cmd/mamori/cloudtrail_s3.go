package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
)

// defaultCloudtrailCheckpoint is where the agent records what it has read
// of the bucket, in the agent's state directory.
const defaultCloudtrailCheckpoint = "/var/lib/mamori/cloudtrail-checkpoint.json"

// cloudtrailFlags are the agent's flags for following CloudTrail in S3.
type cloudtrailFlags struct {
	url        string
	s3         s3Flags
	checkpoint string
	interval   time.Duration
	since      string
	cfg        s3Config // from check
}

func addCloudtrailFlags(fs *pflag.FlagSet) *cloudtrailFlags {
	f := &cloudtrailFlags{}
	fs.StringVar(&f.url, "cloudtrail", "", "follow the CloudTrail logs delivered to s3://BUCKET/PREFIX, evaluating each record with the\n"+
		"aws_cloudtrail rules (mamori's built-in ones, or those in --rules); credentials from the AWS environment"+cloudtrailLeanNote)
	fs.StringVar(&f.s3.region, "cloudtrail-region", "", "the bucket's AWS region; default AWS_REGION or the shared config")
	fs.StringVar(&f.s3.endpoint, "cloudtrail-endpoint", "", "URL of an S3-compatible store (MinIO, Ceph, Versity) instead of AWS")
	fs.StringVar(&f.checkpoint, "cloudtrail-checkpoint", defaultCloudtrailCheckpoint, "file recording what has been read of the bucket, so that a restart neither loses nor repeats a record")
	fs.DurationVar(&f.interval, "cloudtrail-interval", time.Minute, "how often to list the bucket for new log files")
	fs.StringVar(&f.since, "cloudtrail-since", "", "with no checkpoint yet, skip log files older than this: a duration (24h) or a time\n"+
		"(2024-08-01T00:00:00Z); default the bucket's whole history")
	return f
}

// s3Flags reach a bucket: its region, or an S3-compatible store.
type s3Flags struct{ region, endpoint string }

// builtinRules are the rules "builtin" adds for CloudTrail: mamori's own.
func (f *cloudtrailFlags) builtinRules() []rules.File {
	if f.url == "" {
		return nil
	}
	return []rules.File{defaults.CloudTrailFile()}
}

// parseSince reads a duration back from now, or a time.
func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (24h) nor a time (2024-08-01T00:00:00Z)", s)
	}
	return t, nil
}
