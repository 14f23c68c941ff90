/*
 * powersupplyclass: batteries, mains adapters and USB power supplies from
 * <sysfs>/class/power_supply/<name>/, as node_exporter 1.5 exports them.
 *
 * Each numeric attribute node_exporter knows becomes a gauge
 * node_power_supply_<metric>{power_supply="<name>"} with the HELP text
 * "<metric> value of /sys/class/power_supply/<power_supply>.": counts and
 * flags as they are (capacity, online, cyclecount from cycle_count,
 * time_to_empty_seconds from time_to_empty_now, ...), micro-units divided by
 * 1e6 (energy_watthour from energy_now, voltage_volt, current_ampere,
 * charge_ampere, power_watt, ...), tenths of a degree divided by 10
 * (temp_celsius, ...). The string attributes (status, type, model_name, ...)
 * that are not empty become labels of node_power_supply_info, which always
 * has the power_supply label.
 *
 * Option ignored-supplies (node_exporter's
 * --collector.powersupply.ignored-supplies, default "^$"): supplies whose
 * name matches are not exported.
 *
 * Semantics follow node_exporter and procfs 0.8: no class/power_supply, or
 * an entry in it that is a dangling link, is "no data"; only regular files are read, with one
 * read(2) of at most 128 bytes, whitespace trimmed; files that vanish or whose read fails with
 * EINVAL or EOPNOTSUPP are skipped, other read errors fail the collection;
 * integers are parsed as Go's strconv.ParseInt(s, 0, 64) (so 0x1F, 010 and
 * 1_000 are accepted) and one that does not parse fails the collection.
 * Every supply, ignored ones included, is parsed before anything is
 * exported, so a failure exports nothing. Some attributes (the *_avg ones)
 * are parsed, and can fail the collection, without being exported, as in
 * node_exporter.
 *
 * Cost: a directory listing and one small read per attribute; the parsed
 * supplies live in one array allocated per cycle.
 */
#include "plugins/plugins.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum ps_kind { PS_HIDDEN = 0, PS_RAW, PS_MICRO, PS_DECI, PS_STRING };

/* Sorted by file name (bsearch). `metric` is the exported name suffix, or
 * for PS_STRING the info label name (the file name). */
static const struct ps_attr {
    const char *file;
    const char *metric;
    enum ps_kind kind;
    int sidx; /* PS_STRING: slot in ps_supply.strs */
} ps_attrs[] = {
    {"authentic", "authentic", PS_RAW, 0},
    {"calibrate", "calibrate", PS_RAW, 0},
    {"capacity", "capacity", PS_RAW, 0},
    {"capacity_alert_max", "capacity_alert_max", PS_RAW, 0},
    {"capacity_alert_min", "capacity_alert_min", PS_RAW, 0},
    {"capacity_level", "capacity_level", PS_STRING, 0},
    {"charge_avg", NULL, PS_HIDDEN, 0},
    {"charge_control_limit", "charge_control_limit", PS_MICRO, 0},
    {"charge_control_limit_max", "charge_control_limit_max", PS_MICRO, 0},
    {"charge_counter", "charge_counter", PS_MICRO, 0},
    {"charge_empty", "charge_empty", PS_MICRO, 0},
    {"charge_empty_design", "charge_empty_design", PS_MICRO, 0},
    {"charge_full", "charge_full", PS_MICRO, 0},
    {"charge_full_design", "charge_full_design", PS_MICRO, 0},
    {"charge_now", "charge_ampere", PS_MICRO, 0},
    {"charge_term_current", "charge_term_current", PS_MICRO, 0},
    {"charge_type", "charge_type", PS_STRING, 1},
    {"constant_charge_current", "constant_charge_current", PS_MICRO, 0},
    {"constant_charge_current_max", "constant_charge_current_max", PS_MICRO, 0},
    {"constant_charge_voltage", "constant_charge_voltage", PS_MICRO, 0},
    {"constant_charge_voltage_max", "constant_charge_voltage_max", PS_MICRO, 0},
    {"current_avg", NULL, PS_HIDDEN, 0},
    {"current_boot", "current_boot", PS_MICRO, 0},
    {"current_max", "current_max", PS_MICRO, 0},
    {"current_now", "current_ampere", PS_MICRO, 0},
    {"cycle_count", "cyclecount", PS_RAW, 0},
    {"energy_avg", NULL, PS_HIDDEN, 0},
    {"energy_empty", "energy_empty", PS_MICRO, 0},
    {"energy_empty_design", "energy_empty_design", PS_MICRO, 0},
    {"energy_full", "energy_full", PS_MICRO, 0},
    {"energy_full_design", "energy_full_design", PS_MICRO, 0},
    {"energy_now", "energy_watthour", PS_MICRO, 0},
    {"health", "health", PS_STRING, 2},
    {"input_current_limit", "input_current_limit", PS_MICRO, 0},
    {"manufacturer", "manufacturer", PS_STRING, 3},
    {"model_name", "model_name", PS_STRING, 4},
    {"online", "online", PS_RAW, 0},
    {"power_avg", NULL, PS_HIDDEN, 0},
    {"power_now", "power_watt", PS_MICRO, 0},
    {"precharge_current", "precharge_current", PS_MICRO, 0},
    {"present", "present", PS_RAW, 0},
    {"scope", "scope", PS_STRING, 5},
    {"serial_number", "serial_number", PS_STRING, 6},
    {"status", "status", PS_STRING, 7},
    {"technology", "technology", PS_STRING, 8},
    {"temp", "temp_celsius", PS_DECI, 0},
    {"temp_alert_max", "temp_alert_max_celsius", PS_DECI, 0},
    {"temp_alert_min", "temp_alert_min_celsius", PS_DECI, 0},
    {"temp_ambient", "temp_ambient_celsius", PS_DECI, 0},
    {"temp_ambient_max", "temp_ambient_max_celsius", PS_DECI, 0},
    {"temp_ambient_min", "temp_ambient_min_celsius", PS_DECI, 0},
    {"temp_max", "temp_max_celsius", PS_DECI, 0},
    {"temp_min", "temp_min_celsius", PS_DECI, 0},
    {"time_to_empty_avg", NULL, PS_HIDDEN, 0},
    {"time_to_empty_now", "time_to_empty_seconds", PS_RAW, 0},
    {"time_to_full_avg", NULL, PS_HIDDEN, 0},
    {"time_to_full_now", "time_to_full_seconds", PS_RAW, 0},
    {"type", "type", PS_STRING, 9},
    {"usb_type", "usb_type", PS_STRING, 10},
    {"voltage_avg", NULL, PS_HIDDEN, 0},
    {"voltage_boot", "voltage_boot", PS_MICRO, 0},
    {"voltage_max", "voltage_max", PS_MICRO, 0},
    {"voltage_max_design", "voltage_max_design", PS_MICRO, 0},
    {"voltage_min", "voltage_min", PS_MICRO, 0},
    {"voltage_min_design", "voltage_min_design", PS_MICRO, 0},
    {"voltage_now", "voltage_volt", PS_MICRO, 0},
    {"voltage_ocv", "voltage_ocv", PS_MICRO, 0},
};

enum {
    PS_NATTRS = sizeof(ps_attrs) / sizeof(ps_attrs[0]),
    PS_NSTRS = 11,
    PS_STRLEN = PLG_SYSFS_MAX + 1
};

struct ps_supply {
    const char *name; /* borrowed from the directory listing */
    uint64_t have[(PS_NATTRS + 63) / 64];
    int64_t ints[PS_NATTRS];
    char strs[PS_NSTRS][PS_STRLEN];
};

struct ps_state {
    struct plg_filter *ignore;
};

static const struct plg_option ps_options[] = {
    {"ignored-supplies", "^$",
     "Regexp of power supplies to ignore for powersupplyclass collector."},
    {NULL, NULL, NULL},
};

static int ps_cmp_attr(const void *key, const void *elem)
{
    return strcmp(key, ((const struct ps_attr *)elem)->file);
}

/* procfs' SysReadFile of attribute `name` in directory `dir`, open as
 * dirfd: one read of at most 128 bytes, whitespace trimmed, through c->files
 * (a file not cached is opened with openat()). Returns 0, or -errno with
 * *at_open telling whether open(2) failed. */
static int ps_sysread(struct plg_collect *c, int dirfd, const char *dir, const char *name,
                      char *out, bool *at_open)
{
    char path[PATH_MAX];
    long n;
    if (cn_path_join(path, sizeof(path), dir, name, NULL))
        n = plg_sysfs_read_at(c, dirfd, path, PLG_SPACE, out, at_open);
    else /* too long to name: read it uncached */
        n = plg_sysfs_read_at(NULL, dirfd, name, PLG_SPACE, out, at_open);
    return n < 0 ? (int)n : 0;
}

/* Parses one supply directory into *ps; 0 or a plg_fail code. */
static int ps_parse(struct plg_collect *c, const char *dir, struct ps_supply *ps)
{
    DIR *d = opendir(dir);
    if (!d && errno == ENOENT) /* a dangling link: node_exporter reports "no data" */
        return plg_nodata(c, "%s: %s", dir, strerror(errno));
    if (!d)
        return plg_fail(c, -errno, "could not get power_supply class info: %s: %s", dir,
                        strerror(errno));
    char path[PATH_MAX], value[PS_STRLEN];
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        bool regular = e->d_type == DT_REG;
        if (e->d_type == DT_UNKNOWN) {
            struct stat sb;
            regular =
                fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode);
        }
        if (!regular)
            continue;
        bool at_open;
        int err = ps_sysread(c, dirfd(d), dir, e->d_name, value, &at_open);
        if (err == -ENOENT || (!at_open && (err == -EINVAL || err == -EOPNOTSUPP)))
            continue;
        if (err) {
            if (!cn_path_join(path, sizeof(path), dir, e->d_name, NULL))
                snprintf(path, sizeof(path), "%s", e->d_name);
            rc = plg_fail(c, err,
                          "could not get power_supply class info: failed to read file %s: %s", path,
                          strerror(-err));
            break;
        }
        const struct ps_attr *a =
            bsearch(e->d_name, ps_attrs, PS_NATTRS, sizeof(*ps_attrs), ps_cmp_attr);
        if (!a)
            continue;
        size_t i = (size_t)(a - ps_attrs);
        if (a->kind == PS_STRING) {
            memcpy(ps->strs[a->sidx], value, sizeof(value));
        } else if ((err = plg_parse_int(value, strlen(value), 0, 64, &ps->ints[i]))) {
            if (!cn_path_join(path, sizeof(path), dir, e->d_name, NULL))
                snprintf(path, sizeof(path), "%s", e->d_name);
            rc = plg_fail(c, err,
                          "could not get power_supply class info: %s: \"%s\" is not an integer",
                          path, value);
            break;
        }
        ps->have[i / 64] |= UINT64_C(1) << (i % 64);
    }
    closedir(d);
    return rc;
}

static void ps_export(struct plg_collect *c, const struct ps_supply *ps)
{
    char name[96], help[160];
    const char *lnames[1 + PS_NSTRS], *lvalues[1 + PS_NSTRS];
    char fixed[PS_NSTRS][3 * PS_STRLEN];
    int nl = 0;
    lnames[nl] = "power_supply";
    lvalues[nl++] = ps->name;
    for (size_t i = 0; i < PS_NATTRS; i++) {
        const struct ps_attr *a = &ps_attrs[i];
        if (!(ps->have[i / 64] & (UINT64_C(1) << (i % 64))) || a->kind == PS_HIDDEN)
            continue;
        if (a->kind == PS_STRING) {
            if (ps->strs[a->sidx][0]) {
                plg_valid_utf8(ps->strs[a->sidx], fixed[a->sidx], sizeof(fixed[a->sidx]));
                lnames[nl] = a->metric;
                lvalues[nl++] = fixed[a->sidx];
            }
            continue;
        }
        double v = (double)ps->ints[i];
        if (a->kind == PS_MICRO)
            v = v / 1e6;
        else if (a->kind == PS_DECI)
            v = v / 10.0;
        snprintf(name, sizeof(name), "node_power_supply_%s", a->metric);
        snprintf(help, sizeof(help), "%s value of /sys/class/power_supply/<power_supply>.",
                 a->metric);
        exp_gauge(c->b, name, help, v, 1, "power_supply", ps->name);
    }
    struct exp_family *f = exp_family(c->b, "node_power_supply_info",
                                      "info of /sys/class/power_supply/<power_supply>.", EXP_GAUGE);
    exp_addv(c->b, f, 1.0, nl, lnames, lvalues);
}

static int ps_init(const struct plg_config *cfg, void **state)
{
    struct ps_state *st = cn_calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    char err[256];
    int rc = plg_filter_create(NULL, plg_config_get(cfg, "ignored-supplies"), &st->ignore, err,
                               sizeof(err));
    if (rc) {
        if (rc == -EINVAL)
            cn_log(CN_LOG_ERROR, "powersupplyclass", "bad ignored-supplies", "err", err, NULL);
        free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static void ps_destroy(void *state)
{
    struct ps_state *st = state;
    if (!st)
        return;
    plg_filter_destroy(st->ignore);
    free(st);
}

static int ps_collect(void *state, struct plg_collect *c)
{
    struct ps_state *st = state;
    char base[PATH_MAX], dir[PATH_MAX];
    if (!plg_sys(base, c->paths, "class/power_supply"))
        return plg_fail(c, -ENAMETOOLONG, "sysfs path too long");
    char **names;
    int n = plg_dir_list(base, &names);
    if (n == -ENOENT)
        return plg_nodata(c, "no %s", base);
    if (n < 0)
        return plg_fail(c, n, "could not get power_supply class info: %s: %s", base, strerror(-n));
    int rc = 0;
    struct ps_supply *ps = n ? cn_calloc((size_t)n, sizeof(*ps)) : NULL;
    if (n && !ps) {
        rc = plg_fail(c, -ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n && !rc; i++) {
        ps[i].name = names[i];
        if (!cn_path_join(dir, sizeof(dir), base, names[i], NULL))
            rc = plg_fail(c, -ENAMETOOLONG, "path too long under %s", base);
        else
            rc = ps_parse(c, dir, &ps[i]);
    }
    for (int i = 0; i < n && !rc; i++)
        if (!plg_filter_ignored(st->ignore, names[i]))
            ps_export(c, &ps[i]);
out:
    free(ps);
    plg_dir_free(names, n);
    return rc;
}

const struct plg_collector plg_collector_powersupplyclass = {
    .name = "powersupplyclass",
    .default_enabled = true,
    .options = ps_options,
    .init = ps_init,
    .collect = ps_collect,
    .destroy = ps_destroy,
    .option_prefix = "powersupply",
};
