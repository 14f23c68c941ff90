/*
 * The event store's throughput, query latency and size, on kernel-like
 * events: the messages of twenty real kernel and system log lines (I/O
 * errors, link flaps, OOM kills, MCEs ... 60-170 bytes, ~120 on average)
 * with 2-3 attributes each, the types drawn from a Zipf distribution (the
 * most common type ~28% of events, the rarest ~1.4%), as a host's log is
 * dominated by a few chatty sources.
 *
 *   bench_events [dir]
 *
 * dir (default: a new directory under /tmp, removed after) holds the
 * stores; a given dir keeps the filled month.db for inspection.
 *
 * 1. Sustained ingest: 200,000 events into a new store in batches of 1000,
 *    then in batches of 100, one transaction each; only evt_store_insert is
 *    timed (building the events is the sources' cost, not the store's).
 * 2. Query: 1,000,000 events spread over the last 30 days; reopen (timing
 *    the open, which runs quick_check); then "one type over the last hour"
 *    for the most common type with limit 100 and 1000, and other shapes
 *    for comparison: a cold run (the file's pages dropped from the kernel's
 *    page cache first; for the first query also a new read connection),
 *    then 50 runs after 5 warm-up runs, median and max. The plan sqlite
 *    chose is printed.
 * 3. Size: the file plus WAL per event after the store was closed (which
 *    checkpoints) and reopened.
 * It prints and asserts nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "events/internal.h"

#define NTYPES 20
#define SEC INT64_C(1000000000)

static const char *const type_names[NTYPES] = {
    "IOError",           "LinkDown",      "LinkUp",          "SegFault",      "OOMKill",
    "NfsTimeout",        "ConntrackFull", "ThermalThrottle", "EdacCorrected", "HungTask",
    "SystemdUnitFailed", "NvmeTimeout",   "UsbDisconnect",   "TcpSynFlood",   "AppArmorDenied",
    "SmartPending",      "SoftLockup",    "FsReadOnly",      "MceError",      "Reboot"};

static const char *const procs[] = {"java", "postgres", "python3", "nginx", "node", "rsyslogd"};

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void attr(struct evt_event *ev, const char *name, const char *value)
{
    if (evt_event_set_attr(ev, name, value, strlen(value))) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
}

/* Fills ev with an event of type t, its numbers from the generator. */
static void make_event(struct evt_event *ev, int t, int64_t ts, uint64_t *rs)
{
    char msg[512], a[64], b[64], c[64];
    unsigned n1 = (unsigned)(rnd(rs) % 100000), n2 = (unsigned)(rnd(rs) % 64);
    unsigned n3 = (unsigned)(rnd(rs) % 4000000);
    const char *proc = procs[rnd(rs) % 6];
    char dev = (char)('a' + n2 % 4);
    enum evt_severity sev = EVT_SEV_WARNING;
    enum evt_source src = EVT_SRC_KERNEL;
    a[0] = b[0] = c[0] = '\0';
    const char *an = NULL, *bn = NULL, *cn = NULL;
    switch (t) {
    case 0:
        snprintf(msg, sizeof(msg),
                 "blk_update_request: I/O error, dev sd%c, sector %u op 0x0:(READ) flags 0x80700 "
                 "phys_seg %u prio class 0",
                 dev, n3, n2 % 8 + 1);
        an = "device", bn = "sector", cn = "op";
        snprintf(a, sizeof(a), "sd%c", dev), snprintf(b, sizeof(b), "%u", n3),
            snprintf(c, sizeof(c), "READ");
        break;
    case 1:
    case 2:
        snprintf(msg, sizeof(msg), "igb 0000:0%u:00.0 eth%u: igb: eth%u NIC Link is %s", n2 % 8,
                 n2 % 4, n2 % 4, t == 1 ? "Down" : "Up 1000 Mbps Full Duplex, Flow Control: RX/TX");
        sev = t == 1 ? EVT_SEV_WARNING : EVT_SEV_INFO;
        an = "interface", bn = "driver";
        snprintf(a, sizeof(a), "eth%u", n2 % 4), snprintf(b, sizeof(b), "igb");
        break;
    case 3:
        snprintf(msg, sizeof(msg),
                 "%s[%u]: segfault at %x ip 00007f3a%08x sp 00007ffd%08x error 4 in "
                 "libc.so.6[7f3a%05x+195000]",
                 proc, n1, n3, n3 * 7, n1 * 13, n2);
        src = EVT_SRC_KERNEL, an = "pid", bn = "process";
        snprintf(a, sizeof(a), "%u", n1), snprintf(b, sizeof(b), "%s", proc);
        break;
    case 4:
        snprintf(msg, sizeof(msg),
                 "Out of memory: Killed process %u (%s) total-vm:%ukB, anon-rss:%ukB, "
                 "file-rss:%ukB, shmem-rss:0kB, UID:%u pgtables:%ukB oom_score_adj:0",
                 n1, proc, n3 * 4, n3, n2 * 100, n2 * 10, n2 * 8);
        sev = EVT_SEV_CRITICAL, an = "pid", bn = "process", cn = "anon_rss_kb";
        snprintf(a, sizeof(a), "%u", n1), snprintf(b, sizeof(b), "%s", proc),
            snprintf(c, sizeof(c), "%u", n3);
        break;
    case 5:
        snprintf(msg, sizeof(msg),
                 "nfs: server filer%u.storage.example.net not responding, still "
                 "trying",
                 n2 % 3);
        an = "server";
        snprintf(a, sizeof(a), "filer%u.storage.example.net", n2 % 3);
        bn = "protocol", snprintf(b, sizeof(b), "nfs4");
        break;
    case 6:
        snprintf(msg, sizeof(msg), "nf_conntrack: nf_conntrack: table full, dropping packet");
        an = "table", bn = "limit";
        snprintf(a, sizeof(a), "nf_conntrack"), snprintf(b, sizeof(b), "262144");
        break;
    case 7:
        snprintf(msg, sizeof(msg),
                 "CPU%u: Core temperature above threshold, cpu clock throttled (total events = "
                 "%u)",
                 n2 % 16, n1);
        an = "cpu", bn = "events";
        snprintf(a, sizeof(a), "%u", n2 % 16), snprintf(b, sizeof(b), "%u", n1);
        break;
    case 8:
        snprintf(msg, sizeof(msg),
                 "EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#%u_DIMM#0 (channel:%u "
                 "slot:0 page:0x%x offset:0x0 grain:32)",
                 n2 % 4, n2 % 4, n3);
        src = EVT_SRC_HARDWARE, an = "controller", bn = "channel", cn = "page";
        snprintf(a, sizeof(a), "mc0"), snprintf(b, sizeof(b), "%u", n2 % 4),
            snprintf(c, sizeof(c), "0x%x", n3);
        break;
    case 9:
        snprintf(msg, sizeof(msg),
                 "INFO: task %s:%u blocked for more than 120 seconds. Tainted: G O 6.1.0-18-amd64 "
                 "#1 Debian 6.1.76-1",
                 proc, n1);
        an = "pid", bn = "process";
        snprintf(a, sizeof(a), "%u", n1), snprintf(b, sizeof(b), "%s", proc);
        break;
    case 10:
        snprintf(msg, sizeof(msg),
                 "systemd[1]: %s.service: Main process exited, code=exited, status=1/FAILURE; "
                 "unit entered failed state",
                 proc);
        src = EVT_SRC_OS, an = "unit", bn = "status";
        snprintf(a, sizeof(a), "%s.service", proc), snprintf(b, sizeof(b), "1/FAILURE");
        break;
    case 11:
        snprintf(msg, sizeof(msg),
                 "nvme nvme%u: I/O %u QID %u timeout, aborting; controller "
                 "reset scheduled",
                 n2 % 2, n1, n2 % 8);
        an = "device", bn = "qid";
        snprintf(a, sizeof(a), "nvme%u", n2 % 2), snprintf(b, sizeof(b), "%u", n2 % 8);
        break;
    case 12:
        snprintf(msg, sizeof(msg), "usb %u-%u: USB disconnect, device number %u", n2 % 3 + 1,
                 n2 % 6 + 1, n2);
        sev = EVT_SEV_INFO, an = "bus", bn = "device";
        snprintf(a, sizeof(a), "%u-%u", n2 % 3 + 1, n2 % 6 + 1), snprintf(b, sizeof(b), "%u", n2);
        break;
    case 13:
        snprintf(msg, sizeof(msg),
                 "TCP: request_sock_TCP: Possible SYN flooding on port %u. Sending cookies.  Check "
                 "SNMP counters.",
                 n1 % 65536);
        an = "port", bn = "protocol";
        snprintf(a, sizeof(a), "%u", n1 % 65536), snprintf(b, sizeof(b), "tcp");
        break;
    case 14:
        snprintf(msg, sizeof(msg),
                 "audit: type=1400 apparmor=\"DENIED\" operation=\"open\" profile=\"%s\" "
                 "name=\"/proc/%u/mounts\" pid=%u comm=\"%s\"",
                 proc, n1, n1, proc);
        src = EVT_SRC_OS, an = "profile", bn = "pid", cn = "operation";
        snprintf(a, sizeof(a), "%s", proc), snprintf(b, sizeof(b), "%u", n1),
            snprintf(c, sizeof(c), "open");
        break;
    case 15:
        snprintf(msg, sizeof(msg),
                 "smartd[%u]: Device: /dev/sd%c [SAT], %u Currently unreadable (pending) sectors",
                 n1, dev, n2);
        src = EVT_SRC_HARDWARE, an = "device", bn = "sectors";
        snprintf(a, sizeof(a), "sd%c", dev), snprintf(b, sizeof(b), "%u", n2);
        break;
    case 16:
        snprintf(msg, sizeof(msg), "watchdog: BUG: soft lockup - CPU#%u stuck for 22s! [%s:%u]",
                 n2 % 16, proc, n1);
        sev = EVT_SEV_CRITICAL, an = "cpu", bn = "process", cn = "pid";
        snprintf(a, sizeof(a), "%u", n2 % 16), snprintf(b, sizeof(b), "%s", proc),
            snprintf(c, sizeof(c), "%u", n1);
        break;
    case 17:
        snprintf(msg, sizeof(msg),
                 "EXT4-fs error (device sd%c1): ext4_journal_check_start:83: comm %s: Detected "
                 "aborted journal; remounting filesystem read-only",
                 dev, proc);
        sev = EVT_SEV_CRITICAL, an = "device", bn = "fstype";
        snprintf(a, sizeof(a), "sd%c1", dev), snprintf(b, sizeof(b), "ext4");
        break;
    case 18:
        snprintf(msg, sizeof(msg),
                 "mce: [Hardware Error]: Machine check events logged; CPU %u: Machine Check: 0 "
                 "Bank %u: be00000000800400",
                 n2 % 16, n2 % 8);
        sev = EVT_SEV_CRITICAL, src = EVT_SRC_HARDWARE, an = "cpu", bn = "bank";
        snprintf(a, sizeof(a), "%u", n2 % 16), snprintf(b, sizeof(b), "%u", n2 % 8);
        break;
    default:
        snprintf(msg, sizeof(msg),
                 "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian "
                 "12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC");
        sev = EVT_SEV_INFO, src = EVT_SRC_OS, an = "boot_id", bn = "kernel";
        snprintf(a, sizeof(a), "%08x-%04x", n3, n2), snprintf(b, sizeof(b), "6.1.0-18-amd64");
        break;
    }
    evt_event_init(ev);
    ev->ts_ns = ts;
    ev->source = src;
    ev->severity = sev;
    evt_event_set_type(ev, type_names[t]);
    if (evt_event_set_message(ev, msg, strlen(msg))) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    attr(ev, an, a);
    attr(ev, bn, b);
    if (cn)
        attr(ev, cn, c);
}

/* The templates (make_event's cases) from the most to the least common. */
static const int by_rank[NTYPES] = {0,  3, 4, 9,  14, 2, 8,  7,  13, 10,
                                    11, 1, 5, 15, 16, 6, 12, 17, 18, 19};

/* Zipf(1) over the types: rank r has weight 1/(r+1). A template index. */
static int pick_type(uint64_t *rs, const double *cdf)
{
    double u = (double)(rnd(rs) >> 11) / (double)(UINT64_C(1) << 53);
    for (int r = 0; r < NTYPES - 1; r++)
        if (u < cdf[r])
            return by_rank[r];
    return by_rank[NTYPES - 1];
}

static struct evt_store *open_store(const char *path)
{
    struct evt_store_opts o = {.path = path};
    struct evt_store *s;
    char err[512];
    int rc = evt_store_open(&o, &s, NULL, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "open %s: %s\n", path, err);
        exit(1);
    }
    return s;
}

/*
 * Inserts n events from `from` (ts step apart) in batches; returns the
 * seconds spent in evt_store_insert. msg_bytes accumulates message sizes.
 */
static double fill(struct evt_store *s, size_t n, size_t batch, int64_t from, int64_t step,
                   const double *cdf, uint64_t *rs, double *msg_bytes)
{
    struct evt_event *evs = calloc(batch, sizeof(*evs));
    if (!evs)
        exit(1);
    double spent = 0;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < batch ? n - done : batch;
        for (size_t i = 0; i < k; i++) {
            int64_t jitter = step > 1 ? (int64_t)(rnd(rs) % (uint64_t)step) : 0;
            make_event(&evs[i], pick_type(rs, cdf), from + (int64_t)(done + i) * step + jitter, rs);
            *msg_bytes += (double)strlen(evs[i].message);
        }
        char err[512];
        int64_t t0 = cn_mono_ns();
        int rc = evt_store_insert(s, evs, k, NULL, 0, err, sizeof(err));
        spent += (double)(cn_mono_ns() - t0) / 1e9;
        if (rc) {
            fprintf(stderr, "insert: %s\n", err);
            exit(1);
        }
        for (size_t i = 0; i < k; i++)
            evt_event_clear(&evs[i]);
        done += k;
    }
    free(evs);
    return spent;
}

static uint64_t store_bytes(struct evt_store *s)
{
    struct evt_store_stats st;
    evt_store_stats(s, &st);
    return st.size_bytes;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Times q once; ms. */
static double time_query(struct evt_store *s, const struct evt_query *q, size_t *n, bool *more)
{
    struct evt_result r;
    char err[512];
    int64_t t0 = cn_mono_ns();
    int rc = evt_store_query(s, q, &r, err, sizeof(err));
    double ms = (double)(cn_mono_ns() - t0) / 1e6;
    if (rc) {
        fprintf(stderr, "query: %s\n", err);
        exit(1);
    }
    *n = r.n;
    *more = r.more;
    evt_result_free(&r);
    return ms;
}

static void ingest(const char *dir, size_t batch, const double *cdf)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/ingest-%zu.db", dir, batch);
    struct evt_store *s = open_store(path);
    uint64_t rs = 0x9e3779b97f4a7c15ULL + batch;
    const size_t n = 200000;
    double msg = 0;
    int64_t now = (int64_t)(cn_now_seconds() * 1e9);
    double spent = fill(s, n, batch, now - (int64_t)n * 1000000, 1000000, cdf, &rs, &msg);
    printf("ingest, batches of %4zu: %zu events in %.3f s = %.0f events/s (%.1f us/event; "
           "messages %.0f bytes on average)\n",
           batch, n, spent, (double)n / spent, spent * 1e6 / (double)n, msg / (double)n);
    evt_store_close(s);
    unlink(path);
}

/* Drops the file's pages from the kernel's page cache (clean pages only:
 * it is synced first), so the next read comes from the disk. */
static void drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
}

static void query_bench(const struct evt_query *q, struct evt_store *s, const char *path,
                        const char *what)
{
    size_t n;
    bool more;
    drop_cache(path);
    double cold = time_query(s, q, &n, &more);
    for (int i = 0; i < 5; i++)
        time_query(s, q, &n, &more);
    enum { RUNS = 50 };
    double t[RUNS];
    for (int i = 0; i < RUNS; i++)
        t[i] = time_query(s, q, &n, &more);
    qsort(t, RUNS, sizeof(t[0]), cmp_double);
    printf("  %-28s rows %4zu more %-5s  cold %7.3f ms  median %7.3f ms  max %7.3f ms\n", what, n,
           more ? "true" : "false", cold, (t[RUNS / 2 - 1] + t[RUNS / 2]) / 2, t[RUNS - 1]);
}

int main(int argc, char **argv)
{
    char dir[PATH_MAX];
    bool own = argc < 2;
    if (own) {
        snprintf(dir, sizeof(dir), "/tmp/cairn-bench-events-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
    } else {
        snprintf(dir, sizeof(dir), "%s", argv[1]);
    }
    double cdf[NTYPES], sum = 0;
    for (int t = 0; t < NTYPES; t++)
        sum += 1.0 / (t + 1);
    for (int t = 0; t < NTYPES; t++)
        cdf[t] = (t ? cdf[t - 1] : 0) + 1.0 / (t + 1) / sum;

    printf("== 1. sustained ingest (one writer, one transaction per batch) ==\n");
    ingest(dir, 1000, cdf);
    ingest(dir, 100, cdf);

    printf("== 2. 1,000,000 events over the last 30 days, %d types (Zipf) ==\n", NTYPES);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/month.db", dir);
    unlink(path);
    struct evt_store *s = open_store(path);
    const size_t n = 1000000;
    int64_t now = (int64_t)(cn_now_seconds() * 1e9);
    int64_t span = 30 * 24 * 3600 * SEC, step = span / (int64_t)n;
    uint64_t rs = 0x2545f4914f6cdd1dULL;
    double msg = 0;
    double spent = fill(s, n, 1000, now - span, step, cdf, &rs, &msg);
    printf("fill: %.1f s in evt_store_insert = %.0f events/s (batches of 1000)\n", spent,
           (double)n / spent);
    evt_store_close(s);
    drop_cache(path);
    int64_t t0 = cn_mono_ns();
    s = open_store(path);
    double cold_open = (double)(cn_mono_ns() - t0) / 1e6;
    evt_store_close(s);
    t0 = cn_mono_ns();
    s = open_store(path);
    printf("open (quick_check, count): %.0f ms from the disk, %.0f ms from the page cache\n",
           cold_open, (double)(cn_mono_ns() - t0) / 1e6);

    struct evt_query q = {.source = -1, .start_ns = now - 3600 * SEC, .end_ns = now};
    const char *type[] = {type_names[by_rank[0]]};
    q.types = type;
    q.ntypes = 1;
    q.limit = 100;
    char plan[512];
    if (evt_store_query_plan(s, &q, plan, sizeof(plan)) == 0)
        printf("plan, one type over the last hour: %s\n", plan);
    printf("one type (%s, %.0f%% of events) over the last hour:\n", type[0], 100.0 * cdf[0]);
    query_bench(&q, s, path, "limit 100");
    q.limit = 1000;
    query_bench(&q, s, path, "limit 1000");
    type[0] = type_names[by_rank[9]];
    q.limit = 100;
    printf("a rarer type (%s, %.1f%%), last hour:\n", type[0], 100.0 * (cdf[9] - cdf[8]));
    query_bench(&q, s, path, "limit 100");
    printf("others, for comparison:\n");
    const char *two[] = {type_names[by_rank[0]], type_names[by_rank[1]]};
    q.types = two;
    q.ntypes = 2;
    q.start_ns = now - span;
    query_bench(&q, s, path, "two types, 30 days, 100");
    q.ntypes = 0;
    q.start_ns = now - 3600 * SEC;
    query_bench(&q, s, path, "any type, last hour, 100");
    q.start_ns = now - 24 * 3600 * SEC;
    q.match = "sdb";
    query_bench(&q, s, path, "substring, last 24 h, 100");
    q.match = "I/O error, dev sd[bc]";
    q.match_regex = true;
    query_bench(&q, s, path, "regex, last 24 h, 100");
    q.match = NULL;
    q.match_regex = false;
    q.start_ns = now - span;
    q.min_severity = EVT_SEV_CRITICAL;
    q.limit = 1000;
    query_bench(&q, s, path, "critical, 30 days, 1000");
    q.min_severity = EVT_SEV_WARNING;
    query_bench(&q, s, path, ">= warning, 30 days, 1000");
    q.min_severity = EVT_SEV_INFO;
    q.limit = 100;
    q.after_id = (int64_t)n - 50;
    query_bench(&q, s, path, "follow, after_id n-50, 100");

    struct evt_store_stats st;
    evt_store_stats(s, &st);
    printf("== 3. size ==\n");
    printf("%llu events, %llu bytes (file + WAL, after a checkpoint) = %.1f bytes/event "
           "(messages %.1f bytes on average)\n",
           (unsigned long long)st.events, (unsigned long long)store_bytes(s),
           (double)store_bytes(s) / (double)st.events, msg / (double)n);
    evt_store_close(s);
    if (own)
        cn_remove_all(dir);
    return 0;
}
