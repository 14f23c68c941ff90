/*
 * zfs: ZFS on Linux kstats under <procfs>/spl/kstat/zfs -> node_zfs_*, as
 * node_exporter 1.5's zfs collector.
 *
 * Module-wide kstat files ("name type data" tables) become one untyped
 * series per uint64 (type 4) row: node_<subsystem>_<row name>, "-" turned
 * into "_", with the HELP "kstat.zfs.misc.<file>.<row name>"; e.g.
 * arcstats' "hits" is node_zfs_arc_hits. Files the loaded ZFS version does
 * not have are skipped; a file without the table header or with a row
 * that does not parse fails the collection. Per pool: <pool>/io (a header
 * row of names, then a row of values) gives node_zfs_zpool_<name>{zpool},
 * <pool>/objset-* gives node_zfs_zpool_dataset_<name>{zpool,dataset}, and
 * <pool>/state gives node_zfs_zpool_state{zpool,state} for the six states.
 * Without the spl/kstat/zfs directory (no ZFS module, as here) the result
 * is "no data": success 0, as 1.5 reports it.
 */
#include "plugins/plugins.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZFS_FILE_MAX (8u << 20)
#define ZFS_IO_MAX_FIELDS 32

/* node_exporter's linuxPathMap: metric subsystem -> kstat file. */
static const struct {
    const char *subsystem, *file;
} zfs_files[] = {
    {"zfs_abd", "abdstats"},
    {"zfs_arc", "arcstats"},
    {"zfs_dbuf", "dbuf_stats"},
    {"zfs_dmu_tx", "dmu_tx"},
    {"zfs_dnode", "dnodestats"},
    {"zfs_fm", "fm"},
    {"zfs_vdev_cache", "vdev_cache_stats"},
    {"zfs_vdev_mirror", "vdev_mirror_stats"},
    {"zfs_xuio", "xuio_stats"},
    {"zfs_zfetch", "zfetchstats"},
    {"zfs_zil", "zil"},
};

static const char *const zfs_pool_states[] = {"online",  "degraded", "faulted",
                                              "offline", "removed",  "unavail"};

/* Splits the line at *pos into at most max fields (NUL-terminated in place);
 * advances *pos past the line; returns the number of fields (which may
 * exceed max) or -1 at the end of the buffer. */
static int zfs_line(char **pos, char *end, char **f, int max)
{
    char *line = plg_next_line(pos, end, NULL);
    return line ? plg_fields(line, f, max) : -1;
}

/* Go's strconv.ParseUint(s, 10, 64). */
static bool zfs_u64(const char *s, uint64_t *v)
{
    return plg_parse_uint(s, strlen(s), 10, 64, v) == 0;
}

/* "prefix" + name with '-' replaced by '_' into out; false if invalid. */
static bool zfs_metric_name(char *out, size_t cap, const char *prefix, const char *name)
{
    int n = snprintf(out, cap, "%s%s", prefix, name);
    if (n < 0 || (size_t)n >= cap)
        return false;
    for (char *p = out; *p; p++)
        if (*p == '-')
            *p = '_';
    return exp_valid_metric_name(out);
}

static int zfs_read(struct cn_buf *buf, struct plg_collect *c, const char *path)
{
    return plg_read_buf(c, path, buf, ZFS_FILE_MAX);
}

/* A "name type data" kstat file of the given subsystem. */
static int zfs_kstat(struct cn_buf *buf, struct plg_collect *c, const char *path,
                     const char *subsystem, const char *file)
{
    char *p = buf->data, *end = p + buf->len;
    bool header = false;
    char *f[3];
    int n;
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "node_%s_", subsystem);
    while ((n = zfs_line(&p, end, f, 3)) >= 0) {
        if (!header) {
            header = n == 3 && strcmp(f[0], "name") == 0 && strcmp(f[1], "type") == 0 &&
                     strcmp(f[2], "data") == 0;
            continue;
        }
        if (n < 3 || strcmp(f[1], "4") != 0)
            continue;
        uint64_t v;
        if (!zfs_u64(f[2], &v))
            return plg_fail(c, -EINVAL,
                            "could not parse expected integer value for "
                            "\"kstat.zfs.misc.%s.%s\" in %s",
                            file, f[0], path);
        char name[256], help[300];
        if (!zfs_metric_name(name, sizeof(name), prefix, f[0]))
            continue;
        snprintf(help, sizeof(help), "kstat.zfs.misc.%s.%s", file, f[0]);
        exp_add(c->b, exp_family(c->b, name, help, EXP_UNTYPED), (double)v, 0);
    }
    if (!header)
        return plg_fail(c, -EINVAL, "did not parse a single \"%s\" metric in %s", file, path);
    return 0;
}

/* <pool>/io: a row of field names starting with "nread", then values. */
static int zfs_pool_io(struct cn_buf *buf, struct plg_collect *c, const char *path,
                       const char *pool)
{
    char *p = buf->data, *end = p + buf->len;
    char *hdr[ZFS_IO_MAX_FIELDS], *f[ZFS_IO_MAX_FIELDS];
    int nh = 0, n;
    while ((n = zfs_line(&p, end, f, ZFS_IO_MAX_FIELDS)) >= 0) {
        if (!nh) {
            if (n >= 12 && strcmp(f[0], "nread") == 0) {
                nh = n < ZFS_IO_MAX_FIELDS ? n : ZFS_IO_MAX_FIELDS;
                memcpy(hdr, f, (size_t)nh * sizeof(*hdr));
            }
            continue;
        }
        for (int i = 0; i < nh; i++) {
            uint64_t v;
            if (i >= n || !zfs_u64(f[i], &v))
                return plg_fail(c, -EINVAL,
                                "could not parse expected integer value for "
                                "\"kstat.zfs.misc.io.%s\" in %s",
                                hdr[i], path);
            char name[256], help[300];
            if (!zfs_metric_name(name, sizeof(name), "node_zfs_zpool_", hdr[i]))
                continue;
            snprintf(help, sizeof(help), "kstat.zfs.misc.io.%s", hdr[i]);
            exp_add(c->b, exp_family(c->b, name, help, EXP_UNTYPED), (double)v, 1, "zpool", pool);
        }
    }
    return 0;
}

/* <pool>/objset-*: a kstat table with a dataset_name row. */
static int zfs_pool_objset(struct cn_buf *buf, struct plg_collect *c, const char *path,
                           const char *pool)
{
    char *p = buf->data, *end = p + buf->len;
    bool header = false;
    const char *zpool = "", *dataset = "";
    char *f[3];
    int n;
    while ((n = zfs_line(&p, end, f, 3)) >= 0) {
        if (!header) {
            header = n == 3 && strcmp(f[0], "name") == 0 && strcmp(f[1], "type") == 0 &&
                     strcmp(f[2], "data") == 0;
            continue;
        }
        if (n < 3)
            continue;
        if (strcmp(f[0], "dataset_name") == 0) {
            zpool = pool;
            dataset = f[2];
            continue;
        }
        if (strcmp(f[1], "4") != 0)
            continue;
        uint64_t v;
        if (!zfs_u64(f[2], &v))
            return plg_fail(c, -EINVAL,
                            "could not parse expected integer value for "
                            "\"kstat.zfs.misc.objset.%s\" in %s",
                            f[0], path);
        char name[256], help[300];
        if (!zfs_metric_name(name, sizeof(name), "node_zfs_zpool_dataset_", f[0]))
            continue;
        snprintf(help, sizeof(help), "kstat.zfs.misc.objset.%s", f[0]);
        exp_add(c->b, exp_family(c->b, name, help, EXP_UNTYPED), (double)v, 2, "zpool", zpool,
                "dataset", dataset);
    }
    if (!header)
        return plg_fail(c, -EINVAL, "did not parse a single %s %s metric in %s", zpool, dataset,
                        path);
    return 0;
}

static void zfs_pool_state(struct cn_buf *buf, struct plg_collect *c, const char *pool)
{
    char *p = buf->data, *end = p + buf->len;
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl)
        *nl = '\0';
    for (char *q = p; *q; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q = (char)(*q - 'A' + 'a');
    struct exp_family *f =
        exp_family(c->b, "node_zfs_zpool_state", "kstat.zfs.misc.state", EXP_GAUGE);
    for (size_t i = 0; i < sizeof(zfs_pool_states) / sizeof(zfs_pool_states[0]); i++)
        exp_add(c->b, f, strcmp(p, zfs_pool_states[i]) == 0 ? 1 : 0, 2, "zpool", pool, "state",
                zfs_pool_states[i]);
}

/* The pool directories' files, in the order 1.5 globs them: every io,
 * then every objset-*, then every state. */
enum { POOL_IO, POOL_OBJSET, POOL_STATE };

static int zfs_pools(struct cn_buf *buf, struct plg_collect *c, const char *base)
{
    char **pools;
    int np = plg_dir_list(base, &pools);
    if (np < 0)
        return plg_fail(c, np, "couldn't list %s: %s", base, strerror(-np));
    int rc = 0;
    for (int kind = POOL_IO; kind <= POOL_STATE && !rc; kind++) {
        for (int i = 0; i < np && !rc; i++) {
            char dir[PATH_MAX], path[PATH_MAX];
            if (!cn_path_join(dir, sizeof(dir), base, pools[i], NULL))
                continue;
            if (kind != POOL_OBJSET) {
                if (!cn_path_join(path, sizeof(path), dir, kind == POOL_IO ? "io" : "state", NULL))
                    continue;
                int err = zfs_read(buf, c, path);
                if (err == -ENOENT || err == -ENOTDIR)
                    continue; /* not a pool directory, or no such kstat */
                if (err)
                    rc = plg_fail(c, err, "couldn't read %s: %s", path, strerror(-err));
                else if (kind == POOL_IO)
                    rc = zfs_pool_io(buf, c, path, pools[i]);
                else
                    zfs_pool_state(buf, c, pools[i]);
                continue;
            }
            char **files;
            int nf = plg_dir_list(dir, &files);
            if (nf < 0)
                continue; /* not a directory */
            for (int k = 0; k < nf && !rc; k++) {
                if (strncmp(files[k], "objset-", 7) != 0 ||
                    !cn_path_join(path, sizeof(path), dir, files[k], NULL))
                    continue;
                int err = zfs_read(buf, c, path);
                if (err)
                    rc = plg_fail(c, err, "couldn't read %s: %s", path, strerror(-err));
                else
                    rc = zfs_pool_objset(buf, c, path, pools[i]);
            }
            plg_dir_free(files, nf);
        }
    }
    plg_dir_free(pools, np);
    return rc;
}

static int zfs_collect(void *state, struct plg_collect *c)
{
    struct cn_buf *buf = state;
    char base[PATH_MAX];
    plg_proc(base, c->paths, "spl/kstat/zfs");
    DIR *d = opendir(base);
    if (!d)
        return plg_nodata(c, "ZFS / ZFS statistics are not available: %s: %s", base,
                          strerror(errno));
    closedir(d);
    for (size_t i = 0; i < sizeof(zfs_files) / sizeof(zfs_files[0]); i++) {
        char path[PATH_MAX];
        if (!cn_path_join(path, sizeof(path), base, zfs_files[i].file, NULL))
            continue;
        int err = zfs_read(buf, c, path);
        if (err)
            continue; /* this ZFS version does not have it */
        int rc = zfs_kstat(buf, c, path, zfs_files[i].subsystem, zfs_files[i].file);
        if (rc)
            return rc;
    }
    return zfs_pools(buf, c, base);
}

const struct plg_collector plg_collector_zfs = {
    .name = "zfs",
    .default_enabled = true,
    .init = plg_buf_state_init,
    .collect = zfs_collect,
    .destroy = plg_buf_state_destroy,
};
