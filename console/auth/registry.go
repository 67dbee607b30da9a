// Package auth owns who may talk to the console: each agent's own NATS
// credential (an NKEY, allowed to publish on its own node's subjects
// only, revocable), the API's tokens with their roles (admin, read), and
// the console's certificate authority for TLS. It keeps them in one file
// (auth.json, mode 0600) under the console's data directory; only hashes
// of tokens are stored.
//
// It must not know HTTP handlers or the store.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/mamori-dev/mamori/console/wire"
)

// Roles of API tokens.
const (
	Admin = "admin" // reads and changes: policies, incidents, agents
	Read  = "read"  // reads only
	// Ingest may only post Falco alerts (POST /api/v1/falco): the token
	// to give Falco's http_output.
	Ingest = "ingest"
)

// Agent is one node's credential.
type Agent struct {
	Cluster string    `json:"cluster"`
	Node    string    `json:"node"`
	NKey    string    `json:"nkey"` // the public key; the seed is the agent's alone
	Created time.Time `json:"created"`
	Revoked time.Time `json:"revoked,omitzero"`
}

// Token is one API token (its hash).
type Token struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	SHA256  string    `json:"sha256"`
	Created time.Time `json:"created"`
}

type file struct {
	Agents []Agent `json:"agents"`
	Tokens []Token `json:"tokens"`
	// ConsoleSeed is the console's own NKEY seed, for its connection to
	// its server.
	ConsoleSeed string `json:"console_seed"`
}

// Registry is the auth file, loaded.
type Registry struct {
	path string
	mu   sync.Mutex
	f    file
}

// Open loads dir/auth.json, creating it (and the console's own key) when
// missing.
func Open(dir string) (*Registry, error) {
	r := &Registry{path: filepath.Join(dir, "auth.json")}
	b, err := os.ReadFile(r.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, err
		}
		seed, _ := kp.Seed()
		r.f.ConsoleSeed = string(seed)
		if err := r.save(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("auth: %w", err)
	default:
		if err := json.Unmarshal(b, &r.f); err != nil {
			return nil, fmt.Errorf("auth: %s: %w", r.path, err)
		}
	}
	return r, nil
}

func (r *Registry) save() error {
	b, err := json.MarshalIndent(&r.f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(r.path), 0o700); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return os.Rename(tmp, r.path)
}

// ConsoleKey returns the console's own NKEY pair.
func (r *Registry) ConsoleKey() (nkeys.KeyPair, error) {
	return nkeys.FromSeed([]byte(r.f.ConsoleSeed))
}

// AddAgent issues a credential for node in cluster; an earlier one of the
// same node is revoked, so that a lost credential is replaced by issuing
// another.
func (r *Registry) AddAgent(cluster, node string, caPEM []byte) (*wire.Credential, error) {
	if cluster == "" || node == "" {
		return nil, errors.New("an agent credential needs a cluster and a node")
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now().UTC()
	for i := range r.f.Agents {
		a := &r.f.Agents[i]
		if a.Cluster == cluster && a.Node == node && a.Revoked.IsZero() {
			a.Revoked = now
		}
	}
	r.f.Agents = append(r.f.Agents, Agent{Cluster: cluster, Node: node, NKey: pub, Created: now})
	if err := r.save(); err != nil {
		return nil, err
	}
	return &wire.Credential{Cluster: cluster, Node: node, Seed: string(seed), CA: string(caPEM)}, nil
}

// RevokeAgent revokes node's credentials; false if it had none.
func (r *Registry) RevokeAgent(cluster, node string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	found := false
	for i := range r.f.Agents {
		a := &r.f.Agents[i]
		if a.Cluster == cluster && a.Node == node && a.Revoked.IsZero() {
			a.Revoked, found = time.Now().UTC(), true
		}
	}
	if !found {
		return false, nil
	}
	return true, r.save()
}

// Agents lists every credential, revoked ones too.
func (r *Registry) Agents() []Agent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Agent(nil), r.f.Agents...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Cluster+"/"+out[i].Node < out[j].Cluster+"/"+out[j].Node })
	return out
}

// AddToken makes a token with role and returns it; only its hash is kept.
func (r *Registry) AddToken(name, role string) (string, error) {
	if role != Admin && role != Read && role != Ingest {
		return "", fmt.Errorf("role %q: admin, read or ingest", role)
	}
	var b [32]byte
	rand.Read(b[:])
	tok := "mamori_" + base64.RawURLEncoding.EncodeToString(b[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	r.f.Tokens = append(r.f.Tokens, Token{Name: name, Role: role, SHA256: hashToken(tok), Created: time.Now().UTC()})
	return tok, r.save()
}

// HasTokens reports whether any token exists (a first run has none).
func (r *Registry) HasTokens() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.f.Tokens) > 0
}

// Check returns the name and role of tok, or ok false.
func (r *Registry) Check(tok string) (name, role string, ok bool) {
	h := hashToken(tok)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.f.Tokens {
		if subtle.ConstantTimeCompare([]byte(t.SHA256), []byte(h)) == 1 {
			return t.Name, t.Role, true
		}
	}
	return "", "", false
}

func hashToken(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}
