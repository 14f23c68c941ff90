#!/usr/bin/env bash
# cairn's TSDB vs Prometheus 2.42 on this machine, in one run, same inputs:
#   1. write throughput: `cairn tsdb bench write` vs `promtool tsdb bench
#      write` on ../shared/bench/20kseries.json (10,000 metrics x 3,000
#      scrapes unless METRICS / SCRAPES say otherwise), WAL on for both;
#   2. bytes on disk per sample, chunks alone and the whole block (index,
#      meta, tombstones included), for the same OpenMetrics input imported by
#      `cairn tsdb import openmetrics` and `promtool tsdb create-blocks-from
#      openmetrics`: SERIES label sets of the same file, two hours at 15 s,
#      values shaped like node metrics (half constant, 30% counters, 20%
#      noisy gauges), one scrape in ten off the grid by up to 3 ms;
#   3. head memory per active series (bench/head_memory.c);
#   4. XOR decode cost per sample (bench/xor_decode.c).
# Prints the figures; asserts nothing.
#
# usage: bench/tsdb_compare.sh BUILD_DIR   (make bench-tsdb; a release build)
set -euo pipefail
BUILD=${1:-build}
CAIRN=$BUILD/cairn
SHARED=$(dirname "$0")/../../shared
INPUT=$SHARED/bench/20kseries.json
METRICS=${METRICS:-10000}
SCRAPES=${SCRAPES:-3000}
SERIES=${SERIES:-2000}
WORK=$(mktemp -d /tmp/cairn-tsdb-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

echo "== write throughput: $METRICS metrics x $SCRAPES scrapes, WAL on"
"$CAIRN" tsdb bench write --metrics="$METRICS" --scrapes="$SCRAPES" --out="$WORK/bc" "$INPUT" >"$WORK/c.txt"
promtool tsdb bench write --metrics="$METRICS" --scrapes="$SCRAPES" --out="$WORK/bp" "$INPUT" >"$WORK/p.txt" 2>&1
rate() { awk '/samples\/sec:/ {print $NF}' "$1"; }
rc=$(rate "$WORK/c.txt")
rp=$(rate "$WORK/p.txt")
walc=$(du -sb "$WORK/bc" | cut -f1)
walp=$(du -sb "$WORK/bp/storage/wal" | cut -f1)
rm -rf "$WORK/bc" "$WORK/bp"
python3 - "$rc" "$rp" "$walc" "$walp" <<'PY'
import sys
c, p, wc, wp = map(float, sys.argv[1:])
print(f"  {'':24} {'promtool 2.42':>16} {'cairn':>16}")
print(f"  {'samples/sec':24} {p:16,.0f} {c:16,.0f}   cairn/promtool {c / p:.2f}x")
print(f"  {'WAL bytes':24} {wp:16,.0f} {wc:16,.0f}")
PY

echo "== bytes on disk per sample: $SERIES series x 2 h at 15 s, one block each"
python3 - "$INPUT" "$SERIES" "$WORK/in.om" <<'PY'
import json, random, sys
random.seed(42)
src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sets = []
with open(src) as f:
    for line in f:
        sets.append(json.loads(line))
        if len(sets) == n:
            break
t0 = 1700006400  # aligned to 2 h: the whole input is one block
def esc(v):
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
rows = []
for i, ls in enumerate(sets):
    name = ls["__name__"]
    labels = ",".join(f'{k}="{esc(v)}"' for k, v in sorted(ls.items()) if k != "__name__")
    kind = i % 10
    rows.append((name, labels, kind, random.random() * 1000))
with open(out, "w") as f:
    # Untyped families: promtool accepts any name without _total rules.
    names = sorted({r[0] for r in rows})
    by_name = {nm: [r for r in rows if r[0] == nm] for nm in names}
    for nm in names:
        f.write(f"# TYPE {nm} unknown\n")
        for (_, labels, kind, base) in by_name[nm]:
            v = base
            for s in range(480):
                t = t0 + 15 * s
                off = random.randint(1, 3) / 1000 if random.random() < 0.1 else 0
                if kind < 5:
                    pass                                   # constant
                elif kind < 8:
                    v += random.randint(0, 5000) / 100     # counter
                else:
                    v = base + random.gauss(0, 50)         # noisy gauge
                f.write(f"{nm}{{{labels}}} {v!r} {t + off:.3f}\n")
    f.write("# EOF\n")
PY
promtool tsdb create-blocks-from openmetrics "$WORK/in.om" "$WORK/pblk" >/dev/null
"$CAIRN" tsdb import openmetrics "$WORK/in.om" "$WORK/cblk" >/dev/null
python3 - "$WORK/pblk" "$WORK/cblk" <<'PY'
import json, os, sys
def measure(d):
    samples = chunks = total = 0
    for b in os.listdir(d):
        p = os.path.join(d, b)
        if not os.path.isfile(os.path.join(p, "meta.json")):
            continue
        samples += json.load(open(os.path.join(p, "meta.json")))["stats"]["numSamples"]
        for root, _, files in os.walk(p):
            for fn in files:
                sz = os.path.getsize(os.path.join(root, fn))
                total += sz
                if os.path.basename(root) == "chunks":
                    chunks += sz
    return samples, chunks, total
ps, pc, pt = measure(sys.argv[1])
cs, cc, ct = measure(sys.argv[2])
print(f"  {'':24} {'promtool 2.42':>16} {'cairn':>16}")
print(f"  {'samples':24} {ps:16,} {cs:16,}")
print(f"  {'chunk bytes/sample':24} {pc / ps:16.4f} {cc / cs:16.4f}")
print(f"  {'block bytes/sample':24} {pt / ps:16.4f} {ct / cs:16.4f}")
print(f"  {'block bytes':24} {pt:16,} {ct:16,}")
PY

echo "== head memory per active series (2 h at 15 s, node_exporter label sets)"
cmake --build "$BUILD" --target bench_head_memory >/dev/null
"$BUILD/bench_head_memory" | sed 's/^/  /'

echo "== XOR decode"
cmake --build "$BUILD" --target bench_xor >/dev/null
"$BUILD/bench_xor" | sed 's/^/  /'
