#!/bin/bash
# setup-podman.sh makes rootful podman (and containerd's ctr) usable on a
# mamori development or CI machine. It is idempotent: run it as often as you
# like; it only installs what is missing and rewrites the config when it
# changes.
#
# What it does:
#   - apt-get installs podman runc crun uidmap fuse-overlayfs busybox-static
#     catatonit (the pause process of podman pods) containerd when any of
#     them is missing (apt-get update once, first).
#   - writes /etc/containers/containers.conf, the system-wide file that every
#     podman reads, so that a plain `podman run` works for users and tests
#     alike without CONTAINERS_CONF. Out of the box podman asks for rlimits
#     above this VM's hard limits and every `podman run` fails with
#     "setrlimit RLIMIT_NOFILE: Operation not permitted"; the ulimits below
#     are derived from `ulimit -Hn` / `ulimit -Hu`. runc, because crun
#     refuses this host's hybrid cgroup layout; cgroupfs, because there is no
#     systemd managing cgroups; a file events logger, because there is no
#     journald.
#   - starts containerd if it is installed but not running (so `ctr` works).
#   - verifies with a real `podman run` of a tiny image (built by
#     build-test-image.sh next to this script).
#
# Needs root. Set MAMORI_SKIP_VERIFY=1 to skip the final podman run.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	echo "setup-podman.sh: must run as root" >&2
	exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
conf=/etc/containers/containers.conf
pkgs="podman runc crun uidmap fuse-overlayfs busybox-static catatonit containerd"

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "setup-podman.sh: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi

nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
[ "$nofile" = unlimited ] && nofile=1048576
[ "$nproc" = unlimited ] && nproc=4194304
# A container does not need the whole host budget of processes.
[ "$nproc" -gt 32768 ] && nproc=32768

want=$(cat <<CONF
# Written by mamori scripts/setup-podman.sh; rewritten when it changes.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
CONF
)
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
	mkdir -p "$(dirname "$conf")"
	printf '%s\n' "$want" >"$conf.tmp.$$"
	mv "$conf.tmp.$$" "$conf"
	echo "setup-podman.sh: wrote $conf"
fi

if command -v containerd >/dev/null && ! ctr version >/dev/null 2>&1; then
	echo "setup-podman.sh: starting containerd"
	if command -v systemctl >/dev/null && systemctl start containerd 2>/dev/null; then
		:
	else
		mkdir -p /var/log
		setsid nohup containerd </dev/null >/var/log/containerd.log 2>&1 &
	fi
	i=0
	while ! ctr version >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 50 ]; then
			echo "setup-podman.sh: containerd did not come up, see /var/log/containerd.log" >&2
			break
		fi
		sleep 0.1
	done
fi

if [ "${MAMORI_SKIP_VERIFY:-}" != 1 ]; then
	"$here/build-test-image.sh" >/dev/null
	out=$(podman run --rm localhost/mamori-test-busybox:latest echo podman-ok)
	if [ "$out" != podman-ok ]; then
		echo "setup-podman.sh: podman run printed '$out', want 'podman-ok'" >&2
		exit 1
	fi
	echo "setup-podman.sh: podman run works"
fi
