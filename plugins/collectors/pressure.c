/*
 * pressure: pressure stall information from /proc/pressure/{cpu,io,memory},
 * as node_exporter 1.5 exports it (counters, microseconds / 1000 / 1000):
 *
 *   node_pressure_cpu_waiting_seconds_total     cpu    "some" total
 *   node_pressure_io_waiting_seconds_total      io     "some" total
 *   node_pressure_io_stalled_seconds_total      io     "full" total
 *   node_pressure_memory_waiting_seconds_total  memory "some" total
 *   node_pressure_memory_stalled_seconds_total  memory "full" total
 *
 * node_exporter 1.5 has no family for the "full" line that kernels since 5.13
 * print in the cpu file, so it is read and ignored. Resources are read in
 * that order; a missing file (kernel < 4.20 or no CONFIG_PSI) or EOPNOTSUPP
 * (psi=0 on the command line) is plg_nodata, leaving what earlier resources
 * added, as node_exporter's ErrNoData does. Each line must read
 * "some|full avg10=F avg60=F avg300=F total=N"; lines with other prefixes
 * are ignored. A file without a line the families need fails (node_exporter
 * 1.5 would crash). The files are tiny and read into a stack buffer.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pressure_res {
    const char *name;
    const char *some_metric, *some_help;
    const char *full_metric, *full_help; /* NULL: "full" not exported */
};

static const struct pressure_res pressure_resources[] = {
    {"cpu", "node_pressure_cpu_waiting_seconds_total",
     "Total time in seconds that processes have waited for CPU time", NULL, NULL},
    {"io", "node_pressure_io_waiting_seconds_total",
     "Total time in seconds that processes have waited due to IO congestion",
     "node_pressure_io_stalled_seconds_total",
     "Total time in seconds no process could make progress due to IO "
     "congestion"},
    {"memory", "node_pressure_memory_waiting_seconds_total",
     "Total time in seconds that processes have waited for memory",
     "node_pressure_memory_stalled_seconds_total",
     "Total time in seconds no process could make progress due to memory "
     "congestion"},
};

static const char *const pressure_avg_keys[3] = {"avg10=", "avg60=", "avg300="};

/* Parses " avg10=F avg60=F avg300=F total=N" at p (after the prefix), as
 * Go's Sscanf with procfs' format; text after N is ignored. */
static int pressure_parse_line(const char *p, uint64_t *total)
{
    for (int i = 0; i < 4; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *key = i < 3 ? pressure_avg_keys[i] : "total=";
        size_t klen = strlen(key);
        if (strncmp(p, key, klen) != 0)
            return -EINVAL;
        p += klen;
        if (i < 3) {
            char *e;
            (void)strtod(p, &e);
            if (e == p || (*e && *e != ' ' && *e != '\t'))
                return -EINVAL;
            p = e;
            continue;
        }
        if (*p < '0' || *p > '9')
            return -EINVAL;
        uint64_t v = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            unsigned d = (unsigned)(*p - '0');
            if (v > (UINT64_MAX - d) / 10)
                return -ERANGE;
            v = v * 10 + d;
        }
        *total = v;
    }
    return 0;
}

static int pressure_collect(void *state, struct plg_collect *c)
{
    (void)state;
    for (size_t r = 0; r < sizeof(pressure_resources) / sizeof(pressure_resources[0]); r++) {
        const struct pressure_res *res = &pressure_resources[r];
        char rel[32], path[PATH_MAX], buf[1024];
        snprintf(rel, sizeof(rel), "pressure/%s", res->name);
        if (!plg_proc(path, c->paths, rel))
            return plg_fail(c, -ENAMETOOLONG, "procfs path too long");
        long len = plg_read(c, path, buf, sizeof(buf));
        if (len == -ENOENT)
            return plg_nodata(c,
                              "pressure information is unavailable (%s is missing), you need a "
                              "Linux kernel >= 4.20 and/or CONFIG_PSI enabled for your kernel",
                              path);
        if (len == -EOPNOTSUPP)
            return plg_nodata(c, "pressure information is disabled, add psi=1 kernel command "
                                 "line to enable it");
        if (len < 0)
            return plg_fail(c, (int)len, "failed to retrieve pressure stats: couldn't read %s: %s",
                            path, strerror((int)-len));

        uint64_t some = 0, full = 0;
        bool have_some = false, have_full = false;
        char *end = buf + len;
        for (char *line = buf, *next; line < end; line = next) {
            char *nl = memchr(line, '\n', (size_t)(end - line));
            next = nl ? nl + 1 : end;
            if (nl)
                *nl = '\0';
            bool is_some = strncmp(line, "some ", 5) == 0 || strcmp(line, "some") == 0;
            bool is_full = strncmp(line, "full ", 5) == 0 || strcmp(line, "full") == 0;
            if (!is_some && !is_full)
                continue; /* unknown prefix: ignored, as procfs does */
            if (pressure_parse_line(line + 4, is_some ? &some : &full))
                return plg_fail(c, -EINVAL,
                                "failed to retrieve pressure stats: bad line in %s: "
                                "\"%.80s\"",
                                path, line);
            if (is_some)
                have_some = true;
            else
                have_full = true;
        }
        if (!have_some || (res->full_metric && !have_full))
            return plg_fail(c, -EINVAL, "failed to retrieve pressure stats: no \"%s\" line in %s",
                            have_some ? "full" : "some", path);
        exp_counter(c->b, res->some_metric, res->some_help, (double)some / 1000.0 / 1000.0, 0);
        if (res->full_metric)
            exp_counter(c->b, res->full_metric, res->full_help, (double)full / 1000.0 / 1000.0, 0);
    }
    return 0;
}

const struct plg_collector plg_collector_pressure = {
    .name = "pressure",
    .default_enabled = true,
    .collect = pressure_collect,
};
