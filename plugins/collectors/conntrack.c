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

/* Reads a sysctl number: 0, -ENOENT (not recorded), or plg_fail's result. */
static int ct_sysctl(struct plg_collect *c, const char *rel, double *out)
{
    char path[PATH_MAX];
    plg_proc(path, c->paths, rel);
    uint64_t v;
    int rc = plg_collect_u64(c, path, "failed to retrieve conntrack stats", &v);
    if (!rc)
        *out = (double)v;
    return rc;
}

/* Sums the stat file into sums[CT_NSTATS]. 0, -ENOENT or plg_fail's result. */
static int ct_stat(struct cn_buf *buf, struct plg_collect *c, uint64_t *sums)
{
    char path[PATH_MAX];
    plg_proc(path, c->paths, "net/stat/nf_conntrack");
    int rc = plg_read_buf(c, path, buf, CT_STAT_MAX);
    if (rc == -ENOENT)
        return rc;
    if (rc < 0)
        return plg_fail(c, rc, "failed to retrieve conntrack stats: %s: %s", path, strerror(-rc));
    char *p = buf->data, *bufend = buf->data + buf->len, *l;
    plg_next_line(&p, bufend, NULL); /* the header */
    for (int line = 2; (l = plg_next_line(&p, bufend, NULL)); line++) {
        uint64_t v[CT_STAT_FIELDS];
        int n = 0;
        size_t len;
        for (char *f; (f = plg_next_field(&l, &len));) {
            /* Go's strconv.ParseUint(f, 16, 64) */
            if (n == CT_STAT_FIELDS || plg_parse_uint(f, len, 16, 64, &v[n]))
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
    }
    return 0;
}

static int ct_collect(void *state, struct plg_collect *c)
{
    struct cn_buf *buf = state;
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
    rc = ct_stat(buf, c, sums);
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
    .init = plg_buf_state_init,
    .collect = ct_collect,
    .destroy = plg_buf_state_destroy,
};
