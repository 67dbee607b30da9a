// Package s3test runs a real S3-compatible store for tests: the Versity S3
// gateway with its posix backend over a temporary directory, on a loopback
// port, built from the Go module proxy once per test binary and kept in
// the user's cache directory.
//
// It owns nothing but test stores: it must not be imported by non-test
// code.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// module is the gateway's main package at the version the tests run.
const (
	module  = "github.com/versity/versitygw/cmd/versitygw"
	version = "v1.8.0"
)

// The store's root credentials.
const (
	Access = "mamoritest"
	Secret = "mamoritestsecret"
)

// binary builds the gateway once per test binary, into the user's cache
// directory so that later runs on the machine only find it there.
var binary = sync.OnceValues(func() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "mamori-test", "versitygw-"+version)
	bin := filepath.Join(dir, "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.Command("go", "install", module+"@"+version)
	cmd.Dir = os.TempDir() // outside mamori's module: the gateway builds with its own go.mod
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s", module, version, err, out)
	}
	return bin, nil
})

// Store is a running gateway and a client of it.
type Store struct {
	Endpoint string // http://127.0.0.1:PORT
	Client   *s3.Client
	stop     func()
}

// Start runs the gateway until the test ends. It skips the test when the
// gateway cannot be built (no module proxy).
func Start(t testing.TB) *Store {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Skipf("the Versity S3 gateway cannot be built here, so the live S3 path cannot be tested: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--port", addr, "--access", Access, "--secret", Secret, "--quiet",
		"posix", "--sidecar", t.TempDir(), t.TempDir())
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	s := &Store{Endpoint: "http://" + addr, stop: func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}}
	t.Cleanup(s.stop)
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i == 400 {
			t.Fatalf("versitygw did not listen on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	s.Client = s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  Credentials(),
	})
	return s
}

// Credentials are the store's root credentials.
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(Access, Secret, "")
}

// Stop stops the gateway, as if the store went away.
func (s *Store) Stop() { s.stop() }

// CreateBucket makes a bucket.
func (s *Store) CreateBucket(t testing.TB, bucket string) {
	t.Helper()
	if _, err := s.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
}

// Put uploads an object.
func (s *Store) Put(t testing.TB, bucket, key string, data []byte) {
	t.Helper()
	_, err := s.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

// DeliveryKey is where CloudTrail would deliver a log file of account
// 123456789012 in us-east-1 at minute n of 2024-08-01; unique tells files
// of one minute apart.
func DeliveryKey(n int, unique string) string {
	return fmt.Sprintf("AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/01/123456789012_CloudTrail_us-east-1_20240801T%02d%02dZ_%s.json.gz",
		n/60%24, n%60, unique)
}
