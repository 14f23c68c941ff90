/*
 * thermal_zone: thermal zones and cooling devices from <sysfs>/class/thermal,
 * as node_exporter 1.5 exports them (gauges):
 *
 *   node_thermal_zone_temp{zone,type}          thermal_zone<N>/temp, millidegrees / 1000
 *   node_cooling_device_cur_state{name,type}   cooling_device<N>/cur_state (may be -1)
 *   node_cooling_device_max_state{name,type}   cooling_device<N>/max_state
 *
 * zone and name are the digits after "thermal_zone"/"cooling_device".
 *
 * Semantics follow node_exporter and procfs 0.8: a host without the thermal
 * class (this VM) succeeds with no series. For a zone, type, policy and temp
 * are required, mode and passive optional (absent or permission denied is
 * fine, but a passive that does not parse fails); a zone whose attribute
 * read fails with ENODATA (a sensor that is off) is skipped. All zones are
 * parsed before any is exported, then all cooling devices; an error in a
 * cooling device fails the collection after the zones were exported.
 * String attributes and the cooling states are read with one read(2) of at
 * most 128 bytes, whitespace trimmed; temp and passive as whole files.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tz_item {
    const char *name; /* digits after the prefix, borrowed from the listing */
    char type[PLG_SYSFS_MAX + 1];
    int64_t a, b; /* zone: temp; cooling device: cur_state, max_state */
};

/* Reads dir/file with procfs' SysReadFile into out (PLG_SYSFS_MAX + 1
 * bytes); 0 or a negative errno. path receives dir/file. */
static int tz_string(struct plg_collect *c, const char *dir, const char *file, char *path,
                     char *out)
{
    if (!cn_path_join(path, PATH_MAX, dir, file, NULL))
        return -ENAMETOOLONG;
    long n = plg_sysfs_read(c, path, out);
    return n < 0 ? (int)n : 0;
}

/* Reads dir/file as procfs' ReadIntFromFile / ReadUintFromFile (u non-NULL)
 * do; 0, -EBADMSG (not a number) or a negative errno. path receives
 * dir/file. */
static int tz_number(struct plg_collect *c, const char *dir, const char *file, char *path,
                     int64_t *i, uint64_t *u)
{
    if (!cn_path_join(path, PATH_MAX, dir, file, NULL))
        return -ENAMETOOLONG;
    return u ? plg_read_u64(c, path, u) : plg_read_i64(c, path, i);
}

/* Parses a zone; 0, 1 to skip it (ENODATA), or a plg_fail code. */
static int tz_zone(struct plg_collect *c, const char *dir, struct tz_item *z)
{
    char path[PATH_MAX], policy[PLG_SYSFS_MAX + 1];
    int err;
    if ((err = tz_string(c, dir, "type", path, z->type)) ||
        (err = tz_string(c, dir, "policy", path, policy)))
        goto fail;
    err = tz_number(c, dir, "temp", path, &z->a, NULL);
    if (err == -EBADMSG)
        return plg_fail(c, -EINVAL, "couldn't parse %s: not an integer", path);
    if (err)
        goto fail;
    err = tz_string(c, dir, "mode", path, policy);
    if (err && err != -ENOENT && err != -EACCES && err != -EPERM)
        goto fail;
    uint64_t passive;
    err = tz_number(c, dir, "passive", path, NULL, &passive);
    if (err == -ENOENT || err == -EACCES || err == -EPERM)
        return 0;
    if (err == -EBADMSG)
        return plg_fail(c, -EINVAL, "couldn't parse %s: not an unsigned integer", path);
    if (err)
        goto fail;
    return 0;
fail:
    if (err == -ENODATA)
        return 1;
    return plg_fail(c, err, "couldn't read %s: %s", path, strerror(-err));
}

static int tz_cooling(struct plg_collect *c, const char *dir, struct tz_item *d)
{
    char path[PATH_MAX], buf[PLG_SYSFS_MAX + 1];
    int err;
    if ((err = tz_string(c, dir, "type", path, d->type)) ||
        (err = tz_string(c, dir, "max_state", path, buf)))
        return plg_fail(c, err, "couldn't read %s: %s", path, strerror(-err));
    if (plg_parse_int(buf, strlen(buf), 10, 64, &d->b))
        return plg_fail(c, -EINVAL, "couldn't parse %s: not an integer", path);
    if ((err = tz_string(c, dir, "cur_state", path, buf)))
        return plg_fail(c, err, "couldn't read %s: %s", path, strerror(-err));
    if (plg_parse_int(buf, strlen(buf), 10, 64, &d->a))
        return plg_fail(c, -EINVAL, "couldn't parse %s: not an integer", path);
    return 0;
}

static int tz_collect(void *state, struct plg_collect *c)
{
    (void)state;
    char base[PATH_MAX], dir[PATH_MAX];
    if (!plg_sys(base, c->paths, "class/thermal"))
        return plg_fail(c, -ENAMETOOLONG, "sysfs path too long");
    char **names;
    int n = plg_dir_list(base, &names);
    if (n < 0) /* node_exporter globs: no thermal class is no zones */
        return n == -ENOMEM ? plg_fail(c, n, "out of memory listing %s", base) : 0;
    int rc = 0;
    size_t ni = 0;
    struct tz_item *items = n ? cn_calloc((size_t)n, sizeof(*items)) : NULL;
    if (n && !items) {
        rc = plg_fail(c, -ENOMEM, "out of memory");
        goto out;
    }
    /* Pass 0: zones, pass 1: cooling devices. */
    for (int pass = 0; pass < 2 && !rc; pass++) {
        const char *prefix = pass ? "cooling_device" : "thermal_zone";
        size_t plen = strlen(prefix);
        ni = 0;
        for (int i = 0; i < n && !rc; i++) {
            if (!plg_glob_num(names[i], prefix))
                continue;
            struct tz_item *it = &items[ni];
            memset(it, 0, sizeof(*it));
            it->name = names[i] + plen;
            if (!cn_path_join(dir, sizeof(dir), base, names[i], NULL)) {
                rc = plg_fail(c, -ENAMETOOLONG, "path too long under %s", base);
                break;
            }
            int r = pass ? tz_cooling(c, dir, it) : tz_zone(c, dir, it);
            if (r < 0)
                rc = r;
            else if (r == 0)
                ni++;
        }
        if (rc)
            break;
        for (size_t i = 0; i < ni; i++) {
            const struct tz_item *it = &items[i];
            if (pass == 0) {
                exp_gauge(c->b, "node_thermal_zone_temp", "Zone temperature in Celsius",
                          (double)it->a / 1000.0, 2, "zone", it->name, "type", it->type);
                continue;
            }
            exp_gauge(c->b, "node_cooling_device_cur_state",
                      "Current throttle state of the cooling device", (double)it->a, 2, "name",
                      it->name, "type", it->type);
            exp_gauge(c->b, "node_cooling_device_max_state",
                      "Maximum throttle state of the cooling device", (double)it->b, 2, "name",
                      it->name, "type", it->type);
        }
    }
out:
    free(items);
    plg_dir_free(names, n);
    return rc;
}

const struct plg_collector plg_collector_thermal_zone = {
    .name = "thermal_zone",
    .default_enabled = true,
    .collect = tz_collect,
};
