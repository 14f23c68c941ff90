#!/usr/bin/env bash
# The agent's embedded TSDB end to end: SIGKILL in the middle of ingestion
# loses nothing committed and duplicates nothing; blocks cut and compacted
# by the running agent are read by promtool, and Prometheus 2.42 started on
# the agent's data directory answers queries with the agent's values; a
# corrupt block is set aside and a full disk keeps /metrics serving.
source "$(dirname "$0")/lib.sh"

metric() { # metric NAME: its value on the running agent's /metrics
    curl -sf "http://127.0.0.1:$CAIRN_PORT/metrics" | awk -v n="$1" '$1 == n {print $2}'
}

# ---- crash: SIGKILL while cycles are being appended, every 200 ms ---------------
start_cairn crash --collector.interval=200ms
sleep 3
promised=$(metric cairn_tsdb_head_samples_appended_total)
[ "${promised%.*}" -gt 1000 ] || fail "too few samples appended before the kill: $promised"
sleep 0.3
kill -KILL "$CAIRN_PID"
wait "$CAIRN_PID" 2>/dev/null || true
"$CAIRN" tsdb dump "$WORK/crash-data" >"$WORK/c.txt"
promtool tsdb dump "$WORK/crash-data" >"$WORK/p.txt"
got=$(wc -l <"$WORK/c.txt")
[ "$got" -ge "${promised%.*}" ] || fail "after SIGKILL $got samples replay, but $promised were committed"
# A line is "{labels} value timestamp": a series and timestamp seen twice.
series_times() { sed -E 's/ [^ ]+ ([0-9]+)$/ \1/' "$@" | sort | uniq -d; }
dups=$(series_times "$WORK/c.txt" | wc -l)
[ "$dups" -eq 0 ] || fail "$dups duplicated samples after SIGKILL"
diff -q "$WORK/p.txt" "$WORK/c.txt" >/dev/null || { diff -u "$WORK/p.txt" "$WORK/c.txt" | head; fail "promtool replays the killed agent's WAL differently"; }
start_cairn crash --collector.interval=200ms --storage.tsdb.path="$WORK/crash-data"
grep -q 'msg="WAL replayed"' "$WORK/crash.log" || fail "no replay logged: $(tail -3 "$WORK/crash.log")"
sleep 1
kill -TERM "$CAIRN_PID"
wait "$CAIRN_PID" || fail "agent did not stop cleanly after the restart"
"$CAIRN" tsdb dump "$WORK/crash-data" >"$WORK/c2.txt"
series_times "$WORK/c2.txt" >"$WORK/dups.txt"
[ ! -s "$WORK/dups.txt" ] || fail "duplicates after the restart: $(head -3 "$WORK/dups.txt")"
pass "SIGKILL mid-ingestion: all $promised committed samples replay ($got found), none twice; promtool agrees"

# ---- blocks: 2s blocks cut and compacted by the agent; promtool and Prometheus read them
start_cairn blocks --collector.interval=250ms --storage.tsdb.min-block-duration=2s
for i in $(seq 1 100); do
    c=$(metric cairn_tsdb_compactions_total)
    [ "${c:-0}" != 0 ] && break
    sleep 0.2
done
[ "${c:-0}" != 0 ] || fail "no compaction within 20s: $(grep -c 'block written' "$WORK/blocks.log") blocks written"
[ "$(metric cairn_tsdb_blocks_loaded)" -ge 2 ] || fail "blocks loaded: $(metric cairn_tsdb_blocks_loaded)"
[ "$(metric cairn_tsdb_retention_limit_seconds)" = 1.296e+06 ] || fail "default retention is not 15d"
kill -TERM "$CAIRN_PID"
wait "$CAIRN_PID" || fail "agent did not stop cleanly"
blk=$(find "$WORK/blocks-data" -mindepth 2 -maxdepth 2 -name meta.json -exec grep -l '"level": 2' {} + | head -1)
[ -n "$blk" ] || fail "no level-2 block on disk"
promtool tsdb analyze "$WORK/blocks-data" "$(basename "$(dirname "$blk")")" >"$WORK/analyze.txt" ||
    fail "promtool tsdb analyze refused a compacted block: $(tail -3 "$WORK/analyze.txt")"
"$CAIRN" tsdb dump "$WORK/blocks-data" >"$WORK/c.txt"
promtool tsdb dump "$WORK/blocks-data" >"$WORK/p.txt"
diff -q "$WORK/p.txt" "$WORK/c.txt" >/dev/null || { diff -u "$WORK/p.txt" "$WORK/c.txt" | head; fail "promtool dumps the agent's blocks differently"; }
pass "the agent cut and compacted blocks; promtool analyze and dump read them ($(wc -l <"$WORK/c.txt") samples)"

# Prometheus on the agent's directory: the same raw samples for a series.
PROM_PORT=$(free_port)
printf 'global:\n  scrape_interval: 1h\n' >"$WORK/prometheus.yml"
cp -r "$WORK/blocks-data" "$WORK/prom-data"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom-data" \
    --web.listen-address=127.0.0.1:$PROM_PORT >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PROM_PORT/-/ready" 30
# At the newest sample's time (this machine's wall clock may lag it).
last=$(grep '^{__name__="node_time_seconds"' "$WORK/c.txt" | tail -1 | awk '{print $NF}')
now=$(python3 -c "print($last / 1000 + 1)")
curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode 'query=node_time_seconds[1h]' \
    --data-urlencode "time=$now" >"$WORK/q.json"
python3 - "$WORK/q.json" "$WORK/c.txt" <<'PY' || fail "Prometheus answers differently from the agent's data"
import json, sys
res = json.load(open(sys.argv[1]))["data"]["result"]
assert len(res) == 1, res
prom = [(int(round(float(t) * 1000)), v) for t, v in res[0]["values"]]
mine = []
for line in open(sys.argv[2]):
    if line.startswith('{__name__="node_time_seconds"'):
        _, v, t = line.rsplit(" ", 2)
        mine.append((int(t), v))
prom = [(t, float(v)) for t, v in prom]
mine = [(t, float(v)) for t, v in mine]
assert len(prom) > 20, len(prom)
assert prom == mine, (sorted(set(prom) ^ set(mine)), len(prom), len(mine))
print(f"  {len(prom)} samples equal")
PY
pass "Prometheus 2.42 on the agent's data directory answers /api/v1/query with the agent's samples"

# ---- bad input on disk: a corrupt block is set aside, the rest serves ---------------
blk=$(find "$WORK/blocks-data" -mindepth 1 -maxdepth 1 -name '0*' -type d | head -1)
echo "not json" >"$blk/meta.json"
start_cairn blocks --collector.interval=250ms --storage.tsdb.min-block-duration=2s \
    --storage.tsdb.path="$WORK/blocks-data"
[ -d "$blk.corrupt" ] || fail "corrupt block not set aside"
grep -q 'msg="block failed validation; set aside"' "$WORK/blocks.log" || fail "corrupt block not logged"
[ "$(metric cairn_tsdb_corrupt_blocks_total)" = 1 ] || fail "corrupt block not counted"
for i in $(seq 1 50); do # the agent records it as an event within a cycle
    curl -sf "http://127.0.0.1:$CAIRN_PORT/api/v1/events?type=BlockCorrupt" >"$WORK/ev.json"
    [ "$(jq '.data.events | length' "$WORK/ev.json")" = 1 ] && break
    sleep 0.1
done
jq -e '.data.events[0] | .source == "agent" and .severity == "critical" and .attributes.count == "1"' "$WORK/ev.json" >/dev/null ||
    fail "no BlockCorrupt event: $(cat "$WORK/ev.json")"
kill -TERM "$CAIRN_PID"
wait "$CAIRN_PID" || true
pass "a block with a garbage meta.json is renamed .corrupt and logged; the agent serves"

# ---- full disk: a WAL that cannot grow; /metrics keeps serving ---------------------
# A file size limit (the agent ignores SIGXFSZ) fails WAL writes with EFBIG
# once a segment passes 200 KiB, as a full disk fails them with ENOSPC.
( ulimit -f 200; exec "$CAIRN" agent --web.listen-address=127.0.0.1:$CAIRN_PORT \
    --storage.tsdb.path="$WORK/full-data" --collector.interval=100ms >"$WORK/full.log" 2>&1 ) &
CAIRN_PID=$!
PIDS+=($CAIRN_PID)
wait_http "http://127.0.0.1:$CAIRN_PORT/-/ready"
for i in $(seq 1 100); do
    f=$(metric cairn_tsdb_wal_writes_failed_total)
    [ "${f:-0}" != 0 ] && break
    sleep 0.2
done
[ "${f:-0}" != 0 ] || fail "the WAL never hit the size limit"
grep -q 'msg="writing the WAL failed' "$WORK/full.log" || fail "WAL failure not logged"
curl -sf "http://127.0.0.1:$CAIRN_PORT/metrics" >"$WORK/full-metrics.txt" || fail "/metrics stopped serving"
grep -q '^node_load1 ' "$WORK/full-metrics.txt" || fail "/metrics lost its series"
kill -TERM "$CAIRN_PID"
wait "$CAIRN_PID" || true
"$CAIRN" tsdb dump "$WORK/full-data" >"$WORK/full.txt" || fail "the WAL left by a full disk does not replay"
[ -s "$WORK/full.txt" ] || fail "nothing durable survived the full disk"
pass "a WAL that cannot be written is logged and counted; /metrics serves; what was written replays ($(wc -l <"$WORK/full.txt") samples)"
