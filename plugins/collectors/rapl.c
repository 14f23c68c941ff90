/*
 * rapl: Intel/AMD RAPL energy counters from <sysfs>/class/powercap/<zone>/,
 * as node_exporter 1.5 exports them (counters, microjoules / 1e6):
 *
 *   node_rapl_<name>_joules_total{index, path}   "Current RAPL <name> value in joules"
 *
 * or, with option enable-zone-label=true (node_exporter's
 * --collector.rapl.enable-zone-label), one family
 *
 *   node_rapl_joules_total{index, path, rapl_zone="<name>"}  "Current RAPL value in joules"
 *
 * Zones are the class/powercap entries that have a `name` file (the control
 * types "intel-rapl", "intel-rapl-mmio" have none). A name "package-0" is
 * split into name "package" and index 0; a name without such a suffix
 * ("core", "dram") gets as index the number of earlier zones (in directory
 * order) with the same name. path is <sysfs>/class/powercap/<entry>,
 * lexically cleaned as Go's filepath.Join does; <name> in the metric name has
 * every run of characters outside [0-9A-Za-z_] (with adjacent underscores)
 * replaced by one '_'.
 *
 * Failure semantics are node_exporter's: no class/powercap, or a zone's
 * max_energy_range_uj missing or unreadable for lack of permission, is "no
 * data"; an energy_uj unreadable for lack of permission (the default for
 * non-root users since 5.10) is "no data" too, with the zones before it kept;
 * any other error fails the collection. All zones are discovered before any
 * counter is read.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rapl_state {
    bool zone_label;
};

struct rapl_zone {
    char name[128];
    char path[PATH_MAX];
    long long index;
};

static const struct plg_option rapl_options[] = {
    {"enable-zone-label", "false",
     "Export one node_rapl_joules_total family with a rapl_zone label instead of one family "
     "per zone name."},
    {NULL, NULL, NULL},
};

/* Go's filepath.Clean, in place (paths here are never empty). */
static void rapl_clean_path(char *p)
{
    bool rooted = p[0] == '/';
    char *w = p + rooted, *r = p + rooted, *floor = w; /* ".." never pops below floor */
    while (*r) {
        char *end = strchr(r, '/');
        size_t n = end ? (size_t)(end - r) : strlen(r);
        if (n == 0 || (n == 1 && r[0] == '.')) {
            /* skip */
        } else if (n == 2 && r[0] == '.' && r[1] == '.') {
            if (w > floor) {
                while (w > floor && w[-1] != '/')
                    w--;
                if (w > floor)
                    w--;
            } else if (!rooted) {
                if (w > p)
                    *w++ = '/';
                memcpy(w, "..", 2);
                w += 2;
                floor = w;
            }
        } else {
            if (w > p + rooted)
                *w++ = '/';
            memmove(w, r, n);
            w += n;
        }
        r += n + (end != NULL);
    }
    if (w == p)
        *w++ = '.';
    *w = '\0';
}

/* node_exporter's SanitizeMetricName: `_*[^0-9A-Za-z_]+_*` -> "_". */
static void rapl_sanitize(const char *in, char *out, size_t cap)
{
    size_t o = 0;
#define RAPL_OK(ch)                                                                                \
    (((ch) >= '0' && (ch) <= '9') || ((ch) >= 'a' && (ch) <= 'z') ||                               \
     ((ch) >= 'A' && (ch) <= 'Z') || (ch) == '_')
    for (size_t i = 0; in[i] && o + 1 < cap;) {
        size_t j = i;
        while (in[j] == '_')
            j++;
        if (in[j] && !RAPL_OK(in[j])) {
            while (in[j] && !RAPL_OK(in[j]))
                j++;
            while (in[j] == '_')
                j++;
            out[o++] = '_';
            i = j;
        } else if (j > i) {
            while (i < j && o + 1 < cap)
                out[o++] = '_', i++;
        } else {
            out[o++] = in[i++];
        }
    }
#undef RAPL_OK
    out[o] = '\0';
}

/* util.ReadUintFromFile of dir/file (path receives it): 0, -EBADMSG or a
 * negative errno. */
static int rapl_read_u64(struct plg_collect *c, const char *dir, const char *file, uint64_t *out,
                         char *path)
{
    if (!cn_path_join(path, PATH_MAX, dir, file, NULL))
        return -ENAMETOOLONG;
    return plg_read_u64(c, path, out);
}

/* getIndexAndName: "package-0" -> ("package", 0) when there is exactly one
 * '-' and what follows parses as an int; else the usage count. */
static long long rapl_index(char *name, struct rapl_zone *zones, size_t nz, const long long *counts)
{
    char *dash = strchr(name, '-');
    int64_t v;
    if (dash && !strchr(dash + 1, '-') && !plg_parse_int(dash + 1, strlen(dash + 1), 10, 64, &v)) {
        *dash = '\0'; /* strconv.Atoi succeeded */
        return v;
    }
    /* The count of a name is kept in the last zone that set it. */
    for (size_t i = nz; i-- > 0;)
        if (strcmp(zones[i].name, name) == 0)
            return counts[i];
    return 0;
}

static int rapl_init(const struct plg_config *cfg, void **state)
{
    struct rapl_state *st = cn_calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    int rc = plg_config_bool(cfg, "enable-zone-label", &st->zone_label);
    if (rc) {
        free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static void rapl_destroy(void *state)
{
    free(state);
}

static int rapl_collect(void *state, struct plg_collect *c)
{
    const struct rapl_state *st = state;
    char base[PATH_MAX], dir[PATH_MAX], path[PATH_MAX], buf[160];
    if (!plg_sys(base, c->paths, "class/powercap"))
        return plg_fail(c, -ENAMETOOLONG, "sysfs path too long");
    char **names;
    int n = plg_dir_list(base, &names);
    if (n == -ENOENT || n == -EACCES || n == -EPERM)
        return plg_nodata(c, "platform doesn't have powercap files present: %s: %s", base,
                          strerror(-n));
    if (n < 0)
        return plg_fail(c, n, "failed to retrieve rapl stats: unable to read %s: %s", base,
                        strerror(-n));
    int rc = 0;
    size_t nz = 0;
    struct rapl_zone *zones = n ? cn_calloc((size_t)n, sizeof(*zones)) : NULL;
    long long *counts = n ? cn_calloc((size_t)n, sizeof(*counts)) : NULL;
    if (n && (!zones || !counts)) {
        rc = plg_fail(c, -ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (!cn_path_join(dir, sizeof(dir), base, names[i], NULL) ||
            !cn_path_join(path, sizeof(path), dir, "name", NULL))
            continue;
        long len = plg_read(c, path, buf, sizeof(buf));
        if (len < 0) /* not a zone */
            continue;
        struct rapl_zone *z = &zones[nz];
        snprintf(z->name, sizeof(z->name), "%s", cn_trim(buf));
        z->index = rapl_index(z->name, zones, nz, counts);
        uint64_t max;
        int err = rapl_read_u64(c, dir, "max_energy_range_uj", &max, path);
        if (err == -ENOENT || err == -EACCES || err == -EPERM) {
            rc = plg_nodata(c, "can't read %s: %s", path, strerror(-err));
            goto out;
        }
        if (err) {
            rc = plg_fail(c, err == -EBADMSG ? -EINVAL : err,
                          "failed to retrieve rapl stats: %s: %s", path,
                          err == -EBADMSG ? "not an unsigned integer" : strerror(-err));
            goto out;
        }
        snprintf(z->path, sizeof(z->path), "%s", dir);
        rapl_clean_path(z->path);
        counts[nz] = z->index + 1;
        nz++;
    }
    for (size_t i = 0; i < nz; i++) {
        const struct rapl_zone *z = &zones[i];
        uint64_t uj;
        int err = rapl_read_u64(c, z->path, "energy_uj", &uj, path);
        if (err == -EACCES || err == -EPERM) {
            rc = plg_nodata(c, "can't access %s: %s", path, strerror(-err));
            goto out;
        }
        if (err) {
            rc = plg_fail(c, err == -EBADMSG ? -EINVAL : err, "couldn't read %s: %s", path,
                          err == -EBADMSG ? "not an unsigned integer" : strerror(-err));
            goto out;
        }
        double joules = (double)uj / 1000000.0;
        char index[24];
        snprintf(index, sizeof(index), "%lld", z->index);
        if (st->zone_label) {
            struct exp_family *f = exp_family(c->b, "node_rapl_joules_total",
                                              "Current RAPL value in joules", EXP_COUNTER);
            exp_add(c->b, f, joules, 3, "index", index, "path", z->path, "rapl_zone", z->name);
        } else {
            char clean[sizeof(z->name)], name[sizeof(z->name) + 32], help[sizeof(z->name) + 48];
            rapl_sanitize(z->name, clean, sizeof(clean));
            snprintf(name, sizeof(name), "node_rapl_%s_joules_total", clean);
            snprintf(help, sizeof(help), "Current RAPL %s value in joules", z->name);
            exp_counter(c->b, name, help, joules, 2, "index", index, "path", z->path);
        }
    }
out:
    free(counts);
    free(zones);
    plg_dir_free(names, n);
    return rc;
}

const struct plg_collector plg_collector_rapl = {
    .name = "rapl",
    .default_enabled = true,
    .options = rapl_options,
    .init = rapl_init,
    .collect = rapl_collect,
    .destroy = rapl_destroy,
};
