#!/usr/bin/env bash
# CloudTrail scan throughput; see docs/benchmarks.md ("CloudTrail scan").
#
#   bench/cloudtrail.sh [copies]        (default 200)
#
# Builds a corpus of `copies` copies of the real CloudTrail logs in
# ../shared/corpora/cloudtrail (Stratus Red Team detonations and the OTRF
# S3 exfiltration dataset), then scans it on one core (taskset -c 0) three
# ways, each run 3 times, and prints the best wall time of each:
#   mamori   mamori cloudtrail scan with upstream aws_cloudtrail_rules.yaml
#   jq       jq selecting the records those rules look at (their event names,
#            successful calls only), what many users script today
#   decode   a bare encoding/json decode of the same files (the floor)
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
copies=${1:-200}
repo=$(cd "$(dirname "$0")/.." && pwd)
corpora=$repo/../shared/corpora
[ -d "$corpora/cloudtrail" ] || { echo "cloudtrail.sh: $corpora/cloudtrail not found" >&2; exit 1; }
command -v jq >/dev/null || { apt-get install -y -qq jq >/dev/null; }
work=$(mktemp -d /tmp/mamori-ctbench.XXXXXX)
trap 'rm -rf "$work"' EXIT

(cd "$repo" && go build -o "$work/mamori" ./cmd/mamori && go build -o "$work/ctdecode" ./bench/ctdecode)
mkdir -p "$work/logs"
src=("$corpora"/cloudtrail/stratus-red-team/*.json "$corpora"/cloudtrail/otrf-security-datasets/*.json)
for i in $(seq "$copies"); do
	for f in "${src[@]}"; do cp "$f" "$work/logs/$i-$(basename "$f")"; done
done
bytes=$(du -sb "$work/logs" | cut -f1)
files=("$work"/logs/*.json)
names=$(grep -oE 'ct.name ?(=|in) ?\(?"?[A-Za-z0-9_, "]+' "$corpora/falco/aws_cloudtrail_rules.yaml" |
	sed -E 's/ct.name ?(=|in) ?//; s/[()"]//g; s/ and.*//; s/ or.*//' | tr ',' '\n' | tr -d ' ' | sort -u | jq -R . | jq -sc .)
filter='(if type=="array" then .[] elif type=="object" and has("Records") then .Records[] else . end)
  | select(.errorCode == null) | select(.eventName as $n | '"$names"' | index($n))'

best() { # best wall seconds of 3 runs of "$@"
	local b=999999 t
	for _ in 1 2 3; do
		/usr/bin/time -f %e -o "$work/time" taskset -c 0 "$@" >/dev/null 2>&1 || true
		t=$(tail -1 "$work/time")
		b=$(awk -v a="$b" -v c="$t" 'BEGIN{print (c<a)?c:a}')
	done
	echo "$b"
}
records=$("$work/ctdecode" "${files[@]}" | cut -d' ' -f1)
m=$(best "$work/mamori" cloudtrail scan --rules "$corpora/falco/aws_cloudtrail_rules.yaml" "$work/logs")
j=$(best jq -c "$filter" "${files[@]}")
d=$(best "$work/ctdecode" "${files[@]}")
alerts=$("$work/mamori" cloudtrail scan --rules "$corpora/falco/aws_cloudtrail_rules.yaml" "$work/logs" 2>/dev/null | wc -l)
matches=$(jq -c "$filter" "${files[@]}" | wc -l)

printf 'corpus: %d copies, %d files, %d records, %.1f MB; one core\n' "$copies" "${#files[@]}" "$records" "$(echo "$bytes/1000000" | bc -l)"
printf '%-8s %8s %12s %8s\n' tool wall_s records/s MB/s
for row in "mamori $m" "jq $j" "decode $d"; do
	set -- $row
	printf '%-8s %8.2f %12.0f %8.1f\n' "$1" "$2" "$(echo "$records/$2" | bc -l)" "$(echo "$bytes/1000000/$2" | bc -l)"
done
printf 'mamori: %d alerts; jq: %d records selected\n' "$alerts" "$matches"
printf 'mamori vs jq: %.1fx faster; mamori vs bare decode: %.2fx the time\n' "$(echo "$j/$m" | bc -l)" "$(echo "$m/$d" | bc -l)"
