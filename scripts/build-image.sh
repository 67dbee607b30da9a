#!/bin/bash
# build-image.sh builds mamori's OCI image with podman, from
# deploy/image/Containerfile: a static build of cmd/mamori (CGO off; the
# BPF object is embedded), the CA certificates for TLS to registries and
# clouds, /etc/passwd and /etc/group naming root and the 65532 user the
# console and webhooks run as, and an empty /tmp. No base image.
#
#   scripts/build-image.sh [IMAGE]        default localhost/mamori:VERSION
#   ARCHIVE=FILE scripts/build-image.sh   also write an OCI archive (for ctr images import)
#
# Prints the image name on stdout. Needs podman (scripts/setup-podman.sh).
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
cd "$(dirname "$0")/.."

version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
image=${1:-localhost/mamori:$version}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

root=$work/rootfs
mkdir -p "$root/usr/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/var/lib/mamori"
CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -X main.version=$version -X main.commit=$(git rev-parse HEAD 2>/dev/null) -X main.date=$(git log -1 --format=%cI 2>/dev/null)" \
	-o "$root/usr/bin/mamori" ./cmd/mamori
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
	cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
fi
printf 'root:x:0:0:root:/root:/usr/bin/mamori\nmamori:x:65532:65532:mamori:/var/lib/mamori:/usr/bin/mamori\n' >"$root/etc/passwd"
printf 'root:x:0:\nmamori:x:65532:\n' >"$root/etc/group"
chmod 1777 "$root/tmp"
chown 65532:65532 "$root/var/lib/mamori"
cp deploy/image/Containerfile "$work/"
podman build -q -t "$image" "$work" >/dev/null
if [ -n "${ARCHIVE:-}" ]; then
	rm -f "$ARCHIVE"
	podman save -q --format oci-archive -o "$ARCHIVE" "$image"
fi
echo "$image"
