/*
 * softnet: /proc/net/softnet_stat, one line per CPU of hexadecimal columns,
 * as node_exporter 1.5 exports it (counters, label cpu = the line's index):
 *
 *   node_softnet_processed_total        column 1
 *   node_softnet_dropped_total          column 2
 *   node_softnet_times_squeezed_total   column 3
 *
 * node_exporter 1.5 (prometheus/procfs 0.8) exports only these three; later
 * versions add backlog and RPS families, which are deliberately absent here.
 * Each line must have at least 9 columns and the first three must be 32-bit
 * hexadecimal numbers, otherwise the collection fails, as in procfs. A
 * missing file is a failure too (node_exporter returns an error, not
 * ErrNoData). The file grows with the CPU count, so it is read into a buffer
 * kept in the state.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define SOFTNET_MAX_FILE (8u << 20)
#define SOFTNET_MIN_COLUMNS 9

static int softnet_collect(void *state, struct plg_collect *c)
{
    struct cn_buf *buf = state;
    char path[PATH_MAX];
    if (!plg_proc(path, c->paths, "net/softnet_stat"))
        return plg_fail(c, -ENAMETOOLONG, "procfs path too long");
    int rc = plg_read_buf(c, path, buf, SOFTNET_MAX_FILE);
    if (rc < 0)
        return plg_fail(c, rc, "could not get softnet statistics: couldn't read %s: %s", path,
                        strerror(-rc));

    struct exp_builder *b = c->b;
    struct exp_family *processed = NULL, *dropped = NULL, *squeezed = NULL;
    uint64_t cpu = 0;
    char *end = buf->data + buf->len;
    char *p = buf->data, *line;
    for (; (line = plg_next_line(&p, end, NULL)); cpu++) {
        char *col[3];
        int ncol = plg_fields(line, col, 3);
        if (ncol < SOFTNET_MIN_COLUMNS)
            return plg_fail(c, -EINVAL,
                            "failed to parse %s: line %llu has %d columns, at least %d expected",
                            path, (unsigned long long)cpu + 1, ncol, SOFTNET_MIN_COLUMNS);
        uint64_t v[3]; /* Go's strconv.ParseUint(s, 16, 32) */
        for (int i = 0; i < 3; i++)
            if (plg_parse_uint(col[i], strlen(col[i]), 16, 32, &v[i]))
                return plg_fail(c, -EINVAL, "failed to parse %s: bad hex value in line %llu", path,
                                (unsigned long long)cpu + 1);
        if (!processed) {
            processed = exp_family(b, "node_softnet_processed_total", "Number of processed packets",
                                   EXP_COUNTER);
            dropped = exp_family(b, "node_softnet_dropped_total", "Number of dropped packets",
                                 EXP_COUNTER);
            squeezed =
                exp_family(b, "node_softnet_times_squeezed_total",
                           "Number of times processing packets ran out of quota", EXP_COUNTER);
        }
        char num[PLG_U64_LEN];
        plg_fmt_u64(num, cpu);
        exp_add(b, processed, (double)v[0], 1, "cpu", num);
        exp_add(b, dropped, (double)v[1], 1, "cpu", num);
        exp_add(b, squeezed, (double)v[2], 1, "cpu", num);
    }
    return 0;
}

const struct plg_collector plg_collector_softnet = {
    .name = "softnet",
    .default_enabled = true,
    .init = plg_buf_state_init,
    .collect = softnet_collect,
    .destroy = plg_buf_state_destroy,
};
