package runtimehook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// DefaultSocket is where the agent listens for hooks unless told otherwise.
const DefaultSocket = "/run/mamori/hook.sock"

// path is the one request the protocol has.
const path = "/v1/create"

// Answer is the agent's decision about a container being created.
type Answer struct {
	// Allow is false when an enforcing policy refuses the container.
	Allow bool `json:"allow"`
	// Reasons say why it is refused: every enforced finding.
	Reasons []string `json:"reasons,omitempty"`
	// Warnings are the findings of auditing policies; the container runs.
	Warnings []string `json:"warnings,omitempty"`
}

// Ask sends the state of a container being created to the agent listening
// on socket and returns its answer.
func Ask(ctx context.Context, socket string, st State) (Answer, error) {
	body, err := json.Marshal(st)
	if err != nil {
		return Answer{}, err
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://mamori"+path, bytes.NewReader(body))
	if err != nil {
		return Answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Answer{}, fmt.Errorf("ask the agent on %s: %w (is `mamori agent` running with --hook-socket %s?)", socket, err, socket)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Answer{}, fmt.Errorf("read the agent's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Answer{}, fmt.Errorf("the agent answered %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	var a Answer
	if err := json.Unmarshal(data, &a); err != nil {
		return Answer{}, fmt.Errorf("the agent's answer: %w", err)
	}
	return a, nil
}

// Handler serves the hook protocol: judge decides about each container
// being created. A request that is not a container state is answered 400.
func Handler(judge func(context.Context, State) (Answer, error)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
		st, err := ReadState(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a, err := judge(r.Context(), st)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a)
	})
	return mux
}

// Listen opens the agent's hook socket at socket, replacing a stale one
// left by an agent that died, and making its directory. Only root may
// connect.
func Listen(socket string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o700); err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("unix", socket, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("hook socket %s: another agent is listening on it", socket)
	}
	if err := os.Remove(socket); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove stale hook socket: %w", err)
	}
	l, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("hook socket: %w", err)
	}
	if err := os.Chmod(socket, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
