#!/usr/bin/env bash
# The Prometheus HTTP API of a running agent, end to end: the agent collects
# every 200 ms (with a textfile metric whose value and help the test knows),
# then curl (GET and POST), the real `promtool query instant|range|series|
# labels` and `cairn query` ask it about its own history; every error case
# answers with Prometheus' status code, errorType and message.
source "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/textfile"
printf '# HELP site_role Role of this host.\n# TYPE site_role gauge\nsite_role{role="db"} 1\n' \
    >"$WORK/textfile/role.prom"
start_cairn api --collector.interval=200ms --collector.textfile.directory="$WORK/textfile"
API="http://127.0.0.1:$CAIRN_PORT/api/v1"
sleep 2 # about ten cycles stored

# check FILE PYTHON-EXPRESSION: the expression over `d` (the parsed JSON) holds.
check() {
    python3 - "$1" "$2" <<'PY' || fail "$2 does not hold for $(head -c 600 "$1")"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)
PY
}

# get NAME PATH [curl args]: the answer to GET API/PATH in $WORK/NAME.json, its
# status code in $code.
get() {
    local name=$1 path=$2; shift 2
    code=$(curl -gs -o "$WORK/$name.json" -w '%{http_code}' "$@" "$API$path")
}

# ---- instant and range queries, GET and POST --------------------------------------------
now=$(date +%s.%N)
get q1 "/query?query=site_role"
[ "$code" = 200 ] || fail "instant query: HTTP $code"
check "$WORK/q1.json" 'd["status"] == "success" and d["data"]["resultType"] == "vector" and
    [(r["metric"], r["value"][1]) for r in d["data"]["result"]] == [({"__name__": "site_role", "role": "db"}, "1")]'
check "$WORK/q1.json" "abs(d['data']['result'][0]['value'][0] - $now) < 30"
code=$(curl -s -o "$WORK/q2.json" -w '%{http_code}' "$API/query" \
    --data-urlencode 'query=count(node_cpu_seconds_total{mode="idle"}) == bool 0' \
    --data-urlencode "time=$now")
[ "$code" = 200 ] || fail "POST query: HTTP $code"
check "$WORK/q2.json" 'd["data"]["result"][0]["value"][1] == "0"'
start=$(python3 -c "print($now - 1.5)")
code=$(curl -s -o "$WORK/q3.json" -w '%{http_code}' "$API/query_range" \
    --data-urlencode 'query=node_load1 * 0 + 1' --data-urlencode "start=$start" \
    --data-urlencode "end=$now" --data-urlencode 'step=0.25')
[ "$code" = 200 ] || fail "range query: HTTP $code"
check "$WORK/q3.json" 'd["data"]["resultType"] == "matrix" and len(d["data"]["result"]) == 1 and
    len(d["data"]["result"][0]["values"]) == 7 and
    all(v == "1" for t, v in d["data"]["result"][0]["values"])'
# The agent's own history: appended samples grow from cycle to cycle.
get q4 "/query?query=deriv(cairn_tsdb_head_samples_appended_total[2s])>bool+0"
check "$WORK/q4.json" 'd["data"]["result"][0]["value"][1] == "1"'
pass "instant and range queries over the agent's history (GET and POST)"

# ---- series, labels, label values, metadata, status --------------------------------------
get s1 "/series?match[]=site_role&match[]=node_load1"
check "$WORK/s1.json" 'd["data"] == [{"__name__": "node_load1"}, {"__name__": "site_role", "role": "db"}]'
code=$(curl -s -o "$WORK/s2.json" -w '%{http_code}' "$API/series" --data-urlencode 'match[]={role="db"}')
check "$WORK/s2.json" 'd["data"] == [{"__name__": "site_role", "role": "db"}]'
get l1 "/labels?match[]=site_role"
check "$WORK/l1.json" 'd["data"] == ["__name__", "role"]'
get l2 "/labels"
check "$WORK/l2.json" '"collector" in d["data"] and "mode" in d["data"] and d["data"] == sorted(d["data"])'
get v1 "/label/role/values"
check "$WORK/v1.json" 'd["data"] == ["db"]'
get v2 "/label/__name__/values?match[]={__name__=~\"node_load.*\"}"
check "$WORK/v2.json" 'd["data"] == ["node_load1", "node_load15", "node_load5"]'
get m1 "/metadata?metric=site_role"
check "$WORK/m1.json" 'd["data"] == {"site_role": [{"type": "gauge", "help": "Role of this host.", "unit": ""}]}'
get m2 "/metadata?limit=3"
check "$WORK/m2.json" 'len(d["data"]) == 3'
get b1 "/status/buildinfo"
version=$("$CAIRN" --version | awk '{print $3}')
check "$WORK/b1.json" "d['data']['version'] == '$version' and set(d['data']) ==
    {'version', 'revision', 'branch', 'buildUser', 'buildDate', 'goVersion'}"
get r1 "/status/runtimeinfo"
check "$WORK/r1.json" 'd["data"]["reloadConfigSuccess"] is True and d["data"]["storageRetention"] == "15d"
    and d["data"]["corruptionCount"] == 0 and d["data"]["GOMAXPROCS"] >= 1'
get t1 "/status/tsdb"
check "$WORK/t1.json" 'd["data"]["headStats"]["numSeries"] > 100 and d["data"]["headStats"]["chunkCount"] > 100 and
    d["data"]["labelValueCountByLabelName"][0]["name"] == "__name__" and
    all(len(d["data"][k]) == 10 for k in ("seriesCountByMetricName", "labelValueCountByLabelName",
        "memoryInBytesByLabelName", "seriesCountByLabelValuePair")) and
    [s["value"] for s in d["data"]["seriesCountByMetricName"]] ==
        sorted((s["value"] for s in d["data"]["seriesCountByMetricName"]), reverse=True)'
pass "series, labels, label values, metadata and status answer with the agent's data"

# ---- errors: Prometheus' codes, types and messages ----------------------------------------
# expect_error NAME CODE TYPE MESSAGE PATH [curl args]
expect_error() {
    local name=$1 want=$2 type=$3 msg=$4 path=$5; shift 5
    get "$name" "$path" "$@"
    [ "$code" = "$want" ] || fail "$path: HTTP $code, want $want: $(cat "$WORK/$name.json")"
    python3 - "$WORK/$name.json" "$type" "$msg" <<'PY' || fail "$path: $(cat "$WORK/$name.json")"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if (d["status"], d["errorType"], d["error"]) == ("error", sys.argv[2], sys.argv[3]) else 1)
PY
}
expect_error e1 400 bad_data 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis' \
    '/query?query=sum('
expect_error e2 400 bad_data \
    "invalid parameter \"time\": Invalid time value for 'time': cannot parse \"yesterday\" to a valid timestamp" \
    '/query?query=up&time=yesterday'
expect_error e3 400 bad_data 'invalid parameter "end": end timestamp must not be before start time' \
    '/query_range?query=up&start=2023-11-14T22:13:20Z&end=2023-11-14T22:13:19Z&step=1'
expect_error e4 400 bad_data \
    'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer' \
    '/query_range?query=up&start=1&end=2&step=0'
expect_error e5 400 bad_data \
    'exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)' \
    '/query_range?query=up&start=0&end=86400&step=7'
expect_error e6 400 bad_data 'no match[] parameter provided' '/series'
expect_error e7 422 execution \
    'multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)' \
    '/query?query=node_cpu_seconds_total+%2B+on()+site_role'
expect_error e8 503 timeout 'query timed out in query execution' '/query?query=up&timeout=0'
code=$(curl -s -o "$WORK/e9.txt" -w '%{http_code}' "$API/nonexistent")
[ "$code" = 404 ] || fail "unknown endpoint: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$API/query")
[ "$code" = 405 ] || fail "DELETE /query: HTTP $code"
pass "errors: bad query, bad time, start after end, step 0, too many points, 422, timeout, 404, 405"

# ---- promtool, a real Prometheus client ------------------------------------------------------
U="http://127.0.0.1:$CAIRN_PORT"
promtool query instant "$U" 'site_role' >"$WORK/p1.txt" || fail "promtool query instant: $(cat "$WORK/p1.txt")"
grep -Eq '^site_role\{role="db"\} => 1 @\[[0-9.]+\]$' "$WORK/p1.txt" || fail "promtool instant: $(cat "$WORK/p1.txt")"
# From a whole second at least two seconds after the agent was ready.
promtool query range --start="$(python3 -c "print(int($now) - 1)")" --end="$(python3 -c "print(int($now))")" \
    --step=0.5s "$U" 'site_role' >"$WORK/p2.txt" || fail "promtool query range: $(cat "$WORK/p2.txt")"
[ "$(grep -c '^1 @\[' "$WORK/p2.txt")" = 3 ] || fail "promtool range: $(cat "$WORK/p2.txt")"
promtool query series --match='site_role' --match='node_load5' "$U" >"$WORK/p3.txt" || fail "promtool query series"
[ "$(cat "$WORK/p3.txt")" = "$(printf '{__name__="node_load5"}\n{__name__="site_role", role="db"}')" ] ||
    fail "promtool series: $(cat "$WORK/p3.txt")"
promtool query labels "$U" role >"$WORK/p4.txt" || fail "promtool query labels"
[ "$(cat "$WORK/p4.txt")" = db ] || fail "promtool labels: $(cat "$WORK/p4.txt")"
set +e
promtool query instant "$U" 'rate(' >"$WORK/p5.txt" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] && grep -q 'bad_data' "$WORK/p5.txt" || fail "promtool on a bad query: rc $rc, $(cat "$WORK/p5.txt")"
pass "promtool query instant, range, series and labels read the agent"

# ---- cairn query ----------------------------------------------------------------------------------
"$CAIRN" query --server="$U" -o table 'site_role' >"$WORK/c1.txt"
head -1 "$WORK/c1.txt" | grep -Eq '^SERIES +VALUE +TIMESTAMP$' || fail "cairn query table header: $(cat "$WORK/c1.txt")"
sed -n 2p "$WORK/c1.txt" | grep -Eq '^site_role\{role="db"\}  1      [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' ||
    fail "cairn query table row: $(cat "$WORK/c1.txt")"
"$CAIRN" query --server="$U" 'site_role' >"$WORK/c2.json" # not a terminal: JSON
check "$WORK/c2.json" 'd["data"]["result"][0]["metric"] == {"__name__": "site_role", "role": "db"}'
"$CAIRN" query range --server="$U" -o json --start=now-1s --step=0.5 'site_role' >"$WORK/c3.json"
check "$WORK/c3.json" 'd["data"]["resultType"] == "matrix" and len(d["data"]["result"][0]["values"]) == 3'
"$CAIRN" query series --server="$U" -o table 'site_role' >"$WORK/c4.txt"
[ "$(cat "$WORK/c4.txt")" = "$(printf 'SERIES\nsite_role{role="db"}')" ] || fail "cairn query series: $(cat "$WORK/c4.txt")"
"$CAIRN" query labels --server="$U" -o table role >"$WORK/c5.txt"
[ "$(cat "$WORK/c5.txt")" = "$(printf 'VALUE\ndb')" ] || fail "cairn query labels: $(cat "$WORK/c5.txt")"
set +e
"$CAIRN" query --server="$U" 'sum(' >"$WORK/c6.out" 2>"$WORK/c6.err"
rc=$?
"$CAIRN" query --server="127.0.0.1:$(free_port)" up >"$WORK/c7.out" 2>"$WORK/c7.err"
rc7=$?
set -e
[ "$rc" = 1 ] && grep -qx 'cairn: error: bad_data: invalid parameter "query": 1:5: parse error: unclosed left parenthesis' \
    "$WORK/c6.err" || fail "cairn query on a bad query: rc $rc, $(cat "$WORK/c6.err")"
[ "$rc7" = 1 ] && grep -q "^cairn: error: cannot query 127.0.0.1:[0-9]*: .*onnect" "$WORK/c7.err" ||
    fail "cairn query with no server: rc $rc7, $(cat "$WORK/c7.err")"
pass "cairn query: table and JSON output, range, series, labels; errors exit 1"

kill -TERM "$CAIRN_PID"
wait "$CAIRN_PID" || fail "agent did not stop cleanly"
pass "the agent stopped cleanly after serving queries"

# ---- runtimeinfo follows reloads ------------------------------------------------------------------
printf 'collection:\n  interval: 1s\n' >"$WORK/reload.yml"
start_cairn reload --config.file="$WORK/reload.yml"
API="http://127.0.0.1:$CAIRN_PORT/api/v1"
get r2 "/status/runtimeinfo"
check "$WORK/r2.json" 'd["data"]["reloadConfigSuccess"] is True'
first=$(python3 -c "import json; print(json.load(open('$WORK/r2.json'))['data']['lastConfigTime'])")
printf 'collection:\n  interval: [\n' >"$WORK/reload.yml"
kill -HUP "$CAIRN_PID"
for i in $(seq 1 50); do grep -q 'reload failed' "$WORK/reload.log" && break; sleep 0.1; done
get r3 "/status/runtimeinfo"
check "$WORK/r3.json" "d['data']['reloadConfigSuccess'] is False and d['data']['lastConfigTime'] == '$first'"
sleep 1 # lastConfigTime has whole seconds
printf 'collection:\n  interval: 2s\n' >"$WORK/reload.yml"
kill -HUP "$CAIRN_PID"
for i in $(seq 1 50); do grep -q 'configuration reloaded' "$WORK/reload.log" && break; sleep 0.1; done
get r4 "/status/runtimeinfo"
check "$WORK/r4.json" "d['data']['reloadConfigSuccess'] is True and d['data']['lastConfigTime'] > '$first'"
pass "runtimeinfo reports a failed reload, then the next successful one"
