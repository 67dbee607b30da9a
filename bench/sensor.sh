#!/usr/bin/env bash
# Node agent and sensor overhead benchmark; see docs/benchmarks.md.
#
#   sudo bench/sensor.sh [sensorbench flags]
#
# e.g. sudo bench/sensor.sh -rounds 7 -exec-n 2000
#      sudo bench/sensor.sh -configs bare,mamori,mamori-lifecycle -storms exec1
#
# Installs auditd (Debian's, as shipped), builds the agent and the storms,
# runs bench/sensorbench, and leaves no auditd, audit rule or agent behind,
# even when interrupted. Raw results go to $OUT (default /tmp/mamori-bench):
# runs.jsonl, summary.md, agent.log. The agent is the lean mamori-agent
# (-tags agentonly), as the DaemonSet runs it; AGENT="$OUT/mamori agent"
# runs the full binary's instead.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
	echo "sensor.sh: run as root (the agent loads eBPF; auditd needs the audit socket)" >&2
	exit 1
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/mamori-bench}
mkdir -p "$OUT"

# Was auditd already running? Then it is not ours to stop.
audit_was_running=0
if command -v auditctl >/dev/null && [[ $(auditctl -s 2>/dev/null | awk '$1=="pid"{print $2}') != 0 ]]; then
	audit_was_running=1
fi
if [[ $audit_was_running == 1 ]]; then
	echo "sensor.sh: an auditd is already running; stop it first so that bare runs are bare" >&2
	exit 1
fi

# pause sleeps with bash builtins only: the clean-up must work even when
# exec fails (an enforcing agent on a shared machine once denied them all).
pause() { read -r -t "$1" <> <(:) || true; }

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	mountpoint -q "$OUT/tmpfs" && umount "$OUT/tmpfs"
	if [[ -s $OUT/agent.pid ]]; then
		read -r pid <"$OUT/agent.pid"
		kill -INT "$pid" 2>/dev/null && pause 2
		kill -KILL "$pid" 2>/dev/null || true
		rm -f "$OUT/agent.pid"
	fi
	if command -v auditctl >/dev/null; then
		auditctl -D >/dev/null 2>&1 || true
		pid=$(auditctl -s 2>/dev/null | awk '$1=="pid"{print $2}')
		if [[ -n $pid && $pid != 0 ]]; then
			kill -TERM "$pid" 2>/dev/null || true
			for _ in {1..50}; do kill -0 "$pid" 2>/dev/null || break; pause 0.1; done
		fi
		auditctl -e 0 >/dev/null 2>&1 || true
	fi
	exit "$rc"
}
trap cleanup EXIT INT TERM

if ! command -v auditd >/dev/null; then
	echo "sensor.sh: installing auditd" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd >/dev/null
fi

echo "sensor.sh: building into $OUT" >&2
(cd "$repo" && go build -o "$OUT/mamori" ./cmd/mamori && CGO_ENABLED=0 go build -tags agentonly -o "$OUT/mamori-agent" ./cmd/mamori &&
	go build -o "$OUT/storm" ./bench/storm && go build -o "$OUT/sensorbench" ./bench/sensorbench)

# The file storm writes on a tmpfs of its own: no disk or journal noise,
# and no path a rule names (/dev/shm is below /dev, which auditd's nearest
# equivalent of Falco's "Create files below dev" watches whole).
mkdir -p "$OUT/tmpfs"
mountpoint -q "$OUT/tmpfs" || mount -t tmpfs -o size=256m mamori-bench "$OUT/tmpfs"

"$OUT/sensorbench" -agent "${AGENT:-$OUT/mamori-agent}" -storm "$OUT/storm" -out "$OUT" -upstream "$repo/../shared/corpora/falco" -file-dir "$OUT/tmpfs" "$@"
