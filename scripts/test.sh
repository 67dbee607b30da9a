#!/bin/bash
# test.sh is the whole check CI runs: formatting, vet, the committed BPF
# object and web console assets matching their sources, and every test,
# as root, against the real kernel, real podman containers and the upstream corpora in
# ../shared/corpora. Tests that need podman fail rather than skip here
# (MAMORI_REQUIRE_PODMAN=1), as do those that need PostgreSQL
# (MAMORI_REQUIRE_POSTGRES=1) and a Kubernetes cluster (MAMORI_REQUIRE_K8S=1:
# scripts/k8s-build.sh builds it from the module proxy into
# /var/cache/mamori-k8s the first time), so a broken setup cannot pass by
# skipping.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
cd "$(dirname "$0")/.."

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$bad" ]; then
	echo "gofmt would change:" >&2
	echo "$bad" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== BPF objects are up to date with their C sources"
go generate ./sensor ./enforce
if ! git diff --quiet -- sensor/ enforce/; then
	echo "a committed BPF object is stale: run 'go generate ./sensor ./enforce' and commit" >&2
	git diff --stat -- sensor/ enforce/ >&2
	exit 1
fi

echo "== web console assets are up to date with their sources"
# npm ci installs exactly the lockfile's versions; the build has no
# timestamps or hashes that vary, so the same sources give the same bytes.
(cd console/web && npm ci --no-audit --no-fund --loglevel=error >/dev/null && npm run --silent build)
if [ -n "$(git status --porcelain -- console/web/dist)" ]; then
	echo "the committed web console assets are stale: run 'cd console/web && npm ci && npm run build' and commit console/web/dist" >&2
	git status --short -- console/web/dist >&2
	exit 1
fi

if [ ! -d ../shared/corpora ]; then
	echo "note: ../shared/corpora not found; tests that read upstream rules and logs will skip" >&2
fi

echo "== Kubernetes binaries for the cluster tests (built once, then cached)"
# Outside go test's timeout: a cold build takes minutes.
scripts/k8s-build.sh >/dev/null

echo "== go test"
MAMORI_REQUIRE_PODMAN=1 MAMORI_REQUIRE_POSTGRES=1 MAMORI_REQUIRE_K8S=1 go test -count=1 -timeout 30m ./...
