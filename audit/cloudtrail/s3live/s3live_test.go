package s3live

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/mamori-dev/mamori/audit/cloudtrail"
	"github.com/mamori-dev/mamori/audit/cloudtrail/s3live/s3test"
)

// corpora is ../shared/corpora beside the repository.
func corpora(t testing.TB, parts ...string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(append([]string{filepath.Dir(file), "..", "..", "..", "..", "shared", "corpora"}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("upstream data %s is absent (%v): it lives in ../shared/corpora beside the repository", p, err)
	}
	return p
}

// logFile is a Stratus Red Team detonation as CloudTrail delivers it: a
// gzipped {"Records":[...]} object; ids are its records' eventIDs in order.
type logFile struct {
	name string
	gz   []byte
	ids  []string
}

// stratus returns the detonations with at least minRecords records.
func stratus(t *testing.T, minRecords int) []logFile {
	t.Helper()
	dir := corpora(t, "cloudtrail", "stratus-red-team")
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no detonations in %s (%v)", dir, err)
	}
	sort.Strings(paths)
	var files []logFile
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f := logFile{name: filepath.Base(p)}
		var rd cloudtrail.Reader
		rd.ReadFile(p, func(r *cloudtrail.Record) { f.ids = append(f.ids, eventID(r)) },
			func(e *cloudtrail.Error) { t.Fatalf("corpus file unreadable: %v", e) })
		if len(f.ids) < minRecords {
			continue
		}
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		fmt.Fprintf(zw, `{"Records":%s}`, bytes.TrimSpace(raw))
		zw.Close()
		f.gz = b.Bytes()
		files = append(files, f)
	}
	return files
}

func eventID(r *cloudtrail.Record) string {
	id, _ := r.Fields()["eventID"].(string)
	return id
}

// sink is the caller of Poll: it remembers every record handed over, by
// object and index, and what was reported bad.
type sink struct {
	t    *testing.T
	got  map[string]int      // "s3://bucket/key#index" -> times delivered
	ids  map[string][]string // s3 name -> expected eventIDs
	bad  []*cloudtrail.Error
	n    int
	stop func(n int) error // called before acknowledging the n-th record (from 1); non-nil refuses it
}

func newSink(t *testing.T) *sink {
	return &sink{t: t, got: map[string]int{}, ids: map[string][]string{}}
}

func (s *sink) fn(r *cloudtrail.Record) error {
	if s.stop != nil {
		if err := s.stop(s.n + 1); err != nil {
			return err
		}
	}
	s.n++
	s.got[fmt.Sprintf("%s#%d", r.File, r.Index)]++
	if want, ok := s.ids[r.File]; ok {
		if r.Index >= len(want) || want[r.Index] != eventID(r) {
			s.t.Errorf("%s record %d: eventID %q, not the file's", r.File, r.Index, eventID(r))
		}
	}
	return nil
}

func (s *sink) badFn(e *cloudtrail.Error) { s.bad = append(s.bad, e) }

// expect records that the object holds f's records.
func (s *sink) expect(bucket, key string, f logFile) {
	s.ids["s3://"+bucket+"/"+key] = f.ids
}

// checkOnce fails unless every expected record was delivered exactly once
// and nothing else was.
func (s *sink) checkOnce() {
	s.t.Helper()
	want := 0
	for name, ids := range s.ids {
		for i := range ids {
			want++
			if n := s.got[fmt.Sprintf("%s#%d", name, i)]; n != 1 {
				s.t.Errorf("%s record %d delivered %d times", name, i, n)
			}
		}
	}
	if len(s.got) != want {
		s.t.Errorf("%d distinct records delivered, want %d", len(s.got), want)
	}
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func open(t *testing.T, cfg Config) *Source {
	t.Helper()
	src, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func poll(t *testing.T, src *Source, s *sink) Stats {
	t.Helper()
	st, err := src.Poll(context.Background(), s.fn, s.badFn)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return st
}

// TestPollEveryRecordOnce delivers real detonations uploaded as CloudTrail
// delivers them, over several polls, new objects and a restart: every
// record arrives exactly once, and digests and other files are left alone.
func TestPollEveryRecordOnce(t *testing.T) {
	files := stratus(t, 1)
	if len(files) < 12 {
		t.Fatalf("only %d detonations", len(files))
	}
	st := s3test.Start(t)
	const bucket = "trail"
	st.CreateBucket(t, bucket)
	s := newSink(t)
	upload := func(from, to int) (records int) {
		for i := from; i < to; i++ {
			key := s3test.DeliveryKey(i, fmt.Sprintf("u%03d", i))
			st.Put(t, bucket, key, files[i].gz)
			s.expect(bucket, key, files[i])
			records += len(files[i].ids)
		}
		return records
	}
	want := upload(0, 5)
	// Digests are JSON too, but hold no records; a README is no log.
	st.Put(t, bucket, "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/08/01/123456789012_CloudTrail-Digest_us-east-1_x_us-east-1_20240801T0100Z.json.gz",
		gz(`{"awsAccountId":"123456789012","digestStartTime":"2024-08-01T00:00:00Z","logFiles":[]}`))
	st.Put(t, bucket, "AWSLogs/README.txt", []byte("not a log"))
	// Outside the prefix.
	st.Put(t, bucket, "elsewhere/x.json", files[11].gz)

	cp := filepath.Join(t.TempDir(), "state", "cloudtrail.json")
	cfg := storeConfig(st, bucket, "AWSLogs/", cp)
	syncs := 0
	cfg.Sync = func() error { syncs++; return nil }
	src := open(t, cfg)
	if got := poll(t, src, s); got.Objects != 5 || got.Records != want || got.Listed != 5 || got.Bad != 0 {
		t.Errorf("first poll: %+v, want 5 objects, %d records", got, want)
	}
	if syncs < 5 {
		t.Errorf("Sync called %d times for 5 objects: the checkpoint moved without it", syncs)
	}
	if got := poll(t, src, s); got.Objects != 0 || got.Records != 0 {
		t.Errorf("poll with nothing new: %+v", got)
	}
	want = upload(5, 8)
	if got := poll(t, src, s); got.Objects != 3 || got.Records != want {
		t.Errorf("poll after 3 new objects: %+v, want %d records", got, want)
	}
	src.Close()

	// A restart reads nothing again, and then what is new.
	src = open(t, cfg)
	defer src.Close()
	if got := poll(t, src, s); got.Objects != 0 || got.Records != 0 {
		t.Errorf("poll after restart: %+v, want nothing", got)
	}
	want = upload(8, 11)
	if got := poll(t, src, s); got.Objects != 3 || got.Records != want {
		t.Errorf("poll after restart and 3 new objects: %+v, want %d records", got, want)
	}
	s.checkOnce()
	if len(s.bad) > 0 {
		t.Errorf("reported bad: %v", s.bad)
	}
}

// TestRestartMidObject stops reading in the middle of an object twice,
// once because the caller refuses a record and once because the reader is
// cancelled, restarting from the checkpoint file each time: no record is
// lost and none is repeated.
func TestRestartMidObject(t *testing.T) {
	files := stratus(t, 6)[:4]
	st := s3test.Start(t)
	const bucket = "trail"
	st.CreateBucket(t, bucket)
	s := newSink(t)
	total := 0
	for i, f := range files {
		key := s3test.DeliveryKey(i, fmt.Sprintf("m%03d", i))
		st.Put(t, bucket, key, f.gz)
		s.expect(bucket, key, f)
		total += len(f.ids)
	}
	cp := filepath.Join(t.TempDir(), "cloudtrail.json")
	cfg := storeConfig(st, bucket, "", cp)

	// The caller refuses the record halfway through the second object.
	refuse := len(files[0].ids) + len(files[1].ids)/2 + 1
	s.stop = func(n int) error {
		if n == refuse {
			return errors.New("output full")
		}
		return nil
	}
	src := open(t, cfg)
	_, err := src.Poll(context.Background(), s.fn, s.badFn)
	if err == nil || !strings.Contains(err.Error(), "not acknowledged: output full") {
		t.Fatalf("poll with a refused record: %v", err)
	}
	src.Close()
	if s.n != refuse-1 {
		t.Fatalf("%d records acknowledged before the refusal, want %d", s.n, refuse-1)
	}

	// The reader is cancelled halfway through the third object.
	ctx, cancel := context.WithCancel(context.Background())
	cancelAt := len(files[0].ids) + len(files[1].ids) + len(files[2].ids)/2
	s.stop = func(n int) error {
		if n == cancelAt {
			cancel() // the record is still acknowledged; the next is not handed over
		}
		return nil
	}
	src = open(t, cfg)
	_, err = src.Poll(ctx, s.fn, s.badFn)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled poll: %v", err)
	}
	src.Close()
	if s.n != cancelAt {
		t.Fatalf("%d records acknowledged before cancelling, want %d", s.n, cancelAt)
	}

	s.stop = nil
	src = open(t, cfg)
	defer src.Close()
	got := poll(t, src, s)
	if got.Records != total-cancelAt || got.Objects != 2 {
		t.Errorf("poll after restarts: %+v, want the other %d records of 2 objects", got, total-cancelAt)
	}
	s.checkOnce()
}

// TestMalformedObjects reports an object that is not gzip or not JSON, and a
// bad line in a file of one record per line, by object and record index;
// the other records are delivered, and nothing is reported again after a
// restart.
func TestMalformedObjects(t *testing.T) {
	files := stratus(t, 3)
	st := s3test.Start(t)
	const bucket = "trail"
	st.CreateBucket(t, bucket)
	s := newSink(t)

	good := s3test.DeliveryKey(1, "good")
	st.Put(t, bucket, good, files[0].gz)
	s.expect(bucket, good, files[0])
	truncated := s3test.DeliveryKey(2, "truncated")
	st.Put(t, bucket, truncated, files[1].gz[:len(files[1].gz)/2])
	text := s3test.DeliveryKey(3, "text")
	st.Put(t, bucket, text, gz("this is not JSON"))
	// One record per line, the second line broken.
	lines := "AWSLogs/export/records.jsonl"
	st.Put(t, bucket, lines, []byte(`{"eventID":"one","eventName":"ListBuckets"}`+"\n"+`{"eventID":"two",`+"\n"+`{"eventID":"three","eventName":"ListBuckets"}`+"\n"))
	s.ids["s3://"+bucket+"/"+lines] = []string{"one", "", "three"}

	cfg := storeConfig(st, bucket, "AWSLogs/", filepath.Join(t.TempDir(), "cp.json"))
	src := open(t, cfg)
	got := poll(t, src, s)
	if got.Objects != 4 || got.Bad != 3 || got.Records != len(files[0].ids)+2 {
		t.Errorf("poll: %+v, want 4 objects, 3 bad, %d records", got, len(files[0].ids)+2)
	}
	reported := map[string]bool{}
	for _, e := range s.bad {
		reported[fmt.Sprintf("%s#%d", e.File, e.Record)] = true
	}
	for _, want := range []string{"s3://trail/" + truncated + "#-1", "s3://trail/" + text + "#-1", "s3://trail/" + lines + "#1"} {
		if !reported[want] {
			t.Errorf("not reported: %s (reported: %v)", want, s.bad)
		}
	}
	if s.got["s3://trail/"+lines+"#1"] != 0 || s.got["s3://trail/"+lines+"#2"] != 1 {
		t.Errorf("records of the one-per-line object: %v", s.got)
	}
	src.Close()

	src = open(t, cfg)
	defer src.Close()
	n := len(s.bad)
	if got := poll(t, src, s); got.Records != 0 || got.Bad != 0 || len(s.bad) != n {
		t.Errorf("poll after restart: %+v, reported %v", got, s.bad[n:])
	}
}

// TestClearErrors: wrong credentials, a missing bucket and a store that
// cannot be reached each say what is wrong and what to do; a checkpoint is
// held by one reader at a time and belongs to one location.
func TestClearErrors(t *testing.T) {
	st := s3test.Start(t)
	st.CreateBucket(t, "trail")
	dir := t.TempDir()
	ctx := context.Background()

	cfg := storeConfig(st, "trail", "", filepath.Join(dir, "a.json"))
	cfg.Credentials = credentials.NewStaticCredentialsProvider(s3test.Access, "wrong", "")
	if _, err := Open(ctx, cfg, testLog(t)); err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Errorf("wrong secret: %v", err)
	}
	cfg = storeConfig(st, "nosuchbucket", "", filepath.Join(dir, "b.json"))
	if _, err := Open(ctx, cfg, testLog(t)); err == nil || !strings.Contains(err.Error(), "no such bucket") {
		t.Errorf("missing bucket: %v", err)
	}

	cfg = storeConfig(st, "trail", "", filepath.Join(dir, "c.json"))
	src := open(t, cfg)
	if _, err := Open(ctx, cfg, testLog(t)); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("second reader of one checkpoint: %v", err)
	}
	if _, err := src.Poll(ctx, newSink(t).fn, newSink(t).badFn); err != nil {
		t.Fatal(err)
	}
	src.Close()
	other := storeConfig(st, "trail", "AWSLogs/", filepath.Join(dir, "c.json"))
	if _, err := Open(ctx, other, testLog(t)); err == nil || !strings.Contains(err.Error(), "is for s3://trail/") {
		t.Errorf("checkpoint of another location: %v", err)
	}

	// The store goes away under a running reader, then for a new one.
	src = open(t, cfg)
	defer src.Close()
	st.Stop()
	if _, err := src.Poll(ctx, newSink(t).fn, newSink(t).badFn); err == nil || !strings.Contains(err.Error(), "cannot reach the store") {
		t.Errorf("poll of a store gone: %v", err)
	}
	cfg.Checkpoint = filepath.Join(dir, "d.json")
	if _, err := Open(ctx, cfg, testLog(t)); err == nil || !strings.Contains(err.Error(), "cannot reach the store") {
		t.Errorf("open of a store gone: %v", err)
	}
}

// storeConfig is a Config for bucket and prefix on st.
func storeConfig(st *s3test.Store, bucket, prefix, checkpoint string) Config {
	return Config{
		Bucket:      bucket,
		Prefix:      prefix,
		Endpoint:    st.Endpoint,
		Credentials: s3test.Credentials(),
		Checkpoint:  checkpoint,
	}
}

func gz(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

// TestAdvance moves the horizon to settle before the newest object, never
// past an object that failed or is under way, and forgets done keys at or
// before it.
func TestAdvance(t *testing.T) {
	t0 := time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC)
	obj := func(key string, minutes int) object {
		return object{key: key, etag: key, modified: t0.Add(time.Duration(minutes) * time.Minute)}
	}
	listed := []object{obj("a", 0), obj("b", 30), obj("c", 100), obj("d", 200)}
	newSource := func() *Source {
		s := &Source{cp: &checkpoint{Done: map[string]doneMark{}, Started: map[string]position{}}}
		for _, o := range listed {
			s.cp.Done[o.key] = doneMark{ETag: o.etag, Modified: o.modified}
		}
		return s
	}

	s := newSource()
	s.advance(listed, nil)
	if want := t0.Add(140 * time.Minute); !s.cp.Horizon.Equal(want) {
		t.Errorf("horizon %v, want %v", s.cp.Horizon, want)
	}
	if len(s.cp.Done) != 1 || !s.cp.isDone(listed[0]) || !s.cp.isDone(listed[3]) {
		t.Errorf("done after advance: %v", s.cp.Done)
	}

	s = newSource()
	delete(s.cp.Done, "b")
	s.advance(listed, []object{listed[1]})
	if s.cp.isDone(listed[1]) || !s.cp.isDone(listed[0]) {
		t.Errorf("failed object b counts as done; horizon %v", s.cp.Horizon)
	}

	s = newSource()
	delete(s.cp.Done, "c")
	s.cp.Started["c"] = position{ETag: "c", Records: 3}
	s.cp.Started["gone"] = position{ETag: "gone", Records: 3}
	s.advance(listed, nil)
	if s.cp.isDone(listed[2]) {
		t.Errorf("object under way counts as done; horizon %v", s.cp.Horizon)
	}
	if _, ok := s.cp.Started["gone"]; ok {
		t.Errorf("position in an object no longer listed kept")
	}

	// The horizon never moves back.
	s = newSource()
	s.cp.Horizon = t0.Add(1000 * time.Minute)
	s.advance(listed, nil)
	if !s.cp.Horizon.Equal(t0.Add(1000 * time.Minute)) {
		t.Errorf("horizon moved back to %v", s.cp.Horizon)
	}
}

func TestParseURL(t *testing.T) {
	for _, c := range []struct{ in, bucket, prefix, err string }{
		{"s3://trail/AWSLogs/123/", "trail", "AWSLogs/123/", ""},
		{"s3://trail", "trail", "", ""},
		{"s3://trail/", "trail", "", ""},
		{"s3:///x", "", "", "names no bucket"},
		{"/var/log/x", "", "", "not an S3 URL"},
	} {
		b, p, err := ParseURL(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || b != c.bucket || p != c.prefix {
			t.Errorf("%q: %q %q %v", c.in, b, p, err)
		}
	}
}

// TestImpossibleCheckpoint: a checkpoint whose horizon lies in the future
// (a wrong clock, an edit) is refused on open with how to start over; it
// made the follower skip new objects silently. A --since in the future is
// refused too.
func TestImpossibleCheckpoint(t *testing.T) {
	st := s3test.Start(t)
	st.CreateBucket(t, "trail")
	path := filepath.Join(t.TempDir(), "cp.json")
	cp := fmt.Sprintf(`{"version":1,"location":"s3://trail/","endpoint":%q,"horizon":%q,"done":{}}`,
		st.Endpoint, time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339))
	if err := os.WriteFile(path, []byte(cp), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), storeConfig(st, "trail", "", path), testLog(t))
	if err == nil || !strings.Contains(err.Error(), "checkpoint "+path+" has its horizon at") ||
		!strings.Contains(err.Error(), "in the future: objects modified before then would be skipped unread") ||
		!strings.Contains(err.Error(), "move it away to start over") {
		t.Errorf("open: %v", err)
	}
	cfg := storeConfig(st, "trail", "", filepath.Join(t.TempDir(), "new.json"))
	cfg.Since = time.Now().Add(time.Hour)
	if _, err := Open(context.Background(), cfg, testLog(t)); err == nil || !strings.Contains(err.Error(), "is in the future") {
		t.Errorf("since in the future: %v", err)
	}
}

// FuzzCheckpoint reads arbitrary checkpoint files: whatever a file holds,
// opening it returns an error or a checkpoint the follower can use (maps
// made, no horizon in the future), and never panics.
func FuzzCheckpoint(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"location":"s3://b/p/","horizon":"2024-01-01T00:00:00Z","done":{"k":{"etag":"e","modified":"2024-01-01T00:00:00Z"}},"started":{"s":{"etag":"x","records":3}}}`,
		`{"version":1,"location":"s3://b/p/","horizon":"2999-01-01T00:00:00Z"}`,
		`{"version":1,"location":"s3://b/p/","started":{"s":{"records":-1}}}`,
		`{"version":2}`, `{}`, `null`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "cp.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		file, c, err := openCheckpoint(path, "s3://b/p/", "", time.Time{})
		if err != nil {
			return
		}
		defer file.close()
		if c.Done == nil || c.Started == nil || c.Horizon.After(time.Now().Add(clockSkew)) {
			t.Errorf("checkpoint %+v", c)
		}
	})
}
