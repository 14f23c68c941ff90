/*
 * btrfs: Btrfs filesystems from <sysfs>/fs/btrfs/<uuid>/ (and, for mounted
 * ones, the btrfs ioctls) -> node_btrfs_*, as node_exporter 1.5's btrfs
 * collector.
 *
 * sysfs. Each <uuid> directory gives node_btrfs_info{uuid,label},
 * global_rsv_size_bytes, and per block group type (data, metadata, system)
 * reserved_bytes and, per layout subdirectory (single, dup, raid1...),
 * used_bytes, size_bytes and allocation_ratio. The reader follows
 * prometheus/procfs 0.8 closely, because its error handling decides what is
 * exported: attribute files are read with one read of at most 128 bytes,
 * missing files read as 0 or "", numbers that do not parse read as 0, a
 * read error poisons the values read after it, and each block group type
 * replaces the filesystem's error with its own -- so in the end only an
 * error in allocation/system (or after it) fails the collection.
 *
 * ioctl. Like 1.5, each mounted btrfs filesystem (from <procfs>/1/mounts)
 * is opened at <rootfs>/<mount point> and asked for its devices
 * (BTRFS_IOC_FS_INFO, _DEV_INFO, _GET_DEV_STATS). When that works,
 * node_btrfs_device_size_bytes, _device_unused_bytes and
 * _device_errors_total carry {device, btrfs_dev_uuid}; otherwise (not
 * mounted, no permission) device_size_bytes{uuid,device} comes from
 * sysfs' devices/<dev>/size. ioctl failures are not errors, as in 1.5.
 * A collection that fails exports no btrfs series.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define BT_ATTR_MAX PLG_SYSFS_MAX
#define BT_MOUNTS_MAX (64u << 20)

static const char *const bt_families[] = {
    "node_btrfs_info",
    "node_btrfs_global_rsv_size_bytes",
    "node_btrfs_reserved_bytes",
    "node_btrfs_used_bytes",
    "node_btrfs_size_bytes",
    "node_btrfs_allocation_ratio",
    "node_btrfs_device_size_bytes",
    "node_btrfs_device_unused_bytes",
    "node_btrfs_device_errors_total",
};

static const char *const bt_error_types[] = {"write", "read", "flush", "corruption", "generation"};

/* One device of a mounted filesystem, from the ioctls. */
struct bt_ioctl_dev {
    char name[BTRFS_DEVICE_PATH_NAME_MAX + 1]; /* basename of its path */
    char uuid[40];
    uint64_t total, used;
    uint64_t errs[5];
};

/* A mounted filesystem found through the ioctls. */
struct bt_ioctl_fs {
    char fsid[2 * BTRFS_FSID_SIZE + 1]; /* hex, no dashes */
    struct bt_ioctl_dev *devs;
    size_t ndevs;
};

struct bt_state {
    struct cn_buf mounts;
    struct bt_ioctl_fs *fs;
    size_t nfs, capfs;
};

static int bt_init(const struct plg_config *cfg, void **state)
{
    (void)cfg;
    struct bt_state *st = cn_calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    cn_buf_init(&st->mounts);
    *state = st;
    return 0;
}

static void bt_clear_ioctl(struct bt_state *st)
{
    for (size_t i = 0; i < st->nfs; i++)
        free(st->fs[i].devs);
    st->nfs = 0;
}

static void bt_destroy(void *state)
{
    struct bt_state *st = state;
    if (!st)
        return;
    bt_clear_ioctl(st);
    free(st->fs);
    cn_buf_free(&st->mounts);
    free(st);
}

/* ---- the sysfs reader ---------------------------------------------------- */

struct bt_reader {
    struct plg_collect *c; /* its files cache the attributes */
    char path[PATH_MAX];
    int err;
    int devcount;
};

static void bt_read_file(struct bt_reader *r, const char *rel, char out[BT_ATTR_MAX + 1])
{
    char path[PATH_MAX];
    out[0] = '\0';
    if (!cn_path_join(path, sizeof(path), r->path, rel, NULL)) {
        r->err = -ENAMETOOLONG;
        return;
    }
    long err = plg_sysfs_read(r->c, path, out); /* procfs' util.SysReadFile */
    if (err < 0 && err != -ENOENT)
        r->err = (int)err;
}

static uint64_t bt_read_value(struct bt_reader *r, const char *rel)
{
    char buf[BT_ATTR_MAX + 1];
    bt_read_file(r, rel, buf);
    if (r->err)
        return 0;
    uint64_t v;
    if (plg_parse_uint(buf, strlen(buf), 10, 64, &v))
        return 0; /* procfs ignores numbers that do not parse */
    return v;
}

/* Lists a subdirectory of the reader; an error poisons the reader. */
static int bt_list(struct bt_reader *r, const char *rel, char ***names)
{
    char path[PATH_MAX];
    if (!cn_path_join(path, sizeof(path), r->path, rel, NULL)) {
        r->err = -ENAMETOOLONG;
        return 0;
    }
    int n = plg_dir_list(path, names);
    if (n < 0) {
        r->err = n;
        *names = NULL;
        return 0;
    }
    return n;
}

static double bt_ratio(const char *layout, int devcount)
{
    if (strcmp(layout, "single") == 0 || strcmp(layout, "raid0") == 0)
        return 1;
    if (strcmp(layout, "dup") == 0 || strcmp(layout, "raid1") == 0 || strcmp(layout, "raid10") == 0)
        return 2;
    if (strcmp(layout, "raid5") == 0)
        return (double)devcount / ((double)devcount - 1);
    if (strcmp(layout, "raid6") == 0)
        return (double)devcount / ((double)devcount - 2);
    return 0;
}

/* Allocation attributes procfs reads before and after bytes_reserved. */
static const char *const bt_alloc_before[] = {"bytes_may_use", "bytes_pinned", "bytes_readonly"};
static const char *const bt_alloc_after[] = {"bytes_used", "disk_used",   "disk_total",
                                             "flags",      "total_bytes", "total_bytes_pinned"};

/* One block group type (allocation/data, ...): reserved_bytes and layouts,
 * exported at once; the sub-reader's error becomes the filesystem's. */
static void bt_allocation(struct bt_reader *r, struct plg_collect *c, const char *uuid,
                          const char *type)
{
    struct bt_reader sr = {.c = r->c, .devcount = r->devcount};
    char rel[64];
    snprintf(rel, sizeof(rel), "allocation/%s", type);
    if (!cn_path_join(sr.path, sizeof(sr.path), r->path, rel, NULL)) {
        r->err = -ENAMETOOLONG;
        return;
    }
    /* Read in procfs' order: an error in an earlier file zeroes later ones. */
    for (size_t i = 0; i < sizeof(bt_alloc_before) / sizeof(bt_alloc_before[0]); i++)
        bt_read_value(&sr, bt_alloc_before[i]);
    uint64_t reserved = bt_read_value(&sr, "bytes_reserved");
    for (size_t i = 0; i < sizeof(bt_alloc_after) / sizeof(bt_alloc_after[0]); i++)
        bt_read_value(&sr, bt_alloc_after[i]);
    exp_gauge(c->b, "node_btrfs_reserved_bytes", "Amount of space reserved for a data type",
              (double)reserved, 2, "uuid", uuid, "block_group_type", type);

    /* Layouts: the subdirectories (not symlinks) of the type directory. */
    char **names;
    int n = plg_dir_list(sr.path, &names);
    if (n < 0) {
        sr.err = n;
        n = 0;
        names = NULL;
    }
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        struct stat sb;
        if (!cn_path_join(path, sizeof(path), sr.path, names[i], NULL) || lstat(path, &sb) != 0 ||
            !S_ISDIR(sb.st_mode))
            continue;
        char t[PATH_MAX], u[PATH_MAX];
        snprintf(t, sizeof(t), "%s/total_bytes", names[i]);
        snprintf(u, sizeof(u), "%s/used_bytes", names[i]);
        uint64_t total = bt_read_value(&sr, t);
        uint64_t used = bt_read_value(&sr, u);
        double ratio = bt_ratio(names[i], sr.devcount);
        exp_gauge(c->b, "node_btrfs_used_bytes", "Amount of used space by a layout/data type",
                  (double)used, 3, "uuid", uuid, "block_group_type", type, "mode", names[i]);
        exp_gauge(c->b, "node_btrfs_size_bytes", "Amount of space allocated for a layout/data type",
                  (double)total, 3, "uuid", uuid, "block_group_type", type, "mode", names[i]);
        exp_gauge(c->b, "node_btrfs_allocation_ratio",
                  "Data allocation ratio for a layout/data type", ratio, 3, "uuid", uuid,
                  "block_group_type", type, "mode", names[i]);
    }
    plg_dir_free(names, n);
    r->err = sr.err;
}

static const struct bt_ioctl_fs *bt_find_ioctl(const struct bt_state *st, const char *uuid)
{
    char want[64];
    size_t k = 0;
    for (const char *p = uuid; *p && k < sizeof(want) - 1; p++)
        if (*p != '-')
            want[k++] = *p;
    want[k] = '\0';
    for (size_t i = 0; i < st->nfs; i++)
        if (strcmp(st->fs[i].fsid, want) == 0)
            return &st->fs[i];
    return NULL;
}

/* Reads and exports one filesystem directory. Returns the reader's error. */
static int bt_filesystem(struct bt_state *st, struct plg_collect *c, const char *dir,
                         const char *name)
{
    struct bt_reader r = {.c = c};
    if (!cn_path_join(r.path, sizeof(r.path), dir, name, NULL))
        return -ENAMETOOLONG;

    /* devices first: their count decides the raid5/6 ratios */
    char **devs;
    int ndev = bt_list(&r, "devices", &devs);
    uint64_t *sizes = ndev ? cn_calloc((size_t)ndev, sizeof(*sizes)) : NULL;
    if (ndev && !sizes) {
        plg_dir_free(devs, ndev);
        return -ENOMEM;
    }
    for (int i = 0; i < ndev; i++) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof(rel), "devices/%s/size", devs[i]);
        sizes[i] = 512 * bt_read_value(&r, rel);
    }
    r.devcount = ndev;

    char label[BT_ATTR_MAX + 1], uuid[BT_ATTR_MAX + 1];
    bt_read_file(&r, "label", label);
    bt_read_file(&r, "metadata_uuid", uuid);
    char **features;
    int nfeat = bt_list(&r, "features", &features);
    plg_dir_free(features, nfeat);
    bt_read_value(&r, "clone_alignment");
    bt_read_value(&r, "nodesize");
    bt_read_value(&r, "quota_override");
    bt_read_value(&r, "sectorsize");
    bt_read_value(&r, "allocation/global_rsv_reserved");
    uint64_t rsv = bt_read_value(&r, "allocation/global_rsv_size");
    if (!uuid[0])
        snprintf(uuid, sizeof(uuid), "%s", name);

    exp_gauge(c->b, "node_btrfs_info", "Filesystem information", 1, 2, "uuid", uuid, "label",
              label);
    exp_gauge(c->b, "node_btrfs_global_rsv_size_bytes", "Size of global reserve.", (double)rsv, 1,
              "uuid", uuid);
    bt_allocation(&r, c, uuid, "data");
    bt_allocation(&r, c, uuid, "metadata");
    bt_allocation(&r, c, uuid, "system");

    const struct bt_ioctl_fs *io = bt_find_ioctl(st, uuid);
    if (!io) {
        for (int i = 0; i < ndev; i++)
            exp_gauge(c->b, "node_btrfs_device_size_bytes",
                      "Size of a device that is part of the filesystem.", (double)sizes[i], 2,
                      "uuid", uuid, "device", devs[i]);
    } else {
        for (size_t i = 0; i < io->ndevs; i++) {
            const struct bt_ioctl_dev *d = &io->devs[i];
            exp_gauge(c->b, "node_btrfs_device_size_bytes",
                      "Size of a device that is part of the filesystem.", (double)d->total, 3,
                      "uuid", uuid, "device", d->name, "btrfs_dev_uuid", d->uuid);
            exp_gauge(c->b, "node_btrfs_device_unused_bytes",
                      "Unused bytes unused on a device that is part of the filesystem.",
                      (double)(d->total - d->used), 3, "uuid", uuid, "device", d->name,
                      "btrfs_dev_uuid", d->uuid);
            for (int e = 0; e < 5; e++)
                exp_counter(c->b, "node_btrfs_device_errors_total",
                            "Errors reported for the device", (double)d->errs[e], 4, "uuid", uuid,
                            "type", bt_error_types[e], "device", d->name, "btrfs_dev_uuid",
                            d->uuid);
        }
    }
    free(sizes);
    plg_dir_free(devs, ndev);
    return r.err;
}

/* ---- the ioctl side ------------------------------------------------------ */

static const char bt_digits[] = "0123456789abcdef";
static const int bt_uuid_groups[] = {4, 2, 2, 2, 6};

static void bt_hex(char *out, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = bt_digits[b[i] >> 4];
        out[2 * i + 1] = bt_digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* dennwc/btrfs' UUID.String(): 8-4-4-4-12 hex, "<zero>" when all zero. */
static void bt_uuid_string(char out[40], const unsigned char u[BTRFS_UUID_SIZE])
{
    bool zero = true;
    for (int i = 0; i < BTRFS_UUID_SIZE; i++)
        zero = zero && u[i] == 0;
    if (zero) {
        strcpy(out, "<zero>");
        return;
    }
    size_t o = 0, k = 0;
    for (int g = 0; g < 5; g++) {
        if (g)
            out[o++] = '-';
        bt_hex(out + o, u + k, (size_t)bt_uuid_groups[g]);
        o += 2 * (size_t)bt_uuid_groups[g];
        k += (size_t)bt_uuid_groups[g];
    }
}

/* Queries the devices of the filesystem open at fd. 0 or -errno. */
static int bt_query(int fd, struct bt_ioctl_fs *out)
{
    struct btrfs_ioctl_fs_info_args fi;
    memset(&fi, 0, sizeof(fi));
    if (ioctl(fd, BTRFS_IOC_FS_INFO, &fi) < 0)
        return -errno;
    bt_hex(out->fsid, fi.fsid, BTRFS_FSID_SIZE);
    out->devs = NULL;
    out->ndevs = 0;
    size_t cap = 0;
    for (uint64_t id = 0; id <= fi.max_id; id++) {
        struct btrfs_ioctl_dev_info_args di;
        memset(&di, 0, sizeof(di));
        di.devid = id;
        if (ioctl(fd, BTRFS_IOC_DEV_INFO, &di) < 0) {
            if (errno == ENODEV)
                continue; /* device ids have holes */
            goto fail;
        }
        struct btrfs_ioctl_get_dev_stats ds;
        memset(&ds, 0, sizeof(ds));
        ds.devid = id;
        ds.nr_items = BTRFS_DEV_STAT_VALUES_MAX;
        if (ioctl(fd, BTRFS_IOC_GET_DEV_STATS, &ds) < 0)
            goto fail;
        if (out->ndevs == cap) {
            cap = cap ? cap * 2 : 4;
            struct bt_ioctl_dev *d = cn_realloc(out->devs, cap * sizeof(*d));
            if (!d) {
                errno = ENOMEM;
                goto fail;
            }
            out->devs = d;
        }
        struct bt_ioctl_dev *d = &out->devs[out->ndevs++];
        di.path[sizeof(di.path) - 1] = 0;
        const char *slash = strrchr((const char *)di.path, '/');
        snprintf(d->name, sizeof(d->name), "%s", slash ? slash + 1 : (const char *)di.path);
        bt_uuid_string(d->uuid, di.uuid);
        d->total = di.total_bytes;
        d->used = di.bytes_used;
        for (int e = 0; e < 5; e++)
            d->errs[e] = ds.values[e];
        if (out->ndevs == fi.num_devices)
            break;
    }
    return 0;
fail:;
    int err = -errno;
    free(out->devs);
    out->devs = NULL;
    out->ndevs = 0;
    return err;
}

/* dennwc/btrfs' Open: a btrfs subvolume root (inode 256) opened read-only. */
static int bt_open(const char *path)
{
    struct stat sb;
    struct statfs sf;
    if (stat(path, &sb) != 0 || sb.st_ino != 256 || !S_ISDIR(sb.st_mode) ||
        statfs(path, &sf) != 0 || (unsigned long)sf.f_type != (unsigned long)BTRFS_SUPER_MAGIC)
        return -1;
    int fd = open(path, O_RDONLY | O_NOATIME | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd;
}

/* Fills st->fs from the mounted btrfs filesystems. Failures only mean fewer
 * filesystems with ioctl data, as in 1.5 (which logs them at debug). */
static void bt_scan_mounts(struct bt_state *st, struct plg_collect *c)
{
    const struct plg_paths *paths = c->paths;
    bt_clear_ioctl(st);
    char path[PATH_MAX];
    if (plg_read_mounts(c, &st->mounts, BT_MOUNTS_MAX, path))
        return;
    char *data = st->mounts.data, *end = data + st->mounts.len;
    /* devices already scanned, as offsets of their names in the buffer */
    const char *done[64];
    size_t ndone = 0;
    for (char *p = data, *line; (line = plg_next_line(&p, end, NULL));) {
        char *f[3];
        if (plg_fields(line, f, 3) < 3 || strcmp(f[2], "btrfs") != 0)
            continue;
        bool seen = false;
        for (size_t i = 0; i < ndone && !seen; i++)
            seen = strcmp(done[i], f[0]) == 0;
        if (seen)
            continue;
        plg_unescape_mount(f[1]); /* as the filesystem collector */
        char full[PATH_MAX];
        if (!plg_root(full, paths, plg_strip_rootfs(f[1], paths->rootfs)))
            continue;
        int fd = bt_open(full);
        if (fd < 0)
            continue;
        struct bt_ioctl_fs fs;
        int err = bt_query(fd, &fs);
        close(fd);
        if (err)
            continue;
        bool dup = false;
        for (size_t i = 0; i < st->nfs && !dup; i++)
            dup = strcmp(st->fs[i].fsid, fs.fsid) == 0;
        if (dup) {
            free(fs.devs);
            continue;
        }
        if (st->nfs == st->capfs) {
            size_t cap = st->capfs ? st->capfs * 2 : 4;
            struct bt_ioctl_fs *v = cn_realloc(st->fs, cap * sizeof(*v));
            if (!v) {
                free(fs.devs);
                return;
            }
            st->fs = v;
            st->capfs = cap;
        }
        st->fs[st->nfs++] = fs;
        if (ndone < sizeof(done) / sizeof(done[0]))
            done[ndone++] = f[0];
    }
}

/* ---- collect ------------------------------------------------------------- */

static int bt_collect(void *state, struct plg_collect *c)
{
    struct bt_state *st = state;
    char dir[PATH_MAX];
    plg_sys(dir, c->paths, "fs/btrfs");
    char **names;
    int n = plg_dir_list(dir, &names);
    if (n < 0)
        return 0; /* Go's Glob ignores a missing or unreadable directory */
    int rc = 0;
    bool any = false;
    for (int i = 0; i < n; i++)
        any = any || strchr(names[i], '-');
    if (any)
        bt_scan_mounts(st, c);
    for (int i = 0; i < n && !rc; i++) {
        if (!strchr(names[i], '-')) /* the glob is fs/btrfs/x-x */
            continue;
        int err = bt_filesystem(st, c, dir, names[i]);
        if (err)
            rc = plg_fail(c, err, "failed to retrieve Btrfs stats from %s/%s: %s", dir, names[i],
                          strerror(-err));
    }
    if (rc) /* as in 1.5, a failure exports no btrfs series */
        for (size_t k = 0; k < sizeof(bt_families) / sizeof(bt_families[0]); k++)
            exp_builder_drop(c->b, bt_families[k]);
    plg_dir_free(names, n);
    return rc;
}

const struct plg_collector plg_collector_btrfs = {
    .name = "btrfs",
    .default_enabled = true,
    .init = bt_init,
    .collect = bt_collect,
    .destroy = bt_destroy,
};
