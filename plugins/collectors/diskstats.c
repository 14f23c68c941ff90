/*
 * diskstats: /proc/diskstats -> node_disk_* per block device, plus
 * node_disk_info and the udev-derived node_disk_{filesystem,device_mapper}_info
 * and node_disk_ata_* series, as node_exporter 1.5's diskstats collector.
 *
 * /proc/diskstats has 14 fields per line (kernels before 4.18), 18 (with the
 * discard counters) or 20 (with the flush counters, 5.5+): major, minor,
 * name, then 11, 15 or 17 counters. node_exporter (through procfs) reads as
 * many counters as the line has, ignores lines with fewer than 14 fields and
 * fails the whole collection on a field that is not a number; so do we, and
 * like node_exporter a bad line exports nothing: the file is parsed into
 * st->devs first and exported afterwards. Sectors are the kernel's fixed
 * 512-byte units (converted to bytes, except the discarded-sectors counter,
 * which node_exporter exports in sectors); times are milliseconds (exported
 * in seconds).
 *
 * udev: for each exported device the udev database entry
 * <udev_data>/b<major>:<minor> is read for its E:KEY=VALUE properties. A
 * missing entry (no udev, as on this VM) gives empty labels, as in 1.5.
 *
 * Filters: device-exclude (default skips partitions, ram and loop devices)
 * and device-include are mutually exclusive in 1.5 -- setting include while
 * exclude keeps its default fails, so device-include needs
 * device-exclude="" as with node_exporter. Buffers and the device array live
 * in the state and are reused across cycles.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DS_DEF_EXCLUDE "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$"
#define DS_MAX_COUNTERS 17
#define DS_FILE_MAX (16u << 20)
#define DS_UDEV_MAX (1u << 20)

enum { OPT_EXCLUDE, OPT_INCLUDE, OPT_OLD_EXCLUDE };

static const struct plg_option ds_options[] = {
    [OPT_EXCLUDE] = {"device-exclude", DS_DEF_EXCLUDE,
                     "Regexp of diskstats devices to exclude (mutually exclusive to "
                     "device-include)."},
    [OPT_INCLUDE] = {"device-include", NULL,
                     "Regexp of diskstats devices to include (mutually exclusive to "
                     "device-exclude)."},
    [OPT_OLD_EXCLUDE] = {"ignored-devices", NULL,
                         "DEPRECATED: Use collector.diskstats.device-exclude"},
    {NULL, NULL, NULL},
};

/* The counters in /proc/diskstats order, with node_exporter's names. */
struct ds_counter {
    const char *name;
    const char *help;
    enum exp_type type;
    double scale;
};

#define SECTOR 512.0
#define MS 0.001

static const struct ds_counter ds_counters[DS_MAX_COUNTERS] = {
    {"node_disk_reads_completed_total", "The total number of reads completed successfully.",
     EXP_COUNTER, 1},
    {"node_disk_reads_merged_total", "The total number of reads merged.", EXP_COUNTER, 1},
    {"node_disk_read_bytes_total", "The total number of bytes read successfully.", EXP_COUNTER,
     SECTOR},
    {"node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.",
     EXP_COUNTER, MS},
    {"node_disk_writes_completed_total", "The total number of writes completed successfully.",
     EXP_COUNTER, 1},
    {"node_disk_writes_merged_total", "The number of writes merged.", EXP_COUNTER, 1},
    {"node_disk_written_bytes_total", "The total number of bytes written successfully.",
     EXP_COUNTER, SECTOR},
    {"node_disk_write_time_seconds_total",
     "This is the total number of seconds spent by all writes.", EXP_COUNTER, MS},
    {"node_disk_io_now", "The number of I/Os currently in progress.", EXP_GAUGE, 1},
    {"node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", EXP_COUNTER, MS},
    {"node_disk_io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.",
     EXP_COUNTER, MS},
    {"node_disk_discards_completed_total", "The total number of discards completed successfully.",
     EXP_COUNTER, 1},
    {"node_disk_discards_merged_total", "The total number of discards merged.", EXP_COUNTER, 1},
    {"node_disk_discarded_sectors_total", "The total number of sectors discarded successfully.",
     EXP_COUNTER, 1},
    {"node_disk_discard_time_seconds_total",
     "This is the total number of seconds spent by all discards.", EXP_COUNTER, MS},
    {"node_disk_flush_requests_total", "The total number of flush requests completed successfully",
     EXP_COUNTER, 1},
    {"node_disk_flush_requests_time_seconds_total",
     "This is the total number of seconds spent by all flush requests.", EXP_COUNTER, MS},
};

/* udev properties node_exporter 1.5 uses. */
enum {
    U_PATH,
    U_WWN,
    U_MODEL,
    U_SERIAL,
    U_REVISION,
    U_FS_TYPE,
    U_FS_USAGE,
    U_FS_UUID,
    U_FS_VERSION,
    U_DM_NAME,
    U_DM_UUID,
    U_DM_VG,
    U_DM_LV,
    U_DM_LAYER,
    U_ATA,
    U_ATA_WC,
    U_ATA_WCE,
    U_ATA_RPM,
    U_N
};

static const char *const ds_udev_keys[U_N] = {
    [U_PATH] = "ID_PATH",
    [U_WWN] = "ID_WWN",
    [U_MODEL] = "ID_MODEL",
    [U_SERIAL] = "ID_SERIAL_SHORT",
    [U_REVISION] = "ID_REVISION",
    [U_FS_TYPE] = "ID_FS_TYPE",
    [U_FS_USAGE] = "ID_FS_USAGE",
    [U_FS_UUID] = "ID_FS_UUID",
    [U_FS_VERSION] = "ID_FS_VERSION",
    [U_DM_NAME] = "DM_NAME",
    [U_DM_UUID] = "DM_UUID",
    [U_DM_VG] = "DM_VG_NAME",
    [U_DM_LV] = "DM_LV_NAME",
    [U_DM_LAYER] = "DM_LV_LAYER",
    [U_ATA] = "ID_ATA",
    [U_ATA_WC] = "ID_ATA_WRITE_CACHE",
    [U_ATA_WCE] = "ID_ATA_WRITE_CACHE_ENABLED",
    [U_ATA_RPM] = "ID_ATA_ROTATION_RATE_RPM",
};

/* The ATA gauges, exported when ID_ATA is set and the property parses. */
static const struct {
    int key;
    const char *name, *help;
} ds_ata[] = {
    {U_ATA_WC, "node_disk_ata_write_cache", "ATA disk has a write cache."},
    {U_ATA_WCE, "node_disk_ata_write_cache_enabled", "ATA disk has its write cache enabled."},
    {U_ATA_RPM, "node_disk_ata_rotation_rate_rpm", "ATA disk rotation rate in RPMs (0 for SSDs)."},
};

struct ds_dev {
    const char *name; /* points into st->file */
    unsigned long major, minor;
    int ncounters;
    uint64_t v[DS_MAX_COUNTERS];
};

struct ds_state {
    struct plg_filter *filter;
    struct cn_buf file; /* /proc/diskstats, reused */
    struct cn_buf udev; /* one udev entry, reused */
    struct ds_dev *devs;
    size_t cap;
};

static int ds_init_error(const char *msg)
{
    cn_log(CN_LOG_ERROR, "collector", "couldn't create collector", "collector", "diskstats", "err",
           msg, NULL);
    return -EINVAL;
}

static int ds_init(const struct plg_config *cfg, void **state)
{
    const char *exclude, *include = plg_config_get(cfg, "device-include");
    if (plg_config_renamed(cfg, "device-exclude", "ignored-devices", &exclude))
        return ds_init_error("--collector.diskstats.ignored-devices and "
                             "--collector.diskstats.device-exclude are mutually exclusive");
    if (*exclude && include && *include)
        return ds_init_error("device-exclude & device-include are mutually exclusive");
    struct ds_state *st = cn_calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    char err[256];
    int rc = plg_filter_create(include, exclude, &st->filter, err, sizeof(err));
    if (rc) {
        free(st);
        ds_init_error(err);
        return rc;
    }
    cn_buf_init(&st->file);
    cn_buf_init(&st->udev);
    *state = st;
    return 0;
}

static void ds_destroy(void *state)
{
    struct ds_state *st = state;
    if (!st)
        return;
    plg_filter_destroy(st->filter);
    cn_buf_free(&st->file);
    cn_buf_free(&st->udev);
    free(st->devs);
    free(st);
}

/* Reads one unsigned decimal field at *p (skipping blanks) as Go's %d does.
 * Returns 1 with *out set, 0 at the end of the line, -1 on a non-number. */
static int ds_number(char **p, uint64_t *out)
{
    char *s = *p;
    while (plg_is_space(*s))
        s++;
    if (!*s)
        return 0;
    if (*s == '+')
        s++;
    if (*s < '0' || *s > '9')
        return -1;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (*s && !plg_is_space(*s))
        return -1;
    *p = s;
    *out = v;
    return 1;
}

/*
 * Parses one line (NUL-terminated, modified in place) into d. Returns the
 * number of fields read as Sscanf counts them (major, minor and name count),
 * or -1 on a field that is not a number.
 */
static int ds_parse_line(char *line, struct ds_dev *d)
{
    char *p = line;
    uint64_t v;
    int r = ds_number(&p, &v);
    if (r <= 0)
        return r;
    d->major = (unsigned long)v;
    if ((r = ds_number(&p, &v)) <= 0)
        return r < 0 ? -1 : 1;
    d->minor = (unsigned long)v;
    while (plg_is_space(*p))
        p++;
    if (!*p)
        return 2;
    d->name = p;
    while (*p && !plg_is_space(*p))
        p++;
    if (*p)
        *p++ = '\0';
    int n = 3;
    for (int i = 0; i < DS_MAX_COUNTERS; i++) {
        if ((r = ds_number(&p, &d->v[i])) < 0)
            return -1;
        if (r == 0)
            break;
        n++;
    }
    d->ncounters = n - 3;
    return n;
}

/* Reads the udev properties of device major:minor into vals (pointers into
 * st->udev); all "" when the entry cannot be read. Later duplicates win. */
static void ds_udev(struct ds_state *st, const struct plg_paths *paths, unsigned long major,
                    unsigned long minor, const char *vals[U_N])
{
    for (int i = 0; i < U_N; i++)
        vals[i] = "";
    if (!paths->udev_data)
        return;
    char name[64], path[PATH_MAX];
    snprintf(name, sizeof(name), "b%lu:%lu", major, minor);
    if (!cn_path_join(path, sizeof(path), paths->udev_data, name, NULL))
        return;
    /* Plain read: udev's database is on tmpfs, which c->files never keeps. */
    if (cn_read_file_buf(path, &st->udev, DS_UDEV_MAX) != 0)
        return;
    char *data = st->udev.data, *end = data + st->udev.len, *p;
    size_t len;
    for (char *q = data; (p = plg_next_line(&q, end, &len));) {
        if (len > 2 && p[0] == 'E' && p[1] == ':') {
            char *kv = p + 2, *eq = strchr(kv, '=');
            if (eq) {
                *eq = '\0';
                for (int i = 0; i < U_N; i++)
                    if (strcmp(kv, ds_udev_keys[i]) == 0)
                        vals[i] = eq + 1;
            }
        }
    }
}

static int ds_collect(void *state, struct plg_collect *c)
{
    struct ds_state *st = state;
    char path[PATH_MAX];
    plg_proc(path, c->paths, "diskstats");
    int rc = plg_read_buf(c, path, &st->file, DS_FILE_MAX);
    if (rc)
        return plg_fail(c, rc, "couldn't get diskstats: %s: %s", path, strerror(-rc));

    /* Pass 1: parse every line, so that a bad one exports nothing. */
    char *data = st->file.data, *end = data + st->file.len, *p;
    size_t n = 0;
    int lineno = 0;
    for (char *q = data; (p = plg_next_line(&q, end, NULL));) {
        lineno++;
        if (n == st->cap) {
            size_t cap = st->cap ? st->cap * 2 : 32;
            struct ds_dev *d = cn_realloc(st->devs, cap * sizeof(*d));
            if (!d)
                return plg_fail(c, -ENOMEM, "out of memory");
            st->devs = d;
            st->cap = cap;
        }
        struct ds_dev *d = &st->devs[n];
        memset(d, 0, sizeof(*d));
        int fields = ds_parse_line(p, d);
        if (fields < 0)
            return plg_fail(c, -EINVAL, "couldn't get diskstats: %s line %d: expected integer",
                            path, lineno);
        if (fields >= 14)
            n++;
    }

    /* Pass 2: export. */
    struct exp_family *fam[DS_MAX_COUNTERS];
    for (int i = 0; i < DS_MAX_COUNTERS; i++)
        fam[i] = exp_family(c->b, ds_counters[i].name, ds_counters[i].help, ds_counters[i].type);
    struct exp_family *info =
        exp_family(c->b, "node_disk_info", "Info of /sys/block/<block_device>.", EXP_GAUGE);
    for (size_t k = 0; k < n; k++) {
        const struct ds_dev *d = &st->devs[k];
        if (plg_filter_ignored(st->filter, d->name))
            continue;
        const char *u[U_N];
        ds_udev(st, c->paths, d->major, d->minor, u);
        char maj[PLG_U64_LEN], min[PLG_U64_LEN];
        plg_fmt_u64(maj, d->major);
        plg_fmt_u64(min, d->minor);
        exp_add(c->b, info, 1, 8, "device", d->name, "major", maj, "minor", min, "path", u[U_PATH],
                "wwn", u[U_WWN], "model", u[U_MODEL], "serial", u[U_SERIAL], "revision",
                u[U_REVISION]);
        for (int i = 0; i < d->ncounters; i++)
            exp_add(c->b, fam[i], (double)d->v[i] * ds_counters[i].scale, 1, "device", d->name);
        if (*u[U_FS_TYPE])
            exp_gauge(c->b, "node_disk_filesystem_info", "Info about disk filesystem.", 1, 5,
                      "device", d->name, "type", u[U_FS_TYPE], "usage", u[U_FS_USAGE], "uuid",
                      u[U_FS_UUID], "version", u[U_FS_VERSION]);
        if (*u[U_DM_NAME])
            exp_gauge(c->b, "node_disk_device_mapper_info", "Info about disk device mapper.", 1, 6,
                      "device", d->name, "name", u[U_DM_NAME], "uuid", u[U_DM_UUID], "vg_name",
                      u[U_DM_VG], "lv_name", u[U_DM_LV], "lv_layer", u[U_DM_LAYER]);
        if (*u[U_ATA]) {
            for (size_t i = 0; i < sizeof(ds_ata) / sizeof(ds_ata[0]); i++) {
                double v;
                /* an absent or unparsable property is skipped (1.5 logs it) */
                if (*u[ds_ata[i].key] && cn_parse_double(u[ds_ata[i].key], &v) == 0)
                    exp_gauge(c->b, ds_ata[i].name, ds_ata[i].help, v, 1, "device", d->name);
            }
        }
    }
    return 0;
}

const struct plg_collector plg_collector_diskstats = {
    .name = "diskstats",
    .default_enabled = true,
    .options = ds_options,
    .init = ds_init,
    .collect = ds_collect,
    .destroy = ds_destroy,
};
