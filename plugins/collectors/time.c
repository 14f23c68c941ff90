/*
 * time: the system clock, as node_exporter 1.5's time collector.
 *
 *   node_time_seconds                       CLOCK_REALTIME as a float
 *   node_time_zone_offset_seconds{time_zone} local zone abbreviation and UTC offset
 *   node_time_clocksource_available_info{device,clocksource}  1 per available source
 *   node_time_clocksource_current_info{device,clocksource}    1 for the current one
 *
 * The zone comes from localtime_r (TZ, else /etc/localtime of the running
 * system, as Go's time.Local; UTC when neither says otherwise). Clock sources
 * come from <sysfs>/devices/system/clocksource/clocksource[0-9]*, sorted by
 * name as Go's filepath.Glob returns them; `device` is the position in that
 * order (not the number in the name), as procfs/node_exporter number them.
 * available_clocksource is split on blanks, current_clocksource is trimmed.
 *
 * A missing clocksource directory exports no clocksource series and is not a
 * failure (Glob ignores it). All sources are read before any is exported: a
 * clocksource directory whose files cannot be read fails the collector with
 * only the two time series exported, as in node_exporter.
 *
 * Difference on purpose: procfs reads at most 128 bytes of each sysfs file
 * and would cut a longer list of sources; we read up to 4 KiB.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TIME_CS_DIR "devices/system/clocksource"
#define TIME_CS_PREFIX "clocksource"

static int time_clocksources(struct plg_collect *c)
{
    char dir[PATH_MAX];
    plg_sys(dir, c->paths, TIME_CS_DIR);
    char **names = NULL;
    int n = plg_dir_list(dir, &names);
    if (n == -ENOENT || n == -ENOTDIR)
        return 0;
    if (n < 0)
        return plg_fail(c, n, "couldn't get clocksources: %s: %s", dir, strerror(-n));
    /* All sources are read before any is exported, as procfs' ClockSources()
     * does: a broken source exports no clocksource series at all. The
     * contents live in the builder's arena, which dies with this cycle. */
    struct cn_arena *arena = exp_builder_arena(c->b);
    char **av = cn_arena_alloc(arena, (size_t)(n ? n : 1) * 2 * sizeof(char *));
    if (!av) {
        plg_dir_free(names, n);
        return plg_fail(c, -ENOMEM, "couldn't get clocksources: out of memory");
    }
    char **cu = av + n;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        av[i] = cu[i] = NULL;
        if (!plg_glob_num(names[i], TIME_CS_PREFIX))
            continue;
        char path[PATH_MAX], abuf[4096], cbuf[256];
        long la, lc = 0;
        if (!cn_path_join(path, sizeof(path), dir, names[i], "available_clocksource", NULL)) {
            rc = plg_fail(c, -ENAMETOOLONG, "couldn't get clocksources: path too long");
            break;
        }
        la = plg_read(c, path, abuf, sizeof(abuf));
        if (la >= 0) {
            /* same length as the first path minus 2: fits */
            cn_path_join(path, sizeof(path), dir, names[i], "current_clocksource", NULL);
            lc = plg_read(c, path, cbuf, sizeof(cbuf));
        }
        if (la < 0 || lc < 0) {
            int e = (int)(la < 0 ? la : lc);
            rc = plg_fail(c, e, "couldn't get clocksources: %s: %s", path, strerror(-e));
            break;
        }
        av[i] = cn_arena_strdup(arena, abuf);
        cu[i] = cn_arena_strdup(arena, cn_trim(cbuf));
        if (!av[i] || !cu[i]) {
            rc = plg_fail(c, -ENOMEM, "couldn't get clocksources: out of memory");
            break;
        }
    }
    /* Families are created on first use: no sources, no empty families. */
    struct exp_family *avail = NULL, *cur = NULL;
    for (int i = 0, device = 0; i < n && rc == 0; i++) {
        if (!av[i])
            continue;
        char dev[16];
        snprintf(dev, sizeof(dev), "%d", device++);
        for (char *save = NULL, *tok = strtok_r(av[i], " \t\n\v\f\r", &save); tok;
             tok = strtok_r(NULL, " \t\n\v\f\r", &save)) {
            if (!avail)
                avail = exp_family(
                    c->b, "node_time_clocksource_available_info",
                    "Available clocksources read from '/sys/devices/system/clocksource'.",
                    EXP_GAUGE);
            exp_add(c->b, avail, 1, 2, "device", dev, "clocksource", tok);
        }
        if (!cur)
            cur = exp_family(c->b, "node_time_clocksource_current_info",
                             "Current clocksource read from '/sys/devices/system/clocksource'.",
                             EXP_GAUGE);
        exp_add(c->b, cur, 1, 2, "device", dev, "clocksource", cu[i]);
    }
    plg_dir_free(names, n);
    return rc;
}

static int time_collect(void *state, struct plg_collect *c)
{
    (void)state;
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return plg_fail(c, -errno, "clock_gettime: %s", strerror(errno));
    struct tm tm;
    if (!localtime_r(&ts.tv_sec, &tm))
        return plg_fail(c, -EOVERFLOW, "localtime_r failed");
    /* float64(now.UnixNano()) / 1e9, as node_exporter computes it */
    double now = (double)((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec) / 1e9;
    exp_gauge(c->b, "node_time_seconds", "System time in seconds since epoch (1970).", now, 0);
    exp_gauge(c->b, "node_time_zone_offset_seconds", "System time zone offset in seconds.",
              (double)tm.tm_gmtoff, 1, "time_zone", tm.tm_zone ? tm.tm_zone : "UTC");
    return time_clocksources(c);
}

const struct plg_collector plg_collector_time = {
    .name = "time",
    .default_enabled = true,
    .collect = time_collect,
};
