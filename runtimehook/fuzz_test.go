package runtimehook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FuzzHookProtocol posts arbitrary bodies to the agent's hook socket
// handler, as any process that can connect may: whatever the body, the
// answer is 200 with a decision for a state that has an id and a bundle,
// 400 otherwise, and nothing panics.
func FuzzHookProtocol(f *testing.F) {
	for _, s := range []string{
		`{"ociVersion":"1.0.2","id":"abc","status":"creating","pid":42,"bundle":"/run/b","annotations":{"io.podman.annotations.privileged":"TRUE"}}`,
		`{"id":"","bundle":""}`, `{"id":"x","bundle":"/b","pid":-1}`, `[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	h := Handler(func(_ context.Context, st State) (Answer, error) {
		return Answer{Allow: st.PID >= 0, Reasons: []string{st.ID}}, nil
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			var a Answer
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
				t.Errorf("200 with an answer that does not decode: %v", err)
			}
		case http.StatusBadRequest:
		default:
			t.Errorf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzConfig reads arbitrary config.json files, as a container's bundle
// may hold (the runtime writes it, but from what a user asked for), and
// maps each onto the workload the creation checks judge: whatever the
// configuration leaves out or holds, nothing panics.
func FuzzConfig(f *testing.F) {
	full, _ := json.Marshal(config(nil))
	f.Add(full)
	loose, _ := json.Marshal(config(func(s *specs.Spec) {
		s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "network", Path: "/proc/1/ns/net"}, {Type: "pid", Path: "/x"}}
		s.Linux.Seccomp = nil
		s.Process.Capabilities = nil
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/host", Source: "/", Options: []string{"rbind"}})
		s.Annotations = map[string]string{annPodmanPrivileged: "TRUE", annCRINamespace: "ns"}
	}))
	f.Add(loose)
	for _, s := range []string{`{}`, `{"process":null,"linux":null,"root":null}`, `{"process":{"user":{"uid":4294967295}},"linux":{"namespaces":[{}]}}`, `[]`, `{`} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := ReadConfig(dir)
		if err != nil {
			return
		}
		st := State{ID: "fuzz", Bundle: dir, Annotations: map[string]string{annCRIOPodName: "p"}}
		for _, host := range []HostNamespaces{nil, {}} {
			if s := Spec(st, cfg, Who{}, host); s == nil || len(s.Containers) != 1 {
				t.Errorf("Spec = %+v, want one container", s)
			}
		}
	})
}
