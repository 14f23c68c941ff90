/*
 * hwmon: hardware sensors (temperatures, voltages, fans, power, ...) from
 * <sysfs>/class/hwmon/hwmon<N>, as node_exporter 1.5's hwmon collector
 * exports them (it has no options in 1.5).
 *
 * Every chip directory, and its `device` directory when there is one, holds
 * attribute files named <type><index>_<property> (temp1_input, fan2_min,
 * pwm1, in0_alarm, beep_enable, ...). Files whose type is one of
 * node_exporter's sensor types are grouped by sensor (type + decimal index:
 * "temp1") and each property becomes a family whose name, HELP text, unit
 * suffix and scaling depend on the type and property, following node_exporter's
 * rules exactly (including its quirks: temp1_crit_alarm becomes
 * node_hwmon_temp_crit_alarm_celsius, pwm1 gets the HELP text "Hardware
 * monitor pwm element " with a trailing space). Labels are chip and sensor.
 *
 * The chip label is derived as node_exporter does: from the resolved `device`
 * link, "<parent dir>_<device dir>" cleaned to [a-z0-9:_]
 * ("platform_coretemp_0", "pci0000:00_0000:00:02_0"); else from the `name`
 * file; else from the resolved chip directory ("hwmon3"). A readable `name`
 * also yields node_hwmon_chip_names{chip,chip_name}, and a <sensor>_label file
 * node_hwmon_sensor_label{chip,sensor,label}.
 *
 * Failure semantics, also node_exporter's: no class/hwmon directory is "no
 * data" (this VM); an attribute that cannot be read or does not parse as a
 * number is skipped (many attributes are strings, and broken drivers return
 * EAGAIN); attributes are read with one read(2) of at most 128 bytes. A chip
 * whose directory (or `device` directory) cannot be listed is skipped and the
 * collection reported as failed with the last such error, other chips still
 * exported.
 *
 * Cost: one read per attribute file, kept open between cycles in the
 * collector's file cache (c->files); the per-chip attribute table is kept in
 * the collector state and reused from cycle to cycle.
 */
#include "plugins/plugins.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One attribute value of a chip. */
struct hw_attr {
    char sensor[48];               /* "temp1" */
    char prop[NAME_MAX + 1];       /* "input", "crit_alarm", "" */
    char value[PLG_SYSFS_MAX + 1]; /* file content, newlines trimmed */
    unsigned order;                /* which of several files mapping here wins: the largest */
};

struct hw_state {
    struct hw_attr *attrs;
    size_t n, cap;
    /* the last chip error of this cycle */
    int errcode;
    const char *errwhat;
    char errpath[PATH_MAX];
};

static const char *const hw_types[] = {
    "vrm",  "beep_enable", "update_interval", "in",     "cpu",      "fan",       "pwm",
    "temp", "curr",        "power",           "energy", "humidity", "intrusion",
};

/* ---- names ----------------------------------------------------------------
 */

/* node_exporter's cleanMetricName: lower-case, every character outside
 * [a-z0-9:_] replaced by '_' (one per UTF-8 character), '_' trimmed from
 * both ends. */
static void hw_clean(const char *in, size_t len, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap;) {
        unsigned char ch = s[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (unsigned char)(ch - 'A' + 'a');
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == ':' || ch == '_') {
            out[o++] = (char)ch;
            i++;
            continue;
        }
        size_t l = ch < 0x80 ? 1 : plg_utf8_len(in + i, len - i);
        out[o++] = '_';
        i += l ? l : 1;
    }
    out[o] = '\0';
    size_t a = strspn(out, "_");
    while (o > a && out[o - 1] == '_')
        o--;
    memmove(out, out + a, o - a);
    out[o - a] = '\0';
}

/*
 * Splits an attribute file name as node_exporter's regular expression
 * ^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$ does, with Go's
 * leftmost-first (backtracking) preference for the longest type. Returns
 * false when the name does not match or the index overflows.
 */
static bool hw_explode(const char *name, size_t *typelen, long long *num, int *ndigits,
                       const char **prop)
{
    size_t max = strcspn(name, "0123456789");
    for (size_t t = max; t >= 1; t--) {
        const char *r = name + t;
        size_t d = t == max ? strspn(r, "0123456789") : 0;
        const char *rest = r + d;
        if (*rest != '\0' && !(rest[0] == '_' && rest[1] != '\0'))
            continue;
        errno = 0;
        *num = d ? strtoll(r, NULL, 10) : 0;
        if (errno == ERANGE) /* strconv.Atoi fails: node_exporter skips the file */
            return false;
        *typelen = t;
        *ndigits = (int)d;
        *prop = *rest ? rest + 1 : rest;
        return true;
    }
    return false;
}

static bool hw_known_type(const char *type, size_t len)
{
    for (size_t i = 0; i < sizeof(hw_types) / sizeof(hw_types[0]); i++)
        if (strlen(hw_types[i]) == len && memcmp(hw_types[i], type, len) == 0)
            return true;
    return false;
}

/* ---- reading a chip ----------------------------------------------------- */

static void hw_seterr(struct hw_state *st, int err, const char *what, const char *path)
{
    st->errcode = err;
    st->errwhat = what;
    snprintf(st->errpath, sizeof(st->errpath), "%s", path);
}

/* Reads attribute `name` of directory `dir`, open as dirfd, as
 * node_exporter's hwmon sysReadFile does: one read of at most 128 bytes,
 * newlines (only) trimmed from both ends. The descriptor stays open in
 * c->files; a file not cached is opened with openat(), which spares
 * resolving the whole path. Returns 0 or a negative errno. */
static int hw_read_value(struct plg_collect *c, int dirfd, const char *dir, const char *name,
                         char *out)
{
    char path[PATH_MAX];
    long n;
    if (cn_path_join(path, sizeof(path), dir, name, NULL))
        n = plg_sysfs_read_at(c, dirfd, path, "\n", out, NULL);
    else /* too long to name: read it uncached */
        n = plg_sysfs_read_at(NULL, dirfd, name, "\n", out, NULL);
    return n < 0 ? (int)n : 0;
}

/* Go's strconv.ParseFloat(s, 64) succeeding. */
static bool hw_parse_float(const char *s, double *out)
{
    return plg_parse_float(s, strlen(s), out) == 0;
}

static struct hw_attr *hw_push(struct hw_state *st)
{
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        struct hw_attr *a = cn_realloc(st->attrs, cap * sizeof(*a));
        if (!a)
            return NULL;
        st->attrs = a;
        st->cap = cap;
    }
    return &st->attrs[st->n++];
}

/* Adds the sensor attributes of directory `dir` (source 0: chip, 1: device). */
static int hw_scan(struct hw_state *st, struct plg_collect *c, const char *dir, unsigned source)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *e;
    int rc = 0;
    for (;;) {
        errno = 0;
        if (!(e = readdir(d))) {
            rc = -errno;
            break;
        }
        size_t typelen;
        long long num;
        int ndigits;
        const char *prop;
        if (e->d_name[0] == '.' || !hw_explode(e->d_name, &typelen, &num, &ndigits, &prop) ||
            !hw_known_type(e->d_name, typelen))
            continue;
        struct hw_attr *a = hw_push(st);
        if (!a) {
            rc = -ENOMEM;
            break;
        }
        if (hw_read_value(c, dirfd(d), dir, e->d_name, a->value) != 0) {
            st->n--;
            continue;
        }
        snprintf(a->sensor, sizeof(a->sensor), "%.*s%lld", (int)typelen, e->d_name, num);
        snprintf(a->prop, sizeof(a->prop), "%s", prop);
        /* node_exporter reads files in name order and the last one wins: the
         * device directory after the chip's, and among "temp01_x"/"temp1_x"
         * the one with fewer digits, which sorts last. */
        a->order = source * 1024 + (unsigned)(1023 - ndigits);
    }
    closedir(d);
    return rc;
}

static int hw_cmp(const void *x, const void *y)
{
    const struct hw_attr *a = x, *b = y;
    int c = strcmp(a->sensor, b->sensor);
    if (!c)
        c = strcmp(a->prop, b->prop);
    if (!c)
        c = (a->order > b->order) - (a->order < b->order);
    return c;
}

/* Reads a whole small file (os.ReadFile); NULL if unreadable. */
static const char *hw_read_name(struct plg_collect *c, const char *dir, char *buf, size_t cap,
                                long *len)
{
    char path[PATH_MAX];
    if (!cn_path_join(path, sizeof(path), dir, "name", NULL))
        return NULL;
    *len = plg_read(c, path, buf, cap);
    return *len < 0 ? NULL : buf;
}

/* node_exporter's hwmonName; 0 or a negative errno. */
static int hw_chip_name(struct plg_collect *c, const char *dir, char *out, size_t cap)
{
    char path[PATH_MAX], real[PATH_MAX], buf[256];
    if (cn_path_join(path, sizeof(path), dir, "device", NULL) && realpath(path, real)) {
        char *slash = strrchr(real, '/');
        const char *dev = slash ? slash + 1 : real;
        char name[NAME_MAX + 1], type[NAME_MAX + 1] = "";
        hw_clean(dev, strlen(dev), name, sizeof(name));
        if (slash) {
            *slash = '\0';
            char *p = strrchr(real, '/');
            const char *t = p ? p + 1 : real;
            hw_clean(t, strlen(t), type, sizeof(type));
        }
        if (*type && *name) {
            snprintf(out, cap, "%s_%s", type, name);
            return 0;
        }
        if (*name) {
            snprintf(out, cap, "%s", name);
            return 0;
        }
    }
    long len;
    if (hw_read_name(c, dir, buf, sizeof(buf), &len) && len > 0) {
        hw_clean(buf, (size_t)len, out, cap);
        if (*out)
            return 0;
    }
    if (!realpath(dir, real))
        return -errno;
    const char *slash = strrchr(real, '/');
    const char *base = slash ? slash + 1 : real;
    hw_clean(base, strlen(base), out, cap);
    return *out ? 0 : -EINVAL;
}

/* ---- exporting ------------------------------------------------------------
 */

static void hw_emit(struct plg_collect *c, const char *name, const char *help, enum exp_type t,
                    double v, const char *chip, const char *sensor)
{
    struct exp_family *f = exp_family(c->b, name, help, t);
    exp_add(c->b, f, v, 2, "chip", chip, "sensor", sensor);
}

/* Exports one sensor: attrs[0..n) share the sensor name, sorted by prop. */
static void hw_sensor(struct plg_collect *c, const char *chip, const struct hw_attr *attrs,
                      size_t n)
{
    const char *sensor = attrs[0].sensor;
    const struct hw_attr *bare = NULL;
    char name[NAME_MAX + 64], help[NAME_MAX + 160], clean[NAME_MAX + 1], type[32];
    for (size_t i = 0; i < n; i++) {
        if (strcmp(attrs[i].prop, "label") == 0) {
            char label[3 * sizeof(attrs[i].value)];
            plg_valid_utf8(attrs[i].value, label, sizeof(label));
            struct exp_family *f = exp_family(c->b, "node_hwmon_sensor_label",
                                              "Label for given chip and sensor", EXP_GAUGE);
            exp_add(c->b, f, 1.0, 3, "chip", chip, "sensor", sensor, "label", label);
        }
        if (attrs[i].prop[0] == '\0')
            bare = &attrs[i];
    }
    size_t typelen = strcspn(sensor, "0123456789");
    snprintf(type, sizeof(type), "%.*s", (int)typelen, sensor);
    double v;
    if (strcmp(type, "beep_enable") == 0) {
        hw_emit(c, "node_hwmon_beep_enabled", "Hardware beep enabled", EXP_GAUGE,
                bare && strcmp(bare->value, "1") == 0 ? 1.0 : 0.0, chip, sensor);
        return;
    }
    if (strcmp(type, "vrm") == 0) {
        if (hw_parse_float(bare ? bare->value : "", &v))
            hw_emit(c, "node_hwmon_voltage_regulator_version", "Hardware voltage regulator",
                    EXP_GAUGE, v, chip, sensor);
        return;
    }
    if (strcmp(type, "update_interval") == 0) {
        if (hw_parse_float(bare ? bare->value : "", &v))
            hw_emit(c, "node_hwmon_update_interval_seconds", "Hardware monitor update interval",
                    EXP_GAUGE, v * 0.001, chip, sensor);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *el = attrs[i].prop;
        if (strcmp(el, "label") == 0)
            continue;
        if (strcmp(el, "input") == 0) {
            snprintf(name, sizeof(name), "node_hwmon_%s%s", type, bare ? "_input" : "");
        } else if (*el) {
            hw_clean(el, strlen(el), clean, sizeof(clean));
            snprintf(name, sizeof(name), "node_hwmon_%s_%s", type, clean);
        } else {
            snprintf(name, sizeof(name), "node_hwmon_%s", type);
        }
        if (!hw_parse_float(attrs[i].value, &v))
            continue;
        size_t nl = strlen(name);
        if (strcmp(el, "fault") == 0 || strcmp(el, "alarm") == 0) {
            snprintf(help, sizeof(help), "Hardware sensor %s status (%s)", el, type);
            hw_emit(c, name, help, EXP_GAUGE, v, chip, sensor);
        } else if (strcmp(el, "beep") == 0) {
            snprintf(name + nl, sizeof(name) - nl, "_enabled");
            hw_emit(c, name, "Hardware monitor sensor has beeping enabled", EXP_GAUGE, v, chip,
                    sensor);
        } else if (strcmp(type, "in") == 0 || strcmp(type, "cpu") == 0) {
            snprintf(name + nl, sizeof(name) - nl, "_volts");
            snprintf(help, sizeof(help), "Hardware monitor for voltage (%s)", el);
            hw_emit(c, name, help, EXP_GAUGE, v * 0.001, chip, sensor);
        } else if (strcmp(type, "temp") == 0 && strcmp(el, "type") != 0) {
            snprintf(name + nl, sizeof(name) - nl, "_celsius");
            snprintf(help, sizeof(help), "Hardware monitor for temperature (%s)",
                     *el ? el : "input");
            hw_emit(c, name, help, EXP_GAUGE, v * 0.001, chip, sensor);
        } else if (strcmp(type, "curr") == 0) {
            snprintf(name + nl, sizeof(name) - nl, "_amps");
            snprintf(help, sizeof(help), "Hardware monitor for current (%s)", el);
            hw_emit(c, name, help, EXP_GAUGE, v * 0.001, chip, sensor);
        } else if (strcmp(type, "energy") == 0) {
            snprintf(name + nl, sizeof(name) - nl, "_joule_total");
            snprintf(help, sizeof(help), "Hardware monitor for joules used so far (%s)", el);
            hw_emit(c, name, help, EXP_COUNTER, v / 1000000.0, chip, sensor);
        } else if (strcmp(type, "power") == 0 && strcmp(el, "accuracy") == 0) {
            hw_emit(c, name, "Hardware monitor power meter accuracy, as a ratio", EXP_GAUGE,
                    v / 1000000.0, chip, sensor);
        } else if (strcmp(type, "power") == 0 && (strcmp(el, "average_interval") == 0 ||
                                                  strcmp(el, "average_interval_min") == 0 ||
                                                  strcmp(el, "average_interval_max") == 0)) {
            snprintf(name + nl, sizeof(name) - nl, "_seconds");
            snprintf(help, sizeof(help), "Hardware monitor power usage update interval (%s)", el);
            hw_emit(c, name, help, EXP_GAUGE, v * 0.001, chip, sensor);
        } else if (strcmp(type, "power") == 0) {
            snprintf(name + nl, sizeof(name) - nl, "_watt");
            snprintf(help, sizeof(help), "Hardware monitor for power usage in watts (%s)", el);
            hw_emit(c, name, help, EXP_GAUGE, v / 1000000.0, chip, sensor);
        } else if (strcmp(type, "humidity") == 0) {
            snprintf(help, sizeof(help),
                     "Hardware monitor for humidity, as a ratio (multiply with 100.0 "
                     "to get the "
                     "humidity as a percentage) (%s)",
                     el);
            hw_emit(c, name, help, EXP_GAUGE, v / 1000000.0, chip, sensor);
        } else if (strcmp(type, "fan") == 0 &&
                   (strcmp(el, "input") == 0 || strcmp(el, "min") == 0 || strcmp(el, "max") == 0 ||
                    strcmp(el, "target") == 0)) {
            snprintf(name + nl, sizeof(name) - nl, "_rpm");
            snprintf(help, sizeof(help), "Hardware monitor for fan revolutions per minute (%s)",
                     el);
            hw_emit(c, name, help, EXP_GAUGE, v, chip, sensor);
        } else {
            snprintf(help, sizeof(help), "Hardware monitor %s element %s", type, el);
            hw_emit(c, name, help, EXP_GAUGE, v, chip, sensor);
        }
    }
}

/* One chip directory. Errors are remembered in st (the last one wins, as in
 * node_exporter); only -ENOMEM is returned. */
static int hw_chip(struct hw_state *st, struct plg_collect *c, const char *dir)
{
    char chip[2 * NAME_MAX + 2], path[PATH_MAX], buf[256];
    int rc = hw_chip_name(c, dir, chip, sizeof(chip));
    if (rc) {
        hw_seterr(st, rc, "could not derive a monitoring name for", dir);
        return 0;
    }
    st->n = 0;
    if ((rc = hw_scan(st, c, dir, 0))) {
        hw_seterr(st, rc, "couldn't read directory", dir);
        return rc == -ENOMEM ? rc : 0;
    }
    struct stat sb;
    if (cn_path_join(path, sizeof(path), dir, "device", NULL) && stat(path, &sb) == 0 &&
        (rc = hw_scan(st, c, path, 1))) {
        hw_seterr(st, rc, "couldn't read directory", path);
        return rc == -ENOMEM ? rc : 0;
    }
    long len;
    if (hw_read_name(c, dir, buf, sizeof(buf), &len) && len > 0) {
        char human[256];
        hw_clean(buf, (size_t)len, human, sizeof(human));
        if (*human) {
            struct exp_family *f =
                exp_family(c->b, "node_hwmon_chip_names",
                           "Annotation metric for human-readable chip names", EXP_GAUGE);
            exp_add(c->b, f, 1.0, 2, "chip", chip, "chip_name", human);
        }
    }
    if (st->n > 1)
        qsort(st->attrs, st->n, sizeof(*st->attrs), hw_cmp);
    /* Keep the last of equal (sensor, prop) pairs. */
    size_t w = 0;
    for (size_t i = 0; i < st->n; i++) {
        if (i + 1 < st->n && strcmp(st->attrs[i].sensor, st->attrs[i + 1].sensor) == 0 &&
            strcmp(st->attrs[i].prop, st->attrs[i + 1].prop) == 0)
            continue;
        if (w != i)
            st->attrs[w] = st->attrs[i];
        w++;
    }
    st->n = w;
    for (size_t i = 0; i < st->n;) {
        size_t j = i + 1;
        while (j < st->n && strcmp(st->attrs[j].sensor, st->attrs[i].sensor) == 0)
            j++;
        hw_sensor(c, chip, &st->attrs[i], j - i);
        i = j;
    }
    return 0;
}

static int hwmon_init(const struct plg_config *cfg, void **state)
{
    (void)cfg;
    *state = cn_calloc(1, sizeof(struct hw_state));
    return *state ? 0 : -ENOMEM;
}

static void hwmon_destroy(void *state)
{
    struct hw_state *st = state;
    if (!st)
        return;
    free(st->attrs);
    free(st);
}

static int hwmon_collect(void *state, struct plg_collect *c)
{
    struct hw_state *st = state;
    char base[PATH_MAX], dir[PATH_MAX];
    if (!plg_sys(base, c->paths, "class/hwmon"))
        return plg_fail(c, -ENAMETOOLONG, "sysfs path too long");
    char **names;
    int n = plg_dir_list(base, &names);
    if (n == -ENOENT)
        return plg_nodata(c, "no %s: hwmon metrics are not available on this system", base);
    if (n < 0)
        return plg_fail(c, n, "couldn't read %s: %s", base, strerror(-n));
    st->errcode = 0;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        struct stat sb;
        /* Links to chip directories are followed; dangling links and plain
         * files are skipped. */
        if (!cn_path_join(dir, sizeof(dir), base, names[i], NULL) || stat(dir, &sb) != 0 ||
            !S_ISDIR(sb.st_mode))
            continue;
        rc = hw_chip(st, c, dir);
    }
    plg_dir_free(names, n);
    if (rc)
        return plg_fail(c, rc, "out of memory");
    if (st->errcode)
        return plg_fail(c, st->errcode, "%s %s: %s", st->errwhat, st->errpath,
                        strerror(-st->errcode));
    return 0;
}

const struct plg_collector plg_collector_hwmon = {
    .name = "hwmon",
    .default_enabled = true,
    .init = hwmon_init,
    .collect = hwmon_collect,
    .destroy = hwmon_destroy,
};
