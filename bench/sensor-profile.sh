#!/usr/bin/env bash
# Where the sensor's cost goes; see docs/benchmarks.md.
#
#   sudo bench/sensor-profile.sh [mamori agent flags]   (default: --events --events-output /dev/null)
#
# Starts one agent, turns on the kernel's BPF run-time statistics
# (kernel.bpf_stats_enabled, which itself costs two clock reads per program
# run), runs each storm once, and prints per storm: how often each of the
# BPF programs ran (the sensor's and the enforcers', by name:id) and the
# nanoseconds they took, and the agent's CPU.
# With PERF=1 it also records the agent with perf during the file storm and
# prints the top of the profile. Run bench/sensor.sh first: it builds the
# binaries into $OUT.
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then echo "sensor-profile.sh: run as root" >&2; exit 1; fi
OUT=${OUT:-/tmp/mamori-bench}
ADDR=127.0.0.1:19749
[[ $# -gt 0 ]] || set -- --events --events-output /dev/null
for b in mamori-agent storm; do
	[[ -x $OUT/$b ]] || { echo "sensor-profile.sh: no $OUT/$b; run bench/sensor.sh first" >&2; exit 1; }
done
command -v bpftool >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftool >/dev/null; }
if [[ ${PERF:-0} == 1 ]] && ! command -v perf >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
fi

old_stats=$(sysctl -n kernel.bpf_stats_enabled)
agent=
cleanup() {
	[[ -n $agent ]] && { kill -INT "$agent" 2>/dev/null; wait "$agent" 2>/dev/null || true; }
	sysctl -qw kernel.bpf_stats_enabled="$old_stats"
}
trap cleanup EXIT INT TERM

"$OUT/mamori-agent" --health-addr "$ADDR" --log-level warn "$@" >"$OUT/profile-agent.log" 2>&1 &
agent=$!
for _ in $(seq 300); do
	curl -sf "http://$ADDR/healthz" >/dev/null 2>&1 && break
	kill -0 "$agent" 2>/dev/null || { echo "agent exited; see $OUT/profile-agent.log" >&2; exit 1; }
	sleep 0.05
done
sysctl -qw kernel.bpf_stats_enabled=1

progs() {
	bpftool prog show -j | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("run_cnt", 0) or p.get("name") in ("handle_exec", "handle_fork", "handle_exit", "sys_exit"):
        print("%s:%d" % (p.get("name", "?"), p["id"]), p.get("run_time_ns", 0), p.get("run_cnt", 0))' | sort
}
cpu() { awk '{print $14 + $15}' "/proc/$agent/stat"; }
handled() { curl -sf "http://$ADDR/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["handled"])'; }

for storm in "exec -n 1000" "file -n 20000 -dir /dev/shm" "connect -n 10000"; do
	progs >"$OUT/p0"; c0=$(cpu); h0=$(handled)
	perfpid=
	if [[ ${PERF:-0} == 1 && $storm == file* ]]; then
		perf record -q -F 2000 -g -p "$agent" -o "$OUT/perf.data" >/dev/null 2>&1 &
		perfpid=$!
		sleep 0.2
	fi
	res=$("$OUT/storm" -mode $storm)
	sleep 0.3
	[[ -n $perfpid ]] && { kill -INT "$perfpid"; wait "$perfpid" || true; }
	progs >"$OUT/p1"; c1=$(cpu); h1=$(handled)
	n=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["n"])' "$res")
	echo "== storm $storm: $res"
	echo "   agent: $((h1 - h0)) events, $(((c1 - c0) * 10)) ms CPU; by type: $(curl -sf "http://$ADDR/status" | python3 -c 'import json,sys; print({k: v for k, v in json.load(sys.stdin)["events"].items() if v})')"
	join "$OUT/p0" "$OUT/p1" | awk -v n="$n" '{dn = $4 - $2; dc = $5 - $3; if (dc > 0) printf "   %-12s %9d runs %8.1f ms %6.0f ns/run %7.1f us/op\n", $1, dc, dn / 1e6, dn / dc, dn / 1e3 / n}'
	if [[ -n $perfpid ]]; then
		echo "   perf, agent during the file storm (children, top 25):"
		perf report -i "$OUT/perf.data" --children --sort symbol -g none 2>/dev/null | grep '%' | grep -v '^#' | cut -c1-110 | head -25 || true
	fi
done
