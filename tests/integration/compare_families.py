#!/usr/bin/env python3
"""Compares cairn's /metrics with node_exporter 1.5's, family by family.

usage: compare_families.py NODE_EXPORTER_SCRAPE CAIRN_SCRAPE

For every collector that succeeded in both scrapes, the families that belong
to it (by name, see OWNERS) must be the same set on both sides, and each
family must have the same type, HELP text and label names. Prints one line
per difference and a summary; exits 1 on any difference.
"""
import re
import sys

# Which collector a family belongs to: exact names first, then prefixes.
OWNERS = [
    ("cpu", r"node_cpu_(seconds|guest_seconds|core_throttles|package_throttles)_total|node_cpu_info|node_cpu_flag_info|node_cpu_bug_info"),
    ("cpufreq", r"node_cpu_(frequency|scaling)_.*"),
    ("stat", r"node_(boot_time_seconds|context_switches_total|forks_total|intr_total|procs_.*|softirqs_total)"),
    ("netclass", r"node_network_(info|up|mtu_bytes|speed_bytes|carrier.*|device_id|dormant|flags|iface_.*|name_assign_type|net_dev_group|protocol_type|transmit_queue_length|address_assign_type)"),
    ("netdev", r"node_network_(receive|transmit)_.*"),
    ("arp", r"node_arp_.*"), ("bcache", r"node_bcache_.*"), ("btrfs", r"node_btrfs_.*"),
    ("conntrack", r"node_nf_conntrack_.*"), ("diskstats", r"node_disk_.*"),
    ("edac", r"node_edac_.*"), ("entropy", r"node_entropy_.*"), ("filefd", r"node_filefd_.*"),
    ("filesystem", r"node_filesystem_.*"), ("hwmon", r"node_hwmon_.*"), ("loadavg", r"node_load(1|5|15)"),
    ("mdadm", r"node_md_.*"), ("meminfo", r"node_memory_.*"), ("netstat", r"node_netstat_.*"),
    ("nvme", r"node_nvme_.*"), ("os", r"node_os_.*"), ("powersupplyclass", r"node_power_supply_.*"),
    ("pressure", r"node_pressure_.*"), ("rapl", r"node_rapl_.*"), ("schedstat", r"node_schedstat_.*"),
    ("selinux", r"node_selinux_.*"), ("sockstat", r"node_sockstat_.*"), ("softnet", r"node_softnet_.*"),
    ("textfile", r"node_textfile_.*"), ("thermal_zone", r"node_(thermal_zone|cooling_device)_.*"),
    ("time", r"node_time_.*"), ("timex", r"node_timex_.*"), ("udp_queues", r"node_udp_queues"),
    ("uname", r"node_uname_info"), ("vmstat", r"node_vmstat_.*"), ("xfs", r"node_xfs_.*"),
    ("zfs", r"node_zfs_.*"),
]
OWNERS = [(c, re.compile(p + r"$")) for c, p in OWNERS]

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(path):
    fams, success = {}, {}
    cur = None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            fams.setdefault(name, {"type": "untyped", "labels": set(), "help": ""})["help"] = help_
        elif line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            fams.setdefault(name, {"type": "untyped", "labels": set(), "help": ""})["type"] = typ
            cur = name
        elif line and not line.startswith("#"):
            m = SAMPLE.match(line)
            if not m:
                continue
            name, labels = m.group(1), LABEL.findall(m.group(3) or "")
            fam = name
            if name not in fams:
                for suf in ("_bucket", "_sum", "_count"):
                    if name.endswith(suf) and name[: -len(suf)] in fams:
                        fam = name[: -len(suf)]
            f = fams.setdefault(fam, {"type": "untyped", "labels": set(), "help": ""})
            f["labels"].update(k for k, _ in labels if k not in ("le", "quantile"))
            if name == "node_scrape_collector_success":
                success[dict(labels)["collector"]] = float(m.group(4)) == 1
    return fams, success


def owner(name):
    for c, rx in OWNERS:
        if rx.match(name):
            return c
    return None


def main():
    ne, ne_ok = parse(sys.argv[1])
    ca, ca_ok = parse(sys.argv[2])
    covered = sorted(c for c, _ in OWNERS if ne_ok.get(c) and ca_ok.get(c))
    problems, compared = [], 0
    for c in covered:
        ne_f = {n for n in ne if owner(n) == c}
        ca_f = {n for n in ca if owner(n) == c}
        for n in sorted(ne_f - ca_f):
            problems.append(f"{c}: {n} missing in cairn")
        for n in sorted(ca_f - ne_f):
            problems.append(f"{c}: {n} not exported by node_exporter")
        for n in sorted(ne_f & ca_f):
            compared += 1
            a, b = ne[n], ca[n]
            if a["type"] != b["type"]:
                problems.append(f"{c}: {n} type {b['type']}, node_exporter has {a['type']}")
            if a["labels"] != b["labels"]:
                problems.append(f"{c}: {n} labels {sorted(b['labels'])}, node_exporter has {sorted(a['labels'])}")
            if a["help"] != b["help"]:
                problems.append(f"{c}: {n} HELP {b['help']!r}, node_exporter has {a['help']!r}")
    for c in sorted(set(ne_ok) & {c for c, _ in OWNERS}):
        if ne_ok[c] and not ca_ok.get(c):
            problems.append(f"{c}: succeeds in node_exporter but not in cairn ({'absent' if c not in ca_ok else 'failed'})")
    for p in problems:
        print("DIFF", p)
    print(f"{len(covered)} collectors covered, {compared} families compared, {len(problems)} differences")
    print("covered:", " ".join(covered))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
