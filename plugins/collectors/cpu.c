/*
 * cpu: per-CPU time from /proc/stat and thermal throttling from sysfs, as
 * node_exporter 1.5's cpu collector exports them on Linux:
 *
 *   node_cpu_seconds_total{cpu,mode}        counter, USER_HZ ticks / 100
 *   node_cpu_guest_seconds_total{cpu,mode}  counter ("guest" option, on)
 *   node_cpu_isolated{cpu}                  gauge, from
 * devices/system/cpu/isolated node_cpu_core_throttles_total{package,core},
 * node_cpu_package_throttles_total{package} counters, from
 * cpuN/thermal_throttle node_cpu_info{...}, node_cpu_flag_info{flag},
 * node_cpu_bug_info{bug} gauges from /proc/cpuinfo ("info" option, off;
 *                                           flags/bugs only with their include
 * patterns)
 *
 * Counters that go backwards. The kernel's per-CPU tick counters can step
 * back (idle and iowait in particular, and everything after a CPU hotplug).
 * As node_exporter does, the collector keeps the last exported value of every
 * field per CPU in its state and exports max(previous, current) per field, so
 * the exported counters never decrease; if idle falls back by 3 seconds or
 * more the CPU is taken to have been replugged and its fields are reset to
 * the new values. The cache is cleared when the number of CPUs changes.
 * Backward steps are logged at debug level, as node_exporter 1.5 does.
 *
 * CPU numbering follows prometheus/procfs 0.8: the cpu label is the N of the
 * "cpuN" line, and CPUs missing from the file below the highest N (offline
 * ones) are exported with zero times.
 *
 * Thermal throttling mirrors node_exporter: the cpu[0-9]* directories are
 * taken in name order; a CPU without readable topology/physical_package_id
 * and core_id is skipped; each (package, core) and each package is read from
 * the first CPU that has a readable count. CPUs without a thermal_throttle
 * directory cannot contribute, so they are recognised with one faccessat()
 * and never read further, which keeps virtual machines (no such directories)
 * cheap. The isolated CPU list is read once at init, as node_exporter does.
 *
 * /proc/stat and /proc/cpuinfo grow with the number of CPUs, so they are read
 * into one buffer kept in the state and reused each cycle; the arrays the
 * collector needs (per-CPU times, throttle tables, directory names) also live
 * in the state and only grow, so a steady-state cycle does not allocate.
 *
 * /proc/cpuinfo is parsed in the x86 format (what procfs uses on amd64/386).
 */
#include "plugins/plugins.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CPU_MAX_FILE (32u << 20)
#define CPU_MAX_ID 65535  /* larger cpuN ids are taken as garbage */
#define CPU_USER_HZ 100.0 /* procfs' fixed USER_HZ */
#define CPU_JUMP_BACK_SECONDS 3.0

enum {
    T_USER,
    T_NICE,
    T_SYSTEM,
    T_IDLE,
    T_IOWAIT,
    T_IRQ,
    T_SOFTIRQ,
    T_STEAL,
    T_GUEST,
    T_GUEST_NICE,
    T_COUNT
};

/* Mode label and debug-log name of each field, in /proc/stat column order. */
static const char *const cpu_modes[T_COUNT] = {
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "user", "nice",
};
static const char *const cpu_field_names[T_COUNT] = {
    "User", "Nice", "System", "Idle", "Iowait", "IRQ", "SoftIRQ", "Steal", "Guest", "GuestNice",
};

struct cpu_times {
    double v[T_COUNT]; /* seconds */
};

struct cpu_pkg_count {
    uint64_t pkg;
    uint64_t count;
};

struct cpu_core_count {
    uint64_t pkg;
    uint64_t core;
    uint64_t count;
};

struct cpu_name {
    char s[64];
};

struct cpu_state {
    bool guest;
    bool info;
    struct plg_filter *flags; /* NULL: node_cpu_flag_info not exported */
    struct plg_filter *bugs;  /* NULL: node_cpu_bug_info not exported */
    struct cn_buf buf;        /* /proc/cpuinfo, then /proc/stat */

    struct cpu_times *cur; /* this cycle's values, indexed by cpu id */
    size_t ncur, capcur;
    struct cpu_times *cache; /* what was exported last (node_exporter's cpuStats) */
    size_t ncache, capcache;

    bool have_isolated; /* the isolated file existed at init */
    unsigned *isolated;
    size_t nisolated;

    struct cpu_name *tdirs; /* cpu dirs with a thermal_throttle folder */
    size_t ntdirs, captdirs;
    struct cpu_pkg_count *pkgs;
    size_t npkgs, cappkgs;
    struct cpu_core_count *cores;
    size_t ncores, capcores;
};

static const struct plg_option cpu_options[] = {
    {"guest", "true", "Enables metric node_cpu_guest_seconds_total"},
    {"info", "false", "Enables metric cpu_info"},
    {"info.flags-include", NULL,
     "Filter the `flags` field in cpuInfo with a value that must be a regular "
     "expression"},
    {"info.bugs-include", NULL,
     "Filter the `bugs` field in cpuInfo with a value that must be a regular "
     "expression"},
    {NULL, NULL, NULL},
};

/* ---- small helpers ------------------------------------------------------ */

/* Grows *arr (element size sz) to hold at least n elements. 0 or -ENOMEM. */
static int cpu_grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    if (n <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 4;
    while (ncap < n)
        ncap *= 2;
    void *p = cn_realloc(*arr, ncap * sz);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* ---- /proc/cpuinfo ------------------------------------------------------ */

/* One processor block of /proc/cpuinfo; strings point into the buffer. */
struct cpu_info_rec {
    uint64_t processor;
    const char *vendor, *family, *model, *model_name, *stepping, *microcode, *cache_size,
        *physical_id, *core_id;
    const char *flags, *bugs;
};

static void cpu_info_emit(struct exp_builder *b, struct exp_family *f, const struct cpu_info_rec *r)
{
    char num[PLG_U64_LEN];
    const char *names[10] = {"package", "core",       "cpu",       "vendor",   "family",
                             "model",   "model_name", "microcode", "stepping", "cachesize"};
    const char *values[10] = {r->physical_id, r->core_id,   plg_fmt_u64(num, r->processor),
                              r->vendor,      r->family,    r->model,
                              r->model_name,  r->microcode, r->stepping,
                              r->cache_size};
    for (int i = 0; i < 10; i++)
        if (!values[i])
            values[i] = "";
    exp_addv(b, f, 1, 10, names, values);
}

/* Exports the space-separated words of list (modified in place) that the
 * filter keeps, as family name with label `label`. */
static void cpu_info_words(struct exp_builder *b, const char *name, const char *help,
                           const char *label, char *list, const struct plg_filter *filter)
{
    struct exp_family *f = NULL;
    size_t len;
    for (char *p = list, *w; (w = plg_next_field(&p, &len));) {
        if (*p)
            p++;
        w[len] = '\0';
        if (plg_filter_ignored(filter, w))
            continue;
        if (!f)
            f = exp_family(b, name, help, EXP_GAUGE);
        exp_add(b, f, 1, 1, label, w);
    }
}

/* cpuinfo numbers as procfs parses them: Go's ParseUint(s, 0, 64) and
 * ParseFloat. */
static int cpu_parse_uint0(const char *s, uint64_t *out)
{
    return plg_parse_uint(s, strlen(s), 0, 64, out);
}

static int cpu_parse_float(const char *s, double *out)
{
    return plg_parse_float(s, strlen(s), out);
}

/* Keys whose values procfs parses as numbers; a bad value fails the read. */
static const char *const cpu_info_uint_keys[] = {"siblings", "cpu cores", "cpuid level",
                                                 "clflush size", "cache_alignment"};
static const char *const cpu_info_float_keys[] = {"cpu MHz", "bogomips"};

static int cpu_update_info(struct cpu_state *st, struct plg_collect *c)
{
    char path[PATH_MAX];
    if (!plg_proc(path, c->paths, "cpuinfo"))
        return plg_fail(c, -ENAMETOOLONG, "procfs path too long");
    int rc = plg_read_buf(c, path, &st->buf, CPU_MAX_FILE);
    if (rc < 0)
        return plg_fail(c, rc, "couldn't read %s: %s", path, strerror(-rc));

    struct exp_family *f =
        exp_family(c->b, "node_cpu_info", "CPU information from /proc/cpuinfo.", EXP_GAUGE);
    struct cpu_info_rec cur = {0}, first = {0};
    int ncpu = 0;
    char *end = st->buf.data + st->buf.len;
    for (char *p = st->buf.data, *line; (line = plg_next_line(&p, end, NULL));) {
        if (ncpu == 0) {
            /* The first non-blank line must be "processor : N". */
            const char *t = line;
            while (plg_is_space(*t))
                t++;
            if (!*t)
                continue;
            char *sep = strstr(line, ": ");
            if (strncmp(line, "processor", 9) != 0 || !sep ||
                cpu_parse_uint0(sep + 2, &cur.processor))
                return plg_fail(c, -EINVAL, "invalid first line in %s: \"%.64s\"", path, line);
            ncpu = 1;
            continue;
        }
        if (!strchr(line, ':'))
            continue;
        char *sep = strstr(line, ": ");
        if (!sep)
            continue; /* "key:" without a value: no key procfs knows matches */
        char *val = sep + 2;
        char *kend = sep;
        while (kend > line && plg_is_space(kend[-1]))
            kend--;
        *kend = '\0';
        char *key = line;
        while (plg_is_space(*key))
            key++;

        if (!strcmp(key, "processor")) {
            if (ncpu == 1)
                first = cur;
            cpu_info_emit(c->b, f, &cur);
            memset(&cur, 0, sizeof(cur));
            if (cpu_parse_uint0(val, &cur.processor))
                return plg_fail(c, -EINVAL, "bad processor number \"%.32s\" in %s", val, path);
            ncpu++;
        } else if (!strcmp(key, "vendor") || !strcmp(key, "vendor_id")) {
            cur.vendor = val;
        } else if (!strcmp(key, "cpu family")) {
            cur.family = val;
        } else if (!strcmp(key, "model")) {
            cur.model = val;
        } else if (!strcmp(key, "model name")) {
            cur.model_name = val;
        } else if (!strcmp(key, "stepping")) {
            cur.stepping = val;
        } else if (!strcmp(key, "microcode")) {
            cur.microcode = val;
        } else if (!strcmp(key, "cache size")) {
            cur.cache_size = val;
        } else if (!strcmp(key, "physical id")) {
            cur.physical_id = val;
        } else if (!strcmp(key, "core id")) {
            cur.core_id = val;
        } else if (!strcmp(key, "flags")) {
            cur.flags = val;
        } else if (!strcmp(key, "bugs")) {
            cur.bugs = val;
        } else {
            for (size_t i = 0; i < sizeof(cpu_info_uint_keys) / sizeof(*cpu_info_uint_keys); i++) {
                uint64_t u;
                if (!strcmp(key, cpu_info_uint_keys[i]) && cpu_parse_uint0(val, &u))
                    return plg_fail(c, -EINVAL, "bad %s value \"%.32s\" in %s", key, val, path);
            }
            for (size_t i = 0; i < sizeof(cpu_info_float_keys) / sizeof(*cpu_info_float_keys);
                 i++) {
                double d;
                if (!strcmp(key, cpu_info_float_keys[i]) && cpu_parse_float(val, &d))
                    return plg_fail(c, -EINVAL, "bad %s value \"%.32s\" in %s", key, val, path);
            }
        }
    }
    if (ncpu == 0)
        return plg_fail(c, -EINVAL, "invalid cpuinfo file %s: no processor line", path);
    if (ncpu == 1)
        first = cur;
    cpu_info_emit(c->b, f, &cur);

    /* Flags and bugs of the first processor; their lines are still intact. */
    if (st->flags && first.flags)
        cpu_info_words(c->b, "node_cpu_flag_info",
                       "The `flags` field of CPU information from /proc/cpuinfo "
                       "taken from the "
                       "first core.",
                       "flag", (char *)first.flags, st->flags);
    if (st->bugs && first.bugs)
        cpu_info_words(c->b, "node_cpu_bug_info",
                       "The `bugs` field of CPU information from /proc/cpuinfo taken from the "
                       "first core.",
                       "bug", (char *)first.bugs, st->bugs);
    return 0;
}

/* ---- /proc/stat --------------------------------------------------------- */

/* Parses the values of one "cpu" line after its name (at least 10 columns;
 * more are ignored) into t, in seconds. */
static int cpu_parse_times(char *p, struct cpu_times *t)
{
    for (int i = 0; i < T_COUNT; i++) {
        size_t len;
        char *s = plg_next_field(&p, &len);
        double v;
        if (!s || plg_parse_float(s, len, &v))
            return -EINVAL;
        t->v[i] = v / CPU_USER_HZ;
    }
    return 0;
}

/* Reads /proc/stat into st->cur[0..ncur). */
static int cpu_read_stat(struct cpu_state *st, struct plg_collect *c)
{
    char path[PATH_MAX];
    if (!plg_proc(path, c->paths, "stat"))
        return plg_fail(c, -ENAMETOOLONG, "procfs path too long");
    int rc = plg_read_buf(c, path, &st->buf, CPU_MAX_FILE);
    if (rc < 0)
        return plg_fail(c, rc, "couldn't read %s: %s", path, strerror(-rc));

    st->ncur = 0;
    char *end = st->buf.data + st->buf.len;
    for (char *q = st->buf.data, *line; (line = plg_next_line(&q, end, NULL));) {
        char *p = line;
        while (plg_is_space(*p))
            p++;
        if (strncmp(p, "cpu", 3) != 0)
            continue;
        p += 3;
        struct cpu_times t;
        if (plg_is_space(*p)) { /* the "cpu" total line: validated, not exported */
            if (cpu_parse_times(p, &t))
                return plg_fail(c, -EINVAL, "couldn't parse the cpu line of %s", path);
            continue;
        }
        uint64_t id = 0;
        char *ds = p;
        for (; *p >= '0' && *p <= '9' && id <= CPU_MAX_ID; p++)
            id = id * 10 + (uint64_t)(*p - '0');
        if (p == ds || id > CPU_MAX_ID || (*p && !plg_is_space(*p)))
            return plg_fail(c, -EINVAL, "couldn't parse cpu id of \"%.32s\" in %s", line, path);
        if (cpu_parse_times(p, &t))
            return plg_fail(c, -EINVAL, "couldn't parse the cpu%u line of %s", (unsigned)id, path);
        if (id >= st->ncur) {
            if (cpu_grow((void **)&st->cur, &st->capcur, id + 1, sizeof(*st->cur)))
                return plg_fail(c, -ENOMEM, "out of memory");
            memset(&st->cur[st->ncur], 0, (id + 1 - st->ncur) * sizeof(*st->cur));
            st->ncur = id + 1;
        }
        st->cur[id] = t;
    }
    return 0;
}

static void cpu_log_backwards(size_t cpu, int field, double old, double now)
{
    if (!cn_log_enabled(CN_LOG_DEBUG))
        return;
    char msg[64], num[24];
    snprintf(msg, sizeof(msg), "CPU %s counter jumped backwards", cpu_field_names[field]);
    cn_log(CN_LOG_DEBUG, "collector", msg, "collector", "cpu", "cpu", plg_fmt_u64(num, cpu),
           "old_value", CN_LOGNUM(old), "new_value", CN_LOGNUM(now), NULL);
}

/* Folds this cycle's values into the cache: node_exporter's updateCPUStats. */
static int cpu_update_cache(struct cpu_state *st)
{
    if (st->ncache != st->ncur) {
        if (cpu_grow((void **)&st->cache, &st->capcache, st->ncur, sizeof(*st->cache)))
            return -ENOMEM;
        memset(st->cache, 0, st->ncur * sizeof(*st->cache));
        st->ncache = st->ncur;
    }
    for (size_t i = 0; i < st->ncur; i++) {
        struct cpu_times *old = &st->cache[i];
        const struct cpu_times *now = &st->cur[i];
        if (old->v[T_IDLE] - now->v[T_IDLE] >= CPU_JUMP_BACK_SECONDS) {
            if (cn_log_enabled(CN_LOG_DEBUG)) {
                char num[PLG_U64_LEN];
                cn_log(CN_LOG_DEBUG, "collector",
                       "CPU Idle counter jumped backwards more than 3 seconds, "
                       "possible hotplug "
                       "event, resetting CPU stats",
                       "collector", "cpu", "cpu", plg_fmt_u64(num, i), "old_value",
                       CN_LOGNUM(old->v[T_IDLE]), "new_value", CN_LOGNUM(now->v[T_IDLE]), NULL);
            }
            memset(old, 0, sizeof(*old));
        }
        for (int k = 0; k < T_COUNT; k++) {
            if (now->v[k] >= old->v[k])
                old->v[k] = now->v[k];
            else
                cpu_log_backwards(i, k, old->v[k], now->v[k]);
        }
    }
    return 0;
}

static void cpu_emit_stat(const struct cpu_state *st, struct exp_builder *b)
{
    struct exp_family *secs = exp_family(b, "node_cpu_seconds_total",
                                         "Seconds the CPUs spent in each mode.", EXP_COUNTER);
    struct exp_family *guest = NULL;
    if (st->guest && st->ncache)
        guest = exp_family(b, "node_cpu_guest_seconds_total",
                           "Seconds the CPUs spent in guests (VMs) for each mode.", EXP_COUNTER);
    for (size_t i = 0; i < st->ncache; i++) {
        char num[PLG_U64_LEN];
        plg_fmt_u64(num, i);
        for (int k = 0; k < T_COUNT; k++)
            exp_add(b, k < T_GUEST ? secs : guest, st->cache[i].v[k], 2, "cpu", num, "mode",
                    cpu_modes[k]);
    }
}

/* ---- sysfs -------------------------------------------------------------- */

static void cpu_emit_isolated(const struct cpu_state *st, struct exp_builder *b)
{
    if (!st->nisolated)
        return;
    struct exp_family *f = exp_family(b, "node_cpu_isolated",
                                      "Whether each core is isolated, information from "
                                      "/sys/devices/system/cpu/isolated.",
                                      EXP_GAUGE);
    for (size_t i = 0; i < st->nisolated; i++) {
        char num[PLG_U64_LEN];
        exp_add(b, f, 1, 1, "cpu", plg_fmt_u64(num, st->isolated[i]));
    }
}

static int cpu_cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct cpu_name *)a)->s, ((const struct cpu_name *)b)->s);
}

/* Collects the names of the cpu[0-9]* directories that have a thermal_throttle
 * folder into st->tdirs, sorted as filepath.Glob sorts. */
static int cpu_list_throttle_dirs(struct cpu_state *st, const char *base)
{
    st->ntdirs = 0;
    DIR *d = opendir(base);
    if (!d)
        return 0; /* no cpu directory: nothing to export, as Glob finds nothing */
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (!plg_glob_num(n, "cpu"))
            continue;
        char rel[sizeof(e->d_name) + 32];
        snprintf(rel, sizeof(rel), "%s/thermal_throttle", n);
        if (faccessat(dirfd(d), rel, F_OK, 0) != 0 || strlen(n) >= sizeof(st->tdirs->s))
            continue;
        if (cpu_grow((void **)&st->tdirs, &st->captdirs, st->ntdirs + 1, sizeof(*st->tdirs))) {
            rc = -ENOMEM;
            break;
        }
        strcpy(st->tdirs[st->ntdirs++].s, n);
    }
    closedir(d);
    if (st->ntdirs > 1)
        qsort(st->tdirs, st->ntdirs, sizeof(*st->tdirs), cpu_cmp_name);
    return rc;
}

static int cpu_update_throttle(struct cpu_state *st, struct plg_collect *c)
{
    char base[PATH_MAX], path[PATH_MAX];
    if (!plg_sys(base, c->paths, "devices/system/cpu"))
        return plg_fail(c, -ENAMETOOLONG, "sysfs path too long");
    if (cpu_list_throttle_dirs(st, base))
        return plg_fail(c, -ENOMEM, "out of memory");
    st->npkgs = st->ncores = 0;
    for (size_t i = 0; i < st->ntdirs; i++) {
        const char *cpu = st->tdirs[i].s;
        uint64_t pkg, core, count;
        if (!cn_path_join(path, sizeof(path), base, cpu, "topology/physical_package_id", NULL) ||
            plg_read_u64(c, path, &pkg))
            continue;
        if (!cn_path_join(path, sizeof(path), base, cpu, "topology/core_id", NULL) ||
            plg_read_u64(c, path, &core))
            continue;
        size_t k;
        for (k = 0; k < st->ncores; k++)
            if (st->cores[k].pkg == pkg && st->cores[k].core == core)
                break;
        if (k == st->ncores &&
            cn_path_join(path, sizeof(path), base, cpu, "thermal_throttle/core_throttle_count",
                         NULL) &&
            !plg_read_u64(c, path, &count)) {
            if (cpu_grow((void **)&st->cores, &st->capcores, st->ncores + 1, sizeof(*st->cores)))
                return plg_fail(c, -ENOMEM, "out of memory");
            st->cores[st->ncores++] = (struct cpu_core_count){pkg, core, count};
        }
        for (k = 0; k < st->npkgs; k++)
            if (st->pkgs[k].pkg == pkg)
                break;
        if (k == st->npkgs &&
            cn_path_join(path, sizeof(path), base, cpu, "thermal_throttle/package_throttle_count",
                         NULL) &&
            !plg_read_u64(c, path, &count)) {
            if (cpu_grow((void **)&st->pkgs, &st->cappkgs, st->npkgs + 1, sizeof(*st->pkgs)))
                return plg_fail(c, -ENOMEM, "out of memory");
            st->pkgs[st->npkgs++] = (struct cpu_pkg_count){pkg, count};
        }
    }

    struct exp_builder *b = c->b;
    char pnum[PLG_U64_LEN], cnum[PLG_U64_LEN];
    if (st->npkgs) {
        struct exp_family *f =
            exp_family(b, "node_cpu_package_throttles_total",
                       "Number of times this CPU package has been throttled.", EXP_COUNTER);
        for (size_t k = 0; k < st->npkgs; k++)
            exp_add(b, f, (double)st->pkgs[k].count, 1, "package",
                    plg_fmt_u64(pnum, st->pkgs[k].pkg));
    }
    if (st->ncores) {
        struct exp_family *f =
            exp_family(b, "node_cpu_core_throttles_total",
                       "Number of times this CPU core has been throttled.", EXP_COUNTER);
        for (size_t k = 0; k < st->ncores; k++)
            exp_add(b, f, (double)st->cores[k].count, 2, "package",
                    plg_fmt_u64(pnum, st->cores[k].pkg), "core",
                    plg_fmt_u64(cnum, st->cores[k].core));
    }
    return 0;
}

/* Parses one isolated-CPU number (Go's strconv.Atoi, non-negative; values
 * past a million are refused rather than expanded). */
static int cpu_parse_iso_num(const char *s, size_t n, unsigned long *out)
{
    if (n == 0)
        return -EINVAL;
    size_t i = 0;
    if (s[0] == '+')
        i = 1;
    if (i == n)
        return -EINVAL;
    unsigned long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > 1000000)
            return -EINVAL;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Reads devices/system/cpu/isolated ("0-2,5" lists) as procfs'
 * IsolatedCPUs does. A missing file is not an error. */
static int cpu_read_isolated(struct cpu_state *st, const struct plg_paths *paths)
{
    char path[PATH_MAX], buf[4096];
    if (!plg_sys(path, paths, "devices/system/cpu/isolated"))
        return -ENAMETOOLONG;
    long n = cn_read_file(path, buf, sizeof(buf));
    if (n == -ENOENT)
        return 0;
    if (n < 0)
        return (int)n;
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    st->have_isolated = true;
    size_t cap = 0;
    for (char *p = buf; p;) {
        char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len) {
            char *dash = memchr(p, '-', len);
            unsigned long lo, hi;
            if (dash) {
                if (memchr(dash + 1, '-', len - (size_t)(dash + 1 - p)) ||
                    cpu_parse_iso_num(p, (size_t)(dash - p), &lo) ||
                    cpu_parse_iso_num(dash + 1, len - (size_t)(dash + 1 - p), &hi))
                    return -EINVAL;
            } else {
                if (cpu_parse_iso_num(p, len, &lo))
                    return -EINVAL;
                hi = lo;
            }
            for (unsigned long v = lo; v <= hi; v++) {
                if (cpu_grow((void **)&st->isolated, &cap, st->nisolated + 1,
                             sizeof(*st->isolated)))
                    return -ENOMEM;
                st->isolated[st->nisolated++] = (unsigned)(v & 0xffff); /* Go's uint16 */
            }
        }
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* ---- collector ---------------------------------------------------------- */

static void cpu_destroy(void *state)
{
    struct cpu_state *st = state;
    if (!st)
        return;
    plg_filter_destroy(st->flags);
    plg_filter_destroy(st->bugs);
    cn_buf_free(&st->buf);
    free(st->cur);
    free(st->cache);
    free(st->isolated);
    free(st->tdirs);
    free(st->pkgs);
    free(st->cores);
    free(st);
}

static int cpu_init(const struct plg_config *cfg, void **state)
{
    struct cpu_state *st = cn_calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    cn_buf_init(&st->buf);
    char err[256] = "";
    int rc = plg_config_bool(cfg, "guest", &st->guest);
    if (!rc)
        rc = plg_config_bool(cfg, "info", &st->info);
    if (rc)
        snprintf(err, sizeof(err),
                 "--collector.cpu.guest and --collector.cpu.info take a "
                 "boolean");
    const char *flags = plg_config_get(cfg, "info.flags-include");
    const char *bugs = plg_config_get(cfg, "info.bugs-include");
    /* Either include pattern turns the info metrics on, as in node_exporter. */
    if (!rc && ((flags && *flags) || (bugs && *bugs)))
        st->info = true;
    if (!rc && flags && *flags)
        rc = plg_filter_create(flags, NULL, &st->flags, err, sizeof(err));
    if (!rc && bugs && *bugs)
        rc = plg_filter_create(bugs, NULL, &st->bugs, err, sizeof(err));
    if (!rc) {
        rc = cpu_read_isolated(st, cfg->paths);
        if (rc)
            snprintf(err, sizeof(err), "unable to get isolated cpus: %s", strerror(-rc));
    }
    if (rc) {
        cn_log(CN_LOG_ERROR, "collector", "couldn't create collector", "collector", "cpu", "err",
               err, NULL);
        cpu_destroy(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int cpu_collect(void *state, struct plg_collect *c)
{
    struct cpu_state *st = state;
    int rc;
    if (st->info && (rc = cpu_update_info(st, c)))
        return rc;
    if ((rc = cpu_read_stat(st, c)))
        return rc;
    if (cpu_update_cache(st))
        return plg_fail(c, -ENOMEM, "out of memory");
    cpu_emit_stat(st, c->b);
    cpu_emit_isolated(st, c->b);
    return cpu_update_throttle(st, c);
}

const struct plg_collector plg_collector_cpu = {
    .name = "cpu",
    .default_enabled = true,
    .options = cpu_options,
    .init = cpu_init,
    .collect = cpu_collect,
    .destroy = cpu_destroy,
};
