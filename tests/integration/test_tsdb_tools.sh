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
