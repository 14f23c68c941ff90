#!/usr/bin/env bash
# The real binary end to end: scrape it, lint the output with promtool,
# compare its families with node_exporter 1.5 (the recorded fixture and the
# live binary on this host), let a real Prometheus 2.42 scrape it, and
# exercise --config.check, SIGHUP and SIGTERM.
source "$(dirname "$0")/lib.sh"

# ---- families against the recorded node_exporter 1.5 scrape -------------------
# Started like the recorded node_exporter: default collectors, no textfile directory.
start_cairn main
curl -sf "http://127.0.0.1:$CAIRN_PORT/metrics" >"$WORK/cairn.prom"
grep -q '^node_scrape_collector_success{collector="cpu"} 1$' "$WORK/cairn.prom" || fail "cpu collector did not succeed"
python3 "$SRC/tests/integration/compare_families.py" "$SHARED/fixtures/node_exporter-1.5.0.metrics" "$WORK/cairn.prom" \
    || fail "families differ from the node_exporter 1.5 fixture"
pass "families match the node_exporter 1.5 fixture"
MAIN_PORT=$CAIRN_PORT

# ---- against a live node_exporter 1.5, both with a textfile directory ------------
mkdir -p "$WORK/textfile"
printf '# HELP site_role Role of this host.\n# TYPE site_role gauge\nsite_role{role="db"} 1\n' >"$WORK/textfile/role.prom"
start_cairn textfile --collector.textfile.directory="$WORK/textfile"
curl -sf "http://127.0.0.1:$CAIRN_PORT/metrics" >"$WORK/cairn-tf.prom"
grep -q '^site_role{role="db"} 1$' "$WORK/cairn-tf.prom" || fail "textfile metric missing"
NE_PORT=$(free_port)
prometheus-node-exporter --web.listen-address=127.0.0.1:$NE_PORT \
    --collector.textfile.directory="$WORK/textfile" >"$WORK/ne.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$NE_PORT/metrics"
curl -sf "http://127.0.0.1:$NE_PORT/metrics" >"$WORK/ne.prom"
python3 "$SRC/tests/integration/compare_families.py" "$WORK/ne.prom" "$WORK/cairn-tf.prom" \
    || fail "families differ from the live node_exporter 1.5"
pass "families match the live node_exporter 1.5"

# ---- promtool check metrics ----------------------------------------------------------
set +e
promtool check metrics <"$WORK/cairn-tf.prom" >"$WORK/lint.txt" 2>&1
lint_rc=$?
promtool check metrics <"$SHARED/fixtures/node_exporter-1.5.0.metrics" >"$WORK/lint-ne.txt" 2>&1
promtool check metrics <"$WORK/ne.prom" >"$WORK/lint-ne-live.txt" 2>&1
set -e
[ $lint_rc -eq 0 ] || [ $lint_rc -eq 3 ] || { cat "$WORK/lint.txt"; fail "promtool could not parse the output (rc $lint_rc)"; }
grep -qi 'error while linting\|text format parsing error' "$WORK/lint.txt" && { cat "$WORK/lint.txt"; fail "promtool parse error"; }
# Every finding must name a metric that node_exporter 1.5 also exports under
# the same name and for which promtool reports the same problem.
cut -d' ' -f1 "$WORK/lint-ne.txt" "$WORK/lint-ne-live.txt" | sort -u >"$WORK/allowed.txt"
bad=0
while read -r name rest; do
    [ -n "$name" ] || continue
    case $name in cairn_*) echo "finding on cairn's own name: $name $rest"; bad=1; continue ;; esac
    grep -qx "$name" "$WORK/allowed.txt" || { echo "finding not inherited from node_exporter: $name $rest"; bad=1; }
done <"$WORK/lint.txt"
[ $bad -eq 0 ] || fail "promtool findings beyond node_exporter's inherited names"
pass "promtool check metrics: $(wc -l <"$WORK/lint.txt") findings, all inherited from node_exporter 1.5"
CAIRN_PORT=$MAIN_PORT

# ---- a real Prometheus scrapes it ---------------------------------------------
PROM_PORT=$(free_port)
cat >"$WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: cairn
    static_configs:
      - targets: ["127.0.0.1:$CAIRN_PORT"]
YML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom-data" \
    --web.listen-address=127.0.0.1:$PROM_PORT >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PROM_PORT/-/ready" 30
up=""
for i in $(seq 1 60); do
    up=$(curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query?query=up" |
        python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")')
    [ "$up" = "1" ] && break
    sleep 0.5
done
[ "$up" = "1" ] || { tail -20 "$WORK/prometheus.log"; fail "Prometheus does not see up == 1 (got '$up')"; }
n=$(curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query?query=count(%7Bjob%3D%22cairn%22%7D)" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
[ "$n" -gt 100 ] || fail "Prometheus ingested only $n series"
pass "Prometheus 2.42 scrapes cairn: up == 1, $n series"

# ---- --config.check ------------------------------------------------------------
printf 'web:\n  listen_address: "127.0.0.1:9100"\ncollectors:\n  loadavg: true\n' >"$WORK/good.yml"
"$CAIRN" agent --config.file="$WORK/good.yml" --config.check >"$WORK/check.out" 2>&1 || fail "valid config rejected: $(cat "$WORK/check.out")"
printf 'web:\n  listen_address: "127.0.0.1:9100"\n  colour: red\n' >"$WORK/bad.yml"
set +e
"$CAIRN" agent --config.file="$WORK/bad.yml" --config.check >"$WORK/check.out" 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || fail "bad config: exit $rc, want 2"
grep -q "bad.yml:3:3: unknown key \"colour\" in web" "$WORK/check.out" || fail "bad config message: $(cat "$WORK/check.out")"
set +e
"$CAIRN" agent --collector.filesystem.mount-points-exclude='(' --config.check >"$WORK/check.out" 2>&1
rc=$?
set -e
[ $rc -eq 2 ] && grep -q "collector filesystem" "$WORK/check.out" || fail "bad collector option accepted (rc $rc): $(cat "$WORK/check.out")"
pass "--config.check accepts a good file and rejects bad ones with file:line:column"

# ---- SIGHUP reload and SIGTERM -----------------------------------------------------
printf 'collectors:\n  disable_defaults: true\n  loadavg: true\n' >"$WORK/reload.yml"
start_cairn reload --config.file="$WORK/reload.yml" --collector.interval=1s
curl -sf "http://127.0.0.1:$CAIRN_PORT/metrics" | grep 'node_scrape_collector_success{collector="uname"}' >/dev/null && fail "uname enabled before reload"
printf 'collectors:\n  disable_defaults: true\n  loadavg: true\n  uname: true\n' >"$WORK/reload.yml"
kill -HUP "$CAIRN_PID"
for i in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$CAIRN_PORT/metrics" | grep 'node_scrape_collector_success{collector="uname"} 1' >/dev/null && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$CAIRN_PORT/metrics" | grep 'node_scrape_collector_success{collector="uname"} 1' >/dev/null || fail "reload did not enable uname"
printf 'collectors:\n  nonsense: [\n' >"$WORK/reload.yml"
kill -HUP "$CAIRN_PID"
sleep 0.5
grep -q 'reload failed' "$WORK/reload.log" || fail "bad reload not logged"
curl -sf "http://127.0.0.1:$CAIRN_PORT/metrics" | grep 'node_scrape_collector_success{collector="uname"} 1' >/dev/null || fail "bad reload lost the running configuration"
kill -TERM "$CAIRN_PID"
for i in $(seq 1 50); do kill -0 "$CAIRN_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$CAIRN_PID" 2>/dev/null && fail "agent did not stop on SIGTERM"
wait "$CAIRN_PID" && rc=0 || rc=$?
[ $rc -eq 0 ] || fail "agent exited $rc on SIGTERM"
grep -q 'shutting down' "$WORK/reload.log" || fail "no shutdown log line"
pass "SIGHUP reloads (and survives a bad file), SIGTERM stops cleanly"
