#!/bin/bash
# build-image.sh builds mamori's two OCI images with podman, on no base
# image: deploy/image/Containerfile, a static build of cmd/mamori (CGO
# off; the BPF object is embedded) for the console and the admission
# webhook, and deploy/image/Containerfile.agent, the lean node agent
# (mamori-agent: the same source built with -tags agentonly) the
# DaemonSet runs. Each holds its binary, the CA certificates for TLS to
# registries, clouds and the console, /etc/passwd and /etc/group naming
# root and the 65532 user the console and webhooks run as, and an empty
# /tmp.
#
#   scripts/build-image.sh [IMAGE [AGENT_IMAGE]]
#       default localhost/mamori:VERSION and localhost/mamori-agent:VERSION
#       (AGENT_IMAGE defaults to IMAGE's repository with -agent, same tag)
#   ARCHIVE=FILE scripts/build-image.sh   also write OCI archives (for ctr
#       images import): FILE for IMAGE, FILE with -agent before its
#       extension for AGENT_IMAGE
#
# Prints the two image names on stdout, one per line. Needs podman
# (scripts/setup-podman.sh).
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
cd "$(dirname "$0")/.."

version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
image=${1:-localhost/mamori:$version}
if [[ $# -ge 2 ]]; then
	agent_image=$2
elif [[ ${image##*/} == *:* ]]; then
	agent_image=${image%:*}-agent:${image##*:}
else
	agent_image=$image-agent
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ldflags="-s -X main.version=$version -X main.commit=$(git rev-parse HEAD 2>/dev/null) -X main.date=$(git log -1 --format=%cI 2>/dev/null)"

# build NAME CONTAINERFILE BINARY [GO BUILD FLAGS...] builds one image.
build() {
	local name=$1 containerfile=$2 binary=$3
	shift 3
	local ctx=$work/$binary root=$work/$binary/rootfs
	mkdir -p "$root/usr/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/var/lib/mamori"
	CGO_ENABLED=0 go build -trimpath "$@" -ldflags "$ldflags" -o "$root/usr/bin/$binary" ./cmd/mamori
	if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
		cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
	fi
	printf 'root:x:0:0:root:/root:/usr/bin/%s\nmamori:x:65532:65532:mamori:/var/lib/mamori:/usr/bin/%s\n' "$binary" "$binary" >"$root/etc/passwd"
	printf 'root:x:0:\nmamori:x:65532:\n' >"$root/etc/group"
	chmod 1777 "$root/tmp"
	chown 65532:65532 "$root/var/lib/mamori"
	cp "$containerfile" "$ctx/Containerfile"
	podman build -q -t "$name" "$ctx" >/dev/null
}

build "$image" deploy/image/Containerfile mamori
build "$agent_image" deploy/image/Containerfile.agent mamori-agent -tags agentonly
if [ -n "${ARCHIVE:-}" ]; then
	agent_archive=${ARCHIVE%.*}-agent.${ARCHIVE##*.}
	[[ $ARCHIVE == *.* ]] || agent_archive=$ARCHIVE-agent
	rm -f "$ARCHIVE" "$agent_archive"
	podman save -q --format oci-archive -o "$ARCHIVE" "$image"
	podman save -q --format oci-archive -o "$agent_archive" "$agent_image"
fi
echo "$image"
echo "$agent_image"
