#!/bin/bash
# test.sh is the whole check CI runs: formatting, vet, the committed BPF
# object matching its source, and every test, as root, against the real
# kernel, real podman containers and the upstream corpora in
# ../shared/corpora. Tests that need podman fail rather than skip here
# (MAMORI_REQUIRE_PODMAN=1), as do those that need PostgreSQL
# (MAMORI_REQUIRE_POSTGRES=1), so a broken setup cannot pass by skipping.
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

if [ ! -d ../shared/corpora ]; then
	echo "note: ../shared/corpora not found; tests that read upstream rules and logs will skip" >&2
fi

echo "== go test"
MAMORI_REQUIRE_PODMAN=1 MAMORI_REQUIRE_POSTGRES=1 go test -count=1 -timeout 30m ./...
