#!/usr/bin/env bash
# cairn agent vs node_exporter 1.5, side by side on this host, in one run:
#   - /metrics throughput over loopback (wrk, plain and gzip)
#   - CPU seconds per collection cycle (node_exporter collects on every scrape;
#     cairn on its interval, measured with no scrapes at all)
#   - resident memory at idle and after the load
# Both run their default collectors. Prints a table; asserts nothing.
#
# usage: bench/node_exporter_compare.sh [CAIRN_BINARY]   (make bench)
set -euo pipefail
CAIRN=${1:-./build/cairn}
DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
CYCLES=${CYCLES:-40}
CAIRN_CYCLES=${CAIRN_CYCLES:-200}
WORK=$(mktemp -d /tmp/cairn-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { for _ in $(seq 1 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
# CPU seconds of a process so far, at nanosecond resolution: the sum of its
# threads' run times from schedstat (exited threads are not counted, so both
# processes are measured while they run steadily).
cpu_of() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.9f", s / 1e9 }'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
rps() { wrk -t2 -c"$CONNS" -d"${DURATION}s" "$@" 2>/dev/null | awk '/Requests\/sec/ { print $2 }'; }

NE_PORT=$(free_port)
prometheus-node-exporter --web.listen-address=127.0.0.1:$NE_PORT >"$WORK/ne.log" 2>&1 &
NE_PID=$!; PIDS+=($NE_PID)
CA_PORT=$(free_port)
"$CAIRN" agent --web.listen-address=127.0.0.1:$CA_PORT --log.level=warn >"$WORK/cairn.log" 2>&1 &
CA_PID=$!; PIDS+=($CA_PID)
wait_http "http://127.0.0.1:$NE_PORT/metrics"
wait_http "http://127.0.0.1:$CA_PORT/-/ready"
sleep 1

ne_series=$(curl -s "http://127.0.0.1:$NE_PORT/metrics" | grep -vc '^#')
ca_series=$(curl -s "http://127.0.0.1:$CA_PORT/metrics" | grep -vc '^#')
ne_rss_idle=$(rss_kib $NE_PID)
ca_rss_idle=$(rss_kib $CA_PID)

# CPU per collection: node_exporter collects on each scrape, so time N
# sequential scrapes; this includes its HTTP and encoding work, as a
# Prometheus scrape would.
c0=$(cpu_of $NE_PID)
for _ in $(seq 1 "$CYCLES"); do curl -s -o /dev/null "http://127.0.0.1:$NE_PORT/metrics"; done
c1=$(cpu_of $NE_PID)
ne_cycle_ms=$(awk -v a="$c0" -v b="$c1" -v n="$CYCLES" 'BEGIN { printf "%.2f", (b - a) * 1000 / n }')

# cairn: a second instance collecting every 100 ms with nobody scraping,
# measured over CAIRN_CYCLES cycles.
CB_PORT=$(free_port)
"$CAIRN" agent --web.listen-address=127.0.0.1:$CB_PORT --collector.interval=100ms --log.level=warn >"$WORK/cairn2.log" 2>&1 &
CB_PID=$!; PIDS+=($CB_PID)
wait_http "http://127.0.0.1:$CB_PORT/-/ready"
sleep 1
c0=$(cpu_of $CB_PID)
sleep "$(awk -v n="$CAIRN_CYCLES" 'BEGIN { print n / 10 }')"
c1=$(cpu_of $CB_PID)
ca_cycle_ms=$(awk -v a="$c0" -v b="$c1" -v n="$CAIRN_CYCLES" 'BEGIN { printf "%.3f", (b - a) * 1000 / n }')
ca_self_ms=$(curl -s "http://127.0.0.1:$CB_PORT/metrics" | awk '/^cairn_collection_cpu_seconds / { printf "%.3f", $2 * 1000 }')
kill $CB_PID

ne_rps=$(rps "http://127.0.0.1:$NE_PORT/metrics")
ca_rps=$(rps "http://127.0.0.1:$CA_PORT/metrics")
ne_rps_gz=$(rps -H 'Accept-Encoding: gzip' "http://127.0.0.1:$NE_PORT/metrics")
ca_rps_gz=$(rps -H 'Accept-Encoding: gzip' "http://127.0.0.1:$CA_PORT/metrics")
ne_rss_load=$(rss_kib $NE_PID)
ca_rss_load=$(rss_kib $CA_PID)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }
printf '\n%-44s %14s %14s %8s\n' "measure ($(nproc) cores, $(date -u +%F))" "node_exporter" "cairn" "ratio"
printf '%-44s %14s %14s %8s\n' "series on /metrics" "$ne_series" "$ca_series" ""
printf '%-44s %14s %14s %8s\n' "/metrics req/s, plain (wrk -c$CONNS, ${DURATION}s)" "$ne_rps" "$ca_rps" "$(ratio "$ca_rps" "$ne_rps")"
printf '%-44s %14s %14s %8s\n' "/metrics req/s, gzip" "$ne_rps_gz" "$ca_rps_gz" "$(ratio "$ca_rps_gz" "$ne_rps_gz")"
printf '%-44s %14s %14s %8s\n' "CPU ms per collection cycle" "$ne_cycle_ms" "$ca_cycle_ms" "$(ratio "$ne_cycle_ms" "$ca_cycle_ms")"
printf '%-44s %14s %14s %8s\n' "  cairn's own cairn_collection_cpu_seconds" "" "$ca_self_ms" ""
printf '%-44s %14s %14s %8s\n' "RSS KiB, idle" "$ne_rss_idle" "$ca_rss_idle" "$(ratio "$ne_rss_idle" "$ca_rss_idle")"
printf '%-44s %14s %14s %8s\n' "RSS KiB, after the load" "$ne_rss_load" "$ca_rss_load" "$(ratio "$ne_rss_load" "$ca_rss_load")"
