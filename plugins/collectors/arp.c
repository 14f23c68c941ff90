/*
 * arp: <procfs>/net/arp -> node_arp_entries{device} (gauge), the number of
 * neighbour table entries per interface, as node_exporter 1.5's arp
 * collector.
 *
 * Every line, the header included, must have at least six blank-separated
 * columns, else the whole table is rejected ("unexpected ARP table
 * format"); lines whose first column is not "IP" (the header) count one
 * entry for the device in their last column.
 *
 * Options (node_exporter's --collector.arp.*): device-include and
 * device-exclude, regular expressions matched anywhere in the device name;
 * unset by default. An excluded device, or one the include pattern does not
 * match, is not exported.
 *
 * The table grows with the neighbours, so the file is read into a buffer
 * kept in the state; device names are counted in a small array (also kept
 * between cycles) pointing into that buffer, so a cycle allocates only when
 * a host has more devices or a larger table than ever before.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define ARP_FILE_MAX ((size_t)1 << 30)

struct arp_dev {
    char *name; /* in the read buffer; NUL-terminated before export */
    size_t len;
    double count;
};

struct arp_state {
    struct plg_filter *filter;
    struct cn_buf buf;
    struct arp_dev *devs;
    size_t cap;
};

static const struct plg_option arp_options[] = {
    {"device-include", NULL,
     "Regexp of arp devices to include (mutually exclusive to device-exclude)."},
    {"device-exclude", NULL,
     "Regexp of arp devices to exclude (mutually exclusive to device-include)."},
    {NULL, NULL, NULL},
};

static void arp_destroy(void *state)
{
    struct arp_state *s = state;
    if (!s)
        return;
    plg_filter_destroy(s->filter);
    cn_buf_free(&s->buf);
    free(s->devs);
    free(s);
}

static int arp_init(const struct plg_config *cfg, void **state)
{
    struct arp_state *s = cn_calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    cn_buf_init(&s->buf);
    char err[256];
    int rc = plg_filter_create(plg_config_get(cfg, "device-include"),
                               plg_config_get(cfg, "device-exclude"), &s->filter, err, sizeof(err));
    if (rc) {
        if (rc == -EINVAL)
            cn_log(CN_LOG_ERROR, "collector", "invalid device filter", "collector", "arp", "err",
                   err, NULL);
        arp_destroy(s);
        return rc;
    }
    *state = s;
    return 0;
}

static int arp_collect(void *state, struct plg_collect *c)
{
    struct arp_state *s = state;
    char path[PATH_MAX];
    plg_proc(path, c->paths, "net/arp");
    int rc = plg_read_buf(c, path, &s->buf, ARP_FILE_MAX);
    if (rc < 0)
        return plg_fail(c, rc, "could not get ARP entries: %s: %s", path, strerror(-rc));
    char *p = s->buf.data, *bufend = s->buf.data + s->buf.len, *l;
    size_t ndev = 0, last = 0;
    for (int line = 1; (l = plg_next_line(&p, bufend, NULL)); line++) {
        char *first = NULL, *dev = NULL, *f;
        size_t firstlen = 0, devlen = 0, len;
        int cols = 0;
        while ((f = plg_next_field(&l, &len))) {
            if (cols++ == 0) {
                first = f;
                firstlen = len;
            }
            dev = f;
            devlen = len;
        }
        if (cols < 6)
            return plg_fail(c, -EINVAL, "unexpected ARP table format in %s line %d", path, line);
        if (firstlen == 2 && memcmp(first, "IP", 2) == 0)
            continue;
        /* Consecutive entries are usually on the same device. */
        size_t i = last;
        if (i >= ndev || s->devs[i].len != devlen || memcmp(s->devs[i].name, dev, devlen) != 0)
            for (i = 0; i < ndev; i++)
                if (s->devs[i].len == devlen && memcmp(s->devs[i].name, dev, devlen) == 0)
                    break;
        if (i == ndev) {
            if (ndev == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 16;
                struct arp_dev *d = cn_realloc(s->devs, cap * sizeof(*d));
                if (!d)
                    return plg_fail(c, -ENOMEM, "out of memory counting ARP entries");
                s->devs = d;
                s->cap = cap;
            }
            s->devs[ndev++] = (struct arp_dev){.name = dev, .len = devlen, .count = 0};
        }
        s->devs[i].count++;
        last = i;
    }
    /* The byte after each first occurrence is a blank or a NUL, and nothing
     * reads the buffer any more. */
    struct exp_family *f = NULL;
    for (size_t i = 0; i < ndev; i++) {
        s->devs[i].name[s->devs[i].len] = '\0';
        if (plg_filter_ignored(s->filter, s->devs[i].name))
            continue;
        if (!f)
            f = exp_family(c->b, "node_arp_entries", "ARP entries by device", EXP_GAUGE);
        exp_add(c->b, f, s->devs[i].count, 1, "device", s->devs[i].name);
    }
    return 0;
}

const struct plg_collector plg_collector_arp = {
    .name = "arp",
    .default_enabled = true,
    .options = arp_options,
    .init = arp_init,
    .collect = arp_collect,
    .destroy = arp_destroy,
};
