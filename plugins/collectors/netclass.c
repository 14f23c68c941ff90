/*
 * netclass: network interface properties from <sysfs>/class/net/<iface>/,
 * node_exporter 1.5's netclass collector (its default sysfs mode, as
 * prometheus/procfs's sysfs.NetClass reads it).
 *
 * Per interface: node_network_info{device,address,broadcast,duplex,operstate,
 * ifalias} 1, node_network_up (operstate == "up"), and one gauge (or counter,
 * for the carrier change counts) per numeric attribute, HELP "Network device
 * property: <name>". An attribute that is absent, not permitted, or that the
 * driver refuses to report (EINVAL, EOPNOTSUPP: speed and duplex of virtual
 * devices, carrier of a device that is down) is skipped, and a string
 * attribute reads as "". speed is Mbit/s, exported in bytes/s as
 * speed*1000*1000/8 (so -1, "unknown", gives -125000 unless
 * ignore-invalid-speed). Values are read as procfs's SysReadFile does: one
 * read of at most 128 bytes, surrounding white space trimmed; numbers are Go
 * ParseInt base 0 (flags is "0x1003").
 *
 * Entries of class/net that are regular files (bonding_masters) are not
 * interfaces. ignored-devices (default "^$") drops interfaces whose name it
 * matches anywhere, as Go's MatchString; an empty pattern matches every name.
 *
 * Failures: class/net missing or not readable is "no data", as in
 * node_exporter; any other read error, or a numeric attribute that does not
 * parse, fails the collector with a message naming the file (node_exporter
 * would silently drop an unparseable value; the kernel never writes one).
 *
 * Cost: 22 small files per interface. Opening a sysfs file costs several
 * times what reading it does, so the files of up to 16 interfaces stay open
 * and are re-read with pread at offset 0 (sysfs regenerates the value on
 * every such read), within a budget of an eighth of RLIMIT_NOFILE. A cached
 * interface is keyed by name and the inode of its class/net entry, which
 * changes when the interface is renamed or re-created; reads failing with
 * ENODEV (interface deleted) drop the entry; entries of interfaces no longer
 * listed are closed at the end of the cycle. Interfaces beyond the budget are
 * read with open/read/close relative to their directory. No allocation
 * besides the builder's.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define NETCLASS_READ_MAX PLG_SYSFS_MAX /* procfs util.SysReadFile's buffer */

enum netclass_opt { OPT_IGNORED, OPT_INVALID_SPEED };

static const struct plg_option netclass_options[] = {
    [OPT_IGNORED] = {"ignored-devices", "^$",
                     "Regexp of net devices to ignore for netclass collector."},
    [OPT_INVALID_SPEED] = {"ignore-invalid-speed", "false",
                           "Ignore devices where the speed is invalid. This will be the default "
                           "behavior in 2.x."},
    {NULL, NULL, NULL},
};

/* Numeric attributes: sysfs file, metric suffix, type. */
struct netclass_attr {
    const char *file;
    const char *metric;
    enum exp_type type;
};

enum { ATTR_SPEED = 14 };

static const struct netclass_attr netclass_attrs[] = {
    {"addr_assign_type", "address_assign_type", EXP_GAUGE},
    {"carrier", "carrier", EXP_GAUGE},
    {"carrier_changes", "carrier_changes_total", EXP_COUNTER},
    {"carrier_up_count", "carrier_up_changes_total", EXP_COUNTER},
    {"carrier_down_count", "carrier_down_changes_total", EXP_COUNTER},
    {"dev_id", "device_id", EXP_GAUGE},
    {"dormant", "dormant", EXP_GAUGE},
    {"flags", "flags", EXP_GAUGE},
    {"ifindex", "iface_id", EXP_GAUGE},
    {"iflink", "iface_link", EXP_GAUGE},
    {"link_mode", "iface_link_mode", EXP_GAUGE},
    {"mtu", "mtu_bytes", EXP_GAUGE},
    {"name_assign_type", "name_assign_type", EXP_GAUGE},
    {"netdev_group", "net_dev_group", EXP_GAUGE},
    [ATTR_SPEED] = {"speed", "speed_bytes", EXP_GAUGE},
    {"tx_queue_len", "transmit_queue_length", EXP_GAUGE},
    {"type", "protocol_type", EXP_GAUGE},
};
#define NETCLASS_NATTRS ((int)(sizeof(netclass_attrs) / sizeof(netclass_attrs[0])))

/* String attributes, in node_network_info's label order. */
enum { STR_ADDRESS, STR_BROADCAST, STR_DUPLEX, STR_OPERSTATE, STR_IFALIAS, NETCLASS_NSTRS };
static const char *const netclass_strs[NETCLASS_NSTRS] = {"address", "broadcast", "duplex",
                                                          "operstate", "ifalias"};
static const char *const netclass_info_labels[1 + NETCLASS_NSTRS] = {
    "device", "address", "broadcast", "duplex", "operstate", "ifalias"};

/* The files read per interface: the numeric attributes, then the strings. */
#define NETCLASS_NFILES (NETCLASS_NATTRS + NETCLASS_NSTRS)
#define NETCLASS_CACHE_SLOTS 16 /* interfaces whose attribute fds are kept open */
#define NETCLASS_FD_ABSENT (-2) /* the attribute could not be opened: skipped */

/* An interface whose attribute files stay open between cycles. */
struct netclass_cached {
    char name[32]; /* "" for a free slot */
    ino_t ino;     /* inode of its class/net entry: a rename or re-creation changes it */
    bool seen;     /* listed in this cycle */
    int fd[NETCLASS_NFILES];
};

struct netclass_state {
    struct plg_filter *ignored;
    bool ignore_all; /* ignored-devices is "": Go's empty regexp matches everything */
    bool ignore_invalid_speed;
    int fd_budget, fds_open;
    struct netclass_cached cache[NETCLASS_CACHE_SLOTS];
};

/* One interface's attributes, read before anything is emitted. */
struct netclass_values {
    char str[NETCLASS_NSTRS][NETCLASS_READ_MAX + 1]; /* "" when unreadable */
    int64_t num[NETCLASS_NATTRS];
    bool have[NETCLASS_NATTRS];
};

/* The families of one cycle, created on first use. */
struct netclass_fams {
    struct exp_family *up, *info, *attr[NETCLASS_NATTRS];
};

static const char *netclass_file(int i)
{
    return i < NETCLASS_NATTRS ? netclass_attrs[i].file : netclass_strs[i - NETCLASS_NATTRS];
}

static void netclass_evict(struct netclass_state *s, struct netclass_cached *e)
{
    for (int i = 0; i < NETCLASS_NFILES; i++) {
        if (e->fd[i] >= 0) {
            close(e->fd[i]);
            s->fds_open--;
        }
        e->fd[i] = NETCLASS_FD_ABSENT;
    }
    e->name[0] = '\0';
    e->seen = false;
}

static void netclass_destroy(void *state)
{
    struct netclass_state *s = state;
    if (!s)
        return;
    for (int i = 0; i < NETCLASS_CACHE_SLOTS; i++)
        if (s->cache[i].name[0])
            netclass_evict(s, &s->cache[i]);
    plg_filter_destroy(s->ignored);
    free(s);
}

static int netclass_init(const struct plg_config *cfg, void **state)
{
    struct netclass_state *s = cn_calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    int rc = plg_config_bool(cfg, "ignore-invalid-speed", &s->ignore_invalid_speed);
    const char *pat = plg_config_get(cfg, "ignored-devices");
    s->ignore_all = pat && !*pat;
    if (!rc && !s->ignore_all) {
        char err[256] = "";
        rc = plg_filter_create(NULL, pat, &s->ignored, err, sizeof(err));
        if (rc)
            cn_log(CN_LOG_ERROR, "netclass", "invalid ignored-devices", "err", err, NULL);
    }
    if (rc) {
        netclass_destroy(s);
        return rc;
    }
    /* Keep at most an eighth of the fd limit open, and no more than the
     * cache slots hold. */
    s->fd_budget = NETCLASS_CACHE_SLOTS * NETCLASS_NFILES;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / 8 < (rlim_t)s->fd_budget)
        s->fd_budget = (int)(rl.rlim_cur / 8);
    *state = s;
    return 0;
}

/* Errors after which node_exporter skips an attribute rather than failing. */
static bool netclass_skippable(int e)
{
    return e == ENOENT || e == EACCES || e == EPERM || e == EOPNOTSUPP || e == EINVAL;
}

/*
 * Reads an open attribute from offset 0 (sysfs regenerates the value on
 * every read at offset 0) into buf (NETCLASS_READ_MAX + 1 bytes), trimmed.
 * Returns the length, -ENODATA when the attribute is to be skipped, -ENODEV
 * when the interface is gone, or another negative errno.
 */
static long netclass_pread(int fd, char *buf)
{
    long n = plg_sysfs_pread(fd, buf, PLG_SPACE);
    return n < 0 && netclass_skippable((int)-n) ? -ENODATA : n;
}

/* As netclass_pread, opening the attribute relative to the interface
 * directory dfd and closing it again. */
static long netclass_read_at(int dfd, const char *name, char *buf)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == EACCES || errno == EPERM ? -ENODATA : -errno;
    long n = netclass_pread(fd, buf);
    close(fd);
    return n;
}

/*
 * Reads one interface's attributes, through the cached fds when fds is set,
 * else relative to its directory dfd. Returns 0, -ENODEV when the interface
 * disappeared meanwhile (nothing recorded), or plg_fail's result.
 */
static int netclass_read_iface(struct plg_collect *c, const int *fds, int dfd, const char *dir,
                               const char *dev, struct netclass_values *v)
{
    char buf[NETCLASS_READ_MAX + 1];
    for (int i = 0; i < NETCLASS_NFILES; i++) {
        bool is_str = i >= NETCLASS_NATTRS;
        char *out = is_str ? v->str[i - NETCLASS_NATTRS] : buf;
        long n;
        if (fds)
            n = fds[i] == NETCLASS_FD_ABSENT ? -ENODATA : netclass_pread(fds[i], out);
        else
            n = netclass_read_at(dfd, netclass_file(i), out);
        if (n == -ENODEV)
            return -ENODEV;
        if (n == -ENODATA) {
            out[0] = '\0';
            if (!is_str)
                v->have[i] = false;
            continue;
        }
        if (n < 0)
            return plg_fail(c, (int)n, "failed to read file %s/%s/%s: %s", dir, dev,
                            netclass_file(i), strerror((int)-n));
        if (is_str)
            continue;
        if (plg_parse_int(buf, (size_t)n, 0, 64, &v->num[i])) /* Go's ParseInt(s, 0, 64) */
            return plg_fail(c, -EINVAL, "invalid value \"%s\" in %s/%s/%s", buf, dir, dev,
                            netclass_file(i));
        v->have[i] = true;
    }
    return 0;
}

static void netclass_emit(const struct netclass_state *s, struct plg_collect *c,
                          struct netclass_fams *f, const char *dev, const struct netclass_values *v)
{
    if (!f->up)
        f->up = exp_family(c->b, "node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.",
                           EXP_GAUGE);
    exp_add(c->b, f->up, strcmp(v->str[STR_OPERSTATE], "up") == 0 ? 1.0 : 0.0, 1, "device", dev);
    if (!f->info)
        f->info = exp_family(c->b, "node_network_info",
                             "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
                             EXP_GAUGE);
    const char *values[1 + NETCLASS_NSTRS] = {dev,
                                              v->str[STR_ADDRESS],
                                              v->str[STR_BROADCAST],
                                              v->str[STR_DUPLEX],
                                              v->str[STR_OPERSTATE],
                                              v->str[STR_IFALIAS]};
    exp_addv(c->b, f->info, 1.0, 1 + NETCLASS_NSTRS, netclass_info_labels, values);

    for (int i = 0; i < NETCLASS_NATTRS; i++) {
        if (!v->have[i])
            continue;
        const struct netclass_attr *a = &netclass_attrs[i];
        double value = (double)v->num[i];
        if (i == ATTR_SPEED) {
            /* Some devices report -1 when the speed is unknown. */
            if (v->num[i] < 0 && s->ignore_invalid_speed)
                continue;
            /* Go's int64 arithmetic: speed * 1000 * 1000 / 8, wrapping. */
            value = (double)((int64_t)((uint64_t)v->num[i] * 1000000u) / 8);
        }
        if (!f->attr[i]) {
            char name[64], help[80];
            snprintf(name, sizeof(name), "node_network_%s", a->metric);
            snprintf(help, sizeof(help), "Network device property: %s", a->metric);
            f->attr[i] = exp_family(c->b, name, help, a->type);
        }
        exp_add(c->b, f->attr[i], value, 1, "device", dev);
    }
}

/* Opens all attribute files of the interface directory dfd into e. 0, or a
 * negative errno (EMFILE, ...) with nothing left open. */
static int netclass_cache_open(struct netclass_state *s, struct netclass_cached *e, int dfd)
{
    int opened = 0;
    for (int i = 0; i < NETCLASS_NFILES; i++) {
        e->fd[i] = openat(dfd, netclass_file(i), O_RDONLY | O_CLOEXEC);
        if (e->fd[i] >= 0) {
            opened++;
            continue;
        }
        int err = errno;
        e->fd[i] = NETCLASS_FD_ABSENT;
        if (err == ENOENT || err == EACCES || err == EPERM)
            continue;
        for (int k = 0; k < i; k++)
            if (e->fd[k] >= 0)
                close(e->fd[k]);
        return -err;
    }
    s->fds_open += opened;
    return 0;
}

static struct netclass_cached *netclass_lookup(struct netclass_state *s, const char *dev)
{
    for (int i = 0; i < NETCLASS_CACHE_SLOTS; i++)
        if (s->cache[i].name[0] && strcmp(s->cache[i].name, dev) == 0)
            return &s->cache[i];
    return NULL;
}

/* A free slot for dev if the fd budget allows one more interface. */
static struct netclass_cached *netclass_free_slot(struct netclass_state *s, const char *dev)
{
    if (s->fds_open + NETCLASS_NFILES > s->fd_budget || strlen(dev) >= sizeof(s->cache[0].name))
        return NULL;
    for (int i = 0; i < NETCLASS_CACHE_SLOTS; i++)
        if (!s->cache[i].name[0])
            return &s->cache[i];
    return NULL;
}

/* Reads one interface (cached fds when possible), then emits it. 0, or a
 * failure; an interface that vanished meanwhile is skipped. */
static int netclass_iface(struct netclass_state *s, struct plg_collect *c, struct netclass_fams *f,
                          DIR *d, const struct dirent *ent, const char *dir)
{
    const char *dev = ent->d_name;
    struct netclass_values v;
    int rc = -ENODEV;
    struct netclass_cached *e = netclass_lookup(s, dev);
    if (e && e->ino != ent->d_ino) {
        netclass_evict(s, e); /* renamed or re-created: other files now */
        e = NULL;
    }
    if (e) {
        e->seen = true;
        rc = netclass_read_iface(c, e->fd, -1, dir, dev, &v);
        if (rc == -ENODEV)
            netclass_evict(s, e);
    }
    if (rc == -ENODEV) {
        int dfd = openat(dirfd(d), dev, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            int err = errno;
            if (err == ENOENT)
                return 0; /* interface removed meanwhile */
            return plg_fail(c, -err, "cannot access dir %s/%s: %s", dir, dev, strerror(err));
        }
        e = netclass_free_slot(s, dev);
        if (e && netclass_cache_open(s, e, dfd) == 0) {
            /* Interface names fit (IFNAMSIZ is 16); cut anything longer. */
            size_t n = strnlen(dev, sizeof(e->name) - 1);
            memcpy(e->name, dev, n);
            e->name[n] = '\0';
            e->ino = ent->d_ino;
            e->seen = true;
            rc = netclass_read_iface(c, e->fd, -1, dir, dev, &v);
            if (rc == -ENODEV)
                netclass_evict(s, e);
        } else {
            rc = netclass_read_iface(c, NULL, dfd, dir, dev, &v);
        }
        close(dfd);
        if (rc == -ENODEV)
            return 0;
    }
    if (rc)
        return rc;
    netclass_emit(s, c, f, dev, &v);
    return 0;
}

static int netclass_collect(void *state, struct plg_collect *c)
{
    struct netclass_state *s = state;
    char dir[PATH_MAX];
    if (!plg_sys(dir, c->paths, "class/net"))
        return plg_fail(c, -ENAMETOOLONG, "path too long for class/net");
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        if (e == ENOENT || e == EACCES || e == EPERM)
            return plg_nodata(c, "could not read netclass dir %s: %s", dir, strerror(e));
        return plg_fail(c, -e, "cannot access dir %s: %s", dir, strerror(e));
    }
    struct netclass_fams f = {0};
    int rc = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        const char *dev = ent->d_name;
        if (!strcmp(dev, ".") || !strcmp(dev, ".."))
            continue;
        unsigned char type = ent->d_type;
        if (type == DT_UNKNOWN) {
            struct stat st;
            if (fstatat(dirfd(d), dev, &st, AT_SYMLINK_NOFOLLOW) < 0)
                continue; /* gone meanwhile */
            type = S_ISREG(st.st_mode) ? DT_REG : DT_DIR;
        }
        if (type == DT_REG) /* bonding_masters */
            continue;
        if (s->ignore_all || plg_filter_ignored(s->ignored, dev))
            continue;
        rc = netclass_iface(s, c, &f, d, ent, dir);
        if (rc)
            break;
    }
    closedir(d);
    /* Close the files of interfaces that are gone (or ignored now). */
    for (int i = 0; i < NETCLASS_CACHE_SLOTS; i++) {
        struct netclass_cached *e = &s->cache[i];
        if (e->name[0] && !e->seen && !rc)
            netclass_evict(s, e);
        e->seen = false;
    }
    return rc;
}

const struct plg_collector plg_collector_netclass = {
    .name = "netclass",
    .default_enabled = true,
    .options = netclass_options,
    .init = netclass_init,
    .collect = netclass_collect,
    .destroy = netclass_destroy,
};
