#!/bin/bash
# fuzz.sh N runs every testing.F fuzzer of the module for N seconds each,
# one after another (plain `go test`, as CI runs it, only replays each
# fuzzer's seed corpus). A fuzzer that finds a failing input stops the
# run: the input is written to that package's testdata/fuzz/FUZZER/,
# where `go test` replays it from then on; commit it with the fix.
#
#   scripts/fuzz.sh 30                 # every fuzzer, 30 s each
#   scripts/fuzz.sh 60 ./audit/...     # the fuzzers of some packages
#
# FUZZ_WORKERS (default 1) is how many processes each fuzzer runs: the
# machines here are shared, two cores each.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
cd "$(dirname "$0")/.."

secs=${1:?usage: scripts/fuzz.sh SECONDS [PACKAGES...]}
shift || true
pkgs=("${@:-./...}")
workers=${FUZZ_WORKERS:-1}

n=0
for pkg in $(go list "${pkgs[@]}"); do
	for fz in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		n=$((n + 1))
		echo "== $pkg $fz (${secs}s)"
		go test -run '^$' -fuzz "^${fz}\$" -fuzztime "${secs}s" -fuzzminimizetime 10s \
			-parallel "$workers" "$pkg"
	done
done
echo "== $n fuzzers ran ${secs}s each"
