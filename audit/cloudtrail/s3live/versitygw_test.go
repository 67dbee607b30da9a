package s3live

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// versitygwModule is the Versity S3 gateway the tests run as a real
// S3-compatible store, with its posix backend over a temporary directory.
const versitygwModule = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

const (
	testAccess = "mamoritest"
	testSecret = "mamoritestsecret"
)

// versitygwBinary builds the gateway once per test binary, into the user's
// cache directory so that later runs on the machine only check it.
var versitygwBinary = sync.OnceValues(func() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "mamori-test", "versitygw-v1.8.0")
	bin := filepath.Join(dir, "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.Command("go", "install", versitygwModule)
	cmd.Dir = os.TempDir() // outside mamori's module: the gateway builds with its own go.mod
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %w\n%s", versitygwModule, err, out)
	}
	return bin, nil
})

// store is a running gateway and a client of it.
type store struct {
	endpoint string
	client   *s3.Client
	stop     func() // stops the gateway, as if the store went away
}

// startStore runs the gateway on a free loopback port until the test ends.
func startStore(t *testing.T) *store {
	t.Helper()
	bin, err := versitygwBinary()
	if err != nil {
		t.Skipf("the Versity S3 gateway cannot be built here, so the live S3 path cannot be tested: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	root := t.TempDir()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--port", addr, "--access", testAccess, "--secret", testSecret, "--quiet",
		"posix", "--sidecar", t.TempDir(), root)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i == 200 {
			t.Fatalf("versitygw did not listen on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	s := &store{endpoint: "http://" + addr, stop: stop}
	s.client = s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(testAccess, testSecret, ""),
	})
	return s
}

func (s *store) createBucket(t *testing.T, bucket string) {
	t.Helper()
	if _, err := s.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
}

func (s *store) put(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	_, err := s.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

// config is a Config for bucket and prefix on this store.
func (s *store) config(bucket, prefix, checkpoint string) Config {
	return Config{
		Bucket:      bucket,
		Prefix:      prefix,
		Endpoint:    s.endpoint,
		Credentials: credentials.NewStaticCredentialsProvider(testAccess, testSecret, ""),
		Checkpoint:  checkpoint,
	}
}

// deliveryKey is where CloudTrail would deliver a log file of account
// 123456789012 in us-east-1, at minute n of 2024-08-01.
func deliveryKey(n int, unique string) string {
	return fmt.Sprintf("AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/01/123456789012_CloudTrail_us-east-1_20240801T%02d%02dZ_%s.json.gz",
		n/60%24, n%60, strings.ToUpper(unique))
}

func staticCreds(access, secret string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(access, secret, "")
}
