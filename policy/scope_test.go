package policy

import (
	"net/netip"
	"testing"

	"github.com/mamori-dev/mamori/event"
)

// scopeOf parses a policy with the given scope (a YAML flow mapping).
func scopeOf(t *testing.T, scope string) *Scope {
	t.Helper()
	ps, err := Parse("s.yaml", []byte(doc("  scope: "+scope+"\n  controls: {forkGuard: {maxProcesses: 5}}\n")))
	if err != nil {
		t.Fatalf("scope %s: %v", scope, err)
	}
	return ps[0].Spec.Scope
}

func shopTarget() *Target {
	return TargetFromContainer(&event.Container{
		ID: "e9cc01", Name: "web-1", Image: "registry.example.com/shop/web:1.4",
		ImageDigest: "sha256:" + "ab" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd",
		Labels:      map[string]string{"app": "shop", "tier": "frontend"},
		Pod:         &event.Pod{Name: "web-7d4b9c6f5d-x2x4z", Namespace: "shop"},
	},
		WithEnv("PATH", "AWS_SECRET_ACCESS_KEY"),
		WithImage(map[string]string{"org.opencontainers.image.vendor": "Example"}, "linux", "amd64"),
		WithPod(map[string]string{"team": "payments"}, ""),
		WithHost(HostFacts{Hostname: "node-eu-3", IPs: []netip.Addr{netip.MustParseAddr("10.20.0.7")}, Groups: []string{"prod", "eu"}}),
	)
}

func hostTarget() *Target {
	return TargetFromContainer(&event.Container{ID: event.HostID},
		WithHost(HostFacts{Hostname: "node-eu-3", IPs: []netip.Addr{netip.MustParseAddr("10.20.0.7")}, Groups: []string{"prod"}}))
}

func TestScopeMatch(t *testing.T) {
	shop, host := shopTarget(), hostTarget()
	bare := TargetFromContainer(&event.Container{ID: "c2", Name: "db", Image: "postgres"})
	tests := []struct {
		scope            string
		shop, host, bare bool
	}{
		{"{container: {}}", true, false, true},
		{"{container: {name: web-1}}", true, false, false},
		{"{container: {name: \"web-*\"}}", true, false, false},
		{"{container: {name: [db, api]}}", false, false, true},
		{"{container: {name: \"web-?\"}}", true, false, false},
		{"{container: {name: \"web-[0-9]\"}}", true, false, false},
		{"{container: {name: \"web-[!0-9]\"}}", false, false, false},
		{"{container: {labels: {app: shop}}}", true, false, false},
		{"{container: {labels: {app: shop, tier: back*}}}", false, false, false},
		{"{container: {labels: {app: \"*\"}}}", true, false, false},
		{"{container: {env: \"AWS_*\"}}", true, false, false},
		{"{container: {env: [GCP_*]}}", false, false, false},
		{"{container: {image: \"registry.example.com/**\"}}", true, false, false},
		{"{image: {name: registry.example.com/shop/web}}", true, false, false},
		{"{image: {name: \"registry.example.com/*\"}}", false, false, false}, // '*' stops at '/'
		{"{image: {name: \"registry.example.com/**\"}}", true, false, false},
		{"{image: {name: docker.io/library/postgres}}", false, false, true},
		{"{image: {registry: \"*.example.com\"}}", true, false, false},
		{"{image: {registry: docker.io}}", false, false, true},
		{"{image: {repository: \"shop/*\"}}", true, false, false},
		{"{image: {tag: \"1.*\"}}", true, false, false},
		{"{image: {tag: latest}}", false, false, true},
		{"{image: {digest: \"sha256:ab*\"}}", true, false, false},
		{"{image: {labels: {org.opencontainers.image.vendor: Example}}}", true, false, false},
		{"{image: {os: linux, architecture: amd64}}", true, false, false},
		{"{image: {architecture: arm64}}", false, false, false},
		{"{kubernetes: {}}", true, false, false},
		{"{kubernetes: {namespace: shop}}", true, false, false},
		{"{kubernetes: {namespace: [kube-system, \"shop-*\"]}}", false, false, false},
		{"{kubernetes: {pod: \"web-*\"}}", true, false, false},
		{"{kubernetes: {deployment: web}}", true, false, false},
		{"{kubernetes: {labels: {team: payments}}}", true, false, false},
		{"{host: {}}", true, true, true},
		{"{host: {hostname: \"node-eu-*\"}}", true, true, false},
		{"{host: {ip: [10.20.0.0/16]}}", true, true, false},
		{"{host: {ip: [192.168.0.0/16]}}", false, false, false},
		{"{host: {group: prod}}", true, true, false},
		{"{host: {group: [staging, eu]}}", true, false, false},
		{"{not: {container: {}}}", false, true, false},
		{"{all: [{container: {}}, {kubernetes: {namespace: shop}}]}", true, false, false},
		{"{any: [{kubernetes: {namespace: shop}}, {image: {registry: docker.io}}]}", true, false, true},
		{"{container: {}, not: {kubernetes: {}}}", false, false, true},
		{"{any: [{not: {container: {}}}, {container: {name: db}}]}", false, true, true},
		{"{container: {name: web-1}, image: {registry: docker.io}}", false, false, false}, // parts AND together
	}
	for _, tt := range tests {
		s := scopeOf(t, tt.scope)
		for _, c := range []struct {
			name string
			t    *Target
			want bool
		}{{"shop", shop, tt.shop}, {"host", host, tt.host}, {"bare", bare, tt.bare}} {
			if got := s.Match(c.t); got != c.want {
				t.Errorf("scope %s on %s: %v, want %v", tt.scope, c.name, got, c.want)
			}
		}
	}
}

func TestTargetFromContainer(t *testing.T) {
	tg := shopTarget()
	if tg.Container == nil || tg.Container.ID != "e9cc01" || tg.Container.Env[1] != "AWS_SECRET_ACCESS_KEY" {
		t.Errorf("container facts: %+v", tg.Container)
	}
	if tg.Image.Registry != "registry.example.com" || tg.Image.Repository != "shop/web" || tg.Image.Tag != "1.4" || tg.Image.OS != "linux" {
		t.Errorf("image facts: %+v", tg.Image)
	}
	if k := tg.Kubernetes; k.Namespace != "shop" || k.Pod != "web-7d4b9c6f5d-x2x4z" || k.Deployment != "web" || k.Labels["team"] != "payments" {
		t.Errorf("kubernetes facts: %+v", k)
	}
	if h := hostTarget(); h.Container != nil || h.Host.Hostname != "node-eu-3" {
		t.Errorf("host target: %+v", h)
	}
	if n := TargetFromContainer(nil); n.Container != nil {
		t.Errorf("nil container gives %+v", n)
	}
	if tg := TargetFromContainer(&event.Container{ID: "x", Image: "nginx"}); tg.Image.Tag != "latest" {
		t.Errorf("untagged image: tag %q, want latest", tg.Image.Tag)
	}
	if tg := TargetFromContainer(&event.Container{ID: "x", Pod: &event.Pod{Name: "web-abc", Namespace: "n"}},
		WithPod(nil, "explicit")); tg.Kubernetes.Deployment != "explicit" {
		t.Errorf("an explicit deployment is replaced: %q", tg.Kubernetes.Deployment)
	}
}

func TestParseImageRef(t *testing.T) {
	digest := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct{ ref, name, registry, repo, tag, digest string }{
		{"nginx", "docker.io/library/nginx", "docker.io", "library/nginx", "", ""},
		{"nginx:1.27", "docker.io/library/nginx", "docker.io", "library/nginx", "1.27", ""},
		{"bitnami/redis:7", "docker.io/bitnami/redis", "docker.io", "bitnami/redis", "7", ""},
		{"localhost/shop:1.4", "localhost/shop", "localhost", "shop", "1.4", ""},
		{"registry:5000/a/b", "registry:5000/a/b", "registry:5000", "a/b", "", ""},
		{"registry:5000/a/b:v2@" + digest, "registry:5000/a/b", "registry:5000", "a/b", "v2", digest},
		{"ghcr.io/org/app@" + digest, "ghcr.io/org/app", "ghcr.io", "org/app", "", digest},
		{digest[len("sha256:"):], "", "", "", "", ""},
		{"", "", "", "", "", ""},
	}
	for _, tt := range tests {
		f := ParseImageRef(tt.ref)
		if f.Name != tt.name || f.Registry != tt.registry || f.Repository != tt.repo || f.Tag != tt.tag || f.Digest != tt.digest {
			t.Errorf("ParseImageRef(%q) = %+v", tt.ref, f)
		}
	}
}

func TestDeploymentOf(t *testing.T) {
	tests := []struct {
		pod    string
		labels map[string]string
		want   string
	}{
		{"web-7d4b9c6f5d-x2x4z", nil, "web"},
		{"payment-api-5c8d7b9f4-qwz7k", nil, "payment-api"},
		{"payment-api-5c8d7b9f4-qwz7k", map[string]string{"pod-template-hash": "5c8d7b9f4"}, "payment-api"},
		{"web-abc12-x2x4z", map[string]string{"pod-template-hash": "other"}, ""},
		{"web-0", nil, ""},                 // StatefulSet
		{"fluentd-x2x4z", nil, ""},         // DaemonSet
		{"web-aeiou1-x2x4z", nil, ""},      // not Kubernetes' alphabet
		{"my-job-28391234-abcde", nil, ""}, // CronJob: vowels in the suffix
		{"debug", nil, ""},                 // bare pod
		{"a-bcdfgh-bcdfg", nil, "a"},       // shortest
		{"x-bcdfghjklmn-bcdfg", nil, ""},   // hash too long
		{"web-7d4b9c6f5d-x2x4z-extra", nil, ""},
	}
	for _, tt := range tests {
		if got := DeploymentOf(tt.pod, tt.labels); got != tt.want {
			t.Errorf("DeploymentOf(%q, %v) = %q, want %q", tt.pod, tt.labels, got, tt.want)
		}
	}
}

var eventContainerWeb1 = event.Container{ID: "e9cc", Name: "web-1", Image: "registry.example.com/shop/web:1.4",
	Pod: &event.Pod{Name: "web-7d4b9c6f5d-x2x4z", Namespace: "shop"}}
