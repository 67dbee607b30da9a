#!/bin/bash
# build-test-image.sh builds localhost/mamori-test-busybox:latest, a tiny
# image for tests that need a real container, without any registry: a rootfs
# holding /bin/busybox from Debian's busybox-static plus one symlink per
# applet, tarred and ADDed to a FROM scratch image. It is idempotent and
# returns at once when the image already exists (FORCE=1 rebuilds it).
#
# With IMPORT_CONTAINERD=1 it also imports the image into containerd's
# "default" namespace (`ctr images import`), when ctr is installed.
#
# Prints the image name on stdout. Needs root and podman (setup-podman.sh).
set -euo pipefail

image=localhost/mamori-test-busybox:latest

if [ "${FORCE:-}" = 1 ] || ! podman image exists "$image"; then
	busybox=/bin/busybox
	if ! "$busybox" --list >/dev/null 2>&1 || ldd "$busybox" >/dev/null 2>&1; then
		echo "build-test-image.sh: $busybox is missing or not static; install busybox-static" >&2
		exit 1
	fi
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/etc" \
		"$work/rootfs/proc" "$work/rootfs/sys" "$work/rootfs/dev"
	cp "$busybox" "$work/rootfs/bin/busybox"
	for applet in $("$busybox" --list); do
		[ "$applet" = busybox ] && continue
		ln -s busybox "$work/rootfs/bin/$applet"
	done
	echo "root:x:0:0:root:/root:/bin/sh" >"$work/rootfs/etc/passwd"
	echo "root:x:0:" >"$work/rootfs/etc/group"
	chmod 1777 "$work/rootfs/tmp"
	tar -C "$work/rootfs" --numeric-owner --owner=0 --group=0 -cf "$work/rootfs.tar" .
	cat >"$work/Containerfile" <<'CF'
FROM scratch
ADD rootfs.tar /
LABEL org.opencontainers.image.title="mamori-test-busybox" \
      dev.mamori.test="true"
ENV PATH=/bin
CMD ["/bin/sh"]
CF
	podman build -q -t "$image" "$work" >/dev/null
fi

if [ "${IMPORT_CONTAINERD:-}" = 1 ] && command -v ctr >/dev/null; then
	if ! ctr -n default images check "name==$image" 2>/dev/null | grep -q "$image"; then
		work2=$(mktemp -d)
		podman save -q --format oci-archive -o "$work2/img.tar" "$image" >/dev/null
		ctr -n default images import --base-name localhost/mamori-test-busybox "$work2/img.tar" >/dev/null
		rm -rf "$work2"
	fi
fi

echo "$image"
