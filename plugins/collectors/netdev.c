/*
 * netdev: per-interface traffic counters as node_network_<stat>_total
 * (counters, label device), node_exporter 1.5's netdev collector.
 *
 * node_exporter 1.5 gets the counters over rtnetlink by default
 * (--collector.netdev.netlink=true) and renames them to /proc/net/dev's
 * "legacy" names, folding the detailed error counters the way the kernel
 * does for /proc/net/dev; the result equals /proc/net/dev's sixteen columns
 * plus receive_nohandler. cairn reads <procfs>/net/dev (one file for all
 * interfaces, so every path stays under --path.procfs and fixtures can stand
 * in for the kernel) and, in netlink mode, adds receive_nohandler from
 * <sysfs>/class/net/<dev>/statistics/rx_nohandler, the same kernel counter
 * netlink reports (skipped when that file is absent). With netlink=false the
 * series are /proc/net/dev's sixteen columns alone, as node_exporter's
 * procfs path.
 *
 * enable-detailed-metrics keeps node_exporter's unfolded names: in netlink
 * mode the 24 counters of struct rtnl_link_stats64 (read from sysfs
 * statistics/, one file each, so only when asked for), in procfs mode the
 * sixteen columns with receive_errors/receive_dropped/transmit_errors/
 * transmit_dropped instead of the _errs and _drop names.
 *
 * Filters: device-include / device-exclude (mutually exclusive). Debian's
 * node_exporter 1.5.0, the reference, defaults device-exclude to "^lo$";
 * setting device-include while device-exclude keeps its default drops the
 * default (node_exporter refuses to start there); both set explicitly is an
 * init error, as in node_exporter.
 *
 * address-info adds node_network_address_info{device,address,netmask,scope}
 * for every address of every interface (getifaddrs, like Go's
 * net.Interfaces; this one reads the live kernel, not --path.procfs, as
 * node_exporter does).
 *
 * Cost: /proc/net/dev is read into a buffer kept in the state and parsed in
 * place; families are created once per cycle; one small sysfs read per device
 * for rx_nohandler.
 */
#include "plugins/plugins.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define NETDEV_MAX_FILE (64u << 20)
#define NETDEV_COLUMNS 16

enum { OPT_INCLUDE, OPT_EXCLUDE, OPT_ADDRESS_INFO, OPT_DETAILED, OPT_NETLINK };

static const struct plg_option netdev_options[] = {
    [OPT_INCLUDE] = {"device-include", NULL,
                     "Regexp of net devices to include (mutually exclusive to "
                     "device-exclude)."},
    [OPT_EXCLUDE] = {"device-exclude", "^lo$",
                     "Regexp of net devices to exclude (mutually exclusive to "
                     "device-include)."},
    [OPT_ADDRESS_INFO] = {"address-info", "false", "Collect address-info for every device"},
    [OPT_DETAILED] = {"enable-detailed-metrics", "false",
                      "Use (incompatible) metric names that provide more "
                      "detailed stats on Linux"},
    [OPT_NETLINK] = {"netlink", "true",
                     "Export the statistics node_exporter gathers over netlink (adds "
                     "receive_nohandler from sysfs) instead of /proc/net/dev's alone."},
    {NULL, NULL, NULL},
};

/* /proc/net/dev's columns: legacy names, and the names node_exporter's
 * procfs path uses with enable-detailed-metrics. */
static const char *const netdev_legacy[NETDEV_COLUMNS] = {
    "receive_bytes",  "receive_packets",  "receive_errs",       "receive_drop",
    "receive_fifo",   "receive_frame",    "receive_compressed", "receive_multicast",
    "transmit_bytes", "transmit_packets", "transmit_errs",      "transmit_drop",
    "transmit_fifo",  "transmit_colls",   "transmit_carrier",   "transmit_compressed",
};
static const char *const netdev_proc_detailed[NETDEV_COLUMNS] = {
    "receive_bytes",  "receive_packets",  "receive_errors",     "receive_dropped",
    "receive_fifo",   "receive_frame",    "receive_compressed", "receive_multicast",
    "transmit_bytes", "transmit_packets", "transmit_errors",    "transmit_dropped",
    "transmit_fifo",  "transmit_colls",   "transmit_carrier",   "transmit_compressed",
};

/* rtnl_link_stats64 as node_exporter names it, and the sysfs file of each. */
#define NETDEV_LINK_STATS 24
static const char *const netdev_link_names[NETDEV_LINK_STATS][2] = {
    {"receive_packets", "rx_packets"},
    {"transmit_packets", "tx_packets"},
    {"receive_bytes", "rx_bytes"},
    {"transmit_bytes", "tx_bytes"},
    {"receive_errors", "rx_errors"},
    {"transmit_errors", "tx_errors"},
    {"receive_dropped", "rx_dropped"},
    {"transmit_dropped", "tx_dropped"},
    {"multicast", "multicast"},
    {"collisions", "collisions"},
    {"receive_length_errors", "rx_length_errors"},
    {"receive_over_errors", "rx_over_errors"},
    {"receive_crc_errors", "rx_crc_errors"},
    {"receive_frame_errors", "rx_frame_errors"},
    {"receive_fifo_errors", "rx_fifo_errors"},
    {"receive_missed_errors", "rx_missed_errors"},
    {"transmit_aborted_errors", "tx_aborted_errors"},
    {"transmit_carrier_errors", "tx_carrier_errors"},
    {"transmit_fifo_errors", "tx_fifo_errors"},
    {"transmit_heartbeat_errors", "tx_heartbeat_errors"},
    {"transmit_window_errors", "tx_window_errors"},
    {"receive_compressed", "rx_compressed"},
    {"transmit_compressed", "tx_compressed"},
    {"receive_nohandler", "rx_nohandler"},
};

struct netdev_state {
    struct plg_filter *filter;
    bool address_info, detailed, netlink;
    struct cn_buf buf;
};

static void netdev_destroy(void *state)
{
    struct netdev_state *s = state;
    if (!s)
        return;
    plg_filter_destroy(s->filter);
    cn_buf_free(&s->buf);
    free(s);
}

static const uint8_t netdev_loop6[16] = {[15] = 1};
static const uint8_t netdev_zero6[16] = {0};
static const uint8_t netdev_v4mapped[12] = {[10] = 0xff, [11] = 0xff};

static int netdev_init(const struct plg_config *cfg, void **state)
{
    struct netdev_state *s = cn_calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    cn_buf_init(&s->buf);
    int rc = plg_config_bool(cfg, "address-info", &s->address_info);
    if (!rc)
        rc = plg_config_bool(cfg, "enable-detailed-metrics", &s->detailed);
    if (!rc)
        rc = plg_config_bool(cfg, "netlink", &s->netlink);
    const char *inc = plg_config_get(cfg, "device-include");
    const char *exc = plg_config_get(cfg, "device-exclude");
    if (!rc && inc && *inc && exc && *exc) {
        if (plg_config_explicit(cfg, "device-exclude")) {
            cn_log(CN_LOG_ERROR, "netdev", "device-exclude & device-include are mutually exclusive",
                   NULL);
            rc = -EINVAL;
        }
        exc = NULL; /* include given: the default exclude no longer applies */
    }
    if (!rc) {
        char err[256] = "";
        rc = plg_filter_create(inc, exc, &s->filter, err, sizeof(err));
        if (rc)
            cn_log(CN_LOG_ERROR, "netdev", "invalid device filter", "err", err, NULL);
    }
    if (rc) {
        netdev_destroy(s);
        return rc;
    }
    *state = s;
    return 0;
}

/* Go's strconv.ParseUint(s, 10, 64) on the word at *p (words separated by
 * white space); advances *p past it. 0, -EINVAL (no word, not a number),
 * -ERANGE. */
static int netdev_word_u64(char **p, uint64_t *out)
{
    size_t len;
    char *w = plg_next_field(p, &len);
    return w ? plg_parse_uint(w, len, 10, 64, out) : -EINVAL;
}

/* Reads the sysfs counter <sysfs>/class/net/<dev>/statistics/<name>
 * through c->files: 0, -EBADMSG when the content is not a number, or the
 * -errno of open/read (-ENAMETOOLONG for a path too long). */
static int netdev_read_stat(struct plg_collect *c, const char *dev, const char *name, uint64_t *out)
{
    char path[PATH_MAX], buf[PLG_SYSFS_MAX + 1];
    if (!plg_sys(path, c->paths, "class/net"))
        return -ENAMETOOLONG;
    size_t n = strlen(path);
    if (snprintf(path + n, sizeof(path) - n, "/%s/statistics/%s", dev, name) >=
        (int)(sizeof(path) - n))
        return -ENAMETOOLONG;
    long len = plg_sysfs_read(c, path, buf);
    if (len < 0)
        return (int)len;
    return plg_parse_uint(buf, (size_t)len, 10, 64, out) ? -EBADMSG : 0;
}

/* Netlink mode, detailed names: the 24 link counters from sysfs; absent
 * files are skipped. Each counter is its own file, kept open in c->files
 * (a path per file rather than openat() in the statistics directory: a
 * cached file costs a pread(), less than any open). */
static int netdev_link_stats(struct plg_collect *c, struct exp_family **fam, const char *dev)
{
    for (int i = 0; i < NETDEV_LINK_STATS; i++) {
        uint64_t v;
        int rc = netdev_read_stat(c, dev, netdev_link_names[i][1], &v);
        if (rc == -EBADMSG)
            return plg_fail(c, -EINVAL, "invalid value in %s/class/net/%s/statistics/%s",
                            c->paths->sysfs, dev, netdev_link_names[i][1]);
        if (rc)
            continue;
        if (!fam[i]) {
            char name[96], help[96];
            snprintf(name, sizeof(name), "node_network_%s_total", netdev_link_names[i][0]);
            snprintf(help, sizeof(help), "Network device statistic %s.", netdev_link_names[i][0]);
            fam[i] = exp_family(c->b, name, help, EXP_COUNTER);
        }
        exp_add(c->b, fam[i], (double)v, 1, "device", dev);
    }
    return 0;
}

/* Adds one /proc/net/dev-style series, creating its family on first use. */
static void netdev_emit(struct plg_collect *c, struct exp_family **fam, const char *key, uint64_t v,
                        const char *dev)
{
    if (!*fam) {
        char name[96], help[96];
        snprintf(name, sizeof(name), "node_network_%s_total", key);
        snprintf(help, sizeof(help), "Network device statistic %s.", key);
        *fam = exp_family(c->b, name, help, EXP_COUNTER);
    }
    exp_add(c->b, *fam, (double)v, 1, "device", dev);
}

/* ---- address-info
 * ---------------------------------------------------------------------- */

/* Go's net.IP scope as node_exporter's scope(): loopback and link-local
 * (unicast or multicast) are "link-local", ff01::/16 "interface-local",
 * other global unicast "global", the rest "". a is 4 or 16 bytes. */
static const char *netdev_scope(const uint8_t *a, size_t len)
{
    if (len == 4) {
        if (a[0] == 127 || (a[0] == 169 && a[1] == 254) || (a[0] == 224 && a[1] == 0 && a[2] == 0))
            return "link-local";
        if (a[0] >= 224 && a[0] < 240) /* multicast */
            return "";
        if ((a[0] | a[1] | a[2] | a[3]) == 0 || (a[0] & a[1] & a[2] & a[3]) == 255)
            return "";
        return "global";
    }
    if (!memcmp(a, netdev_loop6, 16) || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
        (a[0] == 0xff && (a[1] & 0x0f) == 0x02))
        return "link-local";
    if (a[0] == 0xff && (a[1] & 0x0f) == 0x01)
        return "interface-local";
    if (a[0] == 0xff || !memcmp(a, netdev_zero6, 16))
        return "";
    return "global";
}

static unsigned netdev_prefix(const uint8_t *m, size_t len)
{
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        if (m[i] == 0xff) {
            bits += 8;
            continue;
        }
        for (uint8_t b = m[i]; b & 0x80; b = (uint8_t)(b << 1))
            bits++;
        break;
    }
    return bits;
}

static int netdev_address_info(struct plg_collect *c)
{
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) < 0) {
        int e = errno;
        return plg_fail(c, -e, "could not get network interfaces: %s", strerror(e));
    }
    struct exp_family *f =
        exp_family(c->b, "node_network_address_info", "node network address by device", EXP_GAUGE);
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || !i->ifa_name)
            continue;
        const uint8_t *a, *m = NULL;
        size_t len;
        int family = i->ifa_addr->sa_family;
        if (family == AF_INET) {
            a = (const uint8_t *)&((const struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
            if (i->ifa_netmask)
                m = (const uint8_t *)&((const struct sockaddr_in *)(void *)i->ifa_netmask)
                        ->sin_addr;
            len = 4;
        } else if (family == AF_INET6) {
            a = ((const struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr.s6_addr;
            if (i->ifa_netmask)
                m = ((const struct sockaddr_in6 *)(void *)i->ifa_netmask)->sin6_addr.s6_addr;
            len = 16;
        } else {
            continue;
        }
        char addr[INET6_ADDRSTRLEN], mask[8];
        unsigned bits = m ? netdev_prefix(m, len) : 0;
        if (len == 16 && !memcmp(a, netdev_v4mapped, 12)) {
            /* Go prints and classifies IPv4-mapped addresses as IPv4. */
            a += 12;
            len = 4;
            family = AF_INET;
        }
        if (!inet_ntop(family, a, addr, sizeof(addr)))
            continue;
        snprintf(mask, sizeof(mask), "%u", bits);
        exp_add(c->b, f, 1, 4, "device", i->ifa_name, "address", addr, "netmask", mask, "scope",
                netdev_scope(a, len));
    }
    freeifaddrs(ifs);
    return 0;
}

/* ---- collect
 * ------------------------------------------------------------------------------
 */

static int netdev_collect(void *state, struct plg_collect *c)
{
    struct netdev_state *s = state;
    char path[PATH_MAX];
    if (!plg_proc(path, c->paths, "net/dev"))
        return plg_fail(c, -ENAMETOOLONG, "path too long for net/dev");
    int rc = plg_read_buf(c, path, &s->buf, NETDEV_MAX_FILE);
    if (rc)
        return plg_fail(c, rc, "couldn't get netstats: %s: %s", path, strerror(-rc));

    const char *const *names = s->detailed && !s->netlink ? netdev_proc_detailed : netdev_legacy;
    bool link_stats = s->detailed && s->netlink;
    struct exp_family *fam[NETDEV_LINK_STATS] = {0}; /* >= NETDEV_COLUMNS + 1 */
    char *p = s->buf.data, *end = s->buf.data + s->buf.len, *line;
    size_t len;
    for (int lineno = 1; (line = plg_next_line(&p, end, &len)); lineno++) {
        if (lineno <= 2)
            continue; /* the two header lines */
        char *colon = memrchr(line, ':', len);
        if (!colon)
            return plg_fail(c, -EINVAL, "invalid line %d in %s: missing colon", lineno, path);
        char *dev = line, *dend = colon;
        while (plg_is_space(*dev))
            dev++;
        while (dend > dev && plg_is_space(dend[-1]))
            dend--;
        if (dend == dev)
            return plg_fail(c, -EINVAL, "invalid line %d in %s: empty interface name", lineno,
                            path);
        *dend = '\0';
        uint64_t v[NETDEV_COLUMNS];
        char *q = colon + 1;
        for (int i = 0; i < NETDEV_COLUMNS; i++) {
            rc = netdev_word_u64(&q, &v[i]);
            if (rc)
                return plg_fail(c, rc, "invalid line %d in %s: bad or missing column %d for %s",
                                lineno, path, i + 1, dev);
        }
        if (plg_filter_ignored(s->filter, dev))
            continue;
        if (link_stats) {
            rc = netdev_link_stats(c, fam, dev);
            if (rc)
                return rc;
            continue;
        }
        for (int i = 0; i < NETDEV_COLUMNS; i++)
            netdev_emit(c, &fam[i], names[i], v[i], dev);
        if (s->netlink) {
            uint64_t nh;
            rc = netdev_read_stat(c, dev, "rx_nohandler", &nh);
            if (rc == -EBADMSG)
                return plg_fail(c, -EINVAL,
                                "invalid value in %s/class/net/%s/statistics/rx_nohandler",
                                c->paths->sysfs, dev);
            if (rc == 0)
                netdev_emit(c, &fam[NETDEV_COLUMNS], "receive_nohandler", nh, dev);
        }
    }
    if (s->address_info)
        return netdev_address_info(c);
    return 0;
}

const struct plg_collector plg_collector_netdev = {
    .name = "netdev",
    .default_enabled = true,
    .options = netdev_options,
    .init = netdev_init,
    .collect = netdev_collect,
    .destroy = netdev_destroy,
};
