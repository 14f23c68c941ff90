/*
 * bcache: bcache cache sets under <sysfs>/fs/bcache/<uuid>/ -> node_bcache_*,
 * as node_exporter 1.5's bcache collector.
 *
 * Per cache set {uuid}: the btree and cache gauges of <uuid>/ and
 * <uuid>/internal/. Per backing device bdevN {uuid,backing_device}: dirty
 * data, the writeback controller terms from writeback_rate_debug, and the
 * stats_total counters. Per cache device cacheN {uuid,cache_device}: IO
 * errors and bytes written, plus the expensive priority_stats percentages
 * when the priorityStats option is "true".
 *
 * Values are "humanized" by the kernel's bch_hprint ("1.5M", "-296.4k");
 * they are decoded as procfs 0.8 does, including its odd reading of the
 * fraction (".4k" is 4/10.24 of a k) and its treatment of
 * btree_read_average_duration_us as nanoseconds (node_exporter multiplies by
 * 1e-9), because matching node_exporter's numbers is the point. As in
 * procfs, missing value files read as 0, a missing writeback_rate_debug or
 * priority_stats, an unreadable file or a value that does not decode fails
 * the whole collection, and then no bcache series are exported. The
 * five-minute statistics are read (they can fail the collection) but not
 * exported, as in 1.5.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BC_FILE_MAX 8192

static const char *const bc_period_files[] = {
    "bypassed",
    "cache_hits",
    "bypassed",
    "cache_bypass_hits",
    "cache_bypass_misses",
    "cache_hits",
    "cache_miss_collisions",
    "cache_misses",
    "cache_readaheads",
};
/* Index into a period's values (bc_period_files order, deduplicated). */
enum {
    P_BYPASSED,
    P_HITS,
    P_BYPASS_HITS,
    P_BYPASS_MISSES,
    P_COLLISIONS,
    P_MISSES,
    P_READAHEADS,
    P_N
};
static const int bc_period_slot[] = {P_BYPASSED,    P_HITS,          P_BYPASSED,
                                     P_BYPASS_HITS, P_BYPASS_MISSES, P_HITS,
                                     P_COLLISIONS,  P_MISSES,        P_READAHEADS};

/* The backing devices' stats_total counters. */
static const struct {
    int slot;
    const char *name, *help;
} bc_period_metrics[] = {
    {P_BYPASSED, "node_bcache_bypassed_bytes_total",
     "Amount of IO (both reads and writes) that has bypassed the cache."},
    {P_HITS, "node_bcache_cache_hits_total", "Hits counted per individual IO as bcache sees them."},
    {P_MISSES, "node_bcache_cache_misses_total",
     "Misses counted per individual IO as bcache sees them."},
    {P_BYPASS_HITS, "node_bcache_cache_bypass_hits_total",
     "Hits for IO intended to skip the cache."},
    {P_BYPASS_MISSES, "node_bcache_cache_bypass_misses_total",
     "Misses for IO intended to skip the cache."},
    {P_COLLISIONS, "node_bcache_cache_miss_collisions_total",
     "Instances where data insertion from cache miss raced with write (data already present)."},
    {P_READAHEADS, "node_bcache_cache_readaheads_total", "Count of times readahead occurred."},
};

/* The cache set's own values: file (under <uuid>/), name, help, type, scale. */
static const struct {
    const char *file, *name, *help;
    enum exp_type type;
    double scale;
} bc_set_metrics[] = {
    {"average_key_size", "node_bcache_average_key_size_sectors",
     "Average data per key in the btree (sectors).", EXP_GAUGE, 1},
    {"btree_cache_size", "node_bcache_btree_cache_size_bytes",
     "Amount of memory currently used by the btree cache.", EXP_GAUGE, 1},
    {"cache_available_percent", "node_bcache_cache_available_percent",
     "Percentage of cache device without dirty data, usable for writeback (may contain clean "
     "cached data).",
     EXP_GAUGE, 1},
    {"congested", "node_bcache_congested", "Congestion.", EXP_GAUGE, 1},
    {"root_usage_percent", "node_bcache_root_usage_percent",
     "Percentage of the root btree node in use (tree depth increases if too high).", EXP_GAUGE, 1},
    {"tree_depth", "node_bcache_tree_depth", "Depth of the btree.", EXP_GAUGE, 1},
    {"internal/active_journal_entries", "node_bcache_active_journal_entries",
     "Number of journal entries that are newer than the index.", EXP_GAUGE, 1},
    {"internal/btree_nodes", "node_bcache_btree_nodes", "Total nodes in the btree.", EXP_GAUGE, 1},
    {"internal/btree_read_average_duration_us", "node_bcache_btree_read_average_duration_seconds",
     "Average btree read duration.", EXP_GAUGE, 1e-9},
    {"internal/cache_read_races", "node_bcache_cache_read_races_total",
     "Counts instances where while data was being read from the cache, the bucket was reused "
     "and invalidated - i.e. where the pointer was stale after the read completed.",
     EXP_COUNTER, 1},
};
#define BC_NSET (sizeof(bc_set_metrics) / sizeof(bc_set_metrics[0]))

/* Every family, to drop them all when the collection fails. */
static const char *const bc_families[] = {
    "node_bcache_average_key_size_sectors",
    "node_bcache_btree_cache_size_bytes",
    "node_bcache_cache_available_percent",
    "node_bcache_congested",
    "node_bcache_root_usage_percent",
    "node_bcache_tree_depth",
    "node_bcache_active_journal_entries",
    "node_bcache_btree_nodes",
    "node_bcache_btree_read_average_duration_seconds",
    "node_bcache_cache_read_races_total",
    "node_bcache_dirty_data_bytes",
    "node_bcache_dirty_target_bytes",
    "node_bcache_writeback_rate",
    "node_bcache_writeback_rate_proportional_term",
    "node_bcache_writeback_rate_integral_term",
    "node_bcache_writeback_change",
    "node_bcache_bypassed_bytes_total",
    "node_bcache_cache_hits_total",
    "node_bcache_cache_misses_total",
    "node_bcache_cache_bypass_hits_total",
    "node_bcache_cache_bypass_misses_total",
    "node_bcache_cache_miss_collisions_total",
    "node_bcache_cache_readaheads_total",
    "node_bcache_io_errors",
    "node_bcache_metadata_written_bytes_total",
    "node_bcache_written_bytes_total",
    "node_bcache_priority_stats_unused_percent",
    "node_bcache_priority_stats_metadata_percent",
};

static const struct plg_option bc_options[] = {
    {"priorityStats", "false", "Expose expensive priority stats."},
    {NULL, NULL, NULL},
};

struct bc_state {
    bool priority;
};

static int bc_init(const struct plg_config *cfg, void **state)
{
    bool prio;
    int rc = plg_config_bool(cfg, "priorityStats", &prio);
    if (rc)
        return rc;
    struct bc_state *st = cn_calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->priority = prio;
    *state = st;
    return 0;
}

static void bc_destroy(void *state)
{
    free(state);
}

/* ---- decoding ------------------------------------------------------------ */

/* Go's float64 -> uint64 conversion on amd64, for values procfs may produce
 * from negative or huge inputs. */
static uint64_t bc_f2u(double v)
{
    if (isnan(v))
        return UINT64_C(0x8000000000000000);
    if (v < 9223372036854775808.0)
        return v <= -9223372036854775808.0 ? UINT64_C(0x8000000000000000) : (uint64_t)(int64_t)v;
    double w = v - 9223372036854775808.0;
    if (w >= 9223372036854775808.0)
        return UINT64_C(0x8000000000000000);
    return (uint64_t)(int64_t)w ^ UINT64_C(0x8000000000000000);
}

/* strconv.ParseFloat of s[0..n) (the whole string must be a number). */
static bool bc_float(const char *s, size_t n, double *out)
{
    return plg_parse_float(s, n, out) == 0;
}

/* parsePseudoFloat: "12.5" is 12 + 5/10.24 (bch_hprint prints 1/1024ths
 * scaled by 100). Only the first two "."-separated parts count. */
static bool bc_pseudo_float(const char *s, size_t n, double *out)
{
    const char *dot = memchr(s, '.', n);
    double ip, fp;
    if (!bc_float(s, dot ? (size_t)(dot - s) : n, &ip))
        return false;
    if (!dot) {
        *out = ip;
        return true;
    }
    const char *f = dot + 1;
    const char *end = s + n;
    const char *dot2 = memchr(f, '.', (size_t)(end - f));
    if (!bc_float(f, (size_t)((dot2 ? dot2 : end) - f), &fp))
        return false;
    *out = ip + fp / 10.24;
    return true;
}

/* bch_hprint's multipliers, powers of 1024; any other letter multiplies by
 * 0, as procfs' map lookup does. */
static const char bc_units[] = "kMGTPEZY";

/* dehumanize: a number with an optional k/M/G/T/P/E/Z/Y suffix. */
static bool bc_dehumanize(const char *s, size_t n, uint64_t *out)
{
    if (n == 0)
        return false;
    unsigned char last = (unsigned char)s[n - 1];
    double mant, mul = 1;
    if (last > '9') {
        const char *u = memchr(bc_units, last, sizeof(bc_units) - 1);
        mul = u ? ldexp(1.0, 10 * (int)(u - bc_units + 1)) : 0;
        if (!bc_pseudo_float(s, n - 1, &mant))
            return false;
    } else if (!bc_float(s, n, &mant)) {
        return false;
    }
    *out = bc_f2u(mant * mul);
    return true;
}

static bool bc_dehumanize_signed(const char *s, size_t n, double *out)
{
    bool neg = n > 0 && s[0] == '-';
    uint64_t v;
    if (!bc_dehumanize(neg ? s + 1 : s, neg ? n - 1 : n, &v))
        return false;
    *out = neg ? (double)(-(int64_t)v) : (double)(int64_t)v;
    return true;
}

/* ---- the parser, with procfs' sticky error --------------------------------- */

struct bc_parser {
    struct plg_collect *c; /* its files cache the attributes */
    char dir[PATH_MAX];    /* current directory */
    int err;
    char msg[PATH_MAX + 64];
};

static void bc_setdir(struct bc_parser *p, const char *base, const char *sub1, const char *sub2)
{
    if (!cn_path_join(p->dir, sizeof(p->dir), base, sub1, sub2, NULL) && !p->err) {
        p->err = -ENAMETOOLONG;
        snprintf(p->msg, sizeof(p->msg), "path too long under %s", base);
    }
}

/* readValue: a missing file is 0; the last byte (the newline) is dropped. */
static uint64_t bc_value(struct bc_parser *p, const char *file)
{
    if (p->err)
        return 0;
    char path[PATH_MAX], buf[256];
    if (!cn_path_join(path, sizeof(path), p->dir, file, NULL))
        return 0;
    long n = plg_read(p->c, path, buf, sizeof(buf));
    if (n == -ENOENT)
        return 0;
    if (n <= 0) {
        p->err = n < 0 ? (int)n : -EINVAL;
        snprintf(p->msg, sizeof(p->msg), "failed to read: %s", path);
        return 0;
    }
    uint64_t v;
    if (!bc_dehumanize(buf, (size_t)n - 1, &v)) {
        p->err = -EINVAL;
        snprintf(p->msg, sizeof(p->msg), "failed to parse %s: \"%.*s\"", path, (int)(n - 1), buf);
        return 0;
    }
    return v;
}

static void bc_period(struct bc_parser *p, uint64_t vals[P_N])
{
    for (size_t i = 0; i < sizeof(bc_period_files) / sizeof(bc_period_files[0]); i++)
        vals[bc_period_slot[i]] = bc_value(p, bc_period_files[i]);
}

/* The last whitespace-separated field of line, minus suffix if present. */
static void bc_last_field(const char *line, const char *suffix, const char **b, size_t *n)
{
    const char *end = line + strlen(line);
    while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    const char *start = end;
    while (start > line && start[-1] != ' ' && start[-1] != '\t')
        start--;
    size_t len = (size_t)(end - start), sl = suffix ? strlen(suffix) : 0;
    if (sl && len >= sl && memcmp(end - sl, suffix, sl) == 0)
        len -= sl;
    *b = start;
    *n = len;
}

/* Reads a whole file of the current directory for line parsing; a missing
 * file is an error here, as procfs opens these without a NotExist check. */
static bool bc_lines_file(struct bc_parser *p, const char *file, char *buf, size_t cap)
{
    if (p->err)
        return false;
    char path[PATH_MAX];
    if (!cn_path_join(path, sizeof(path), p->dir, file, NULL))
        return false;
    long n = plg_read(p->c, path, buf, cap);
    if (n < 0) {
        p->err = (int)n;
        snprintf(p->msg, sizeof(p->msg), "failed to read: %s", path);
        return false;
    }
    return true;
}

struct bc_wrd {
    double rate, target, proportional, integral, change;
};

static void bc_writeback_rate_debug(struct bc_parser *p, struct bc_wrd *w)
{
    char buf[BC_FILE_MAX];
    memset(w, 0, sizeof(*w));
    if (!bc_lines_file(p, "writeback_rate_debug", buf, sizeof(buf)))
        return;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line && !p->err;
         line = strtok_r(NULL, "\n", &save)) {
        const char *b;
        size_t n;
        uint64_t u;
        double d;
        bool ok = true;
        if (strncmp(line, "rate:", 5) == 0) {
            bc_last_field(line, "/sec", &b, &n);
            if ((ok = bc_dehumanize(b, n, &u)))
                w->rate = (double)u;
        } else if (strncmp(line, "dirty:", 6) == 0) {
            bc_last_field(line, NULL, &b, &n);
            ok = bc_dehumanize(b, n, &u);
        } else if (strncmp(line, "target:", 7) == 0) {
            bc_last_field(line, NULL, &b, &n);
            if ((ok = bc_dehumanize(b, n, &u)))
                w->target = (double)u;
        } else if (strncmp(line, "proportional:", 13) == 0) {
            bc_last_field(line, NULL, &b, &n);
            if ((ok = bc_dehumanize_signed(b, n, &d)))
                w->proportional = d;
        } else if (strncmp(line, "integral:", 9) == 0) {
            bc_last_field(line, NULL, &b, &n);
            if ((ok = bc_dehumanize_signed(b, n, &d)))
                w->integral = d;
        } else if (strncmp(line, "change:", 7) == 0) {
            bc_last_field(line, "/sec", &b, &n);
            if ((ok = bc_dehumanize_signed(b, n, &d)))
                w->change = d;
        } else if (strncmp(line, "next io:", 8) == 0) {
            bc_last_field(line, "ms", &b, &n);
            int64_t v;
            ok = plg_parse_int(b, n, 10, 64, &v) == 0;
        }
        if (!ok) {
            p->err = -EINVAL;
            snprintf(p->msg, sizeof(p->msg), "failed to parse %s/writeback_rate_debug: \"%s\"",
                     p->dir, line);
        }
    }
}

static void bc_priority_stats(struct bc_parser *p, double *unused, double *metadata)
{
    char buf[BC_FILE_MAX];
    *unused = *metadata = 0;
    if (!bc_lines_file(p, "priority_stats", buf, sizeof(buf)))
        return;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line && !p->err;
         line = strtok_r(NULL, "\n", &save)) {
        double *dst = strncmp(line, "Unused:", 7) == 0     ? unused
                      : strncmp(line, "Metadata:", 9) == 0 ? metadata
                                                           : NULL;
        if (!dst)
            continue;
        const char *b;
        size_t n;
        bc_last_field(line, "%", &b, &n);
        uint64_t v;
        if (plg_parse_uint(b, n, 10, 64, &v))
            p->err = -EINVAL;
        else
            *dst = (double)v;
        if (p->err)
            snprintf(p->msg, sizeof(p->msg), "failed to parse %s/priority_stats: \"%s\"", p->dir,
                     line);
    }
}

/* Lists base's subdirectories named <prefix><digit>... (the globs
 * bdev[0-9]* and cache[0-9]*). */
static int bc_glob(char **names, int n, const char *prefix, int *idx)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (plg_glob_num(names[i], prefix))
            idx[k++] = i;
    return k;
}

/* Parses and exports one cache set; returns the parser's error. */
static int bc_set(const struct bc_state *st, struct plg_collect *c, const char *dir,
                  const char *uuid, char *msg, size_t msgcap)
{
    struct bc_parser p = {.c = c};
    char base[PATH_MAX];
    if (!cn_path_join(base, sizeof(base), dir, uuid, NULL))
        return -ENAMETOOLONG;

    double set[BC_NSET];
    uint64_t period[P_N];
    bc_setdir(&p, base, "", NULL);
    for (size_t i = 0; i < 6; i++)
        set[i] = (double)bc_value(&p, bc_set_metrics[i].file);
    bc_setdir(&p, base, "internal", NULL);
    for (size_t i = 6; i < BC_NSET; i++)
        set[i] = (double)bc_value(&p, bc_set_metrics[i].file + strlen("internal/"));
    bc_setdir(&p, base, "stats_five_minute", NULL);
    bc_period(&p, period);
    bc_setdir(&p, base, "stats_total", NULL);
    bc_period(&p, period);
    if (p.err) {
        snprintf(msg, msgcap, "%s", p.msg);
        return p.err;
    }

    char **names;
    int n = plg_dir_list(base, &names);
    if (n < 0) {
        snprintf(msg, msgcap, "failed to list %s", base);
        return n;
    }
    int *idx = cn_calloc(n ? (size_t)n : 1, sizeof(*idx));
    if (!idx) {
        plg_dir_free(names, n);
        return -ENOMEM;
    }
    for (size_t i = 0; i < BC_NSET; i++)
        exp_add(c->b,
                exp_family(c->b, bc_set_metrics[i].name, bc_set_metrics[i].help,
                           bc_set_metrics[i].type),
                set[i] * bc_set_metrics[i].scale, 1, "uuid", uuid);

    int nb = bc_glob(names, n, "bdev", idx);
    for (int k = 0; k < nb && !p.err; k++) {
        const char *bdev = names[idx[k]];
        bc_setdir(&p, base, bdev, NULL);
        double dirty = (double)bc_value(&p, "dirty_data");
        struct bc_wrd w;
        bc_writeback_rate_debug(&p, &w);
        bc_setdir(&p, base, bdev, "stats_five_minute");
        bc_period(&p, period);
        bc_setdir(&p, base, bdev, "stats_total");
        bc_period(&p, period);
        if (p.err)
            break;
        const struct {
            const char *name, *help;
            double v;
        } g[] = {
            {"node_bcache_dirty_data_bytes",
             "Amount of dirty data for this backing device in the cache.", dirty},
            {"node_bcache_dirty_target_bytes",
             "Current dirty data target threshold for this backing device in bytes.", w.target},
            {"node_bcache_writeback_rate",
             "Current writeback rate for this backing device in bytes.", w.rate},
            {"node_bcache_writeback_rate_proportional_term",
             "Current result of proportional controller, part of writeback rate", w.proportional},
            {"node_bcache_writeback_rate_integral_term",
             "Current result of integral controller, part of writeback rate", w.integral},
            {"node_bcache_writeback_change",
             "Last writeback rate change step for this backing device.", w.change},
        };
        for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
            exp_gauge(c->b, g[i].name, g[i].help, g[i].v, 2, "uuid", uuid, "backing_device", bdev);
        for (size_t i = 0; i < sizeof(bc_period_metrics) / sizeof(bc_period_metrics[0]); i++)
            exp_counter(c->b, bc_period_metrics[i].name, bc_period_metrics[i].help,
                        (double)period[bc_period_metrics[i].slot], 2, "uuid", uuid,
                        "backing_device", bdev);
    }

    int nc = p.err ? 0 : bc_glob(names, n, "cache", idx);
    for (int k = 0; k < nc && !p.err; k++) {
        const char *cache = names[idx[k]];
        bc_setdir(&p, base, cache, NULL);
        double io_errors = (double)bc_value(&p, "io_errors");
        double meta = (double)bc_value(&p, "metadata_written");
        double written = (double)bc_value(&p, "written");
        double unused = 0, metadata = 0;
        if (st->priority)
            bc_priority_stats(&p, &unused, &metadata);
        if (p.err)
            break;
        exp_gauge(c->b, "node_bcache_io_errors",
                  "Number of errors that have occurred, decayed by io_error_halflife.", io_errors,
                  2, "uuid", uuid, "cache_device", cache);
        exp_counter(c->b, "node_bcache_metadata_written_bytes_total",
                    "Sum of all non data writes (btree writes and all other metadata).", meta, 2,
                    "uuid", uuid, "cache_device", cache);
        exp_counter(c->b, "node_bcache_written_bytes_total",
                    "Sum of all data that has been written to the cache.", written, 2, "uuid", uuid,
                    "cache_device", cache);
        if (st->priority) {
            exp_gauge(c->b, "node_bcache_priority_stats_unused_percent",
                      "The percentage of the cache that doesn't contain any data.", unused, 2,
                      "uuid", uuid, "cache_device", cache);
            exp_gauge(c->b, "node_bcache_priority_stats_metadata_percent",
                      "Bcache's metadata overhead.", metadata, 2, "uuid", uuid, "cache_device",
                      cache);
        }
    }
    free(idx);
    plg_dir_free(names, n);
    if (p.err)
        snprintf(msg, msgcap, "%s", p.msg);
    return p.err;
}

static int bc_collect(void *state, struct plg_collect *c)
{
    const struct bc_state *st = state;
    char dir[PATH_MAX];
    plg_sys(dir, c->paths, "fs/bcache");
    char **names;
    int n = plg_dir_list(dir, &names);
    if (n < 0)
        return 0; /* the glob fs/bcache/x-x matches nothing */
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (!strchr(names[i], '-'))
            continue;
        char msg[PATH_MAX + 64];
        int err = bc_set(st, c, dir, names[i], msg, sizeof(msg));
        if (err)
            rc = plg_fail(c, err, "failed to retrieve bcache stats: %s", msg);
    }
    if (rc) /* procfs returns no stats at all on an error */
        for (size_t k = 0; k < sizeof(bc_families) / sizeof(bc_families[0]); k++)
            exp_builder_drop(c->b, bc_families[k]);
    plg_dir_free(names, n);
    return rc;
}

const struct plg_collector plg_collector_bcache = {
    .name = "bcache",
    .default_enabled = true,
    .options = bc_options,
    .init = bc_init,
    .collect = bc_collect,
    .destroy = bc_destroy,
};
