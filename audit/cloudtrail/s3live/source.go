package s3live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mamori-dev/mamori/audit/auditlog"
	"github.com/mamori-dev/mamori/audit/cloudtrail"
)

// Config says where the logs are and how to follow them.
type Config struct {
	Bucket string
	Prefix string // key prefix, e.g. AWSLogs/123456789012/CloudTrail/; "" for the whole bucket
	// Region is the bucket's region; "" takes the SDK's (AWS_REGION, the
	// shared config file), and us-east-1 with an Endpoint.
	Region string
	// Endpoint is the URL of an S3-compatible store (MinIO, Versity,
	// Ceph); it is addressed path-style. "" means AWS.
	Endpoint string
	// Credentials, when set, replace the SDK's default chain (environment,
	// shared files, instance role).
	Credentials aws.CredentialsProvider
	// Checkpoint is the file recording what has been read; "" keeps it in
	// memory, for a one-shot scan.
	Checkpoint string
	// Interval is how long Run waits between two polls; default a minute.
	Interval time.Duration
	// Since, for a checkpoint that does not exist yet, leaves out objects
	// modified at or before it; zero reads the bucket's whole history.
	Since time.Time
	// Sync, when set, is called before each save of the checkpoint: it
	// makes what the caller did with acknowledged records durable (flushes
	// buffered alerts), so that a crash cannot lose a record's alerts
	// after the checkpoint has moved past it.
	Sync func() error
	// State, when set, is what the caller remembers of the records it
	// acknowledged (a Detector's stateful rules): it is saved in the
	// checkpoint with every save, and given back from the checkpoint when
	// a Source opens, so that a restart neither forgets nor repeats.
	State State
}

// State is what a caller remembers of the records it acknowledged, as
// bytes the checkpoint keeps.
type State interface {
	MarshalState() ([]byte, error)
	UnmarshalState([]byte) error
}

// settle is how long after an object's modification time a new object
// with an earlier one may still appear in a listing (a long upload is
// stamped when it starts). Done objects older than that, counted from the
// newest object seen, are forgotten by key and covered by the horizon.
const settle = time.Hour

// saveEvery bounds how many acknowledged records a crash can repeat: the
// position in an object under way is saved at most this often, besides
// at the end of each object and when reading stops.
const saveEvery = time.Second

// Source follows one bucket and prefix. It is not safe for concurrent use.
type Source struct {
	cfg      Config
	location string
	log      *slog.Logger
	client   *s3.Client
	file     *checkpointFile
	cp       *checkpoint
	rd       cloudtrail.Reader
	lastSave time.Time
}

// Stats counts what one Poll did.
type Stats struct {
	Listed  int // log objects under the prefix
	Objects int // objects read to their end in this poll
	Records int // records handed to the caller and acknowledged
	Bad     int // objects and records reported as unreadable and skipped
	Failed  int // objects that could not be fetched; tried again next poll
}

// Open connects to the bucket, checks that it can be listed, and locks
// and reads the checkpoint. Close releases the checkpoint.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Source, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("no bucket named: write s3://BUCKET/PREFIX")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	s := &Source{cfg: cfg, location: "s3://" + cfg.Bucket + "/" + cfg.Prefix, log: log}
	var err error
	if s.client, err = newClient(ctx, cfg); err != nil {
		return nil, err
	}
	if s.file, s.cp, err = openCheckpoint(cfg.Checkpoint, s.location, cfg.Endpoint, cfg.Since); err != nil {
		return nil, err
	}
	if cfg.State != nil && len(s.cp.State) > 0 {
		if err := cfg.State.UnmarshalState(s.cp.State); err != nil {
			s.file.close()
			return nil, fmt.Errorf("checkpoint %s: %w: move it away to start over (every object is read again; --cloudtrail-since limits how far back)", cfg.Checkpoint, err)
		}
	}
	_, err = s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &cfg.Bucket, Prefix: &cfg.Prefix, MaxKeys: aws.Int32(1)})
	if err != nil {
		s.file.close()
		return nil, s.explain(err)
	}
	return s, nil
}

// Close releases the checkpoint file's lock.
func (s *Source) Close() { s.file.close() }

// Location is s3://bucket/prefix.
func (s *Source) Location() string { return s.location }

func newClient(ctx context.Context, cfg Config) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		if cfg.Endpoint == "" {
			return nil, errors.New("no AWS region for the bucket: give the region (e.g. --cloudtrail-region us-east-1) or set AWS_REGION")
		}
		awsCfg.Region = "us-east-1" // S3-compatible stores mostly ignore it, but it is signed
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
			// Not every S3-compatible store knows the SDK's newer
			// checksums; ask for them only where S3 requires them.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	}), nil
}

// Run polls at the configured interval until ctx ends, then saves the
// checkpoint and returns nil. A poll that fails (the store cannot be
// reached, fn refuses a record) is logged and tried again at the next
// interval, from the last acknowledged record. Only a checkpoint that
// cannot be saved ends Run with an error: going on would repeat records.
func (s *Source) Run(ctx context.Context, fn func(*cloudtrail.Record) error, bad func(*cloudtrail.Error)) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		st, err := s.Poll(ctx, fn, bad)
		if ctx.Err() != nil {
			return nil
		}
		var se *saveError
		switch {
		case errors.As(err, &se):
			return err
		case err != nil:
			s.log.Error("CloudTrail poll failed; trying again at the next poll", "location", s.location, "err", err, "retry_in", s.cfg.Interval)
		case st.Objects > 0 || st.Bad > 0 || st.Failed > 0:
			s.log.Info("CloudTrail poll", "location", s.location, "objects", st.Objects, "records", st.Records,
				"bad", st.Bad, "failed", st.Failed)
		default:
			s.log.Debug("CloudTrail poll: nothing new", "location", s.location, "listed", st.Listed)
		}
		t.Reset(s.cfg.Interval)
	}
}

// saveError is a checkpoint that could not be written.
type saveError struct{ err error }

func (e *saveError) Error() string { return e.err.Error() }
func (e *saveError) Unwrap() error { return e.err }

// Poll lists the prefix once and reads every object not read yet, oldest
// first, handing each record to fn; the record is acknowledged when fn
// returns nil. When fn returns an error, or ctx ends, Poll saves the
// checkpoint up to the last acknowledged record and returns the error
// (ctx's error when ctx ended). bad receives each object or record that
// cannot be parsed; it is skipped and counts as read. An object that
// cannot be fetched is counted in Failed, tried again at the next poll,
// and makes Poll return an error once the other objects are read.
func (s *Source) Poll(ctx context.Context, fn func(*cloudtrail.Record) error, bad func(*cloudtrail.Error)) (Stats, error) {
	var st Stats
	objs, err := s.list(ctx)
	if err != nil {
		return st, s.explain(err)
	}
	st.Listed = len(objs)
	var todo []object
	for _, o := range objs {
		if !s.cp.isDone(o) {
			todo = append(todo, o)
		}
	}
	var failed []object
	var errs []error
	for _, o := range todo {
		err := s.read(ctx, o, fn, bad, &st)
		var re *readError
		if errors.As(err, &re) {
			failed = append(failed, o)
			errs = append(errs, err)
			st.Failed++
			continue
		}
		if err != nil {
			if serr := s.save(); serr != nil {
				return st, serr
			}
			return st, err
		}
		st.Objects++
	}
	s.advance(objs, failed)
	if err := s.save(); err != nil {
		return st, err
	}
	return st, errors.Join(errs...)
}

// object is one log object in a listing.
type object struct {
	key      string
	etag     string
	size     int64
	modified time.Time
}

// list returns the log objects under the prefix, oldest first. Digest
// files (CloudTrail-Digest/) are JSON too but hold no records.
func (s *Source) list(ctx context.Context) ([]object, error) {
	var objs []object
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: &s.cfg.Prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if !cloudtrail.IsLogName(path.Base(key)) || isDigest(key) {
				continue
			}
			objs = append(objs, object{key: key, etag: aws.ToString(o.ETag), size: aws.ToInt64(o.Size), modified: aws.ToTime(o.LastModified)})
		}
	}
	slices.SortFunc(objs, func(a, b object) int {
		if c := a.modified.Compare(b.modified); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	return objs, nil
}

func isDigest(key string) bool {
	return slices.Contains(strings.Split(key, "/"), "CloudTrail-Digest")
}

// readError is an object that could not be fetched; it is tried again.
type readError struct {
	key string
	err error
}

func (e *readError) Error() string { return fmt.Sprintf("fetch %s: %v", e.key, e.err) }
func (e *readError) Unwrap() error { return e.err }

// read hands over the records of o from its first unacknowledged one.
func (s *Source) read(ctx context.Context, o object, fn func(*cloudtrail.Record) error, bad func(*cloudtrail.Error), st *Stats) error {
	name := "s3://" + s.cfg.Bucket + "/" + o.key
	if o.size > auditlog.MaxFileSize {
		bad(&cloudtrail.Error{File: name, Record: -1, Err: fmt.Errorf("%d bytes, larger than %d", o.size, auditlog.MaxFileSize)})
		st.Bad++
		return s.finish(o)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &o.key, IfMatch: nilIfEmpty(o.etag)})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &readError{key: o.key, err: s.explain(err)}
	}
	data, err := io.ReadAll(io.LimitReader(out.Body, auditlog.MaxFileSize+1))
	out.Body.Close()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &readError{key: o.key, err: err}
	}
	start := 0
	if p, ok := s.cp.Started[o.key]; ok {
		if p.ETag == o.etag {
			start = p.Records
		} else {
			s.log.Warn("a partly read CloudTrail object has changed since; reading it again from its start", "object", name)
		}
	}
	var stop error
	s.rd.Parse(name, data, func(r *cloudtrail.Record) {
		if stop != nil || r.Index < start {
			return
		}
		if stop = ctx.Err(); stop != nil {
			return
		}
		if err := fn(r); err != nil {
			stop = fmt.Errorf("%s: record %d not acknowledged: %w", name, r.Index, err)
			return
		}
		st.Records++
		s.advanceIn(o, r.Index+1)
	}, func(e *cloudtrail.Error) {
		if stop != nil || (e.Record >= 0 && e.Record < start) {
			return
		}
		bad(e)
		st.Bad++
		if e.Record >= 0 {
			s.advanceIn(o, e.Record+1)
		}
	})
	if stop != nil {
		return stop
	}
	return s.finish(o)
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// advanceIn records that the records of o before n are acknowledged, and
// saves now and then.
func (s *Source) advanceIn(o object, n int) {
	s.cp.Started[o.key] = position{ETag: o.etag, Records: n}
	if time.Since(s.lastSave) >= saveEvery {
		if err := s.save(); err != nil {
			s.log.Warn("cannot save the CloudTrail checkpoint; trying again at the end of the object", "err", err)
		}
	}
}

// finish marks o done and saves the checkpoint.
func (s *Source) finish(o object) error {
	delete(s.cp.Started, o.key)
	s.cp.Done[o.key] = doneMark{ETag: o.etag, Modified: o.modified}
	return s.save()
}

// advance moves the horizon after a whole listing: to settle before the
// newest object listed, but never past an object not yet done. Done keys
// at or before the horizon, and positions in objects no longer listed,
// are forgotten.
func (s *Source) advance(listed, failed []object) {
	if len(listed) == 0 {
		return
	}
	h := listed[len(listed)-1].modified.Add(-settle)
	for _, o := range failed {
		if !o.modified.After(h) {
			h = o.modified.Add(-time.Nanosecond)
		}
	}
	for _, o := range listed {
		if _, ok := s.cp.Started[o.key]; ok && !o.modified.After(h) {
			h = o.modified.Add(-time.Nanosecond)
		}
	}
	if h.After(s.cp.Horizon) {
		s.cp.Horizon = h
	}
	for k, d := range s.cp.Done {
		if !d.Modified.After(s.cp.Horizon) {
			delete(s.cp.Done, k)
		}
	}
	keys := make(map[string]bool, len(listed))
	for _, o := range listed {
		keys[o.key] = true
	}
	for k := range s.cp.Started {
		if !keys[k] {
			delete(s.cp.Started, k)
		}
	}
}

func (s *Source) save() error {
	s.lastSave = time.Now()
	if s.cfg.Sync != nil {
		if err := s.cfg.Sync(); err != nil {
			return fmt.Errorf("before saving the checkpoint: %w", err)
		}
	}
	if s.cfg.State != nil {
		st, err := s.cfg.State.MarshalState()
		if err != nil {
			return &saveError{fmt.Errorf("the detector's state: %w", err)}
		}
		s.cp.State = st
	}
	if err := s.file.save(s.cp); err != nil {
		return &saveError{err}
	}
	return nil
}
