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

# ---- import openmetrics: the blocks promtool's create-blocks-from makes ------------
# Five hours of every OpenMetrics metric type: label escapes (\" \\ \n, and \t
# kept as written), UTF-8, an empty label value (dropped), NaN/+Inf/-Inf,
# exemplars, units, fractional-second timestamps (promtool truncates them to
# whole milliseconds), a series that starts late,
# one that speeds up to 1 s (Prometheus' head cuts its chunks at 240
# samples), and one sample given twice (promtool keeps it once).
python3 - "$WORK/rich.om" <<'PY'
import math, sys
t0 = 1700000000
out = []
w = out.append
w('# HELP http_requests Requests served.\n# TYPE http_requests counter\n')
w('# HELP temperature_celsius Room temperature.\n# TYPE temperature_celsius gauge\n')
w('# UNIT temperature_celsius celsius\n# TYPE rpc_duration_seconds histogram\n')
w('# UNIT rpc_duration_seconds seconds\n# TYPE rpc_latency_seconds summary\n# TYPE build info\n')
w('# TYPE feature stateset\n# TYPE mystery unknown\n# TYPE node_misc gauge\n')
w('# HELP help_only No samples: \\\\ and \\n escapes, ünïcödé.\n# TYPE help_only gauge\n')
paths = ['/a\\"b\\\\c\\nd', '/plain', '/t\\tab', 'ünïcödé ✓']
for step in range(0, 5 * 3600 // 15):
    s = t0 + step * 15
    ts = f'{s}.{(step * 37) % 1000:03d}' if step % 4 else f'{s}'
    for i, p in enumerate(paths):
        code = '200' if i % 2 == 0 else '500'
        w(f'http_requests_total{{code="{code}",path="{p}"}} {step * (i + 1)} {ts}\n')
        if step % 40 == 0:
            w(f'http_requests_created{{code="{code}",path="{p}"}} {t0 - 100 * i} {ts}\n')
    v = 21.5 + math.sin(step / 50) * 3
    val = 'NaN' if step % 97 == 5 else '+Inf' if step % 131 == 7 else '-Inf' if step % 173 == 11 else f'{v:.6g}'
    w(f'temperature_celsius{{room="kitchen",floor=""}} {val} {ts}\n')
    w(f'temperature_celsius{{room="cellar"}} {18 + (step % 7) * 0.1:.1f} {ts}\n')
    for le, f in [('0.1', 3), ('0.5', 5), ('1', 8), ('+Inf', 9)]:
        ex = f' # {{trace_id="t{step}"}} 0.{step % 9 + 1} {s}' if le == '0.5' and step % 10 == 0 else ''
        w(f'rpc_duration_seconds_bucket{{le="{le}",method="Get"}} {step * f} {ts}{ex}\n')
    w(f'rpc_duration_seconds_sum{{method="Get"}} {step * 2.75:.2f} {ts}\n')
    w(f'rpc_duration_seconds_count{{method="Get"}} {step * 9} {ts}\n')
    for q in ['0.5', '0.9', '0.99']:
        w(f'rpc_latency_seconds{{quantile="{q}"}} {float(q) * (1 + step % 5)} {ts}\n')
    w(f'rpc_latency_seconds_sum {step * 1.5} {ts}\nrpc_latency_seconds_count {step} {ts}\n')
    if step % 60 == 0:
        w(f'build_info{{version="1.2.{step // 240}",revision="abc"}} 1 {ts}\n')
        w(f'feature{{feature="a"}} {step % 2} {ts}\nfeature{{feature="b"}} {1 - step % 2} {ts}\n')
        for k, lab in enumerate(['dc="x",rack="r1"', 'zone="z",host="h1"', 'host="h2",rack="r10"']):
            w(f'node_misc{{{lab}}} {k} {ts}\n')
    if step >= 3 * 240:
        w(f'mystery{{late="yes"}} {step} {ts}\n')
    if step % 4 == 0 and step < 600:
        w(f'bursty{{kind="slow"}} {step} {s}\n')
    elif 600 <= step < 640:
        for k in range(15):
            w(f'bursty{{kind="slow"}} {step * 15 + k} {s + k}\n')
    if step == 100:
        w(f'mystery{{late="no"}} 1 {s}\nmystery{{late="no"}} 1 {s}\n')
    if step == 7:
        w(f'subms 1 {s}.0009\n')  # 0.9 ms: promtool truncates to whole ms
w('# EOF\n')
open(sys.argv[1], 'w').write(''.join(out))
PY
# The block list without ULIDs (the sizes are compared too: same files).
mask_list() { sed -E -e 's/^[0-9A-HJKMNP-TV-Z]{26} /<ULID> /' "$1"; }
promtool tsdb create-blocks-from openmetrics "$WORK/rich.om" "$WORK/pimp" >"$WORK/p-import.txt"
"$CAIRN" tsdb import openmetrics "$WORK/rich.om" "$WORK/cimp" >"$WORK/c-import.txt" 2>"$WORK/c-import.err"
nblocks=$(($(wc -l <"$WORK/p-import.txt") - 1))
[ "$nblocks" -eq 3 ] || fail "promtool made $nblocks blocks of five hours, want 3"
diff -u <(mask_list "$WORK/p-import.txt") <(mask_list "$WORK/c-import.txt") ||
    fail "import's block list differs from promtool's"
grep -qx 'cairn: warning: 1 sample(s) dropped: out of order or repeated within one batch of 5000 appends, as promtool drops them' \
    "$WORK/c-import.err" || fail "import did not report the sample given twice: $(cat "$WORK/c-import.err")"
mkdir -p "$WORK/pimp/wal" "$WORK/cimp/wal"
promtool tsdb dump "$WORK/pimp" >"$WORK/p.txt"
promtool tsdb dump "$WORK/cimp" >"$WORK/c.txt"
"$CAIRN" tsdb dump "$WORK/cimp" >"$WORK/cc.txt"
nsamples=$(wc -l <"$WORK/p.txt")
[ "$nsamples" -eq 21872 ] || fail "promtool imported $nsamples samples, want 21872"
cmp -s "$WORK/p.txt" "$WORK/c.txt" || { diff -u "$WORK/p.txt" "$WORK/c.txt" | head -20; fail "promtool dumps cairn's import differently"; }
cmp -s "$WORK/p.txt" "$WORK/cc.txt" || fail "cairn tsdb dump of cairn's import differs from promtool's dump"
grep -qF '{__name__="http_requests_total", code="200", path="/a\"b\\c\nd"} 0 1700000000000' "$WORK/c.txt" ||
    fail "escaped label value not imported as promtool does"
grep -qF '{__name__="temperature_celsius", room="kitchen"} NaN 1700000075185' "$WORK/c.txt" &&
    grep -qF '{__name__="subms"} 1 1700000105000' "$WORK/c.txt" || fail "NaN sample or fractional timestamp missing"
# Block for block, the chunk and index files are promtool's byte for byte
# (same chunk cuts, same XOR bytes, same symbols and sections).
pblocks=($(awk 'NR > 1 {print $1}' "$WORK/p-import.txt"))
cblocks=($(awk 'NR > 1 {print $1}' "$WORK/c-import.txt"))
for i in "${!pblocks[@]}"; do
    cmp "$WORK/pimp/${pblocks[$i]}/chunks/000001" "$WORK/cimp/${cblocks[$i]}/chunks/000001" ||
        fail "block $i: chunk file differs from promtool's"
    cmp "$WORK/pimp/${pblocks[$i]}/index" "$WORK/cimp/${cblocks[$i]}/index" ||
        fail "block $i: index differs from promtool's"
    promtool tsdb analyze "$WORK/cimp" "${cblocks[$i]}" >/dev/null || fail "promtool tsdb analyze refuses cairn's block ${cblocks[$i]}"
done
for flags in "-r" "--max-block-duration=24h" "--quiet"; do
    rm -rf "$WORK/pimp2" "$WORK/cimp2"
    promtool tsdb create-blocks-from openmetrics $flags "$WORK/rich.om" "$WORK/pimp2" >"$WORK/p-import.txt"
    "$CAIRN" tsdb import openmetrics $flags "$WORK/rich.om" "$WORK/cimp2" >"$WORK/c-import.txt" 2>/dev/null
    diff -u <(mask_list "$WORK/p-import.txt") <(mask_list "$WORK/c-import.txt") || fail "import $flags: block list differs"
    [ "$(ls "$WORK/pimp2" | wc -l)" -eq "$(ls "$WORK/cimp2" | wc -l)" ] || fail "import $flags: another number of blocks"
done
[ "$(ls "$WORK/cimp2" | wc -l)" -eq 3 ] || fail "import --quiet wrote $(ls "$WORK/cimp2" | wc -l) blocks"
pass "cairn tsdb import openmetrics writes promtool's blocks ($nblocks blocks, $nsamples samples, chunk and index files identical)"

# ---- analyze: promtool's output on promtool's blocks and on cairn's ----------------
# promtool sorts each list with Go's unstable sort.Slice. The last three lists
# come from sorted input, so their order is fixed and must match exactly;
# the first three iterate Go maps, whose order changes from run to run, so
# for them the numbers must match line by line and each entry must be one of
# promtool's (from an unlimited run) with that number.
cat >"$WORK/cmp_analyze.py" <<'PY'
import re, sys
MAP_SECTIONS = {"Label pairs most involved in churning:", "Label names most involved in churning:",
                "Most common label pairs:"}
def parse(path):
    parts = open(path, encoding="utf-8", errors="surrogateescape").read().split("\n\n")
    sections, order = {}, []
    for part in parts[1:]:
        title, _, body = part.partition("\n")
        entries = []
        for line in body.split("\n"):
            if line and (re.match(r"^\d+ ", line) or not entries):
                entries.append(line)
            elif line:  # a label value holding a newline
                entries[-1] += "\n" + line
        sections[title] = entries
        order.append(title)
    return parts[0], order, sections
ph, porder, p = parse(sys.argv[1])
ch, corder, c = parse(sys.argv[2])
_, _, full = parse(sys.argv[3])
errs = []
if ph != ch:
    errs.append("summary differs:\n" + ph + "\n---\n" + ch)
if porder != corder:
    errs.append(f"sections differ: {porder} vs {corder}")
for t in porder:
    pe, ce = p[t], c.get(t, [])
    if t not in MAP_SECTIONS:
        if pe != ce:
            errs.append(t + " differs:\n" + "\n".join(pe) + "\n---\n" + "\n".join(ce))
        continue
    num = lambda e: int(e.split(" ", 1)[0])
    if [num(e) for e in pe] != [num(e) for e in ce]:
        errs.append(t + " numbers differ:\n" + "\n".join(pe) + "\n---\n" + "\n".join(ce))
    if len(set(ce)) != len(ce) or not set(ce) <= set(full[t]):
        errs.append(t + " entries differ:\n" + "\n".join(ce))
if errs:
    print("\n".join(errs))
    sys.exit(1)
PY
ncompared=0
for dir in "$WORK/pimp" "$WORK/cimp"; do
    first=$(ls "$dir" | grep -E '^[0-9A-Z]{26}$' | head -1)
    for args in "" "--limit=3" "--extended"; do
        for blk in "" "$first"; do
            promtool tsdb analyze $args "$dir" $blk >"$WORK/pa.txt"
            "$CAIRN" tsdb analyze $args "$dir" $blk >"$WORK/ca.txt" || fail "cairn tsdb analyze $args $dir $blk failed"
            promtool tsdb analyze --limit=1000000 "$dir" $blk >"$WORK/pf.txt"
            python3 "$WORK/cmp_analyze.py" "$WORK/pa.txt" "$WORK/ca.txt" "$WORK/pf.txt" ||
                fail "tsdb analyze $args $dir $blk differs from promtool's"
            ncompared=$((ncompared + 1))
        done
    done
done
grep -q '^Highest cardinality labels:$' "$WORK/ca.txt" && grep -q '^Compaction analysis:$' "$WORK/ca.txt" ||
    fail "analyze --extended output incomplete: $(cat "$WORK/ca.txt")"
# Two blocks of one minimum time: the default block is promtool's pick (Go's
# sort, not a stable one, decides).
"$CAIRN" tsdb import openmetrics -q "$WORK/rich.om" "$WORK/cimp" 2>/dev/null
[ "$("$CAIRN" tsdb analyze "$WORK/cimp" | head -1)" = "$(promtool tsdb analyze "$WORK/cimp" | head -1)" ] ||
    fail "analyze picks another default block than promtool"
set +e
"$CAIRN" tsdb analyze "$WORK/cimp" 01ARZ3NDEKTSV4RRFFQ69G5FAV >/dev/null 2>"$WORK/err.txt"
rc=$?
set -e
[ $rc -eq 1 ] && grep -q "block 01ARZ3NDEKTSV4RRFFQ69G5FAV not found" "$WORK/err.txt" || fail "unknown block: rc $rc, $(cat "$WORK/err.txt")"
pass "cairn tsdb analyze prints what promtool tsdb analyze prints ($ncompared cases, promtool's and cairn's blocks)"

# ---- import: input promtool refuses -------------------------------------------------
# Each case: a non-zero exit, a message naming the problem, and no block.
python3 - "$WORK" <<'PY'
import sys
d = sys.argv[1]
cases = {
    "nots": 'a 1 100\nb 2\n# EOF\n',
    "garbage": 'a 1 100\ngarbage here\n# EOF\n',
    "noeof": 'a 1 100\n',
    "afteref": 'a 1 100\n# EOF\nb 1 100\n',
    "comment": 'a 1 100\n# just a comment\n# EOF\n',
    "duplabel": 'a{x="1",x="2"} 1 100\n# EOF\n',
    "nants": 'a 1 NaN\n# EOF\n',
    "unit": '# UNIT a_bytes seconds\na_bytes 1 100\n# EOF\n',
    "exemplar": 'a 1 100 # {trace_id="x"} 1\n# EOF\n',
    "badfloat": 'a 0x10 100\n# EOF\n',
    "empty": '',
}
# Out of order and duplicate samples are refused once their series' last
# sample is committed (promtool's appender commits every 5000 samples); the
# first block's range is fine, so promtool leaves one block behind there.
filler = ''.join(f'f{{i="{i}"}} 1 7300\n' for i in range(5000))
cases["ooo"] = 'early 1 100\na 1 7300\n' + filler + 'a 2 7299\n# EOF\n'
cases["dupts"] = 'early 1 100\na 1 7300\n' + filler + 'a 2 7300\n# EOF\n'
for name, text in cases.items():
    open(f"{d}/bad-{name}.om", "w").write(text)
PY
for c in "nots:has no timestamp" "garbage:cannot parse \"here\" as a number" \
    "noeof:does not end with # EOF" "afteref:unexpected data after # EOF" \
    "comment:OpenMetrics allows only # HELP, # TYPE, # UNIT and # EOF" \
    "duplabel:label name \"x\" is not unique" "nants:invalid timestamp" \
    "unit:unit \"seconds\" is not a suffix of metric a_bytes" \
    "exemplar:metric name a does not support exemplars" "badfloat:cannot parse \"0x10\"" \
    "empty:empty file" "ooo:bad-ooo.om:5003: a: out of order sample: time 7299000 is before 7300000" \
    "dupts:bad-dupts.om:5003: a: duplicate sample for time 7300000 with another value"; do
    name=${c%%:*} want=${c#*:}
    set +e
    promtool tsdb create-blocks-from openmetrics "$WORK/bad-$name.om" "$WORK/pbad-$name" >/dev/null 2>&1
    prc=$?
    "$CAIRN" tsdb import openmetrics "$WORK/bad-$name.om" "$WORK/cbad-$name" >"$WORK/out.txt" 2>"$WORK/err.txt"
    rc=$?
    set -e
    [ $prc -ne 0 ] || fail "promtool accepts bad-$name.om"
    [ $rc -eq 1 ] || fail "bad-$name.om: exit $rc, want 1"
    grep -qF "$want" "$WORK/err.txt" || fail "bad-$name.om: message $(cat "$WORK/err.txt"), want \"$want\""
    [ ! -s "$WORK/out.txt" ] || fail "bad-$name.om: printed $(cat "$WORK/out.txt")"
    [ -z "$(ls -A "$WORK/cbad-$name" 2>/dev/null)" ] || fail "bad-$name.om: left $(ls "$WORK/cbad-$name")"
done
[ "$(ls "$WORK/pbad-ooo" | wc -l)" -eq 1 ] || fail "promtool's partial output changed: $(ls "$WORK/pbad-ooo")"
pass "cairn tsdb import refuses what promtool refuses (13 cases), with a message and no block"
