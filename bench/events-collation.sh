#!/usr/bin/env bash
# What the events' identifiers in collation "C" save (PostgreSQL schema
# version 9; docs/benchmarks.md, "Events' identifiers in collation C").
#
#   sudo bench/events-collation.sh
#
# Starts Debian's PostgreSQL 15 in a temporary directory (port 25433),
# makes a database in C.UTF-8 and one whose collation is ICU's en-US, and
# in each inserts 200,000 events shaped like the console's (16-digit
# process ids, 64-digit container ids) into a table like `events` with its
# four indexes, once with the identifiers in the database's collation and
# once in "C", four turns each. Prints each insert's milliseconds.
set -euo pipefail
PG=/usr/lib/postgresql/15/bin
dir=$(mktemp -d) && chown postgres "$dir" && chmod 700 "$dir"
pgrun() { (cd / && runuser -u postgres -- "$PG/$1" "${@:2}"); }
pgrun initdb -D "$dir" -A trust -U mamori -E UTF8 >/dev/null
pgrun pg_ctl -D "$dir" -o "-p 25433 -k $dir -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_wal_size=4GB" -l "$dir/log" -w start >/dev/null
trap 'pgrun pg_ctl -D "$dir" -m fast -w stop >/dev/null; rm -rf "$dir"' EXIT
sql() { psql -qX -h 127.0.0.1 -p 25433 -U mamori "$@"; }
sql postgres -c "CREATE DATABASE cutf8" -c "CREATE DATABASE enus TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
table() { # name collate-clause
	echo "CREATE TABLE $1 (time_ns BIGINT NOT NULL, id TEXT $2 NOT NULL, cluster TEXT $2 NOT NULL, node TEXT $2 NOT NULL,
		container_id TEXT $2 NOT NULL, type TEXT $2 NOT NULL, process_id TEXT $2 NOT NULL, parent_id TEXT $2 NOT NULL,
		doc TEXT NOT NULL, PRIMARY KEY (time_ns, id));
	CREATE INDEX ON $1 (container_id, time_ns); CREATE INDEX ON $1 (process_id); CREATE INDEX ON $1 (parent_id);"
}
for db in cutf8 enus; do
	sql "$db" -c "CREATE TABLE src AS SELECT 1733400000000000000::bigint + g * 1000 AS time_ns, md5(g::text) AS id,
		'prod'::text AS cluster, 'node-' || (g % 50) AS node, encode(sha256(((g / 100) % 400)::text::bytea), 'hex') AS container_id,
		(ARRAY['exec', 'open', 'connect', 'exit'])[1 + g % 4] AS type, substr(md5((g / 3)::text), 1, 16) AS process_id,
		substr(md5((g / 9)::text), 1, 16) AS parent_id, repeat('x', 500) AS doc FROM generate_series(1, 200000) AS g" \
		-c "$(table ev_default '')" -c "$(table ev_c 'COLLATE "C"')"
	for order in "ev_default ev_c" "ev_c ev_default" "ev_default ev_c" "ev_c ev_default"; do
		for t in $order; do
			ms=$(sql "$db" -c "TRUNCATE $t" -c "CHECKPOINT" -c '\timing on' -c "INSERT INTO $t SELECT * FROM src" | awk '/^Time/ {print $2}')
			echo "$db $t $ms ms"
		done
	done
done
