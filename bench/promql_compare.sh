#!/usr/bin/env bash
# PromQL over HTTP: cairn vs Prometheus 2.42 on the same data, in one run.
#
# bench_promql_data writes one 24 h block (15 s scrapes) for the first
# SERIES (default 10,000) label sets of ../shared/bench/20kseries.json plus
# a synthetic classic histogram per instance; both servers open a copy of
# that block (Prometheus reads cairn's blocks as its own) and nothing else
# is scraped or collected. bench/promql_bench.py then times the same
# dashboard queries against both over HTTP, alternating servers, and prints
# median latencies, their ratio, and each server's peak RSS growth during a
# query. It asserts nothing.
#
# usage: bench/promql_compare.sh BUILD_DIR   (make bench-promql; a release build)
set -euo pipefail
BUILD=${1:-build}
CAIRN=$BUILD/cairn
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=$HERE/../../shared
SERIES=${SERIES:-10000}
HOURS=${HOURS:-24}
RUNS=${RUNS:-7}
WORK=$(mktemp -d /tmp/cairn-promql-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() {
    for _ in $(seq 1 600); do
        curl -sf "$1" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "server at $1 did not become ready" >&2
    return 1
}

mkdir -p "$WORK/data"
"$BUILD/bench_promql_data" "$SHARED/bench/20kseries.json" "$WORK/data" "$SERIES" "$HOURS" | tee "$WORK/gen.txt"
END_MS=$(sed -n 's/.*\.\.\([0-9]*\)$/\1/p' "$WORK/gen.txt")
cp -r "$WORK/data" "$WORK/prom"
cp -r "$WORK/data" "$WORK/cairn"
rm -rf "$WORK/data"

PP=$(free_port)
printf 'global:\n  scrape_interval: 15s\n' >"$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
    --storage.tsdb.retention.time=30d --web.listen-address="127.0.0.1:$PP" \
    --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
PROM_PID=$!
CP=$(free_port)
"$CAIRN" agent --collector.disable-defaults --storage.tsdb.path="$WORK/cairn" \
    --storage.tsdb.retention.time=30d --web.listen-address="127.0.0.1:$CP" \
    --log.level=warn >"$WORK/cairn.log" 2>&1 &
PIDS+=($!)
CAIRN_PID=$!
wait_ready "http://127.0.0.1:$PP/-/ready"
wait_ready "http://127.0.0.1:$CP/-/ready"

python3 "$HERE/promql_bench.py" --runs "$RUNS" --end-ms "$END_MS" \
    --server "prometheus=http://127.0.0.1:$PP=$PROM_PID" \
    --server "cairn=http://127.0.0.1:$CP=$CAIRN_PID"
