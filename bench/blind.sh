#!/usr/bin/env bash
# What the sensor loses in an event storm, and whether exec events survive
# it; see docs/benchmarks.md ("Storm: what is lost").
#
#   sudo bench/blind.sh [blindbench flags]
#
# e.g. sudo bench/blind.sh -rounds 5 -rings 4M,256K,64K
#      sudo bench/blind.sh -mamori /tmp/mamori-old   (an older build to compare with)
#
# Builds the agent, the storm and the driver into $OUT (default
# /tmp/mamori-bench) and runs bench/blindbench: per ring size, an agent with
# --events, a file storm on two threads with 200 execs of /bin/true on a
# third, then the events dropped per type and cause, the execs that arrived
# and the agent's "sensor blind" reports. Raw results go to
# $OUT/blind-runs.jsonl, the table to $OUT/blind-summary.md, the agent's
# log to $OUT/blind-agent.log.
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then
	echo "blind.sh: run as root (the agent loads eBPF)" >&2
	exit 1
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/mamori-bench}
mkdir -p "$OUT"
echo "blind.sh: building into $OUT" >&2
(cd "$repo" && go build -o "$OUT/mamori" ./cmd/mamori && go build -o "$OUT/storm" ./bench/storm && go build -o "$OUT/blindbench" ./bench/blindbench)
exec "$OUT/blindbench" -mamori "$OUT/mamori" -storm "$OUT/storm" -out "$OUT" "$@"
