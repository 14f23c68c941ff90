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

struct softnet_state {
    struct cn_buf buf;
};

static bool softnet_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Parses [s, e) as Go's strconv.ParseUint(s, 16, 32). */
static int softnet_hex32(const char *s, const char *e, uint32_t *out)
{
    if (s == e)
        return -EINVAL;
    uint64_t v = 0;
    for (; s < e; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (*s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else if (*s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A' + 10);
        else
            return -EINVAL;
        v = v * 16 + d;
        if (v > UINT32_MAX)
            return -ERANGE;
    }
    *out = (uint32_t)v;
    return 0;
}

static int softnet_init(const struct plg_config *cfg, void **state)
{
    (void)cfg;
    struct softnet_state *st = cn_calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    cn_buf_init(&st->buf);
    *state = st;
    return 0;
}

static void softnet_destroy(void *state)
{
    struct softnet_state *st = state;
    if (!st)
        return;
    cn_buf_free(&st->buf);
    free(st);
}

/* Writes v in decimal into buf (>= 21 bytes); returns buf. */
static char *softnet_utoa(char *buf, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return buf;
}

static int softnet_collect(void *state, struct plg_collect *c)
{
    struct softnet_state *st = state;
    char path[PATH_MAX];
    if (!plg_proc(path, c->paths, "net/softnet_stat"))
        return plg_fail(c, -ENAMETOOLONG, "procfs path too long");
    int rc = cn_read_file_buf(path, &st->buf, SOFTNET_MAX_FILE);
    if (rc < 0)
        return plg_fail(c, rc, "could not get softnet statistics: couldn't read %s: %s", path,
                        strerror(-rc));

    struct exp_builder *b = c->b;
    struct exp_family *processed = NULL, *dropped = NULL, *squeezed = NULL;
    uint64_t cpu = 0;
    char *end = st->buf.data + st->buf.len;
    for (char *line = st->buf.data, *next; line < end; line = next, cpu++) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        next = nl ? nl + 1 : end;
        if (nl)
            *nl = '\0';
        const char *col[3][2];
        int ncol = 0;
        for (const char *p = line;;) {
            while (softnet_is_space(*p))
                p++;
            if (!*p)
                break;
            const char *s = p;
            while (*p && !softnet_is_space(*p))
                p++;
            if (ncol < 3) {
                col[ncol][0] = s;
                col[ncol][1] = p;
            }
            ncol++;
        }
        if (ncol < SOFTNET_MIN_COLUMNS)
            return plg_fail(c, -EINVAL,
                            "failed to parse %s: line %llu has %d columns, at least %d expected",
                            path, (unsigned long long)cpu + 1, ncol, SOFTNET_MIN_COLUMNS);
        uint32_t v[3];
        for (int i = 0; i < 3; i++)
            if (softnet_hex32(col[i][0], col[i][1], &v[i]))
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
        char num[24];
        softnet_utoa(num, cpu);
        exp_add(b, processed, (double)v[0], 1, "cpu", num);
        exp_add(b, dropped, (double)v[1], 1, "cpu", num);
        exp_add(b, squeezed, (double)v[2], 1, "cpu", num);
    }
    return 0;
}

const struct plg_collector plg_collector_softnet = {
    .name = "softnet",
    .default_enabled = true,
    .init = softnet_init,
    .collect = softnet_collect,
    .destroy = softnet_destroy,
};
