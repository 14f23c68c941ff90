#!/usr/bin/env python3
"""Times dashboard-style PromQL queries against several Prometheus-API servers.

Each query runs RUNS times per server, the servers alternating so that
neither profits from running second. For every query the median wall time
of the HTTP request is printed per server, with the ratio of the first
server to the others, and the growth of each server's peak RSS during one
run of the query (VmHWM is reset through /proc/PID/clear_refs before it).
Every answer is checked to be a success, and the number of series each
server returned is printed so that a difference shows. Asserts nothing.
"""
import argparse
import json
import statistics
import time
import urllib.parse
import urllib.request

QUERIES = [
    ("rate", "rate(node_network_receive_bytes_total[5m])"),
    ("sum by", "sum by (instance) (rate(node_cpu_seconds_total[5m]))"),
    ("topk", "topk(5, rate(node_network_receive_bytes_total[1m]))"),
    ("histogram_quantile",
     "histogram_quantile(0.9, sum by (instance, le) "
     "(rate(cairn_bench_request_duration_seconds_bucket[5m])))"),
    ("predict_linear", "predict_linear(node_filesystem_avail_bytes[1h], 4 * 3600)"),
    ("join",
     "rate(node_network_receive_bytes_total[5m]) * on (instance, device) "
     "group_left (operstate) node_network_info"),
]


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def request(base, path, params):
    data = urllib.parse.urlencode(params).encode()
    t0 = time.perf_counter()
    with urllib.request.urlopen(base + path, data=data, timeout=300) as r:
        body = r.read()
    dt = time.perf_counter() - t0
    doc = json.loads(body)
    if doc.get("status") != "success":
        raise RuntimeError(f"{base}{path} {params}: {doc}")
    return dt, len(doc["data"]["result"]) if isinstance(doc["data"]["result"], list) else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", action="append", required=True, help="name=url=pid")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--end-ms", type=int, required=True, help="end of the data (exclusive)")
    a = ap.parse_args()
    servers = []
    for s in a.server:
        name, rest = s.split("=", 1)
        url, pid = rest.rsplit("=", 1)
        servers.append((name, url, int(pid)))

    t = (a.end_ms - 15000) / 1000.0
    shapes = [
        ("instant", "/api/v1/query", {"time": f"{t:.3f}"}),
        ("range 1h", "/api/v1/query_range",
         {"start": f"{t - 3600:.3f}", "end": f"{t:.3f}", "step": "15"}),
        ("range 24h", "/api/v1/query_range",
         {"start": f"{t - 86400 + 3600:.3f}", "end": f"{t:.3f}", "step": "60"}),
    ]
    names = [s[0] for s in servers]
    head = f"{'query':20} {'shape':10}"
    for n in names:
        head += f" {n + ' ms':>14}"
    head += f" {names[1] + '/' + names[0]:>16}"
    for n in names:
        head += f" {n + ' peak MiB':>16}"
    head += "  series"
    print(head)
    ratios = []
    for qname, q in QUERIES:
        for shape, path, params in shapes:
            p = dict(params, query=q)
            times = {n: [] for n in names}
            series = {}
            peaks = {}
            for name, url, pid in servers:  # warm-up, and the memory probe
                base = rss_kib(pid, "VmRSS")
                ok = reset_peak(pid)
                _, series[name] = request(url, path, p)
                peaks[name] = (rss_kib(pid, "VmHWM") - base) / 1024 if ok else float("nan")
            for _ in range(a.runs):
                for name, url, _pid in servers:
                    dt, _ = request(url, path, p)
                    times[name].append(dt * 1000)
            med = {n: statistics.median(times[n]) for n in names}
            ratio = med[names[1]] / med[names[0]]
            ratios.append(ratio)
            line = f"{qname:20} {shape:10}"
            for n in names:
                line += f" {med[n]:14.1f}"
            line += f" {ratio:16.2f}"
            for n in names:
                line += f" {max(peaks[n], 0):16.1f}"
            line += "  " + "/".join(str(series[n]) for n in names)
            print(line, flush=True)
    print(f"{names[1]}/{names[0]} median latency ratio: geometric mean "
          f"{statistics.geometric_mean(ratios):.2f}, worst {max(ratios):.2f}, best {min(ratios):.2f}")


if __name__ == "__main__":
    main()
