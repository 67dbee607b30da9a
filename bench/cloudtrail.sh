#!/usr/bin/env bash
# CloudTrail scan throughput; see docs/benchmarks.md ("CloudTrail scan").
#
#   bench/cloudtrail.sh [copies] [runs] [set]   (default 100 copies, 5 runs, all)
#
# Builds a corpus of `copies` copies of every CloudTrail log in
# ../shared/corpora/cloudtrail: the Stratus Red Team detonations (JSON
# arrays, pretty-printed), the OTRF S3 exfiltration dataset (one record per
# line), the Datadog export in zmallen-cloudtrail2sightings (delivery
# objects {"Records":[...]}; its one malformed file is left out, since jq
# stops at it) and the CloudTrail events of Panther's labelled tests (taken
# out of their test cases with jq, one per line). With set stratus-otrf,
# only the first two, the corpus of the figures before 2026-11-23 08:00.
# Then it scans the corpus
# on one core (taskset -c 0), each way `runs` times, and prints the best
# wall time and the best CPU time (user+sys) of each:
#   mamori        mamori cloudtrail scan --rules aws_cloudtrail_rules.yaml:
#                 mamori's built-in rules and Falco's upstream ones
#   mamori+sigma  the same with --rules sigma/aws too: every rule mamori
#                 runs on CloudTrail
#   jq            jq selecting the records the upstream rules look at (their
#                 event names, successful calls only), what many users
#                 script today
#   decode        a bare encoding/json decode of the same files (bench/ctdecode)
# The load average is printed before and after: on a shared machine the
# CPU time says more than the wall time.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
copies=${1:-100}
runs=${2:-5}
set=${3:-all}
repo=$(cd "$(dirname "$0")/.." && pwd)
corpora=$repo/../shared/corpora
ct=$corpora/cloudtrail
[ -d "$ct" ] || { echo "cloudtrail.sh: $ct not found" >&2; exit 1; }
command -v jq >/dev/null || { apt-get install -y -qq jq >/dev/null; }
work=$(mktemp -d /tmp/mamori-ctbench.XXXXXX)
trap 'rm -rf "$work"' EXIT

(cd "$repo" && go build -o "$work/mamori" ./cmd/mamori && go build -o "$work/ctdecode" ./bench/ctdecode)
mkdir -p "$work/src" "$work/logs"
jq -c '.log' "$ct/panther-analysis-tests/cloudtrail_rule_test_events.jsonl" >"$work/src/panther-events.jsonl"
src=("$ct"/stratus-red-team/*.json "$ct"/otrf-security-datasets/*.json)
case $set in
all)
	src+=("$work/src/panther-events.jsonl")
	for f in "$ct"/zmallen-cloudtrail2sightings/*.json; do
		jq empty "$f" 2>/dev/null && src+=("$f")
	done
	;;
stratus-otrf) ;;
*) echo "cloudtrail.sh: set is all or stratus-otrf, not $set" >&2; exit 2 ;;
esac
for i in $(seq "$copies"); do
	for f in "${src[@]}"; do cp "$f" "$work/logs/$i-$(basename "$f")"; done
done
bytes=$(du -sb "$work/logs" | cut -f1)
files=("$work"/logs/*)
upstream=$corpora/falco/aws_cloudtrail_rules.yaml
names=$(grep -oE 'ct.name ?(=|in) ?\(?"?[A-Za-z0-9_, "]+' "$upstream" |
	sed -E 's/ct.name ?(=|in) ?//; s/[()"]//g; s/ and.*//; s/ or.*//' | tr ',' '\n' | tr -d ' ' | sort -u | jq -R . | jq -sc .)
filter='(if type=="array" then .[] elif type=="object" and has("Records") then .Records[] else . end)
  | select(.errorCode == null) | select(.eventName as $n | '"$names"' | index($n))'

best() { # prints the best wall and the best user+sys seconds of $runs runs of "$@"
	local w=999999 c=999999 t
	for _ in $(seq "$runs"); do
		/usr/bin/time -f '%e %U %S' -o "$work/time" taskset -c 0 "$@" >/dev/null 2>&1 || true
		t=$(tail -1 "$work/time")
		w=$(echo "$t" | awk -v b="$w" '{print ($1<b)?$1:b}')
		c=$(echo "$t" | awk -v b="$c" '{s=$2+$3; print (s<b)?s:b}')
	done
	echo "$w $c"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
records=$("$work/ctdecode" "${files[@]}" | cut -d' ' -f1)
m=$(best "$work/mamori" cloudtrail scan --rules "$upstream" "$work/logs")
ms=$(best "$work/mamori" cloudtrail scan --rules "$upstream" --rules "$corpora/sigma/aws" "$work/logs")
j=$(best jq -c "$filter" "${files[@]}")
d=$(best "$work/ctdecode" "${files[@]}")
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
alerts=$("$work/mamori" cloudtrail scan --rules "$upstream" "$work/logs" 2>/dev/null | wc -l)
salerts=$("$work/mamori" cloudtrail scan --rules "$upstream" --rules "$corpora/sigma/aws" "$work/logs" 2>/dev/null | wc -l)
matches=$(jq -c "$filter" "${files[@]}" | wc -l)

printf 'corpus (%s): %d copies, %d files, %d records, %.1f MB; one core, best of %d runs\n' \
	"$set" "$copies" "${#files[@]}" "$records" "$(echo "$bytes/1000000" | bc -l)" "$runs"
printf '%-13s %7s %7s %12s %8s\n' tool wall_s cpu_s records/s MB/s
for row in "mamori $m" "mamori+sigma $ms" "jq $j" "decode $d"; do
	set -- $row
	printf '%-13s %7.2f %7.2f %12.0f %8.1f\n' "$1" "$2" "$3" "$(echo "$records/$2" | bc -l)" "$(echo "$bytes/1000000/$2" | bc -l)"
done
printf 'mamori: %d alerts; mamori+sigma: %d alerts; jq: %d records selected\n' "$alerts" "$salerts" "$matches"
set -- $m
mw=$1 mc=$2
set -- $j
jw=$1 jc=$2
set -- $d
dw=$1 dc=$2
printf 'mamori vs jq: %.1fx faster (wall), %.1fx (cpu); mamori vs bare decode: %.2fx the time (wall), %.2fx (cpu)\n' \
	"$(echo "$jw/$mw" | bc -l)" "$(echo "$jc/$mc" | bc -l)" "$(echo "$mw/$dw" | bc -l)" "$(echo "$mc/$dc" | bc -l)"
