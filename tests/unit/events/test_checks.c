/*
 * The periodic checks (events/checks.c) against procfs and sysfs trees
 * built in a temporary directory per test, changed between runs.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "events/internal.h"

#define NOW 1700000000000000000LL

static struct {
    char root[64], proc[96], sys[96];
    struct evt_checks *c;
    struct evt_event *evs; /* what the checks emitted, in order */
    size_t n, cap;
} F;

static void sink(void *ctx, struct evt_event *ev)
{
    cr_assert_eq(ctx, &F);
    if (F.n == F.cap) {
        /* Not cn_realloc: the allocation failure test must not hit the sink. */
        F.cap = F.cap ? 2 * F.cap : 16;
        F.evs = realloc(F.evs, F.cap * sizeof(*F.evs));
        cr_assert_not_null(F.evs);
    }
    evt_event_init(&F.evs[F.n]);
    evt_event_move(&F.evs[F.n++], ev);
}

static void clear_events(void)
{
    for (size_t i = 0; i < F.n; i++)
        evt_event_clear(&F.evs[i]);
    F.n = 0;
}

static void setup(void)
{
    cn_log_setup(CN_LOG_ERROR, CN_LOG_LOGFMT);
    strcpy(F.root, "/tmp/cairn-checks-XXXXXX");
    cr_assert_not_null(mkdtemp(F.root));
    snprintf(F.proc, sizeof(F.proc), "%s/proc", F.root);
    snprintf(F.sys, sizeof(F.sys), "%s/sys", F.root);
    cr_assert_eq(mkdir(F.proc, 0755), 0);
    cr_assert_eq(mkdir(F.sys, 0755), 0);
    cr_assert_eq(evt_checks_create(F.proc, F.sys, &F.c), 0);
}

static void teardown(void)
{
    evt_checks_destroy(F.c);
    clear_events();
    free(F.evs);
    cn_remove_all(F.root);
}

TestSuite(events_checks, .init = setup, .fini = teardown);

/* ---- the fake tree ---------------------------------------------------------------- */

static void mkdir_p(const char *path)
{
    char p[512];
    snprintf(p, sizeof(p), "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

static void abs_path(char *out, size_t cap, const char *rel)
{
    cr_assert_not_null(cn_path_join(out, cap, F.root, rel, NULL));
}

/* Writes root/rel (creating its directories) with the formatted text. */
__attribute__((format(printf, 2, 3))) static void put(const char *rel, const char *fmt, ...)
{
    char path[512], dir[512];
    abs_path(path, sizeof(path), rel);
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    mkdir_p(dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    cr_assert_eq(fclose(f), 0);
}

static void rm(const char *rel)
{
    char path[512];
    abs_path(path, sizeof(path), rel);
    cr_assert_eq(cn_remove_all(path), 0);
}

static void vmstat(uint64_t oom_kill)
{
    put("proc/vmstat",
        "nr_free_pages 123456\nnr_zone_inactive_anon 1\npgfault 99\noom_kill %llu\n"
        "numa_hit 7\n",
        (unsigned long long)oom_kill);
}

static void edac(unsigned mc, uint64_t ce, uint64_t ue)
{
    put("sys/devices/system/edac/mc/power/async", "disabled\n");
    char rel[128];
    snprintf(rel, sizeof(rel), "sys/devices/system/edac/mc/mc%u/ce_count", mc);
    put(rel, "%llu\n", (unsigned long long)ce);
    snprintf(rel, sizeof(rel), "sys/devices/system/edac/mc/mc%u/ue_count", mc);
    put(rel, "%llu\n", (unsigned long long)ue);
    snprintf(rel, sizeof(rel), "sys/devices/system/edac/mc/mc%u/mc_name", mc);
    put(rel, "Skylake Socket#0 IMC#0\n");
}

static void cpu(unsigned n, uint64_t core, uint64_t pkg, int package)
{
    put("sys/devices/system/cpu/online", "0-3\n");
    put("sys/devices/system/cpu/cpufreq/boost", "1\n");
    char rel[128];
    snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%u/thermal_throttle/core_throttle_count",
             n);
    put(rel, "%llu\n", (unsigned long long)core);
    snprintf(rel, sizeof(rel),
             "sys/devices/system/cpu/cpu%u/thermal_throttle/package_throttle_count", n);
    put(rel, "%llu\n", (unsigned long long)pkg);
    snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%u/topology/physical_package_id", n);
    put(rel, "%d\n", package);
}

/* An interface: carrier 1 or 0, or -1 for one that cannot be read (a
 * directory in its place, as unreadable as the kernel's EINVAL). */
static void net(const char *name, int carrier, uint64_t changes)
{
    char rel[128];
    snprintf(rel, sizeof(rel), "sys/class/net/%s/carrier", name);
    rm(rel);
    if (carrier < 0) {
        char path[512];
        abs_path(path, sizeof(path), rel);
        mkdir_p(path);
    } else {
        put(rel, "%d\n", carrier);
    }
    snprintf(rel, sizeof(rel), "sys/class/net/%s/carrier_changes", name);
    put(rel, "%llu\n", (unsigned long long)changes);
    snprintf(rel, sizeof(rel), "sys/class/net/%s/operstate", name);
    put(rel, "%s\n", carrier == 1 ? "up" : "down");
}

static void run(uint64_t kernel_ooms)
{
    clear_events();
    evt_checks_run(F.c, NOW, kernel_ooms, sink, &F);
}

/* ---- assertions ------------------------------------------------------------------- */

/* Event i is exactly this: type, source, severity, ts, message and the
 * attributes given as name, value pairs ending with NULL (no others). */
static void expect(size_t i, const char *type, enum evt_source src, enum evt_severity sev,
                   int64_t ts, const char *msg, ...)
{
    cr_assert_lt(i, F.n, "event %zu of %zu", i, F.n);
    const struct evt_event *ev = &F.evs[i];
    cr_assert_str_eq(ev->type, type);
    cr_assert_eq(ev->source, src, "%s: source %d", type, (int)ev->source);
    cr_assert_eq(ev->severity, sev, "%s: severity %d", type, (int)ev->severity);
    cr_assert_eq(ev->ts_ns, ts, "%s: ts %lld", type, (long long)ev->ts_ns);
    cr_assert_eq(ev->id, 0);
    cr_assert_str_eq(ev->message, msg);
    va_list ap;
    va_start(ap, msg);
    size_t nattrs = 0;
    const char *name;
    while ((name = va_arg(ap, const char *))) {
        const char *value = va_arg(ap, const char *);
        const char *got = evt_event_attr(ev, name);
        cr_assert_not_null(got, "%s: no attribute %s", type, name);
        cr_assert_str_eq(got, value, "%s: attribute %s", type, name);
        nattrs++;
    }
    va_end(ap);
    cr_assert_eq(ev->nattrs, nattrs, "%s: %zu attributes", type, ev->nattrs);
}

static void expect_none(void)
{
    cr_assert_eq(F.n, 0, "%zu events, the first %s: %s", F.n, F.n ? F.evs[0].type : "",
                 F.n ? F.evs[0].message : "");
}

/* ---- baselines ---------------------------------------------------------------------- */

static void full_tree(void)
{
    vmstat(4);
    edac(0, 3, 1);
    cpu(0, 10, 20, 0);
    cpu(1, 11, 20, 0);
    net("eth0", 1, 2);
    net("eth1", 0, 5);
    net("ifb0", -1, 0);
    put("proc/1/mounts", "/dev/sda1 / ext4 rw,relatime 0 0\n"
                         "/dev/sdc1 /ro ext4 ro,relatime 0 0\n");
}

Test(events_checks, first_run_records_baselines_only)
{
    full_tree();
    run(0);
    expect_none();
    run(0);
    expect_none();
    run(0);
    expect_none();
}

Test(events_checks, missing_files_skip_quietly)
{
    run(0);
    expect_none();
    run(5);
    expect_none();
    /* Files that are there but say nothing useful. */
    put("proc/vmstat", "nr_free_pages 1\n");
    put("proc/1/mounts", "garbage\n\n/dev/sda1 / ext4\n/dev/sda2 /x ext4 relatime 0 0\n");
    put("sys/devices/system/edac/mc/mc0/ce_count", "not a number\n");
    put("sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "\n");
    put("sys/class/net/eth0/carrier", "2\n");
    put("sys/class/net/bonding_masters", "bond0\n");
    run(5);
    expect_none();
    run(9);
    expect_none();
    /* Roots that do not exist at all. */
    struct evt_checks *c;
    cr_assert_eq(evt_checks_create("/nonexistent/proc", "/nonexistent/sys", &c), 0);
    evt_checks_run(c, NOW, 0, sink, &F);
    evt_checks_run(c, NOW, 3, sink, &F);
    evt_checks_destroy(c);
    expect_none();
}

/* ---- OOM kills ---------------------------------------------------------------------- */

Test(events_checks, oom_unreported_kill_waits_one_run)
{
    vmstat(5);
    run(3);
    expect_none();
    /* Two kills, the log reported one: one is pending, not yet reported. */
    vmstat(7);
    run(4);
    expect_none();
    /* The log did not catch up within a run: reported. */
    run(4);
    cr_assert_eq(F.n, 1);
    expect(0, "OOMKill", EVT_SRC_OS, EVT_SEV_WARNING, NOW,
           "1 OOM kill counted in /proc/vmstat that the kernel log did not report", "count", "1",
           NULL);
    run(4);
    expect_none();
    run(4);
    expect_none();
}

Test(events_checks, oom_log_catches_up_within_a_run)
{
    vmstat(0);
    run(0);
    vmstat(2);
    run(1);
    expect_none();
    run(2);
    expect_none();
    run(2);
    expect_none();
    /* Reported by the log in the same run: never pending. */
    vmstat(5);
    run(5);
    expect_none();
    run(5);
    expect_none();
}

Test(events_checks, oom_counts_accumulate)
{
    vmstat(0);
    run(0);
    vmstat(3);
    run(0);
    expect_none();
    /* 3 were pending a run ago: reported; 2 more are now pending. */
    vmstat(5);
    run(0);
    cr_assert_eq(F.n, 1);
    expect(0, "OOMKill", EVT_SRC_OS, EVT_SEV_WARNING, NOW,
           "3 OOM kills counted in /proc/vmstat that the kernel log did not report", "count", "3",
           NULL);
    /* The log reports one of the two: one left. */
    run(1);
    cr_assert_eq(F.n, 1);
    expect(0, "OOMKill", EVT_SRC_OS, EVT_SEV_WARNING, NOW,
           "1 OOM kill counted in /proc/vmstat that the kernel log did not report", "count", "1",
           NULL);
    run(1);
    expect_none();
}

Test(events_checks, oom_late_log_line_does_not_hide_a_later_kill)
{
    vmstat(0);
    run(0);
    vmstat(1);
    run(0);
    run(0);
    cr_assert_eq(F.n, 1);
    /* The log reports the kill after we did: nothing new. */
    run(1);
    expect_none();
    /* A later kill the log misses is still reported. */
    vmstat(2);
    run(1);
    expect_none();
    run(1);
    cr_assert_eq(F.n, 1);
    expect(0, "OOMKill", EVT_SRC_OS, EVT_SEV_WARNING, NOW,
           "1 OOM kill counted in /proc/vmstat that the kernel log did not report", "count", "1",
           NULL);
}

Test(events_checks, oom_counter_reset_rebaselines)
{
    vmstat(10);
    run(0);
    vmstat(2); /* went back */
    run(0);
    expect_none();
    run(0);
    expect_none();
    vmstat(3);
    run(0);
    expect_none();
    run(0);
    cr_assert_eq(F.n, 1);
    expect(0, "OOMKill", EVT_SRC_OS, EVT_SEV_WARNING, NOW,
           "1 OOM kill counted in /proc/vmstat that the kernel log did not report", "count", "1",
           NULL);
    /* The kernel log count going back (a new service) also rebaselines:
     * vmstat's rise since the last baseline is not held against the log. */
    vmstat(4);
    run(7);
    expect_none();
    run(0);
    expect_none();
    vmstat(5);
    run(0);
    expect_none();
    run(0);
    cr_assert_eq(F.n, 1);
    expect(0, "OOMKill", EVT_SRC_OS, EVT_SEV_WARNING, NOW,
           "1 OOM kill counted in /proc/vmstat that the kernel log did not report", "count", "1",
           NULL);
}

Test(events_checks, oom_counter_appearing_later_is_a_baseline)
{
    run(2);
    put("proc/vmstat", "nr_free_pages 1\n");
    run(2);
    vmstat(6);
    run(2);
    expect_none();
    run(2);
    expect_none();
    vmstat(7);
    run(2);
    run(2);
    cr_assert_eq(F.n, 1);
    expect(0, "OOMKill", EVT_SRC_OS, EVT_SEV_WARNING, NOW,
           "1 OOM kill counted in /proc/vmstat that the kernel log did not report", "count", "1",
           NULL);
}

/* ---- EDAC ------------------------------------------------------------------------------- */

Test(events_checks, edac_deltas_per_controller)
{
    edac(0, 0, 0);
    edac(1, 5, 0);
    edac(10, 1, 1);
    run(0);
    expect_none();
    edac(0, 2, 0);
    edac(1, 5, 1);
    edac(10, 4, 3);
    run(0);
    cr_assert_eq(F.n, 4);
    expect(0, "EDACCorrectable", EVT_SRC_HARDWARE, EVT_SEV_WARNING, NOW,
           "mc0: 2 corrected memory errors", "controller", "mc0", "count", "2", NULL);
    expect(1, "EDACUncorrectable", EVT_SRC_HARDWARE, EVT_SEV_CRITICAL, NOW,
           "mc1: 1 uncorrected memory error", "controller", "mc1", "count", "1", NULL);
    expect(2, "EDACCorrectable", EVT_SRC_HARDWARE, EVT_SEV_WARNING, NOW,
           "mc10: 3 corrected memory errors", "controller", "mc10", "count", "3", NULL);
    expect(3, "EDACUncorrectable", EVT_SRC_HARDWARE, EVT_SEV_CRITICAL, NOW,
           "mc10: 2 uncorrected memory errors", "controller", "mc10", "count", "2", NULL);
    run(0);
    expect_none();
    /* A reset (driver reloaded) rebaselines; the next rise counts from it. */
    edac(1, 0, 0);
    run(0);
    expect_none();
    edac(1, 1, 0);
    /* A controller that appears is a baseline. */
    edac(2, 9, 9);
    /* One whose ue_count is unreadable keeps its last value. */
    rm("sys/devices/system/edac/mc/mc0/ue_count");
    run(0);
    cr_assert_eq(F.n, 1);
    expect(0, "EDACCorrectable", EVT_SRC_HARDWARE, EVT_SEV_WARNING, NOW,
           "mc1: 1 corrected memory error", "controller", "mc1", "count", "1", NULL);
    edac(0, 2, 4);
    run(0);
    cr_assert_eq(F.n, 1);
    expect(0, "EDACUncorrectable", EVT_SRC_HARDWARE, EVT_SEV_CRITICAL, NOW,
           "mc0: 4 uncorrected memory errors", "controller", "mc0", "count", "4", NULL);
    /* A controller that vanishes is forgotten, and a baseline again when
     * it comes back. */
    rm("sys/devices/system/edac/mc/mc2");
    run(0);
    expect_none();
    edac(2, 20, 20);
    run(0);
    expect_none();
}

/* ---- thermal throttling ----------------------------------------------------------------- */

Test(events_checks, thermal_throttle_aggregated_per_scope)
{
    cpu(0, 10, 100, 0);
    cpu(1, 0, 100, 0);
    cpu(2, 5, 50, 1);
    cpu(3, 0, 50, 1);
    cpu(12, 0, 0, 1);
    run(0);
    expect_none();
    cpu(0, 12, 104, 0); /* package 0: both CPUs count the same 4 events */
    cpu(1, 0, 104, 0);
    cpu(2, 8, 51, 1); /* package 1: 2 events, one CPU saw only 1 */
    cpu(3, 0, 52, 1);
    run(0);
    cr_assert_eq(F.n, 2);
    expect(0, "ThermalThrottle", EVT_SRC_HARDWARE, EVT_SEV_WARNING, NOW,
           "CPU thermal throttling: 5 core throttle events on CPUs 0,2", "scope", "core", "cpus",
           "0,2", "count", "5", NULL);
    expect(1, "ThermalThrottle", EVT_SRC_HARDWARE, EVT_SEV_WARNING, NOW,
           "CPU thermal throttling: 6 package throttle events on CPUs 0-3", "scope", "package",
           "cpus", "0-3", "count", "6", NULL);
    run(0);
    expect_none();
    cpu(12, 1, 0, 1);
    cpu(3, 0, 0, 1); /* reset */
    run(0);
    cr_assert_eq(F.n, 1);
    expect(0, "ThermalThrottle", EVT_SRC_HARDWARE, EVT_SEV_WARNING, NOW,
           "CPU thermal throttling: 1 core throttle event on CPU 12", "scope", "core", "cpus", "12",
           "count", "1", NULL);
    /* CPUs not next to each other, and a range. */
    cpu(0, 13, 104, 0);
    cpu(1, 1, 104, 0);
    cpu(3, 2, 0, 1);
    cpu(12, 2, 0, 1);
    run(0);
    cr_assert_eq(F.n, 1);
    expect(0, "ThermalThrottle", EVT_SRC_HARDWARE, EVT_SEV_WARNING, NOW,
           "CPU thermal throttling: 5 core throttle events on CPUs 0-1,3,12", "scope", "core",
           "cpus", "0-1,3,12", "count", "5", NULL);
    /* A CPU that goes offline (no thermal_throttle) is forgotten; back
     * online it is a baseline. */
    rm("sys/devices/system/cpu/cpu2/thermal_throttle");
    run(0);
    expect_none();
    cpu(2, 100, 100, 1);
    run(0);
    expect_none();
}

/* ---- network links ------------------------------------------------------------------------ */

Test(events_checks, link_up_and_down)
{
    net("eth0", 1, 2);
    net("eth1", 0, 1);
    net("lo", 1, 0);
    net("ifb0", -1, 0);
    put("sys/class/net/bonding_masters", "bond0\n");
    run(0);
    expect_none();
    net("eth0", 0, 3);
    net("eth1", 1, 2);
    net("lo", 0, 1); /* never reported */
    run(0);
    cr_assert_eq(F.n, 2);
    expect(0, "LinkDown", EVT_SRC_HARDWARE, EVT_SEV_WARNING, NOW, "eth0: link down (carrier lost)",
           "device", "eth0", NULL);
    expect(1, "LinkUp", EVT_SRC_HARDWARE, EVT_SEV_INFO, NOW, "eth1: link up (carrier detected)",
           "device", "eth1", NULL);
    run(0);
    expect_none();
    /* A state change without carrier_changes (old kernels) is reported. */
    rm("sys/class/net/eth0/carrier_changes");
    put("sys/class/net/eth0/carrier", "1\n");
    run(0);
    cr_assert_eq(F.n, 1);
    expect(0, "LinkUp", EVT_SRC_HARDWARE, EVT_SEV_INFO, NOW, "eth0: link up (carrier detected)",
           "device", "eth0", NULL);
}

Test(events_checks, link_flap_between_runs)
{
    net("eth0", 1, 2);
    net("eth1", 0, 7);
    net("eth2", 1, 0);
    run(0);
    net("eth0", 1, 4);  /* down and up again */
    net("eth1", 0, 10); /* up and down again (and one change the kernel folded) */
    net("eth2", 1, 1);  /* one change without a state change: not a flap */
    run(0);
    cr_assert_eq(F.n, 4);
    expect(0, "LinkDown", EVT_SRC_HARDWARE, EVT_SEV_WARNING, NOW,
           "eth0: link flapped: went down (carrier lost), then up again; 2 carrier changes since "
           "the last check",
           "device", "eth0", NULL);
    expect(1, "LinkUp", EVT_SRC_HARDWARE, EVT_SEV_INFO, NOW,
           "eth0: link flapped: up again after going down; 2 carrier changes since the last check",
           "device", "eth0", NULL);
    expect(2, "LinkUp", EVT_SRC_HARDWARE, EVT_SEV_INFO, NOW,
           "eth1: link flapped: came up (carrier detected), then down again; 3 carrier changes "
           "since the last check",
           "device", "eth1", NULL);
    expect(3, "LinkDown", EVT_SRC_HARDWARE, EVT_SEV_WARNING, NOW,
           "eth1: link flapped: down again after coming up; 3 carrier changes since the last check",
           "device", "eth1", NULL);
    run(0);
    expect_none();
    /* carrier_changes going back (the interface was recreated) is no flap. */
    net("eth0", 1, 0);
    run(0);
    expect_none();
}

Test(events_checks, link_unknown_carrier_is_not_a_change)
{
    net("eth0", 1, 2);
    run(0);
    net("eth0", -1, 3); /* administratively down */
    run(0);
    expect_none();
    run(0);
    expect_none();
    net("eth0", 1, 4); /* up again: a new baseline, no flap */
    run(0);
    expect_none();
    net("eth0", -1, 5);
    run(0);
    net("eth0", 0, 5); /* up without a carrier: a baseline too */
    run(0);
    expect_none();
    net("eth0", 1, 6);
    run(0);
    cr_assert_eq(F.n, 1);
    expect(0, "LinkUp", EVT_SRC_HARDWARE, EVT_SEV_INFO, NOW, "eth0: link up (carrier detected)",
           "device", "eth0", NULL);
}

Test(events_checks, link_new_and_vanished_interfaces)
{
    net("eth0", 1, 2);
    run(0);
    net("veth1", 0, 1); /* appears down: a baseline */
    run(0);
    expect_none();
    net("veth1", 1, 2);
    run(0);
    cr_assert_eq(F.n, 1);
    expect(0, "LinkUp", EVT_SRC_HARDWARE, EVT_SEV_INFO, NOW, "veth1: link up (carrier detected)",
           "device", "veth1", NULL);
    /* Gone, then back down: forgotten, so a baseline. */
    rm("sys/class/net/veth1");
    run(0);
    expect_none();
    net("veth1", 0, 0);
    run(0);
    expect_none();
}

Test(events_checks, link_tracking_is_capped)
{
    /* One more interface than the 4096 tracked: when all go down, 4096
     * are reported. */
    char rel[64];
    for (int i = 0; i <= 4096; i++) {
        snprintf(rel, sizeof(rel), "sys/class/net/v%04d/carrier", i);
        put(rel, "1\n");
    }
    run(0);
    expect_none();
    for (int i = 0; i <= 4096; i++) {
        snprintf(rel, sizeof(rel), "sys/class/net/v%04d/carrier", i);
        put(rel, "0\n");
    }
    run(0);
    cr_assert_eq(F.n, 4096);
    for (size_t i = 0; i < F.n; i++)
        cr_assert_str_eq(F.evs[i].type, "LinkDown");
}

/* ---- read-only filesystems ----------------------------------------------------------------- */

static void mounts(const char *data_opts, const char *ro_opts)
{
    put("proc/1/mounts",
        "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
        "/dev/sda1 / ext4 rw,relatime,errors=remount-ro 0 0\n"
        "/dev/sdb1 /mnt/my\\040data\\134x ext4 %s 0 0\n"
        "/dev/sdc1 /ro ext4 %s 0 0\n",
        data_opts, ro_opts);
}

Test(events_checks, filesystem_remounted_read_only)
{
    mounts("rw,relatime", "ro,relatime");
    run(0);
    expect_none();
    mounts("ro,relatime", "ro,relatime");
    run(0);
    cr_assert_eq(F.n, 1);
    expect(0, "FilesystemReadOnly", EVT_SRC_OS, EVT_SEV_CRITICAL, NOW,
           "/mnt/my data\\x remounted read-only (device /dev/sdb1, ext4)", "mountpoint",
           "/mnt/my data\\x", "device", "/dev/sdb1", "fstype", "ext4", NULL);
    /* Once per transition. */
    run(0);
    expect_none();
    mounts("rw,relatime", "ro,relatime");
    run(0);
    expect_none();
    mounts("ro", "ro");
    run(0);
    cr_assert_eq(F.n, 1);
    expect(0, "FilesystemReadOnly", EVT_SRC_OS, EVT_SEV_CRITICAL, NOW,
           "/mnt/my data\\x remounted read-only (device /dev/sdb1, ext4)", "mountpoint",
           "/mnt/my data\\x", "device", "/dev/sdb1", "fstype", "ext4", NULL);
}

Test(events_checks, filesystem_other_mount_is_a_baseline)
{
    put("proc/mounts", "/dev/sdb1 /data xfs rw 0 0\n/dev/sdd1 /media ext4 rw 0 0\n");
    run(0);
    /* Another filesystem mounted read-only at the same place. */
    put("proc/mounts", "/dev/sdb1 /data xfs rw 0 0\n/dev/sr0 /media iso9660 ro 0 0\n");
    run(0);
    expect_none();
    /* Of a mount point listed twice, the last (visible) mount counts. */
    put("proc/mounts", "/dev/sdb1 /data xfs rw 0 0\n/dev/sde1 /data xfs ro 0 0\n"
                       "/dev/sr0 /media iso9660 ro 0 0\n");
    run(0);
    expect_none();
    put("proc/mounts", "/dev/sdb1 /data xfs ro 0 0\n/dev/sde1 /data xfs rw 0 0\n"
                       "/dev/sr0 /media iso9660 ro 0 0\n");
    run(0);
    expect_none();
    put("proc/mounts", "/dev/sdb1 /data xfs rw 0 0\n/dev/sde1 /data xfs ro 0 0\n"
                       "/dev/sr0 /media iso9660 ro 0 0\n");
    run(0);
    cr_assert_eq(F.n, 1);
    expect(0, "FilesystemReadOnly", EVT_SRC_OS, EVT_SEV_CRITICAL, NOW,
           "/data remounted read-only (device /dev/sde1, xfs)", "mountpoint", "/data", "device",
           "/dev/sde1", "fstype", "xfs", NULL);
    /* procfs/1/mounts wins over procfs/mounts. */
    put("proc/1/mounts", "/dev/sdb1 /data xfs rw 0 0\n");
    run(0);
    expect_none();
    put("proc/1/mounts", "/dev/sdb1 /data xfs ro 0 0\n");
    run(0);
    cr_assert_eq(F.n, 1);
    expect(0, "FilesystemReadOnly", EVT_SRC_OS, EVT_SEV_CRITICAL, NOW,
           "/data remounted read-only (device /dev/sdb1, xfs)", "mountpoint", "/data", "device",
           "/dev/sdb1", "fstype", "xfs", NULL);
    /* Unmounted and mounted again read-only: a baseline. */
    put("proc/1/mounts", "/dev/sdb1 /data xfs rw 0 0\n");
    run(0);
    put("proc/1/mounts", "/dev/sdx1 /other xfs rw 0 0\n");
    run(0);
    put("proc/1/mounts", "/dev/sdb1 /data xfs ro 0 0\n");
    run(0);
    expect_none();
}

/* ---- all checks in one run, in order --------------------------------------------------------- */

Test(events_checks, one_run_orders_checks)
{
    full_tree();
    run(0);
    vmstat(5);
    run(0);
    expect_none();
    edac(0, 4, 1);
    cpu(1, 12, 20, 0);
    net("eth1", 1, 6);
    put("proc/1/mounts", "/dev/sda1 / ext4 ro,relatime 0 0\n"
                         "/dev/sdc1 /ro ext4 ro,relatime 0 0\n");
    run(0);
    cr_assert_eq(F.n, 5);
    expect(0, "OOMKill", EVT_SRC_OS, EVT_SEV_WARNING, NOW,
           "1 OOM kill counted in /proc/vmstat that the kernel log did not report", "count", "1",
           NULL);
    expect(1, "EDACCorrectable", EVT_SRC_HARDWARE, EVT_SEV_WARNING, NOW,
           "mc0: 1 corrected memory error", "controller", "mc0", "count", "1", NULL);
    expect(2, "ThermalThrottle", EVT_SRC_HARDWARE, EVT_SEV_WARNING, NOW,
           "CPU thermal throttling: 1 core throttle event on CPU 1", "scope", "core", "cpus", "1",
           "count", "1", NULL);
    expect(3, "LinkUp", EVT_SRC_HARDWARE, EVT_SEV_INFO, NOW, "eth1: link up (carrier detected)",
           "device", "eth1", NULL);
    expect(4, "FilesystemReadOnly", EVT_SRC_OS, EVT_SEV_CRITICAL, NOW,
           "/ remounted read-only (device /dev/sda1, ext4)", "mountpoint", "/", "device",
           "/dev/sda1", "fstype", "ext4", NULL);
}

/* ---- allocation failures ----------------------------------------------------------------------
 */

Test(events_checks, allocation_failures)
{
    struct evt_checks *c = (struct evt_checks *)&F;
    cn_alloc_fail_after(0);
    cr_assert_eq(evt_checks_create(F.proc, F.sys, &c), -ENOMEM);
    cn_alloc_fail_after(-1);
    cr_assert_null(c);
    cn_alloc_fail_after(2);
    cr_assert_eq(evt_checks_create(F.proc, F.sys, &c), -ENOMEM);
    cn_alloc_fail_after(-1);
    cr_assert_null(c);

    /* Runs that fail part way neither crash nor leak (ASan), and the
     * checker still works afterwards. */
    full_tree();
    for (long n = 0; n < 60; n++) {
        cr_assert_eq(evt_checks_create(F.proc, F.sys, &c), 0);
        cn_alloc_fail_after(n);
        evt_checks_run(c, NOW, 0, sink, &F);
        net("eth1", n % 2, (uint64_t)n + 6);
        evt_checks_run(c, NOW, 0, sink, &F);
        cn_alloc_fail_after(-1);
        net("eth1", 0, 100);
        evt_checks_destroy(c);
        clear_events();
    }
    cr_assert_eq(evt_checks_create(F.proc, F.sys, &c), 0);
    evt_checks_run(c, NOW, 0, sink, &F);
    net("eth1", 1, 101);
    evt_checks_run(c, NOW, 0, sink, &F);
    evt_checks_destroy(c);
    cr_assert_eq(F.n, 1);
    expect(0, "LinkUp", EVT_SRC_HARDWARE, EVT_SEV_INFO, NOW, "eth1: link up (carrier detected)",
           "device", "eth1", NULL);
}

/* ---- the real host -----------------------------------------------------------------------------
 */

/*
 * Two runs against this host's /proc and /sys, milliseconds apart, emit
 * nothing: the first only records, and the second could only report what
 * changed in between. An OOM kill then needs a third run to be reported;
 * a NIC losing its carrier, a filesystem going read-only or a memory error
 * within those milliseconds would make this fail, which a test host does
 * not see.
 */
Test(events_checks, real_proc_and_sys)
{
    struct evt_checks *c;
    cr_assert_eq(evt_checks_create("/proc", "/sys", &c), 0);
    evt_checks_run(c, NOW, 0, sink, &F);
    evt_checks_run(c, NOW, 0, sink, &F);
    evt_checks_destroy(c);
    expect_none();
}

/* ---- boot
 * ---------------------------------------------------------------------------------------- */

Test(events_checks, read_boot_id)
{
    char id[64] = "stale";
    cr_assert_eq(evt_read_boot_id(F.proc, id, sizeof(id)), -ENOENT);
    cr_assert_str_eq(id, "");
    put("proc/sys/kernel/random/boot_id", "0a207205-0914-48aa-a379-e337fe0fb749\n");
    cr_assert_eq(evt_read_boot_id(F.proc, id, sizeof(id)), 0);
    cr_assert_str_eq(id, "0a207205-0914-48aa-a379-e337fe0fb749");
    char small[36];
    cr_assert_eq(evt_read_boot_id(F.proc, small, sizeof(small)), -ERANGE);
    char exact[37];
    cr_assert_eq(evt_read_boot_id(F.proc, exact, sizeof(exact)), 0);
    cr_assert_str_eq(exact, "0a207205-0914-48aa-a379-e337fe0fb749");
    put("proc/sys/kernel/random/boot_id", "\n");
    cr_assert_eq(evt_read_boot_id(F.proc, id, sizeof(id)), -ENODATA);
    /* The real one is a UUID. */
    cr_assert_eq(evt_read_boot_id("/proc", id, sizeof(id)), 0);
    cr_assert_eq(strlen(id), 36);
    cr_assert_eq(id[8], '-');
}

static void reboot(const char *prev, const char *now_id)
{
    clear_events();
    evt_check_reboot(F.proc, F.sys, prev, now_id, NOW, sink, &F);
}

#define BOOT_NS (1795244905LL * 1000000000)

Test(events_checks, reboot_needs_a_different_previous_id)
{
    put("proc/stat", "cpu  1 2 3 4\nintr 1 2 3\nctxt 99\nbtime 1795244905\nprocesses 10\n");
    put("sys/fs/pstore/dmesg-ramoops-0", "Panic#1 Part1\n<0>Kernel panic - not syncing: x\n");
    reboot("", "b");
    expect_none();
    reboot(NULL, "b");
    expect_none();
    reboot("b", "b");
    expect_none();
    reboot("a", "b");
    cr_assert_eq(F.n, 2);
    expect(0, "Reboot", EVT_SRC_OS, EVT_SEV_WARNING, BOOT_NS,
           "host rebooted: boot id changed from a to b", "boot_id", "b", "previous_boot_id", "a",
           NULL);
}

Test(events_checks, reboot_without_panic_record)
{
    put("proc/stat", "cpu  1 2 3 4\nbtime 1795244905\n");
    reboot("11111111-2222", "33333333-4444");
    cr_assert_eq(F.n, 1);
    expect(0, "Reboot", EVT_SRC_OS, EVT_SEV_WARNING, BOOT_NS,
           "host rebooted: boot id changed from 11111111-2222 to 33333333-4444", "boot_id",
           "33333333-4444", "previous_boot_id", "11111111-2222", NULL);
    /* Records that are not a panic: an oops that mentions panic, a
     * console log, a shutdown dump. */
    put("sys/fs/pstore/dmesg-efi-168000000001",
        "Oops#1 Part1\n<4>BUG: kernel NULL pointer dereference\n<4>panic_on_oops is 0\n");
    put("sys/fs/pstore/console-ramoops-0", "Kernel panic - not syncing: Fatal exception\n");
    put("sys/fs/pstore/dmesg-ramoops-1", "Shutdown#1 Part1\n");
    put("sys/fs/pstore/dmesg-ramoops-2", "%s", "");
    reboot("a", "b");
    cr_assert_eq(F.n, 1);
    cr_assert_str_eq(F.evs[0].type, "Reboot");
    /* No btime: the time of the check. */
    rm("proc/stat");
    reboot("a", "b");
    cr_assert_eq(F.n, 1);
    expect(0, "Reboot", EVT_SRC_OS, EVT_SEV_WARNING, NOW,
           "host rebooted: boot id changed from a to b", "boot_id", "b", "previous_boot_id", "a",
           NULL);
}

Test(events_checks, reboot_after_panic)
{
    put("proc/stat", "btime 1795244905\n");
    put("sys/fs/pstore/dmesg-efi-168000000002",
        "Panic#2 Part2\n<4>earlier lines of the same dump\n");
    put("sys/fs/pstore/dmesg-efi-168000000001",
        "Panic#2 Part1\n<0>Kernel panic - not syncing: Fatal exception\n");
    /* pstore stamps the file with the dump's time. */
    char path[512];
    abs_path(path, sizeof(path), "sys/fs/pstore/dmesg-efi-168000000001");
    struct timespec ts[2] = {{1795244000, 5}, {1795244000, 5}};
    cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
    reboot("a", "b");
    cr_assert_eq(F.n, 2);
    expect(0, "Reboot", EVT_SRC_OS, EVT_SEV_WARNING, BOOT_NS,
           "host rebooted: boot id changed from a to b", "boot_id", "b", "previous_boot_id", "a",
           NULL);
    expect(1, "KernelPanicPrevious", EVT_SRC_KERNEL, EVT_SEV_CRITICAL,
           1795244000LL * 1000000000 + 5,
           "the previous boot ended in a kernel panic (pstore record dmesg-efi-168000000001)",
           "file", "dmesg-efi-168000000001", NULL);
}

Test(events_checks, reboot_panic_line_without_header)
{
    put("proc/stat", "btime 1795244905\n");
    /* The panic line far into a large record, across the reader's chunks;
     * a file stamped after the boot gets the boot time. */
    char path[512];
    abs_path(path, sizeof(path), "sys/fs/pstore/dmesg-ramoops-0");
    put("sys/fs/pstore/dmesg-ramoops-0", "%s", "");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 16383; i++)
        fputc(i % 64 ? 'x' : '\n', f);
    fputs("Kernel panic - not syncing: Attempted to kill init!\n", f);
    cr_assert_eq(fclose(f), 0);
    struct timespec ts[2] = {{1795244905 + 100, 0}, {1795244905 + 100, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
    reboot("a", "b");
    cr_assert_eq(F.n, 2);
    expect(1, "KernelPanicPrevious", EVT_SRC_KERNEL, EVT_SEV_CRITICAL, BOOT_NS,
           "the previous boot ended in a kernel panic (pstore record dmesg-ramoops-0)", "file",
           "dmesg-ramoops-0", NULL);
    /* Cut one byte short of the whole phrase: no panic. */
    cr_assert_eq(truncate(path, 16383 + 25), 0);
    reboot("a", "b");
    cr_assert_eq(F.n, 1);
}
