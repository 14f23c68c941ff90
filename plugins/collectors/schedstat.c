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

static int schedstat_collect(void *state, struct plg_collect *c)
{
    struct cn_buf *buf = state;
    char path[PATH_MAX];
    if (!plg_proc(path, c->paths, "schedstat"))
        return plg_fail(c, -ENAMETOOLONG, "procfs path too long");
    int rc = plg_read_buf(c, path, buf, SCHEDSTAT_MAX_FILE);
    if (rc == -ENOENT)
        return plg_nodata(c, "schedstat file %s does not exist", path);
    if (rc < 0)
        return plg_fail(c, rc, "couldn't read %s: %s", path, strerror(-rc));

    struct exp_builder *b = c->b;
    struct exp_family *running = NULL, *waiting = NULL, *slices = NULL;
    char *end = buf->data + buf->len;
    for (char *q = buf->data, *line; (line = plg_next_line(&q, end, NULL));) {
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
        for (int i = 0; i < 9; i++) { /* " N" nine times: single spaces */
            const char *e = *p == ' ' ? p + 1 + strcspn(p + 1, " ") : NULL;
            if (!e || plg_parse_uint(p + 1, (size_t)(e - p - 1), 10, 64, &col[i]))
                return plg_fail(c, -EINVAL, "malformed line in %s: \"%.64s\"", path, line);
            p = e;
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
    .init = plg_buf_state_init,
    .collect = schedstat_collect,
    .destroy = plg_buf_state_destroy,
};
