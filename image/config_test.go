package image

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestConfigFindings(t *testing.T) {
	passwd := []byte("root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n")
	cases := []struct {
		config string
		want   []string // rules
	}{
		{`{"config":{}}`, []string{RuleRootUser, RuleNoHealthcheck}},
		{`{"config":{"User":"root:root"}}`, []string{RuleRootUser, RuleNoHealthcheck}},
		{`{"config":{"User":"toor"}}`, []string{RuleRootUser, RuleNoHealthcheck}},
		{`{"config":{"User":"app","Healthcheck":{"Test":["CMD","true"]}}}`, nil},
		{`{"config":{"User":"1000:1000","Healthcheck":{"Test":["NONE"]}}}`, []string{RuleNoHealthcheck}},
		{`{"config":{"User":"app","Healthcheck":{"Test":["CMD-SHELL","true"]},"Env":[
			"PATH=/bin", "GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", "DB_PASSWORD=hunter2hunter2",
			"DB_PASSWORD_FILE=/run/secrets/db", "API_KEY=", "TOKEN_TTL=3600", "NOTE=AKIAIOSFODNN7EXAMPLE",
			"GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D", "ENABLE_AUTH=true"]}}`,
			[]string{RuleEnvSecret, RuleEnvSecret, RuleEnvSecret}},
	}
	for _, c := range cases {
		cfg, err := ParseConfig([]byte(c.config))
		if err != nil {
			t.Fatalf("%s: %v", c.config, err)
		}
		var got []string
		for _, f := range configFindings(cfg, passwd) {
			got = append(got, f.Rule)
		}
		slices.Sort(got)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: rules %v, want %v", c.config, got, want)
		}
	}
}

func TestRefFindings(t *testing.T) {
	cases := map[string][]string{
		"nginx":                               {RuleLatestTag, RuleNoDigest},
		"podman:nginx:latest":                 {RuleLatestTag, RuleNoDigest},
		"registry:ghcr.io/org/app:1.2":        {RuleNoDigest},
		"ghcr.io/org/app:1.2@sha256:" + hex64: nil,
		"registry:localhost:5000/app":         {RuleLatestTag, RuleNoDigest},
		"oci:/tmp/layout:latest":              nil,
		"archive:/tmp/x.tar":                  nil,
		"sha256:" + hex64:                     nil,
		hex64[:12]:                            nil,
	}
	for ref, want := range cases {
		r, err := ParseRef(ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		var got []string
		for _, f := range refFindings(r) {
			got = append(got, f.Rule)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", ref, got, want)
		}
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseRef(t *testing.T) {
	cases := map[string]Ref{
		"podman:localhost/app:1":      {Transport: Podman, Name: "localhost/app:1"},
		"registry:localhost:5000/a:b": {Transport: Registry, Name: "localhost:5000/a:b"},
		"localhost:5000/a":            {Name: "localhost:5000/a"},
		"oci:/no/such/dir:v2":         {Transport: OCI, Name: "/no/such/dir", Tag: "v2"},
		"oci:/no/such/dir":            {Transport: OCI, Name: "/no/such/dir"},
		"archive:img.tar":             {Transport: Archive, Name: "img.tar"},
		"alpine":                      {Name: "alpine"},
	}
	for in, want := range cases {
		want.Given = in
		got, err := ParseRef(in)
		if err != nil || got != want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "podman:", "docker://nginx", "oci-archive:x.tar"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q): no error", bad)
		}
	}
}

// FuzzParseConfig feeds the image-config parser and the checks on it
// arbitrary input: nothing may panic, and no ENV value that a finding
// calls a secret may appear in the finding.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"config":{"User":"root","Env":["AWS_SECRET_ACCESS_KEY=abc123abc123","PATH=/bin"]}}`))
	f.Add([]byte(`{"architecture":"amd64","os":"linux","config":{"Healthcheck":{"Test":[]}},"rootfs":{"type":"layers","diff_ids":["sha256:` + hex64 + `"]},"history":[{"created_by":"x","empty_layer":true}]}`))
	f.Add([]byte(`{"config":{"Env":["X_TOKEN=-----BEGIN RSA PRIVATE KEY-----"],"User":"app:app"}}`))
	f.Add([]byte(`{"config":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"created":"not a time"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		fs := configFindings(cfg, data)
		js, err := json.Marshal(fs)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Rule != RuleEnvSecret {
				continue
			}
			for _, kv := range cfg.Config.Env {
				name, value, _ := strings.Cut(kv, "=")
				value = strings.TrimSpace(value)
				if len(value) >= 8 && strings.Contains(f.Title, name) && strings.Contains(string(js), value) && !strings.Contains(name, value) {
					t.Fatalf("secret value %q of %s leaks into %s", value, name, js)
				}
			}
		}
		describeLayers(&source{layers: make([]layerSource, 2)}, cfg)
	})
}
