//go:build !agentonly

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mamori-dev/mamori/audit/cloudtrail"
	"github.com/mamori-dev/mamori/audit/cloudtrail/s3live"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// s3Config is how the follower reaches its bucket (s3live, with the AWS
// SDK: not in the lean node agent, cloudtrail_s3_agentonly.go).
type s3Config = s3live.Config

// cloudtrailLeanNote is what --cloudtrail's help adds in the lean agent;
// auditExample is the agent's example of following audit logs.
const (
	cloudtrailLeanNote = ""
	auditExample       = "\n  sudo mamori agent --cloudtrail s3://trail-bucket/AWSLogs/ --k8s-audit-listen :9443"
)

func (f s3Flags) config(url string) (s3live.Config, error) {
	bucket, prefix, err := s3live.ParseURL(url)
	if err != nil {
		return s3live.Config{}, usageError{err.Error()}
	}
	return s3live.Config{Bucket: bucket, Prefix: prefix, Region: f.region, Endpoint: f.endpoint}, nil
}

// cloudtrailFollower evaluates the records of a bucket as they arrive and
// raises their alerts with the agent's (or the console's) other alerts.
type cloudtrailFollower struct {
	src   *s3live.Source
	det   *cloudtrail.Detector
	alert func(*event.Alert) error
	log   *slog.Logger
}

// check refuses flags that cannot work, before the agent starts anything;
// it fills f.cfg for open.
func (f *cloudtrailFlags) check(rs *rules.Ruleset, stderr io.Writer) error {
	if f.url == "" {
		return nil
	}
	var err error
	if f.cfg, err = f.s3.config(f.url); err != nil {
		return err
	}
	if rs == nil {
		return usageError{"--cloudtrail evaluates records with rules: it cannot be used with --rules none"}
	}
	if f.interval < time.Second {
		return usageError{"--cloudtrail-interval: must be at least 1s"}
	}
	if f.cfg.Since, err = parseSince(f.since); err != nil {
		return usageError{"--cloudtrail-since: " + err.Error()}
	}
	if err := reportCloudtrailRules(stderr, rs); err != nil {
		return fmt.Errorf("--cloudtrail: %w", err)
	}
	f.cfg.Checkpoint, f.cfg.Interval = f.checkpoint, f.interval
	return nil
}

// open connects to the bucket and takes the checkpoint; nil without
// --cloudtrail. Alerts go to alert, from hostname node; sync, when set,
// makes them durable before the checkpoint passes their record.
func (f *cloudtrailFlags) open(rs *rules.Ruleset, alert func(*event.Alert) error, sync func() error, all bool, node string, log *slog.Logger) (*cloudtrailFollower, error) {
	if f.url == "" {
		return nil, nil
	}
	if node == "" {
		node, _ = os.Hostname()
	}
	log = log.With("part", "cloudtrail")
	f.cfg.Sync = sync // a record's alerts are out before the checkpoint passes it
	// The stateful rules' memory, the ECR tags and the admin groups are
	// saved in the checkpoint, in step with the records it says are read.
	det := cloudtrail.NewDetector(rs, cloudtrail.DetectorConfig{All: all, Hostname: node})
	f.cfg.State = det
	src, err := s3live.Open(context.Background(), f.cfg, log)
	if err != nil {
		return nil, fmt.Errorf("--cloudtrail: %w", err)
	}
	log.Info("following CloudTrail", "location", src.Location(), "checkpoint", f.cfg.Checkpoint, "interval", f.cfg.Interval)
	return &cloudtrailFollower{
		src:   src,
		det:   det,
		alert: alert,
		log:   log,
	}, nil
}

// start follows the bucket until ctx ends or the returned stop is called;
// stop waits for the checkpoint to be saved. A nil follower does nothing.
func (c *cloudtrailFollower) start(ctx context.Context) (stop func()) {
	if c == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer c.src.Close()
		if err := c.src.Run(ctx, c.evaluate, func(e *cloudtrail.Error) {
			c.log.Warn("unreadable CloudTrail log skipped", "err", e)
		}); err != nil {
			c.log.Error("stopped following CloudTrail", "err", err)
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// evaluate runs one record through the rules; the record is acknowledged
// (the checkpoint moves past it) only when its alerts are written.
func (c *cloudtrailFollower) evaluate(r *cloudtrail.Record) error {
	var werr error
	c.det.Detect(r, func(a *event.Alert) {
		if err := c.alert(a); err != nil && werr == nil {
			werr = fmt.Errorf("raise alert: %w", err)
		}
	})
	return werr
}

// splitS3 separates s3://BUCKET/PREFIX locations from local paths.
func splitS3(paths []string) (local, buckets []string) {
	for _, p := range paths {
		if s3live.IsURL(p) {
			buckets = append(buckets, p)
		} else {
			local = append(local, p)
		}
	}
	return local, buckets
}

// scanS3 reads every log object under url once, whole, with no
// checkpoint. A location that cannot be listed goes to bad, like a file.
func scanS3(ctx context.Context, url string, s3f s3Flags, fn func(*cloudtrail.Record), bad func(*cloudtrail.Error)) {
	cfg, err := s3f.config(url)
	if err == nil {
		var src *s3live.Source
		if src, err = s3live.Open(ctx, cfg, slog.New(slog.DiscardHandler)); err == nil {
			_, err = src.Poll(ctx, func(r *cloudtrail.Record) error { fn(r); return nil }, bad)
			src.Close()
		}
	}
	if err != nil {
		bad(&cloudtrail.Error{File: url, Record: -1, Err: err})
	}
}
