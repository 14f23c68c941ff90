/*
 * entropy: <procfs>/sys/kernel/random/{entropy_avail,poolsize} ->
 * node_entropy_available_bits and node_entropy_pool_size_bits (gauges), as
 * node_exporter 1.5's entropy collector.
 *
 * Each file holds one decimal number (surrounding whitespace allowed, as
 * procfs' ReadUintFromFile). Both are read before anything is exported; a
 * file that is unreadable or does not parse fails the collector with nothing
 * exported. A missing entropy_avail fails it with nothing exported; a
 * missing poolsize fails it after node_entropy_available_bits, which is what
 * node_exporter does.
 *
 * Difference on purpose: node_exporter reads all five files of the
 * directory through procfs' KernelRandom() and fails if any of them
 * (urandom_min_reseed_secs, write/read_wakeup_threshold) does not parse; we
 * read only the two we export, saving three open/read/close round trips per
 * cycle.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* Reads one file as a number: 0, -ENOENT (missing, not recorded yet), or
 * the result of plg_fail for any other error. */
static int entropy_read(struct plg_collect *c, const char *file, double *out)
{
    char rel[64], path[PATH_MAX];
    strcpy(rel, "sys/kernel/random/");
    strcat(rel, file);
    plg_proc(path, c->paths, rel);
    uint64_t v;
    int rc = plg_collect_u64(c, path, "failed to get kernel random stats", &v);
    if (!rc)
        *out = (double)v;
    return rc;
}

static int entropy_collect(void *state, struct plg_collect *c)
{
    (void)state;
    double avail = 0, pool = 0;
    /* Both files are read before anything is exported, as KernelRandom()
     * does: an unreadable or garbled poolsize exports nothing. */
    int rc_avail = entropy_read(c, "entropy_avail", &avail);
    if (rc_avail && rc_avail != -ENOENT)
        return rc_avail;
    int rc_pool = entropy_read(c, "poolsize", &pool);
    if (rc_pool && rc_pool != -ENOENT)
        return rc_pool;
    if (rc_avail)
        return plg_fail(c, -ENOENT,
                        "couldn't get entropy_avail: no sys/kernel/random/"
                        "entropy_avail under %s",
                        c->paths->procfs);
    exp_gauge(c->b, "node_entropy_available_bits", "Bits of available entropy.", avail, 0);
    if (rc_pool)
        return plg_fail(c, -ENOENT,
                        "couldn't get entropy poolsize: no sys/kernel/random/"
                        "poolsize under %s",
                        c->paths->procfs);
    exp_gauge(c->b, "node_entropy_pool_size_bits", "Bits of entropy pool.", pool, 0);
    return 0;
}

const struct plg_collector plg_collector_entropy = {
    .name = "entropy",
    .default_enabled = true,
    .collect = entropy_collect,
};
