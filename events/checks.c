/*
 * The periodic checks: state that changes on a host without a kernel log
 * line saying so, or whose log line may have been lost. Each run reads a
 * few procfs and sysfs files (under configurable roots, as node_exporter's
 * --path.procfs and --path.sysfs), compares them with what the previous
 * run saw, and emits an event for each change worth knowing about.
 *
 * Baselines. Everything a check tracks (the OOM counter, a memory
 * controller, a CPU, a network interface, a mount) is recorded, silently,
 * the first time it is seen: the first run therefore emits nothing, and an
 * interface, controller, CPU or mount that appears later is only baselined
 * on that run. One that vanishes is forgotten (and baselined afresh if it
 * comes back). A counter that goes down (a driver reloaded, an interface
 * recreated) is re-baselined silently. A file that is missing or unreadable
 * skips its part of the check and leaves the state as it was, so a
 * transient read error neither emits nor loses an increase.
 *
 * OOM kills. The kernel log normally reports each OOM kill ("Killed
 * process ..."), and the kmsg follower turns that into an OOMKill event; the
 * caller passes K, how many it has seen so far. /proc/vmstat's oom_kill
 * counts every kill, logged or not (a full ring buffer, a lost /dev/kmsg
 * record, a follower that was not running). Let V be vmstat's increase and
 * K the log's increase since the baseline, and R what this check already
 * reported. pending = V - K - R (at least 0). The log line is written
 * after the counter is bumped and read by another thread, so a kill is
 * only reported here once it has been pending for a whole run: a run emits
 * min(pending, what was pending at the previous run and not emitted then).
 * Should the log report a kill after we reported it (V - K < R), R drops
 * to V - K: the late line is not counted twice, and it does not hide a
 * later kill that the log misses. Kernel log OOMs beyond V (a rule that
 * matched twice) are absorbed by later kills; nothing is ever reported
 * twice.
 *
 * Network links. sysfs/class/net/IF/carrier is 1 or 0; reading it fails
 * (EINVAL) while the interface is administratively down, which is "not
 * known", not a change: a known state after an unknown one is a new
 * baseline. A state change is one event (LinkDown warning, LinkUp info).
 * When the state is the same as at the last run but carrier_changes rose
 * by two or more, the link flapped in between: two events, in the order
 * they happened (an interface up at both runs went down, then up). The
 * loopback interface is skipped, as are entries that are not directories
 * (bonding_masters).
 *
 * Memory errors and thermal throttling are deltas of counters: one event
 * per controller and kind (corrected, uncorrected); one event per run and
 * scope (core, package) for all CPUs together, naming the CPUs in the
 * kernel's cpulist notation ("0-3,8"). Every CPU of a package counts each
 * package throttle event in its own package_throttle_count, so the package
 * count is, per package (topology/physical_package_id; unreadable ids form
 * one group), the largest increase among its CPUs, summed over packages.
 *
 * Read-only filesystems. procfs/1/mounts (the host's mounts when the agent
 * runs in a container with the host's /proc; procfs/mounts otherwise) is
 * parsed each run; of a mount point listed twice, the last line (the
 * visible mount) counts. A mount point that went from rw to ro since the
 * last run is reported (so once per transition: it has to be rw again
 * before it is reported again); one that is ro when first seen, or whose
 * device or filesystem type changed (another filesystem mounted there),
 * is baselined. Mount points and devices have their \ooo escapes decoded.
 *
 * Memory is bounded: at most CHECKS_MAX_TRACKED interfaces, mounts, CPUs
 * and memory controllers each (more are ignored, logged once per kind), and
 * files are read up to CHECKS_FILE_MAX into one buffer reused by every
 * run. A run allocates only for directory listings, newly seen mounts and
 * the events it emits.
 *
 * The reboot check runs once at start (see evt_check_reboot); its panic
 * detection is described there.
 */
#include "events/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

/* Interfaces, mounts, CPUs and memory controllers tracked, each. */
#define CHECKS_MAX_TRACKED 4096
/* The largest procfs file read (/proc/1/mounts of a busy container host). */
#define CHECKS_FILE_MAX (16u << 20)
#define CHECKS_PATH_MAX 4096

/* ---- sorted tables of tracked things ---------------------------------------- */

/*
 * A sorted array of elements whose first member is `uint64_t seen`, the
 * number of the last run that saw them; those a run did not see are swept.
 */
struct table {
    void *items;
    size_t n, cap, size;
    const char *what; /* for the log line at the cap */
    bool capped;      /* the cap was hit (logged) */
};

static void *table_at(const struct table *t, size_t i)
{
    return (char *)t->items + i * t->size;
}

/* The index of the first element not less than key; *found when equal. */
static size_t table_find(const struct table *t, const void *key,
                         int (*cmp)(const void *key, const void *item), bool *found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp(key, table_at(t, mid)) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < t->n && cmp(key, table_at(t, lo)) == 0;
    return lo;
}

/* A zeroed element inserted at i; NULL at the cap or out of memory. */
static void *table_insert(struct table *t, size_t i)
{
    if (t->n >= CHECKS_MAX_TRACKED) {
        if (!t->capped)
            cn_log(CN_LOG_WARN, "events", "too many to track; ignoring the rest", "what", t->what,
                   "max", CN_LOGINT(CHECKS_MAX_TRACKED), NULL);
        t->capped = true;
        return NULL;
    }
    if (cn_array_grow(&t->items, &t->cap, t->n + 1, t->size, 16))
        return NULL;
    char *at = table_at(t, i);
    memmove(at + t->size, at, (t->n - i) * t->size);
    memset(at, 0, t->size);
    t->n++;
    return at;
}

static void table_remove(struct table *t, size_t i)
{
    char *at = table_at(t, i);
    memmove(at, at + t->size, (t->n - i - 1) * t->size);
    t->n--;
}

/* Removes what run did not see, passing each to drop (may be NULL). */
static void table_sweep(struct table *t, uint64_t run, void (*drop)(void *item))
{
    size_t i = 0;
    while (i < t->n) {
        void *it = table_at(t, i);
        if (*(const uint64_t *)it == run) {
            i++;
            continue;
        }
        if (drop)
            drop(it);
        table_remove(t, i);
    }
}

/* ---- state ------------------------------------------------------------------------ */

struct mc_state {
    uint64_t seen;
    unsigned num; /* mcN */
    bool have_ce, have_ue;
    uint64_t ce, ue;
    uint64_t dce, due; /* this run's increases */
};

struct cpu_state {
    uint64_t seen;
    unsigned num;    /* cpuN */
    int64_t package; /* physical_package_id, -1 when unknown */
    bool have_core, have_pkg;
    uint64_t core, pkg;
    uint64_t dcore, dpkg; /* this run's increases */
};

enum link_change { LINK_SAME = 0, LINK_UP, LINK_DOWN, LINK_FLAP_FROM_UP, LINK_FLAP_FROM_DOWN };

struct if_state {
    uint64_t seen;
    char name[IFNAMSIZ];
    int carrier; /* 1, 0, or -1: not known */
    bool have_changes;
    uint64_t changes;        /* carrier_changes */
    enum link_change change; /* this run's */
    uint64_t flap_changes;   /* carrier_changes' rise for a flap */
};

struct mount_state {
    uint64_t seen;
    char *mountpoint, *device, *fstype; /* owned */
    bool ro;
    bool fresh; /* first seen this run */
    /* This run's line, pointing into the scratch buffer. */
    const char *cur_device, *cur_fstype;
    bool cur_ro;
};

struct oom_state {
    bool have;
    uint64_t last_v, last_k; /* at the last run, to see a reset */
    uint64_t base_v, base_k; /* at the baseline */
    uint64_t reported;       /* R */
    uint64_t pending;        /* pending and not emitted at the last run */
};

struct evt_checks {
    char *procfs, *sysfs; /* owned */
    uint64_t run;         /* runs so far, the current one included */
    struct oom_state oom;
    struct table mcs, cpus, ifs, mounts;
    struct cn_buf scratch; /* file contents */
    struct cn_buf msg;     /* an event's message */
    struct cn_buf list;    /* a cpulist */
};

/* ---- helpers ------------------------------------------------------------------------ */

/* Builds an event (message msg, attributes as name, value pairs ending
 * with NULL) and hands it to emit. An event that cannot be built for lack
 * of memory is dropped and logged. */
static void send_event(evt_emit_fn emit, void *ctx, int64_t ts_ns, const char *type,
                       enum evt_source source, enum evt_severity severity, const char *msg, ...)
{
    struct evt_event ev;
    evt_event_init(&ev);
    va_list ap;
    va_start(ap, msg);
    int rc = evt_event_vfill(&ev, ts_ns, source, severity, type, msg, ap);
    va_end(ap);
    if (rc) {
        cn_log(CN_LOG_WARN, "events", "cannot build a check's event; dropped", "type", type, "err",
               CN_LOGINT(rc), NULL);
        return;
    }
    emit(ctx, &ev);
}

/* A small sysfs file holding one unsigned number. 0 or -errno. */
static int read_u64(const char *path, uint64_t *out)
{
    char buf[64];
    long n = cn_read_file(path, buf, sizeof(buf));
    if (n < 0)
        return (int)n;
    return cn_parse_u64(buf, out);
}

/* read_u64 of dir/name/file. */
static int read_u64_in(const char *dir, const char *name, const char *file, uint64_t *out)
{
    char path[CHECKS_PATH_MAX];
    if (!cn_path_join(path, sizeof(path), dir, name, file, NULL))
        return -ENAMETOOLONG;
    return read_u64(path, out);
}

/* Whether name is prefix followed by a decimal number (into *num). */
static bool parse_indexed(const char *name, const char *prefix, unsigned *num)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) || !name[pl])
        return false;
    uint64_t v = 0;
    for (const char *p = name + pl; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > 0xffffffffu)
            return false;
    }
    *num = (unsigned)v;
    return true;
}

/* The value of the line "key value" of a procfs file's text. 0, -ENOENT
 * (no such line), -EINVAL / -ERANGE (not a number). */
static int keyed_u64(const char *text, const char *key, uint64_t *out)
{
    size_t klen = strlen(key);
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > klen && !strncmp(p, key, klen) && (p[klen] == ' ' || p[klen] == '\t')) {
            char num[32];
            size_t vl = len - klen;
            if (vl >= sizeof(num))
                return -EINVAL;
            memcpy(num, p + klen, vl);
            num[vl] = '\0';
            return cn_parse_u64(num, out);
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    return -ENOENT;
}

/* "1 thing" or "2 things". */
static const char *plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

#define U64_STR(v) u64_str((char[24]){0}, (v))
static const char *u64_str(char *buf, uint64_t v)
{
    snprintf(buf, 24, "%" PRIu64, v);
    return buf;
}

/* ---- OOM kills the kernel log did not report -------------------------------------- */

static void check_oom(struct evt_checks *c, int64_t now_ns, uint64_t k, evt_emit_fn emit, void *ctx)
{
    char path[CHECKS_PATH_MAX];
    uint64_t v;
    if (!cn_path_join(path, sizeof(path), c->procfs, "vmstat", NULL) ||
        cn_read_file_buf(path, &c->scratch, CHECKS_FILE_MAX) ||
        keyed_u64(c->scratch.data, "oom_kill", &v))
        return;
    struct oom_state *o = &c->oom;
    if (!o->have || v < o->last_v || k < o->last_k) {
        /* The baseline, or a counter went back: start again. */
        *o = (struct oom_state){.have = true, .last_v = v, .last_k = k, .base_v = v, .base_k = k};
        return;
    }
    o->last_v = v;
    o->last_k = k;
    uint64_t dv = v - o->base_v, dk = k - o->base_k;
    uint64_t unlogged = dv > dk ? dv - dk : 0;
    if (o->reported > unlogged)
        o->reported = unlogged; /* the log caught up with what we reported */
    uint64_t pending = unlogged - o->reported;
    uint64_t n = pending < o->pending ? pending : o->pending;
    o->pending = pending - n;
    if (!n)
        return;
    o->reported += n;
    /* The message names the counter as the kernel does, whatever procfs
     * root it was read from. */
    cn_buf_reset(&c->msg);
    cn_buf_printf(&c->msg,
                  "%" PRIu64 " OOM kill%s counted in /proc/vmstat that the kernel log did not "
                  "report",
                  n, plural(n));
    if (!c->msg.err)
        send_event(emit, ctx, now_ns, "OOMKill", EVT_SRC_OS, EVT_SEV_WARNING, c->msg.data, "count",
                   U64_STR(n), NULL);
}

/* ---- EDAC memory controllers --------------------------------------------------- */

static int cmp_mc(const void *key, const void *item)
{
    unsigned a = *(const unsigned *)key, b = ((const struct mc_state *)item)->num;
    return (a > b) - (a < b);
}

/* Updates a counter: the increase since the last value, 0 for a baseline
 * or a reset. */
static uint64_t counter_step(bool *have, uint64_t *last, uint64_t v)
{
    uint64_t d = *have && v > *last ? v - *last : 0;
    *have = true;
    *last = v;
    return d;
}

static void check_edac(struct evt_checks *c, int64_t now_ns, evt_emit_fn emit, void *ctx)
{
    char dir[CHECKS_PATH_MAX];
    if (!cn_path_join(dir, sizeof(dir), c->sysfs, "devices/system/edac/mc", NULL))
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        unsigned num;
        if (!parse_indexed(de->d_name, "mc", &num))
            continue;
        uint64_t ce, ue;
        bool hce = !read_u64_in(dir, de->d_name, "ce_count", &ce);
        bool hue = !read_u64_in(dir, de->d_name, "ue_count", &ue);
        if (!hce && !hue)
            continue;
        bool found;
        size_t i = table_find(&c->mcs, &num, cmp_mc, &found);
        struct mc_state *m = found ? table_at(&c->mcs, i) : table_insert(&c->mcs, i);
        if (!m)
            continue;
        m->num = num;
        m->seen = c->run;
        m->dce = hce ? counter_step(&m->have_ce, &m->ce, ce) : 0;
        m->due = hue ? counter_step(&m->have_ue, &m->ue, ue) : 0;
    }
    closedir(d);
    table_sweep(&c->mcs, c->run, NULL);

    for (size_t i = 0; i < c->mcs.n; i++) {
        const struct mc_state *m = table_at(&c->mcs, i);
        char name[16], msg[96];
        snprintf(name, sizeof(name), "mc%u", m->num);
        if (m->dce) {
            snprintf(msg, sizeof(msg), "%s: %" PRIu64 " corrected memory error%s", name, m->dce,
                     plural(m->dce));
            send_event(emit, ctx, now_ns, "EDACCorrectable", EVT_SRC_HARDWARE, EVT_SEV_WARNING, msg,
                       "controller", name, "count", U64_STR(m->dce), NULL);
        }
        if (m->due) {
            snprintf(msg, sizeof(msg), "%s: %" PRIu64 " uncorrected memory error%s", name, m->due,
                     plural(m->due));
            send_event(emit, ctx, now_ns, "EDACUncorrectable", EVT_SRC_HARDWARE, EVT_SEV_CRITICAL,
                       msg, "controller", name, "count", U64_STR(m->due), NULL);
        }
    }
}

/* ---- CPU thermal throttling ------------------------------------------------------- */

static int cmp_cpu(const void *key, const void *item)
{
    unsigned a = *(const unsigned *)key, b = ((const struct cpu_state *)item)->num;
    return (a > b) - (a < b);
}

static uint64_t cpu_delta(const struct cpu_state *p, bool package)
{
    return package ? p->dpkg : p->dcore;
}

/* The CPUs whose count of the scope rose, as a cpulist ("0-3,8") in
 * c->list; returns how many. */
static size_t cpu_list(struct evt_checks *c, bool package)
{
    cn_buf_reset(&c->list);
    size_t count = 0, i = 0;
    while (i < c->cpus.n) {
        const struct cpu_state *a = table_at(&c->cpus, i);
        if (!cpu_delta(a, package)) {
            i++;
            continue;
        }
        size_t j = i;
        while (j + 1 < c->cpus.n) {
            const struct cpu_state *cur = table_at(&c->cpus, j), *next = table_at(&c->cpus, j + 1);
            if (!cpu_delta(next, package) || next->num != cur->num + 1)
                break;
            j++;
        }
        const struct cpu_state *b = table_at(&c->cpus, j);
        if (c->list.len)
            cn_buf_putc(&c->list, ',');
        if (j == i)
            cn_buf_printf(&c->list, "%u", a->num);
        else
            cn_buf_printf(&c->list, "%u-%u", a->num, b->num);
        count += j - i + 1;
        i = j + 1;
    }
    return count;
}

/* Throttle events of a scope: the sum of the CPUs' increases for core;
 * for package, per package the largest increase of its CPUs, summed. */
static uint64_t throttle_count(const struct evt_checks *c, bool package)
{
    uint64_t total = 0;
    for (size_t i = 0; i < c->cpus.n; i++) {
        const struct cpu_state *p = table_at(&c->cpus, i);
        uint64_t d = cpu_delta(p, package);
        if (!d)
            continue;
        if (!package) {
            total += d;
            continue;
        }
        bool counted = false;
        for (size_t j = 0; j < i && !counted; j++) {
            const struct cpu_state *q = table_at(&c->cpus, j);
            counted = q->dpkg && q->package == p->package;
        }
        if (counted)
            continue;
        for (size_t j = i + 1; j < c->cpus.n; j++) {
            const struct cpu_state *q = table_at(&c->cpus, j);
            if (q->package == p->package && q->dpkg > d)
                d = q->dpkg;
        }
        total += d;
    }
    return total;
}

static void check_thermal(struct evt_checks *c, int64_t now_ns, evt_emit_fn emit, void *ctx)
{
    char dir[CHECKS_PATH_MAX];
    if (!cn_path_join(dir, sizeof(dir), c->sysfs, "devices/system/cpu", NULL))
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        unsigned num;
        if (!parse_indexed(de->d_name, "cpu", &num))
            continue;
        uint64_t core, pkg;
        bool hcore = !read_u64_in(dir, de->d_name, "thermal_throttle/core_throttle_count", &core);
        bool hpkg = !read_u64_in(dir, de->d_name, "thermal_throttle/package_throttle_count", &pkg);
        if (!hcore && !hpkg)
            continue;
        bool found;
        size_t i = table_find(&c->cpus, &num, cmp_cpu, &found);
        struct cpu_state *p = found ? table_at(&c->cpus, i) : table_insert(&c->cpus, i);
        if (!p)
            continue;
        if (!found) {
            char path[CHECKS_PATH_MAX], buf[32];
            p->num = num;
            p->package = -1;
            if (cn_path_join(path, sizeof(path), dir, de->d_name, "topology/physical_package_id",
                             NULL) &&
                cn_read_file(path, buf, sizeof(buf)) > 0 && cn_parse_i64(buf, &p->package))
                p->package = -1;
        }
        p->seen = c->run;
        p->dcore = hcore ? counter_step(&p->have_core, &p->core, core) : 0;
        p->dpkg = hpkg ? counter_step(&p->have_pkg, &p->pkg, pkg) : 0;
    }
    closedir(d);
    table_sweep(&c->cpus, c->run, NULL);

    for (int scope = 0; scope < 2; scope++) {
        bool package = scope == 1;
        uint64_t n = throttle_count(c, package);
        if (!n)
            continue;
        size_t ncpus = cpu_list(c, package);
        const char *what = package ? "package" : "core";
        cn_buf_reset(&c->msg);
        cn_buf_printf(&c->msg,
                      "CPU thermal throttling: %" PRIu64 " %s throttle event%s on CPU%s %s", n,
                      what, plural(n), ncpus == 1 ? "" : "s", cn_buf_cstr(&c->list));
        if (!c->msg.err && !c->list.err)
            send_event(emit, ctx, now_ns, "ThermalThrottle", EVT_SRC_HARDWARE, EVT_SEV_WARNING,
                       c->msg.data, "scope", what, "cpus", cn_buf_cstr(&c->list), "count",
                       U64_STR(n), NULL);
    }
}

/* ---- network links --------------------------------------------------------------------- */

static int cmp_if(const void *key, const void *item)
{
    return strcmp(key, ((const struct if_state *)item)->name);
}

/* The carrier of an interface: 1, 0, or -1 when not known (administratively
 * down: EINVAL; anything unreadable or unexpected). */
static int read_carrier(const char *dir, const char *name)
{
    char path[CHECKS_PATH_MAX], buf[16];
    if (!cn_path_join(path, sizeof(path), dir, name, "carrier", NULL) ||
        cn_read_file(path, buf, sizeof(buf)) < 0)
        return -1;
    char *v = cn_trim(buf);
    return !strcmp(v, "1") ? 1 : !strcmp(v, "0") ? 0 : -1;
}

static void link_event(struct evt_checks *c, int64_t now_ns, evt_emit_fn emit, void *ctx,
                       const struct if_state *f, bool up, const char *how)
{
    cn_buf_reset(&c->msg);
    cn_buf_printf(&c->msg, "%s: %s", f->name, how);
    if (f->change == LINK_FLAP_FROM_UP || f->change == LINK_FLAP_FROM_DOWN)
        cn_buf_printf(&c->msg, "; %" PRIu64 " carrier changes since the last check",
                      f->flap_changes);
    if (c->msg.err)
        return;
    send_event(emit, ctx, now_ns, up ? "LinkUp" : "LinkDown", EVT_SRC_HARDWARE,
               up ? EVT_SEV_INFO : EVT_SEV_WARNING, c->msg.data, "device", f->name, NULL);
}

static void check_links(struct evt_checks *c, int64_t now_ns, evt_emit_fn emit, void *ctx)
{
    char dir[CHECKS_PATH_MAX];
    if (!cn_path_join(dir, sizeof(dir), c->sysfs, "class/net", NULL))
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        struct stat st;
        if (name[0] == '.' || !strcmp(name, "lo") || strlen(name) >= IFNAMSIZ ||
            fstatat(dirfd(d), name, &st, 0) || !S_ISDIR(st.st_mode))
            continue;
        int carrier = read_carrier(dir, name);
        uint64_t changes;
        bool hchanges = !read_u64_in(dir, name, "carrier_changes", &changes);
        bool found;
        size_t i = table_find(&c->ifs, name, cmp_if, &found);
        struct if_state *f = found ? table_at(&c->ifs, i) : table_insert(&c->ifs, i);
        if (!f)
            continue;
        f->seen = c->run;
        f->change = LINK_SAME;
        if (!found) {
            strcpy(f->name, name);
        } else if (f->carrier >= 0 && carrier >= 0) {
            if (f->carrier != carrier) {
                f->change = carrier ? LINK_UP : LINK_DOWN;
            } else if (hchanges && f->have_changes && changes >= f->changes &&
                       changes - f->changes >= 2) {
                f->change = carrier ? LINK_FLAP_FROM_UP : LINK_FLAP_FROM_DOWN;
                f->flap_changes = changes - f->changes;
            }
        }
        f->carrier = carrier;
        if (hchanges) {
            f->have_changes = true;
            f->changes = changes;
        }
    }
    closedir(d);
    table_sweep(&c->ifs, c->run, NULL);

    for (size_t i = 0; i < c->ifs.n; i++) {
        const struct if_state *f = table_at(&c->ifs, i);
        switch (f->change) {
        case LINK_SAME: break;
        case LINK_UP:
            link_event(c, now_ns, emit, ctx, f, true, "link up (carrier detected)");
            break;
        case LINK_DOWN:
            link_event(c, now_ns, emit, ctx, f, false, "link down (carrier lost)");
            break;
        case LINK_FLAP_FROM_UP:
            link_event(c, now_ns, emit, ctx, f, false,
                       "link flapped: went down (carrier lost), then up again");
            link_event(c, now_ns, emit, ctx, f, true, "link flapped: up again after going down");
            break;
        case LINK_FLAP_FROM_DOWN:
            link_event(c, now_ns, emit, ctx, f, true,
                       "link flapped: came up (carrier detected), then down again");
            link_event(c, now_ns, emit, ctx, f, false, "link flapped: down again after coming up");
            break;
        }
    }
}

/* ---- read-only remounts ----------------------------------------------------------------- */

static int cmp_mount(const void *key, const void *item)
{
    return strcmp(key, ((const struct mount_state *)item)->mountpoint);
}

static void mount_drop(void *item)
{
    struct mount_state *m = item;
    free(m->mountpoint);
    free(m->device);
    free(m->fstype);
}

static bool is_octal(char ch)
{
    return ch >= '0' && ch <= '7';
}

/* Decodes the kernel's \ooo escapes (space, tab, newline, backslash) in
 * place. */
static void unescape(char *s)
{
    char *o = s;
    for (const char *p = s; *p;) {
        if (p[0] == '\\' && is_octal(p[1]) && is_octal(p[2]) && is_octal(p[3])) {
            int v = (p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0');
            if (v > 0 && v < 256) {
                *o++ = (char)v;
                p += 4;
                continue;
            }
        }
        *o++ = *p++;
    }
    *o = '\0';
}

/* Replaces an owned string with a copy of s; the old one stays on failure. */
static void set_str(char **dst, const char *s)
{
    char *n = cn_strdup(s);
    if (!n)
        return;
    free(*dst);
    *dst = n;
}

/* One line of a mounts file ("device mountpoint fstype options 0 0"),
 * modified in place. */
static void mount_line(struct evt_checks *c, char *line)
{
    char *f[4];
    char *p = line;
    for (int i = 0; i < 4; i++) {
        f[i] = p;
        char *sp = strchr(p, ' ');
        if (!sp && i < 3)
            return;
        if (sp) {
            *sp = '\0';
            p = sp + 1;
        }
    }
    char *opts = f[3];
    bool ro;
    if (!strncmp(opts, "ro", 2) && (opts[2] == ',' || !opts[2]))
        ro = true;
    else if (!strncmp(opts, "rw", 2) && (opts[2] == ',' || !opts[2]))
        ro = false;
    else
        return;
    unescape(f[0]);
    unescape(f[1]);
    unescape(f[2]);
    bool found;
    size_t i = table_find(&c->mounts, f[1], cmp_mount, &found);
    struct mount_state *m;
    if (found) {
        m = table_at(&c->mounts, i);
    } else {
        m = table_insert(&c->mounts, i);
        if (!m)
            return;
        m->mountpoint = cn_strdup(f[1]);
        m->device = cn_strdup(f[0]);
        m->fstype = cn_strdup(f[2]);
        if (!m->mountpoint || !m->device || !m->fstype) {
            mount_drop(m);
            table_remove(&c->mounts, i);
            return;
        }
        m->fresh = true;
    }
    m->seen = c->run;
    m->cur_device = f[0];
    m->cur_fstype = f[2];
    m->cur_ro = ro;
}

static void check_mounts(struct evt_checks *c, int64_t now_ns, evt_emit_fn emit, void *ctx)
{
    char path[CHECKS_PATH_MAX];
    if (!cn_path_join(path, sizeof(path), c->procfs, "1/mounts", NULL) ||
        cn_read_file_buf(path, &c->scratch, CHECKS_FILE_MAX)) {
        if (!cn_path_join(path, sizeof(path), c->procfs, "mounts", NULL) ||
            cn_read_file_buf(path, &c->scratch, CHECKS_FILE_MAX))
            return;
    }
    char *p = c->scratch.data;
    while (*p) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        mount_line(c, p);
        if (!nl)
            break;
        p = nl + 1;
    }
    table_sweep(&c->mounts, c->run, mount_drop);

    for (size_t i = 0; i < c->mounts.n; i++) {
        struct mount_state *m = table_at(&c->mounts, i);
        bool same = !strcmp(m->device, m->cur_device) && !strcmp(m->fstype, m->cur_fstype);
        if (!same) {
            /* Another filesystem at this mount point: a new baseline. */
            set_str(&m->device, m->cur_device);
            set_str(&m->fstype, m->cur_fstype);
        } else if (!m->fresh && !m->ro && m->cur_ro) {
            cn_buf_reset(&c->msg);
            cn_buf_printf(&c->msg, "%s remounted read-only (device %s, %s)", m->mountpoint,
                          m->device, m->fstype);
            if (!c->msg.err)
                send_event(emit, ctx, now_ns, "FilesystemReadOnly", EVT_SRC_OS, EVT_SEV_CRITICAL,
                           c->msg.data, "mountpoint", m->mountpoint, "device", m->device, "fstype",
                           m->fstype, NULL);
        }
        m->ro = m->cur_ro;
        m->fresh = false;
        m->cur_device = m->cur_fstype = NULL;
    }
}

/* ---- the checker ------------------------------------------------------------------------ */

int evt_checks_create(const char *procfs, const char *sysfs, struct evt_checks **out)
{
    *out = NULL;
    struct evt_checks *c = cn_calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->procfs = cn_strdup(procfs);
    c->sysfs = cn_strdup(sysfs);
    if (!c->procfs || !c->sysfs) {
        evt_checks_destroy(c);
        return -ENOMEM;
    }
    c->mcs = (struct table){.size = sizeof(struct mc_state), .what = "memory controllers"};
    c->cpus = (struct table){.size = sizeof(struct cpu_state), .what = "CPUs"};
    c->ifs = (struct table){.size = sizeof(struct if_state), .what = "network interfaces"};
    c->mounts = (struct table){.size = sizeof(struct mount_state), .what = "mounts"};
    cn_buf_init(&c->scratch);
    cn_buf_init(&c->msg);
    cn_buf_init(&c->list);
    *out = c;
    return 0;
}

void evt_checks_destroy(struct evt_checks *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->mounts.n; i++)
        mount_drop(table_at(&c->mounts, i));
    free(c->mcs.items);
    free(c->cpus.items);
    free(c->ifs.items);
    free(c->mounts.items);
    cn_buf_free(&c->scratch);
    cn_buf_free(&c->msg);
    cn_buf_free(&c->list);
    free(c->procfs);
    free(c->sysfs);
    free(c);
}

void evt_checks_run(struct evt_checks *c, int64_t now_ns, uint64_t kernel_ooms, evt_emit_fn emit,
                    void *ctx)
{
    c->run++;
    check_oom(c, now_ns, kernel_ooms, emit, ctx);
    check_edac(c, now_ns, emit, ctx);
    check_thermal(c, now_ns, emit, ctx);
    check_links(c, now_ns, emit, ctx);
    check_mounts(c, now_ns, emit, ctx);
}

/* ---- boot --------------------------------------------------------------------------------- */

/*
 * Returns -ENODATA for an empty file and -ERANGE when the id does not fit
 * in cap bytes.
 */
int evt_read_boot_id(const char *procfs, char *out, size_t cap)
{
    char path[CHECKS_PATH_MAX], buf[128];
    if (!cap)
        return -EINVAL;
    out[0] = '\0';
    if (!cn_path_join(path, sizeof(path), procfs, "sys/kernel/random/boot_id", NULL))
        return -ENAMETOOLONG;
    long n = cn_read_file(path, buf, sizeof(buf));
    if (n < 0)
        return (int)n;
    const char *id = cn_trim(buf);
    size_t len = strlen(id);
    if (!len)
        return -ENODATA;
    if (len >= cap)
        return -ERANGE;
    memcpy(out, id, len + 1);
    return 0;
}

/* The boot time in ns since the epoch from procfs/stat's btime, or 0. */
static int64_t boot_time_ns(const char *procfs)
{
    char path[CHECKS_PATH_MAX];
    struct cn_buf b;
    cn_buf_init(&b);
    uint64_t btime = 0;
    if (!cn_path_join(path, sizeof(path), procfs, "stat", NULL) ||
        cn_read_file_buf(path, &b, CHECKS_FILE_MAX) || keyed_u64(b.data, "btime", &btime) ||
        btime > (uint64_t)INT64_MAX / 1000000000)
        btime = 0;
    cn_buf_free(&b);
    return (int64_t)btime * 1000000000;
}

/*
 * Whether a pstore dmesg record tells of a panic. pstore starts each
 * record with the kmsg dump's reason, "Panic#N PartM" for a panic (others
 * are Oops, Emergency, Shutdown...), and the log of a panic ends with
 * "Kernel panic - not syncing"; either one counts (the second also for a
 * record without the header). A bare "panic" does not: an oops mentions
 * panic_on_oops, modules and functions have it in their names. Records
 * pstore could not decompress (*.enc.z) are not readable and not counted.
 */
#define PANIC_LINE "Kernel panic - not syncing"
static bool record_tells_panic(const char *path)
{
    const size_t nlen = sizeof(PANIC_LINE) - 1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[16384];
    size_t have = 0;
    bool first = true, panic = false;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        if (first && have >= 6) {
            first = false;
            if (!memcmp(buf, "Panic#", 6)) {
                panic = true;
                break;
            }
        }
        if (memmem(buf, have, PANIC_LINE, nlen)) {
            panic = true;
            break;
        }
        /* Keep the tail that may start the needle. */
        if (have >= nlen) {
            memmove(buf, buf + have - (nlen - 1), nlen - 1);
            have = nlen - 1;
            first = false;
        }
    }
    close(fd);
    return panic;
}

/*
 * The Reboot event is stamped with the boot time (procfs/stat's btime;
 * now_ns when unreadable). KernelPanicPrevious names the first panic record
 * by name (the parts of one dump sort together) and is stamped with that
 * file's mtime, which pstore sets to the time of the dump, when it is set
 * and not after the boot; with the boot time otherwise. Records nothing
 * removed (systemd-pstore archives and removes them) are reported again at
 * the next reboot.
 */
void evt_check_reboot(const char *procfs, const char *sysfs, const char *prev_boot_id,
                      const char *boot_id, int64_t now_ns, evt_emit_fn emit, void *ctx)
{
    if (!prev_boot_id || !prev_boot_id[0] || !boot_id || !strcmp(prev_boot_id, boot_id))
        return;
    int64_t ts = boot_time_ns(procfs);
    if (!ts)
        ts = now_ns;
    struct cn_buf msg;
    cn_buf_init(&msg);
    cn_buf_printf(&msg, "host rebooted: boot id changed from %s to %s", prev_boot_id, boot_id);
    if (!msg.err)
        send_event(emit, ctx, ts, "Reboot", EVT_SRC_OS, EVT_SEV_WARNING, msg.data, "boot_id",
                   boot_id, "previous_boot_id", prev_boot_id, NULL);

    char dir[CHECKS_PATH_MAX], path[CHECKS_PATH_MAX], first[256] = "";
    int64_t panic_ts = ts;
    DIR *d = cn_path_join(dir, sizeof(dir), sysfs, "fs/pstore", NULL) ? opendir(dir) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        const char *name = de->d_name;
        if (strncmp(name, "dmesg-", 6) || strlen(name) >= sizeof(first) ||
            (first[0] && strcmp(name, first) >= 0) ||
            !cn_path_join(path, sizeof(path), dir, name, NULL) || !record_tells_panic(path))
            continue;
        strcpy(first, name);
        struct stat st;
        int64_t mtime = 0;
        if (!stat(path, &st) && st.st_mtim.tv_sec > 0 && st.st_mtim.tv_sec < INT64_MAX / 1000000000)
            mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        panic_ts = mtime > 0 && mtime <= ts ? mtime : ts;
    }
    if (d)
        closedir(d);
    if (first[0]) {
        cn_buf_reset(&msg);
        cn_buf_printf(&msg, "the previous boot ended in a kernel panic (pstore record %s)", first);
        if (!msg.err)
            send_event(emit, ctx, panic_ts, "KernelPanicPrevious", EVT_SRC_KERNEL, EVT_SEV_CRITICAL,
                       msg.data, "file", first, NULL);
    }
    cn_buf_free(&msg);
}
