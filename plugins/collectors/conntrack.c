/*
 * conntrack: netfilter connection tracking, as node_exporter 1.5's conntrack
 * collector (gauges):
 *
 *   node_nf_conntrack_entries        <procfs>/sys/net/netfilter/nf_conntrack_count
 *   node_nf_conntrack_entries_limit  <procfs>/sys/net/netfilter/nf_conntrack_max
 *   node_nf_conntrack_stat_*         <procfs>/net/stat/nf_conntrack, summed over CPUs
 *
 * The two sysctls are decimal numbers (surrounding blanks allowed). The stat
 * file has a header line and then one line per CPU of exactly 17 hex
 * fields; we sum found (column 3), invalid (5), ignore (6), insert (9),
 * insert_failed (10), drop (11), early_drop (12) and search_restart (17),
 * validating every field as procfs does.
 *
 * Missing files mean the nf_conntrack module is not loaded: "no data"
 * (success 0), which node_exporter reports at whichever file is missing
 * first, after exporting what it already read. Any other read error or
 * content that does not parse fails the collector.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define CT_STAT_FIELDS 17
#define CT_STAT_MAX ((size_t)1 << 24) /* one ~160-byte line per CPU */

struct ct_state {
    struct cn_buf buf;
};

/* The exported stat columns: field index, metric name, HELP. */
static const struct {
    int field;
    const char *name;
    const char *help;
} ct_stats[] = {
    {2, "node_nf_conntrack_stat_found", "Number of searched entries which were successful."},
    {4, "node_nf_conntrack_stat_invalid", "Number of packets seen which can not be tracked."},
    {5, "node_nf_conntrack_stat_ignore",
     "Number of packets seen which are already connected to a conntrack entry."},
    {8, "node_nf_conntrack_stat_insert", "Number of entries inserted into the list."},
    {9, "node_nf_conntrack_stat_insert_failed",
     "Number of entries for which list insertion was attempted but failed."},
    {10, "node_nf_conntrack_stat_drop", "Number of packets dropped due to conntrack failure."},
    {11, "node_nf_conntrack_stat_early_drop",
     "Number of dropped conntrack entries to make room for new ones, if maximum table size was "
     "reached."},
    {16, "node_nf_conntrack_stat_search_restart",
     "Number of conntrack table lookups which had to be restarted due to hashtable resizes."},
};
#define CT_NSTATS (sizeof(ct_stats) / sizeof(ct_stats[0]))

static int ct_init(const struct plg_config *cfg, void **state)
{
    (void)cfg;
    struct ct_state *s = cn_calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    cn_buf_init(&s->buf);
    *state = s;
    return 0;
}

static void ct_destroy(void *state)
{
    struct ct_state *s = state;
    if (!s)
        return;
    cn_buf_free(&s->buf);
    free(s);
}

static bool ct_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

/* s[0..n) as Go's strconv.ParseUint(s, 16, 64). */
static bool ct_hex(const char *s, size_t n, uint64_t *out)
{
    if (n == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int d;
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F')
            d = ch - 'A' + 10;
        else
            return false;
        if (v > (UINT64_MAX >> 4))
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return true;
}

/* Reads a sysctl number: 0, -ENOENT (not recorded), or plg_fail's result. */
static int ct_sysctl(struct plg_collect *c, const char *rel, double *out)
{
    char path[PATH_MAX], buf[64];
    plg_proc(path, c->paths, rel);
    long n = cn_read_file(path, buf, sizeof(buf));
    if (n == -ENOENT)
        return -ENOENT;
    if (n < 0)
        return plg_fail(c, (int)n, "failed to retrieve conntrack stats: %s: %s", path,
                        strerror((int)-n));
    uint64_t v;
    if (cn_parse_u64(buf, &v))
        return plg_fail(c, -EINVAL, "failed to retrieve conntrack stats: invalid number in %s",
                        path);
    *out = (double)v;
    return 0;
}

/* Sums the stat file into sums[CT_NSTATS]. 0, -ENOENT or plg_fail's result. */
static int ct_stat(struct ct_state *s, struct plg_collect *c, uint64_t *sums)
{
    char path[PATH_MAX];
    plg_proc(path, c->paths, "net/stat/nf_conntrack");
    int rc = cn_read_file_buf(path, &s->buf, CT_STAT_MAX);
    if (rc == -ENOENT)
        return rc;
    if (rc < 0)
        return plg_fail(c, rc, "failed to retrieve conntrack stats: %s: %s", path, strerror(-rc));
    const char *p = s->buf.data, *bufend = s->buf.data + s->buf.len;
    const char *nl = memchr(p, '\n', s->buf.len);
    p = nl ? nl + 1 : bufend; /* the header */
    for (int line = 2; p < bufend; line++) {
        nl = memchr(p, '\n', (size_t)(bufend - p));
        const char *end = nl ? nl : bufend;
        uint64_t v[CT_STAT_FIELDS];
        int n = 0;
        for (;;) {
            while (p < end && ct_space(*p))
                p++;
            if (p == end)
                break;
            const char *f = p;
            while (p < end && !ct_space(*p))
                p++;
            if (n == CT_STAT_FIELDS || !ct_hex(f, (size_t)(p - f), &v[n]))
                return plg_fail(c, -EINVAL, "failed to retrieve conntrack stats: %s line %d: %s",
                                path, line,
                                n == CT_STAT_FIELDS ? "more than 17 fields" : "invalid hex field");
            n++;
        }
        if (n != CT_STAT_FIELDS)
            return plg_fail(c, -EINVAL,
                            "failed to retrieve conntrack stats: %s line %d: %d fields, want 17",
                            path, line, n);
        for (size_t i = 0; i < CT_NSTATS; i++)
            sums[i] += v[ct_stats[i].field];
        p = nl ? nl + 1 : bufend;
    }
    return 0;
}

static int ct_collect(void *state, struct plg_collect *c)
{
    struct ct_state *s = state;
    double count, max;
    int rc = ct_sysctl(c, "sys/net/netfilter/nf_conntrack_count", &count);
    if (rc == -ENOENT)
        return plg_nodata(c, "conntrack probably not loaded: no nf_conntrack_count");
    if (rc)
        return rc;
    exp_gauge(c->b, "node_nf_conntrack_entries",
              "Number of currently allocated flow entries for connection tracking.", count, 0);
    rc = ct_sysctl(c, "sys/net/netfilter/nf_conntrack_max", &max);
    if (rc == -ENOENT)
        return plg_nodata(c, "conntrack probably not loaded: no nf_conntrack_max");
    if (rc)
        return rc;
    exp_gauge(c->b, "node_nf_conntrack_entries_limit", "Maximum size of connection tracking table.",
              max, 0);
    uint64_t sums[CT_NSTATS] = {0};
    rc = ct_stat(s, c, sums);
    if (rc == -ENOENT)
        return plg_nodata(c, "conntrack probably not loaded: no net/stat/nf_conntrack");
    if (rc)
        return rc;
    for (size_t i = 0; i < CT_NSTATS; i++)
        exp_gauge(c->b, ct_stats[i].name, ct_stats[i].help, (double)sums[i], 0);
    return 0;
}

const struct plg_collector plg_collector_conntrack = {
    .name = "conntrack",
    .default_enabled = true,
    .init = ct_init,
    .collect = ct_collect,
    .destroy = ct_destroy,
};
