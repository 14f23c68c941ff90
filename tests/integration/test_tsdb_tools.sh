#!/usr/bin/env bash
# cairn tsdb tools against promtool's, on blocks promtool itself made.
source "$(dirname "$0")/lib.sh"

# Three hours of two series: promtool cuts them into 2h-aligned blocks.
python3 - "$WORK/in.om" <<'PY'
import sys
t0 = 1700000000
with open(sys.argv[1], "w") as f:
    f.write("# TYPE node_load1 gauge\n")
    for i in range(0, 3 * 3600, 15):
        f.write(f'node_load1{{instance="a:9100"}} {0.25 + (i % 300) / 1000} {t0 + i}\n')
    f.write("# TYPE node_cpu_seconds counter\n")
    for i in range(0, 3 * 3600, 15):
        f.write(f'node_cpu_seconds_total{{cpu="0",mode="idle"}} {i * 0.97:.2f} {t0 + i}\n')
    f.write("# EOF\n")
PY
promtool tsdb create-blocks-from openmetrics "$WORK/in.om" "$WORK/data" >/dev/null
nblocks=$(find "$WORK/data" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$nblocks" -ge 2 ] || fail "promtool made $nblocks blocks, expected at least 2"

for flags in "" "-r"; do
    promtool tsdb list $flags "$WORK/data" >"$WORK/promtool-list.txt"
    "$CAIRN" tsdb list $flags "$WORK/data" >"$WORK/cairn-list.txt"
    diff -u "$WORK/promtool-list.txt" "$WORK/cairn-list.txt" || fail "tsdb list $flags differs from promtool's"
done
pass "cairn tsdb list prints what promtool tsdb list prints ($nblocks blocks, plain and -r)"

# A directory that is not a TSDB, and a block whose meta.json is garbage.
set +e
"$CAIRN" tsdb list "$WORK/nonexistent" >/dev/null 2>"$WORK/err.txt"
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "No such file or directory" "$WORK/err.txt" || fail "missing directory: rc $rc, $(cat "$WORK/err.txt")"
block=$(find "$WORK/data" -mindepth 1 -maxdepth 1 -type d | head -1)
echo "not json" >"$block/meta.json"
set +e
"$CAIRN" tsdb list "$WORK/data" >"$WORK/out.txt" 2>"$WORK/err.txt"
rc=$?
set -e
[ $rc -eq 1 ] || fail "corrupt meta.json: exit $rc, want 1"
grep -q "not JSON" "$WORK/err.txt" || fail "corrupt meta.json message: $(cat "$WORK/err.txt")"
[ "$(wc -l <"$WORK/out.txt")" -eq "$nblocks" ] || fail "the other blocks were not listed: $(cat "$WORK/out.txt")"
pass "cairn tsdb list reports a corrupt block and still lists the others"

# ---- dump: blocks promtool made, then a live Prometheus' WAL ---------------------
rm -rf "$WORK/data"
promtool tsdb create-blocks-from openmetrics "$WORK/in.om" "$WORK/data" >/dev/null
mkdir -p "$WORK/data/wal" # promtool's read-only open wants one
for args in "" "--match=node_load1" "--min-time=1700003000000 --max-time=1700006000000" \
    "--match={cpu=\"0\",mode=~\"id.*\"}"; do
    promtool tsdb dump $args "$WORK/data" >"$WORK/p.txt"
    "$CAIRN" tsdb dump $args "$WORK/data" >"$WORK/c.txt"
    [ -s "$WORK/p.txt" ] || fail "promtool dumped nothing for '$args'"
    diff -q "$WORK/p.txt" "$WORK/c.txt" >/dev/null || { diff -u "$WORK/p.txt" "$WORK/c.txt" | head -20; fail "tsdb dump $args differs from promtool's"; }
done
pass "cairn tsdb dump prints what promtool tsdb dump prints on blocks ($(wc -l <"$WORK/c.txt") lines in the last case)"

PROM_PORT=$(free_port)
printf 'global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ["127.0.0.1:%s"]\n' "$PROM_PORT" >"$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
    --web.listen-address=127.0.0.1:$PROM_PORT >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
PIDS+=($PROM_PID)
wait_http "http://127.0.0.1:$PROM_PORT/-/ready" 30
for i in $(seq 1 60); do
    n=$(curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query?query=count_over_time(up%5B1m%5D)" |
        python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
    [ "$n" -ge 3 ] && break
    sleep 0.5
done
kill -TERM $PROM_PID
wait $PROM_PID || true
promtool tsdb dump "$WORK/prom" >"$WORK/p.txt"
"$CAIRN" tsdb dump "$WORK/prom" >"$WORK/c.txt"
[ "$(grep -c '^{__name__="up"' "$WORK/p.txt")" -ge 1 ] || fail "Prometheus' WAL holds no up sample"
diff -q "$WORK/p.txt" "$WORK/c.txt" >/dev/null || { diff -u "$WORK/p.txt" "$WORK/c.txt" | head -20; fail "tsdb dump of a Prometheus WAL differs from promtool's"; }
pass "cairn tsdb dump replays a Prometheus 2.42 WAL as promtool does ($(wc -l <"$WORK/c.txt") samples)"

# ---- bench write: the same input as promtool's, and a WAL promtool reads -----------
"$CAIRN" tsdb bench write --metrics=200 --scrapes=150 --out="$WORK/bench" "$SHARED/bench/20kseries.json" >"$WORK/bench.txt"
grep -q '^ingestion completed$' "$WORK/bench.txt" || fail "bench write: $(cat "$WORK/bench.txt")"
grep -q '^ > total samples: 30000$' "$WORK/bench.txt" || fail "bench write total: $(cat "$WORK/bench.txt")"
grep -q '^ > samples/sec: [0-9.e+]*$' "$WORK/bench.txt" || fail "bench write rate line: $(cat "$WORK/bench.txt")"
n=$(promtool tsdb dump "$WORK/bench" | wc -l)
[ "$n" -eq 30000 ] || fail "promtool reads $n samples from the WAL bench write left, want 30000"
promtool tsdb dump --match='go_gc_duration_seconds{quantile="0",instance="host-000:9100"}' "$WORK/bench" >"$WORK/first.txt"
head -1 "$WORK/first.txt" | grep -q '} 1.23457789e+08 30000$' || fail "bench write samples: $(cat "$WORK/first.txt")"
pass "cairn tsdb bench write ingests promtool's input; promtool replays its WAL ($n samples)"
