#!/usr/bin/env bash
# Console benchmark; see docs/benchmarks.md ("Console").
#
#   sudo bench/console.sh            ingest (10 simulated agents) into SQLite and PostgreSQL,
#                                    then feed and count queries over 1M stored alerts
#   sudo SIZES="1000000 10000000" bench/console.sh
#   sudo INGEST_ONLY=1 bench/console.sh                       ingest only
#   sudo INGEST_ONLY=1 STORES=postgres bench/console.sh       ingest into PostgreSQL only
#   sudo SKIP_INGEST=1 SQLITE_MAX=0 SIZES=10000000 bench/console.sh   queries over 10M in PostgreSQL only
#
# Starts its own PostgreSQL 15 (Debian's, as the postgres user, in a
# temporary directory, default durability settings but shared_buffers=1GB
# and max_wal_size=4GB) and its own consoles on loopback ports; leaves
# nothing running. Results go to $OUT (default /tmp/mamori-console-bench).
# Each ingest also reports the CPU per alert of the console, PostgreSQL,
# the NATS server and the simulated agents (cpuacct cgroups).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/mamori-console-bench}
SIZES=${SIZES:-1000000}
SQLITE_MAX=${SQLITE_MAX:-1000000} # loading SQLite past this takes too long here
STORES=${STORES:-sqlite postgres}   # the stores ingest is measured into
PER=${PER:-20000}
PG=/usr/lib/postgresql/15/bin
rm -rf "$OUT" && mkdir -p "$OUT" && chmod 755 "$OUT"
cd "$repo"
go build -o "$OUT/mamori" ./cmd/mamori
go build -o "$OUT/consolebench" ./bench/consolebench

# CPU accounting: the console, PostgreSQL, a standalone NATS server and the
# simulated agents each run in a cpuacct cgroup of their own (cgroup v1, as
# on this machine), so that the CPU each spends per alert is known however
# busy the shared machine is. Without cpuacct the CPU lines are left out.
cg=/sys/fs/cgroup/cpuacct/mamori-bench-$$
if [[ -d /sys/fs/cgroup/cpuacct ]]; then mkdir -p "$cg"/{console,pg,nats,agents}; else cg=; fi
# ingroup GROUP CMD...: exec CMD in GROUP's cgroup (run it in a subshell).
ingroup() { local g=$1; shift; [[ -z $cg ]] || echo $BASHPID >"$cg/$g/cgroup.procs"; exec "$@"; }
cpu_ms() { echo $(($(cat "$cg/$1/cpuacct.usage") / 1000000)); }
cpu_mark() { [[ -z $cg ]] || for g in console pg nats agents; do eval "mark_$g=$(cpu_ms $g)"; done; }
cpu_report() { # alerts: CPU per alert of each group since cpu_mark
	[[ -z $cg ]] && return
	local out="CPU per alert:" g v
	for g in console pg nats agents; do
		eval "v=\$((($(cpu_ms $g) - mark_$g) * 1000 / $1))"
		((v > 0)) && out+=" $g $v µs,"
	done
	echo "${out%,}"
}

port=25432
mkdir -p "$OUT/pg" && chown postgres "$OUT/pg" && chmod 700 "$OUT/pg"
pgrun() { (cd / && runuser -u postgres -- "$PG/$1" "${@:2}"); }
pgrun initdb -D "$OUT/pg" -A trust -U mamori -E UTF8 >/dev/null
(
	[[ -z $cg ]] || echo $BASHPID >"$cg/pg/cgroup.procs"
	pgrun pg_ctl -D "$OUT/pg" -o "-p $port -k $OUT/pg -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_wal_size=4GB" \
		-l "$OUT/pg/log" -w start >/dev/null
)
console_pid=
cleanup() {
	[[ -n $console_pid ]] && kill "$console_pid" 2>/dev/null && wait "$console_pid" 2>/dev/null || true
	pgrun pg_ctl -D "$OUT/pg" -m fast -w stop >/dev/null 2>&1 || true
	[[ -z $cg ]] || rmdir "$cg"/* "$cg" 2>/dev/null || true
}
trap cleanup EXIT
for db in ingest q; do pgrun createdb -h 127.0.0.1 -p $port -U mamori $db; done

ingest() { # name store
	(ingroup console "$OUT/mamori" console --insecure --data-dir "$OUT/console-$1" --store "$2" --listen 127.0.0.1:29747 \
		--nats-listen 127.0.0.1:24222 2>"$OUT/console-$1.log" >/dev/null) &
	console_pid=$!
	sleep 2
	echo "## ingest into $1 (10 agents x $PER alerts)"
	cpu_mark
	(ingroup agents "$OUT/consolebench" ingest -nats nats://127.0.0.1:24222 -api http://127.0.0.1:29747 -agents 10 -per "$PER")
	cpu_report $((10 * PER))
	kill "$console_pid"; wait "$console_pid" || true; console_pid=
}
# drain: ingest alone. A standalone nats-server holds the streams; a
# console creates them and stops; the agents publish everything; a console
# starts again and stores what waits, timed from its first stored alert.
drain() { # name store
	local natsbin=$OUT/nats-server
	[[ -x $natsbin ]] || go build -o "$natsbin" github.com/nats-io/nats-server/v2
	(ingroup nats "$natsbin" -js -a 127.0.0.1 -p 24333 -sd "$OUT/ns-$1" >"$OUT/ns-$1.log" 2>&1) &
	local nats_pid=$!
	sleep 1
	local args=(console --insecure --nats nats://127.0.0.1:24333 --replicas 1 --store "$2" --listen 127.0.0.1:29747 --data-dir "$OUT/drain-$1")
	"$OUT/mamori" "${args[@]}" >/dev/null 2>>"$OUT/drain-$1.log" &
	console_pid=$!
	until curl -sf http://127.0.0.1:29747/healthz >/dev/null; do sleep 0.2; done
	kill "$console_pid"; wait "$console_pid" || true
	echo "## drain into $1: 10 agents x $PER alerts published, then stored"
	"$OUT/consolebench" ingest -nats nats://127.0.0.1:24333 -agents 10 -per "$PER" -publish-only | grep published
	cpu_mark
	(ingroup console "$OUT/mamori" "${args[@]}" >/dev/null 2>>"$OUT/drain-$1.log") &
	console_pid=$!
	"$OUT/consolebench" drain -api http://127.0.0.1:29747 -n $((10 * PER))
	cpu_report $((10 * PER))
	kill "$console_pid"; wait "$console_pid" || true; console_pid=
	kill "$nats_pid"; wait "$nats_pid" || true
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -z ${SKIP_INGEST:-} ]]; then
	[[ $STORES == *sqlite* ]] && ingest sqlite "$OUT/ingest.db"
	[[ $STORES == *postgres* ]] && ingest postgres "postgres://mamori@127.0.0.1:$port/ingest"
	pgrun createdb -h 127.0.0.1 -p $port -U mamori drain
	[[ $STORES == *sqlite* ]] && drain sqlite "$OUT/drain.db"
	[[ $STORES == *postgres* ]] && drain postgres "postgres://mamori@127.0.0.1:$port/drain"
fi
[[ ${INGEST_ONLY:-} ]] && exit 0

loaded=0
for n in $SIZES; do
	add=$((n - loaded))
	echo "## $n stored alerts"
	if (( n <= SQLITE_MAX )); then
		"$OUT/consolebench" load -store "$OUT/q.db" -n "$add" 2>/dev/null | sed 's/^/sqlite: /'
	fi
	"$OUT/consolebench" load -store "postgres://mamori@127.0.0.1:$port/q" -n "$add" -workers 4 2>/dev/null | sed 's/^/postgres: /'
	# Statistics, then the load's dirty pages written out: the queries are
	# measured on a settled database, not against the load's write-back.
	pgrun psql -h 127.0.0.1 -p $port -U mamori -d q -qc "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
	sync
	echo "load before the queries: $(cut -d' ' -f1-3 /proc/loadavg)"
	loaded=$n
	if (( n <= SQLITE_MAX )); then
		echo "### SQLite, $n alerts"
		"$OUT/consolebench" query -store "$OUT/q.db"
	fi
	echo "### PostgreSQL, $n alerts"
	"$OUT/consolebench" query -store "postgres://mamori@127.0.0.1:$port/q"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
