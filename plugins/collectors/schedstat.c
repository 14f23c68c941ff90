/*
 * schedstat: per-CPU scheduler statistics from /proc/schedstat, as
 * node_exporter 1.5 exports them (counters, label cpu = the N of "cpuN"):
 *
 *   node_schedstat_running_seconds_total  column 7, nanoseconds / 1e9
 *   node_schedstat_waiting_seconds_total  column 8, nanoseconds / 1e9
 *   node_schedstat_timeslices_total       column 9
 *
 * Only "cpuN" lines are used; "version", "timestamp" and "domainN" lines are
 * skipped. Kernels built without CONFIG_SCHEDSTATS have no such file: that
 * is plg_nodata, node_exporter's ErrNoData (success 0, logged at debug).
 *
 * The file has several lines per CPU (one per scheduling domain), so it can
 * reach hundreds of kilobytes on large hosts; it is read into a buffer kept in
 * the state and reused. Where node_exporter silently skips a cpuN line that
 * does not have nine numeric columns, this collector reports the file as
 * malformed.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define SCHEDSTAT_MAX_FILE (32u << 20)

struct schedstat_state {
    struct cn_buf buf;
};

/* Parses a decimal uint64 at *p that ends at a space or the end of the
 * string; advances *p. Returns 0, -EINVAL or -ERANGE. */
static int schedstat_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (*s && *s != ' ')
        return -EINVAL;
    *p = s;
    *out = v;
    return 0;
}

static int schedstat_init(const struct plg_config *cfg, void **state)
{
    (void)cfg;
    struct schedstat_state *st = cn_calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    cn_buf_init(&st->buf);
    *state = st;
    return 0;
}

static void schedstat_destroy(void *state)
{
    struct schedstat_state *st = state;
    if (!st)
        return;
    cn_buf_free(&st->buf);
    free(st);
}

static int schedstat_collect(void *state, struct plg_collect *c)
{
    struct schedstat_state *st = state;
    char path[PATH_MAX];
    if (!plg_proc(path, c->paths, "schedstat"))
        return plg_fail(c, -ENAMETOOLONG, "procfs path too long");
    int rc = cn_read_file_buf(path, &st->buf, SCHEDSTAT_MAX_FILE);
    if (rc == -ENOENT)
        return plg_nodata(c, "schedstat file %s does not exist", path);
    if (rc < 0)
        return plg_fail(c, rc, "couldn't read %s: %s", path, strerror(-rc));

    struct exp_builder *b = c->b;
    struct exp_family *running = NULL, *waiting = NULL, *slices = NULL;
    char *end = st->buf.data + st->buf.len;
    for (char *line = st->buf.data, *next; line < end; line = next) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        next = nl ? nl + 1 : end;
        if (nl)
            *nl = '\0';
        if (strncmp(line, "cpu", 3) != 0)
            continue;
        const char *p = line + 3, *num = p;
        while (*p >= '0' && *p <= '9')
            p++;
        size_t numlen = (size_t)(p - num);
        if (numlen == 0 || numlen > 20)
            return plg_fail(c, -EINVAL, "malformed line in %s: \"%.64s\"", path, line);
        char cpu[24];
        memcpy(cpu, num, numlen);
        cpu[numlen] = '\0';
        uint64_t col[9];
        for (int i = 0; i < 9; i++) {
            if (*p != ' ')
                return plg_fail(c, -EINVAL, "malformed line in %s: \"%.64s\"", path, line);
            p++;
            if (schedstat_u64(&p, &col[i]))
                return plg_fail(c, -EINVAL, "malformed line in %s: \"%.64s\"", path, line);
        }
        if (!running) {
            running = exp_family(b, "node_schedstat_running_seconds_total",
                                 "Number of seconds CPU spent running a process.", EXP_COUNTER);
            waiting = exp_family(b, "node_schedstat_waiting_seconds_total",
                                 "Number of seconds spent by processing waiting for this CPU.",
                                 EXP_COUNTER);
            slices = exp_family(b, "node_schedstat_timeslices_total",
                                "Number of timeslices executed by CPU.", EXP_COUNTER);
        }
        exp_add(b, running, (double)col[6] / 1e9, 1, "cpu", cpu);
        exp_add(b, waiting, (double)col[7] / 1e9, 1, "cpu", cpu);
        exp_add(b, slices, (double)col[8], 1, "cpu", cpu);
    }
    return 0;
}

const struct plg_collector plg_collector_schedstat = {
    .name = "schedstat",
    .default_enabled = true,
    .init = schedstat_init,
    .collect = schedstat_collect,
    .destroy = schedstat_destroy,
};
