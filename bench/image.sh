#!/usr/bin/env bash
# Image scan throughput; see docs/benchmarks.md ("Image scan").
#
#   bench/image.sh [runs]        (default 3)
#
# Scans two images with `mamori image scan`, each from podman's storage and
# from an OCI archive (podman save --format oci-archive), and prints for
# each the best of `runs` runs: wall seconds, layer MB read, MB/s and MB per
# CPU-second (user+system of the mamori process, which waiting for a core on
# a shared machine does not dilute).
#   busybox   localhost/mamori-test-busybox:latest (scripts/build-test-image.sh)
#   debian    a debootstrap --variant=minbase bookworm root file system,
#             `podman import`ed as localhost/mamori-bench-debian:bookworm; the
#             tarball is cached in $MAMORI_BENCH_CACHE (default
#             /var/cache/mamori-bench) so later runs skip debootstrap
# Two analyzer sets: the default (built-in checks, SBOM, secrets) and
# --no-secrets. Needs root, podman (scripts/setup-podman.sh) and the
# Debian mirror for debootstrap.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
runs=${1:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${MAMORI_BENCH_CACHE:-/var/cache/mamori-bench}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d /tmp/mamori-imagebench.XXXXXX)
trap 'rm -rf "$work"' EXIT

"$repo/scripts/setup-podman.sh" >/dev/null
"$repo/scripts/build-test-image.sh" >/dev/null
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
command -v jq >/dev/null || apt-get install -y -qq jq >/dev/null

debian=localhost/mamori-bench-debian:bookworm
if ! podman image exists "$debian"; then
	mkdir -p "$cache"
	if [ ! -s "$cache/bookworm-minbase.tar" ]; then
		echo "image.sh: debootstrap minbase bookworm (about 1.5 minutes)" >&2
		debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
			{ tail -20 "$work/debootstrap.log" >&2; exit 1; }
		tar -C "$work/rootfs" --numeric-owner -cf "$cache/bookworm-minbase.tar" .
		rm -rf "$work/rootfs"
	fi
	podman import -q "$cache/bookworm-minbase.tar" "$debian" >/dev/null
fi

(cd "$repo" && go build -o "$work/mamori" ./cmd/mamori)
podman save -q --format oci-archive -o "$work/busybox.tar" localhost/mamori-test-busybox:latest
podman save -q --format oci-archive -o "$work/debian.tar" "$debian"

measure() { # label, then mamori image scan arguments; prints one row
	local label=$1 best=999999 cpu=0 bytes=0 files=0
	shift
	for _ in $(seq "$runs"); do
		/usr/bin/time -f '%e %U %S' -o "$work/time" "$work/mamori" image scan -o json --report-output "$work/report.json" "$@" >/dev/null 2>&1 || true
		read -r wall user sys <"$work/time"
		if awk -v a="$wall" -v b="$best" 'BEGIN{exit !(a<b)}'; then
			best=$wall
			cpu=$(echo "$user + $sys" | bc -l)
			bytes=$(jq .stats.storedBytes "$work/report.json")
			files=$(jq .stats.files "$work/report.json")
		fi
	done
	printf '%-34s %8d %8.1f %7.2f %7.1f %9.1f\n' "$label" "$files" "$(echo "$bytes/1000000" | bc -l)" "$best" \
		"$(echo "$bytes/1000000/$best" | bc -l)" "$(echo "$bytes/1000000/$cpu" | bc -l)"
}

printf '%-34s %8s %8s %7s %7s %9s\n' scan files layer_MB wall_s MB/s cpu-MB/s
for img in busybox debian; do
	ref=podman:localhost/mamori-test-busybox:latest
	[ "$img" = debian ] && ref=podman:$debian
	measure "$img podman storage" "$ref"
	measure "$img podman storage --no-secrets" "$ref" --no-secrets
	measure "$img OCI archive" "archive:$work/$img.tar"
done
uptime
