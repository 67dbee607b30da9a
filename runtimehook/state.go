package runtimehook

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// State is the container state an OCI runtime hands a hook on its standard
// input (runtime-spec, "State").
type State struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	PID         int               `json:"pid,omitempty"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ReadState decodes a hook's standard input.
func ReadState(r io.Reader) (State, error) {
	var st State
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&st); err != nil {
		return State{}, fmt.Errorf("container state on stdin: %w (this command is run by the container runtime as an OCI hook)", err)
	}
	if st.ID == "" || st.Bundle == "" {
		return State{}, fmt.Errorf("container state on stdin has no id or bundle: %+v", st)
	}
	return st, nil
}

// ReadConfig reads the OCI runtime configuration of the container whose
// bundle directory is bundle.
func ReadConfig(bundle string) (*specs.Spec, error) {
	p := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var cfg specs.Spec
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &cfg, nil
}
