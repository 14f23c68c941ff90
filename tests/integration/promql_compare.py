#!/usr/bin/env python3
"""Writes the PromQL comparison data set, or compares two servers' answers.

gen OUT START_S HOURS
    An OpenMetrics file (for `cairn tsdb import openmetrics`): node-like
    counters and gauges for 4 instances, a classic histogram, an info
    metric for joins, series that stop and start (for staleness of the
    imported kind: gaps), 15 s apart over HOURS from START_S.

compare URL_A URL_B TIME_S
    Runs every query of QUERIES as an instant query at TIME_S and as range
    queries (1 h at 15 s, 2 h at 60 s, ending at TIME_S) on both servers and
    compares the JSON: same status and errorType, same resultType, the same
    series (label sets), the same timestamps, values equal within 1e-9
    relative (NaN equals NaN). Prints one line per difference and a summary;
    exits 1 on any difference.
"""
import json
import math
import random
import sys
import urllib.error
import urllib.parse
import urllib.request

QUERIES = [
    # selectors, offsets, @
    "cb_requests_total",
    'cb_requests_total{code=~"2..",instance!="i1"}',
    "cb_temperature_celsius offset 10m",
    "cb_temperature_celsius @ end()",
    "cb_requests_total @ start() offset -5m",
    # range functions
    "rate(cb_requests_total[5m])",
    "irate(cb_requests_total[2m])",
    "increase(cb_requests_total[10m])",
    "delta(cb_temperature_celsius[10m])",
    "idelta(cb_temperature_celsius[5m])",
    "deriv(cb_free_bytes[30m])",
    "predict_linear(cb_free_bytes[1h], 3600)",
    "holt_winters(cb_temperature_celsius[30m], 0.5, 0.3)",
    "changes(cb_temperature_celsius[15m])",
    "resets(cb_requests_total[1h])",
    "avg_over_time(cb_temperature_celsius[10m])",
    "min_over_time(cb_temperature_celsius[10m])",
    "max_over_time(cb_temperature_celsius[10m])",
    "sum_over_time(cb_temperature_celsius[10m])",
    "count_over_time(cb_flappy[10m])",
    "quantile_over_time(0.9, cb_temperature_celsius[30m])",
    "stddev_over_time(cb_temperature_celsius[30m])",
    "stdvar_over_time(cb_temperature_celsius[30m])",
    "last_over_time(cb_flappy[10m])",
    "present_over_time(cb_flappy[2m])",
    "absent_over_time(cb_flappy{instance=\"i0\"}[1m])",
    "absent(cb_nonexistent{job=\"x\"})",
    # aggregations
    "sum(rate(cb_requests_total[5m]))",
    "sum by (instance) (rate(cb_requests_total[5m]))",
    "sum without (code) (rate(cb_requests_total[5m]))",
    "avg by (instance) (cb_temperature_celsius)",
    "min(cb_temperature_celsius)", "max by (instance) (cb_temperature_celsius)",
    "count by (code) (cb_requests_total)",
    "group by (instance) (cb_requests_total)",
    "stddev(cb_temperature_celsius)", "stdvar by (instance) (cb_temperature_celsius)",
    "topk(3, rate(cb_requests_total[5m]))",
    "bottomk(2, cb_temperature_celsius)",
    "quantile(0.75, cb_temperature_celsius)",
    "count_values(\"value\", cb_info_version)",
    # histograms
    "histogram_quantile(0.9, rate(cb_latency_seconds_bucket[5m]))",
    "histogram_quantile(0.5, sum by (le) (rate(cb_latency_seconds_bucket[10m])))",
    # binary operators and joins
    "cb_free_bytes / cb_size_bytes",
    "cb_free_bytes / on (instance, mount) cb_size_bytes * 100",
    "rate(cb_requests_total[5m]) * on (instance) group_left (version) cb_info",
    "cb_size_bytes - ignoring (mount) group_right sum by (instance) (cb_free_bytes) ",
    "cb_temperature_celsius > 40",
    "cb_temperature_celsius > bool 40",
    "2 * cb_temperature_celsius - 1",
    "cb_temperature_celsius ^ 2 % 7",
    "cb_requests_total and on (instance) cb_temperature_celsius > 45",
    "cb_flappy or cb_temperature_celsius",
    "cb_requests_total unless on (code) cb_requests_total{code=\"500\"}",
    "-cb_temperature_celsius",
    "1 + 2 * 3 ^ 2",
    # functions over instant vectors
    "abs(-cb_temperature_celsius)", "ceil(cb_temperature_celsius)", "floor(cb_temperature_celsius)",
    "round(cb_temperature_celsius, 0.5)", "sqrt(cb_temperature_celsius)", "ln(cb_temperature_celsius)",
    "log2(cb_free_bytes)", "log10(cb_free_bytes)", "exp(cb_temperature_celsius / 100)",
    "clamp(cb_temperature_celsius, 40, 50)", "clamp_min(cb_temperature_celsius, 45)",
    "sgn(cb_temperature_celsius - 45)", "sin(cb_temperature_celsius)", "deg(pi())",
    "timestamp(cb_flappy)", "time()", "vector(1)", "scalar(sum(cb_size_bytes))",
    "hour(timestamp(cb_flappy))", "day_of_week()", "month()", "year()", "minute()",
    "days_in_month()", "day_of_year()",
    "label_replace(cb_info, \"major\", \"$1\", \"version\", \"([0-9]+)\\\\..*\")",
    "label_join(cb_info, \"id\", \"-\", \"instance\", \"version\")",
    "sort(cb_temperature_celsius)", "sort_desc(cb_temperature_celsius)",
    # subqueries
    "max_over_time(rate(cb_requests_total[5m])[30m:1m])",
    "avg_over_time(sum by (instance) (cb_temperature_celsius)[20m:])",
    # errors the engine reports
    "cb_requests_total + on (instance) cb_requests_total",
]


def gen(out, start, hours):
    random.seed(7)
    steps = int(hours * 3600 / 15)
    fams = []

    def fam(name, typ, series):
        fams.append((name, typ, series))

    inst = [f"i{i}" for i in range(4)]
    req = []
    for i in inst:
        for code in ("200", "404", "500"):
            v, rate = random.uniform(0, 1000), random.uniform(0.5, 20)
            pts = []
            for k in range(steps):
                v += rate * 15 * random.uniform(0.5, 1.5)
                if code == "500" and k == steps // 3:
                    v = 3.0  # a counter reset
                pts.append(v)
            req.append(({"instance": i, "code": code}, pts))
    fam("cb_requests", "counter", req)
    temp = []
    for n, i in enumerate(inst):
        temp.append(({"instance": i}, [round(40 + 8 * math.sin(k / 40 + n) + random.uniform(-1, 1), 2)
                                       for k in range(steps)]))
    fam("cb_temperature_celsius", "gauge", temp)
    size, free = [], []
    for i in inst:
        for m in ("/", "/var"):
            s = random.choice([1e10, 5e10, 2e11])
            f = s * random.uniform(0.3, 0.9)
            pts = []
            for _ in range(steps):
                f -= random.uniform(0, s * 1e-5)
                pts.append(round(f))
            size.append(({"instance": i, "mount": m}, [s] * steps))
            free.append(({"instance": i, "mount": m}, pts))
    fam("cb_size_bytes", "gauge", size)
    fam("cb_free_bytes", "gauge", free)
    fam("cb_info", "gauge", [({"instance": i, "version": f"{2 + n % 2}.{n}.1"}, [1] * steps)
                             for n, i in enumerate(inst)])
    fam("cb_info_version", "gauge", [({"instance": i}, [float(2 + n % 2)] * steps)
                                     for n, i in enumerate(inst)])
    flappy = []
    for n, i in enumerate(inst):
        pts = [float(k % 7) if (k // (20 + n * 7)) % 2 == 0 else None for k in range(steps)]
        flappy.append(({"instance": i}, pts))
    fam("cb_flappy", "gauge", flappy)
    les = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]
    hist = []
    for i in inst:
        cum = [0.0] * len(les)
        rows = [[] for _ in les]
        for _ in range(steps):
            reqs = random.uniform(10, 100)
            acc = 0.0
            for j in range(len(les)):
                acc = reqs if j == len(les) - 1 else min(reqs, acc + reqs * random.uniform(0, 0.3))
                cum[j] += acc
                rows[j].append(cum[j])
        for j, le in enumerate(les):
            hist.append(({"instance": i, "le": le}, rows[j]))
    fam("cb_latency_seconds", "histogram", hist)

    with open(out, "w") as f:
        for name, typ, series in fams:
            f.write(f"# TYPE {name} {typ}\n")
            sample = name + ("_total" if typ == "counter" else "_bucket" if typ == "histogram" else "")
            for labels, pts in series:
                ls = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                for k, v in enumerate(pts):
                    if v is not None:
                        f.write(f"{sample}{{{ls}}} {v} {start + k * 15}\n")
        f.write("# EOF\n")


def fetch(base, path, params):
    data = urllib.parse.urlencode(params).encode()
    try:
        with urllib.request.urlopen(base + path, data=data, timeout=60) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def close(a, b):
    fa, fb = float(a), float(b)
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    if math.isinf(fa) or math.isinf(fb):
        return fa == fb
    return abs(fa - fb) <= 1e-9 * max(abs(fa), abs(fb)) or abs(fa - fb) < 1e-300


def key(metric):
    return tuple(sorted(metric.items()))


def diff(q, shape, a, b):
    if a.get("status") != b.get("status") or a.get("errorType") != b.get("errorType"):
        return [f"{shape} {q}: status {a.get('status')}/{a.get('errorType')} vs "
                f"{b.get('status')}/{b.get('errorType')}: {a.get('error')} | {b.get('error')}"]
    if a["status"] != "success":
        return []
    da, db = a["data"], b["data"]
    if da["resultType"] != db["resultType"]:
        return [f"{shape} {q}: resultType {da['resultType']} vs {db['resultType']}"]
    rt = da["resultType"]
    if rt in ("scalar", "string"):
        ok = da["result"][0] == db["result"][0] and (
            close(da["result"][1], db["result"][1]) if rt == "scalar" else da["result"][1] == db["result"][1])
        return [] if ok else [f"{shape} {q}: {da['result']} vs {db['result']}"]
    ma = {key(s["metric"]): s for s in da["result"]}
    mb = {key(s["metric"]): s for s in db["result"]}
    out = []
    if len(ma) != len(da["result"]) or len(mb) != len(db["result"]):
        out.append(f"{shape} {q}: duplicate label sets in a result")
    if set(ma) != set(mb):
        out.append(f"{shape} {q}: series differ: only first {sorted(set(ma) - set(mb))[:3]}, "
                   f"only second {sorted(set(mb) - set(ma))[:3]}")
        return out
    for k in ma:
        pa = ma[k].get("values") or [ma[k]["value"]]
        pb = mb[k].get("values") or [mb[k]["value"]]
        if len(pa) != len(pb) or any(x[0] != y[0] or not close(x[1], y[1]) for x, y in zip(pa, pb)):
            bad = [(x, y) for x, y in zip(pa, pb) if x[0] != y[0] or not close(x[1], y[1])][:2]
            out.append(f"{shape} {q} {dict(k)}: {len(pa)} vs {len(pb)} points, first differences {bad}")
    return out


def compare(url_a, url_b, t):
    shapes = [("instant", "/api/v1/query", {"time": f"{t}"}),
              ("range1h", "/api/v1/query_range", {"start": f"{t - 3600}", "end": f"{t}", "step": "15"}),
              ("range2h", "/api/v1/query_range", {"start": f"{t - 7200}", "end": f"{t}", "step": "60"})]
    problems, n = [], 0
    for q in QUERIES:
        for shape, path, params in shapes:
            p = dict(params, query=q)
            problems += diff(q, shape, fetch(url_a, path, p), fetch(url_b, path, p))
            n += 1
    for line in problems:
        print("DIFF", line)
    print(f"{n} query answers compared, {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(compare(sys.argv[2], sys.argv[3], int(sys.argv[4])))
