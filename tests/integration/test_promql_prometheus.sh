#!/usr/bin/env bash
# cairn's PromQL answers against Prometheus 2.42's on the same block.
#
# An OpenMetrics data set (4 h at 15 s: counters with a reset, gauges, an info
# metric, a classic histogram, series with gaps) is imported once with
# `cairn tsdb import openmetrics`; Prometheus and the cairn agent each open a
# copy of the blocks and nothing else. promql_compare.py then asks both the
# same instant and range queries (selectors, offsets and @, every kind of
# function, aggregations, joins, set operators, subqueries, an error) and
# fails on any difference in series, timestamps or values (1e-9 relative).
source "$(dirname "$0")/lib.sh"

command -v prometheus >/dev/null || fail "prometheus (Debian package prometheus) is not installed"
COMPARE=$SRC/tests/integration/promql_compare.py

now=$(date +%s)
start=$(( now / 7200 * 7200 - 4 * 3600 ))
t=$(( start + 4 * 3600 - 15 ))
python3 "$COMPARE" gen "$WORK/data.om" "$start" 4
mkdir -p "$WORK/blocks"
"$CAIRN" tsdb import openmetrics "$WORK/data.om" "$WORK/blocks" >"$WORK/import.log" 2>&1 ||
    { cat "$WORK/import.log"; fail "import"; }
cp -r "$WORK/blocks" "$WORK/prom-data"
cp -r "$WORK/blocks" "$WORK/cairn-data"

PROM_PORT=$(free_port)
printf 'global:\n  scrape_interval: 15s\n' >"$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom-data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PROM_PORT/-/ready" 60

start_cairn cairn --collector.disable-defaults

python3 "$COMPARE" compare "http://127.0.0.1:$PROM_PORT" "http://127.0.0.1:$CAIRN_PORT" "$t" \
    >"$WORK/compare.txt" || { cat "$WORK/compare.txt"; fail "cairn and Prometheus answer differently"; }
tail -1 "$WORK/compare.txt"
pass "cairn answers as Prometheus 2.42 does"
