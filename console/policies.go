package console

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mamori-dev/mamori/console/api"
	"github.com/mamori-dev/mamori/console/wire"
	"github.com/mamori-dev/mamori/policy"
)

// policyStore keeps the central runtime policies in the JetStream KV
// bucket wire.PolicyBucket, one key per policy file, its revision the
// file's version. Agents watch the bucket.
type policyStore struct {
	kv jetstream.KeyValue
}

var fileKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,100}\.ya?ml$`)

func ensurePolicyBucket(ctx context.Context, js jetstream.JetStream, replicas int) (*policyStore, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:       wire.PolicyBucket,
		Description:  "mamori runtime policies, one key per file; agents watch it",
		History:      20,
		Storage:      jetstream.FileStorage,
		Replicas:     max(replicas, 1),
		MaxValueSize: 1 << 20,
		// Agents read the bucket's metadata (their credential may read
		// nothing else of the streams) to learn what the console reads.
		Metadata: map[string]string{wire.ReadsBatchesKey: wire.ReadsBatches},
	})
	if err != nil {
		return nil, fmt.Errorf("policy bucket: %w", err)
	}
	return &policyStore{kv: kv}, nil
}

// current returns every file in the bucket.
func (p *policyStore) current(ctx context.Context) ([]api.PolicyFile, error) {
	keys, err := p.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []api.PolicyFile
	for k := range keys.Keys() {
		e, err := p.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, api.PolicyFile{Name: k, Revision: e.Revision(), Content: string(e.Value()), Updated: e.Created()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for i := range out {
		if ps, err := policy.Parse(out[i].Name, []byte(out[i].Content)); err == nil {
			for _, pol := range ps {
				out[i].Policies = append(out[i].Policies, pol.Name())
			}
		}
	}
	return out, nil
}

// Policies lists the files in force.
func (p *policyStore) Policies(ctx context.Context) ([]api.PolicyFile, error) { return p.current(ctx) }

// Apply validates files together with the rest of the bucket, as an agent
// would load them, and stores them only if the whole set is valid. The
// errors are policy validate's, with the file names given.
func (p *policyStore) Apply(ctx context.Context, files []api.PolicyFile, remove []string) ([]api.PolicyFile, error) {
	for _, f := range files {
		if !fileKeyRE.MatchString(f.Name) {
			return nil, api.UserError(fmt.Sprintf("file name %q: use letters, digits, '.', '-' and '_', ending in .yaml or .yml", f.Name))
		}
	}
	have, err := p.current(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mamori-policy-check-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	set := map[string]string{}
	for _, f := range have {
		set[f.Name] = f.Content
	}
	for _, f := range files {
		set[f.Name] = f.Content
	}
	for _, name := range remove {
		if _, ok := set[name]; !ok {
			return nil, api.UserError(fmt.Sprintf("no policy file %q in the console", name))
		}
		delete(set, name)
	}
	for name, content := range set {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	if _, err := policy.Load(dir); err != nil {
		// Positions name the temporary directory: show the file names
		// the user gave.
		return nil, api.UserError(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""))
	}
	var out []api.PolicyFile
	for _, f := range files {
		rev, err := p.kv.Put(ctx, f.Name, []byte(f.Content))
		if err != nil {
			return nil, fmt.Errorf("store policy %s: %w", f.Name, err)
		}
		out = append(out, api.PolicyFile{Name: f.Name, Revision: rev, Updated: time.Now().UTC()})
	}
	for _, name := range remove {
		if err := p.kv.Delete(ctx, name); err != nil {
			return nil, fmt.Errorf("remove policy %s: %w", name, err)
		}
	}
	return out, nil
}
