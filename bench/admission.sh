#!/usr/bin/env bash
# Admission webhook latency under concurrent load; see docs/benchmarks.md
# ("Admission").
#
#   bench/admission.sh [requests]        (default 20000)
#
# Runs BenchmarkAdmission in package admission: the webhook on a real
# HTTPS listener (a certificate made by the test), 8 x GOMAXPROCS clients
# posting an AdmissionReview for a two-container Deployment that the
# default policy refuses. Prints throughput (ns/op is wall time over all
# clients), the p50 and p99 latency of single requests and the CPU time
# per request (client and server together), 3 runs; and the load average,
# since on a shared machine latency is mostly the wait for a core.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
n=${1:-20000}
cd "$(dirname "$0")/.."
uptime
go test -run '^$' -bench '^(BenchmarkAdmission|BenchmarkReview)$' -benchtime "${n}x" -count 3 ./admission
