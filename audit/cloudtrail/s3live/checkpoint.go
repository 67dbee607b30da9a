package s3live

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// checkpoint is what has been read of a bucket and prefix. An object is
// done when every record in it was handed to the caller and acknowledged
// (or reported as bad); an object under way has a position: how many of
// its records, counted from 0 in the reader's order, are acknowledged.
//
// Listing the bucket again would show every done object again, so done
// objects are remembered by key; to keep that set small, objects modified
// at or before Horizon are all done and are no longer listed by key.
type checkpoint struct {
	Version  int                 `json:"version"`
	Location string              `json:"location"`           // s3://bucket/prefix
	Endpoint string              `json:"endpoint,omitempty"` // "" for AWS
	Horizon  time.Time           `json:"horizon"`
	Done     map[string]doneMark `json:"done"`
	Started  map[string]position `json:"started,omitempty"`
	// State is the caller's State as of the acknowledged records (see
	// Config.State): saved in the same write, so that the two agree.
	State json.RawMessage `json:"state,omitempty"`
}

type doneMark struct {
	ETag     string    `json:"etag"`
	Modified time.Time `json:"modified"`
}

type position struct {
	ETag    string `json:"etag"`
	Records int    `json:"records"` // records 0 to Records-1 are acknowledged
}

const checkpointVersion = 1

// isDone reports whether the object is read to its end.
func (c *checkpoint) isDone(o object) bool {
	if !o.modified.After(c.Horizon) {
		return true
	}
	d, ok := c.Done[o.key]
	return ok && d.ETag == o.etag
}

// clockSkew is how far ahead of this machine's clock a time in a
// checkpoint may be: S3 stamps objects with the store's clock.
const clockSkew = 10 * time.Minute

// check refuses what no run of the follower writes. A horizon in the
// future is the dangerous one: every object modified before it counts as
// read, so new logs would be skipped, silently, until the clock caught up
// (a clock that was wrong when the file was written, or an edit).
func (c *checkpoint) check(now time.Time) error {
	if c.Horizon.After(now.Add(clockSkew)) {
		return fmt.Errorf("has its horizon at %s, %s in the future: objects modified before then would be skipped unread",
			c.Horizon.Format(time.RFC3339), c.Horizon.Sub(now).Round(time.Second))
	}
	for key, p := range c.Started {
		if p.Records < 0 {
			return fmt.Errorf("says %d records of %s are read", p.Records, key)
		}
	}
	return nil
}

// checkpointFile is a checkpoint kept in a file, locked against a second
// reader of the same file. With no path it lives in memory only.
type checkpointFile struct {
	path string
	lock *os.File
}

// openCheckpoint locks and reads the checkpoint at path, or starts one for
// location from since when there is none.
func openCheckpoint(path, location, endpoint string, since time.Time) (*checkpointFile, *checkpoint, error) {
	now := time.Now()
	if since.After(now.Add(clockSkew)) {
		return nil, nil, fmt.Errorf("since %s is in the future: no object would be read before then; give a time in the past or a duration back from now (24h)", since.Format(time.RFC3339))
	}
	fresh := &checkpoint{Version: checkpointVersion, Location: location, Endpoint: endpoint, Horizon: since,
		Done: map[string]doneMark{}, Started: map[string]position{}}
	if path == "" {
		return &checkpointFile{}, fresh, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, nil, fmt.Errorf("checkpoint %s is in use by another process reading CloudTrail: give each reader its own checkpoint file", path)
		}
		return nil, nil, fmt.Errorf("lock checkpoint %s: %w", path, err)
	}
	f := &checkpointFile{path: path, lock: lock}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, fresh, nil
	}
	if err != nil {
		f.close()
		return nil, nil, fmt.Errorf("read checkpoint: %w", err)
	}
	var c checkpoint
	if err := json.Unmarshal(data, &c); err != nil || c.Version != checkpointVersion {
		f.close()
		if err == nil {
			err = fmt.Errorf("version %d, this mamori reads version %d", c.Version, checkpointVersion)
		}
		return nil, nil, fmt.Errorf("checkpoint %s is not one mamori can read (%v): move it away to start over, reading every object again", path, err)
	}
	if c.Location != location || c.Endpoint != endpoint {
		f.close()
		where := c.Location
		if c.Endpoint != "" {
			where += " at " + c.Endpoint
		}
		return nil, nil, fmt.Errorf("checkpoint %s is for %s: name another checkpoint file for %s", path, where, location)
	}
	if err := c.check(now); err != nil {
		f.close()
		return nil, nil, fmt.Errorf("checkpoint %s %v: move it away to start over (every object is read again; --cloudtrail-since limits how far back)", path, err)
	}
	if c.Done == nil {
		c.Done = map[string]doneMark{}
	}
	if c.Started == nil {
		c.Started = map[string]position{}
	}
	return f, &c, nil
}

// save writes c so that a crash leaves either the old or the new file.
func (f *checkpointFile) save(c *checkpoint) error {
	if f.path == "" {
		return nil
	}
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), filepath.Base(f.path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save checkpoint %s: %w", f.path, err)
	}
	if d, err := os.Open(filepath.Dir(f.path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func (f *checkpointFile) close() {
	if f.lock != nil {
		f.lock.Close() // releases the lock
		f.lock = nil
	}
}
