/*
 * filefd: <procfs>/sys/fs/file-nr -> node_filefd_allocated and
 * node_filefd_maximum (gauges), as node_exporter 1.5's filefd collector.
 *
 * file-nr holds three tab-separated numbers: allocated handles, free
 * allocated handles (always 0 since 2.6) and the maximum (fs.file-max).
 * node_exporter trims the content, splits it on tabs, requires at least three
 * fields and parses the first and third as floats (Go's ParseFloat, so no
 * surrounding blanks inside a field). Both fields are validated before
 * anything is exported, so a half-parsable file exports nothing. A missing
 * file is a failure, not "no data": every Linux has it.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int filefd_collect(void *state, struct plg_collect *c)
{
    (void)state;
    char path[PATH_MAX], buf[256];
    plg_proc(path, c->paths, "sys/fs/file-nr");
    long n = plg_read(c, path, buf, sizeof(buf));
    if (n < 0)
        return plg_fail(c, (int)n, "couldn't get file-nr: %s: %s", path, strerror((int)-n));
    char *s = cn_trim(buf);

    /* The first three tab-separated fields; more are allowed and ignored. */
    const char *field[3];
    size_t len[3];
    const char *p = s;
    for (int i = 0; i < 3; i++) {
        if (!p)
            return plg_fail(c, -EINVAL, "unexpected number of file stats in %s", path);
        const char *tab = strchr(p, '\t');
        field[i] = p;
        len[i] = tab ? (size_t)(tab - p) : strlen(p);
        p = tab ? tab + 1 : NULL;
    }
    double allocated, maximum;
    if (plg_parse_float(field[0], len[0], &allocated)) /* Go's ParseFloat */
        return plg_fail(c, -EINVAL, "invalid value %.*s in %s", (int)len[0], field[0], path);
    if (plg_parse_float(field[2], len[2], &maximum))
        return plg_fail(c, -EINVAL, "invalid value %.*s in %s", (int)len[2], field[2], path);

    exp_gauge(c->b, "node_filefd_allocated", "File descriptor statistics: allocated.", allocated,
              0);
    exp_gauge(c->b, "node_filefd_maximum", "File descriptor statistics: maximum.", maximum, 0);
    return 0;
}

const struct plg_collector plg_collector_filefd = {
    .name = "filefd",
    .default_enabled = true,
    .collect = filefd_collect,
};
