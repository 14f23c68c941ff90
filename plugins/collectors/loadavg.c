/* loadavg: /proc/loadavg -> node_load1, node_load5, node_load15 (gauges). */
#include "plugins/plugins.h"

#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int loadavg_collect(void *state, struct plg_collect *c)
{
    (void)state;
    char path[PATH_MAX], buf[256];
    double l[3];
    plg_proc(path, c->paths, "loadavg");
    long n = plg_read(c, path, buf, sizeof(buf));
    if (n < 0)
        return plg_fail(c, (int)n, "couldn't read %s: %s", path, strerror((int)-n));
    if (sscanf(buf, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3)
        return plg_fail(c, -EINVAL, "unexpected content in %s", path);
    exp_gauge(c->b, "node_load1", "1m load average.", l[0], 0);
    exp_gauge(c->b, "node_load5", "5m load average.", l[1], 0);
    exp_gauge(c->b, "node_load15", "15m load average.", l[2], 0);
    return 0;
}

const struct plg_collector plg_collector_loadavg = {
    .name = "loadavg",
    .default_enabled = true,
    .collect = loadavg_collect,
};
