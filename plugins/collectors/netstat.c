/*
 * netstat: protocol counters from /proc/net/netstat, /proc/net/snmp and
 * /proc/net/snmp6 as node_netstat_<Proto>_<Field> (untyped), the fields
 * selected by the `fields` regular expression, as node_exporter 1.5's
 * netstat collector does.
 *
 * netstat and snmp come in pairs of lines, a header naming the fields and a
 * line of values, both starting with "<Proto>:". snmp6 has one "<Proto6><Field>
 * <value>" per line; the protocol is the name up to and including its first
 * '6'. node_exporter merges the three files into one protocol -> fields map
 * where a later section replaces an earlier one of the same protocol
 * wholesale (netstat, then snmp, then snmp6, top to bottom); the kernel never
 * repeats a protocol, but we keep that rule by marking shadowed sections
 * instead of building a map.
 *
 * Cost: the three files (about 8 KiB) are read into buffers kept in the state
 * and reused every cycle and split in place; every value is checked with
 * plg_parse_float (node_exporter rejects an unparseable value in any field,
 * selected or not), whose fast path makes the integers the kernel writes
 * cheap.
 * The field filter is compiled once at init; its verdicts are cached per
 * netstat/snmp header line and for snmp6's list of names, so with a steady
 * kernel a cycle compares names instead of running ~320 regex matches and
 * builds names only for the ~40 selected fields.
 *
 * Failures as node_exporter: netstat or snmp missing or unreadable fails the
 * collector; snmp6 missing (IPv6 disabled) is skipped; a header/value count
 * mismatch or an unparseable value fails with a message naming the file.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* node_exporter 1.5's --collector.netstat.fields default. */
#define NETSTAT_DEFAULT_FIELDS                                                                     \
    "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|" \
    "TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|"    \
    "OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|"         \
    "RcvbufErrors|SndbufErrors))$"

#define NETSTAT_MAX_FILE (4u << 20)
#define NETSTAT_MAX_SECTIONS 64 /* header/value pairs in netstat + snmp (kernel: ~10) */
#define NETSTAT_MAX_SNMP6_PROTOS 32
#define NETSTAT_CACHE_FIELDS 512 /* fields per header line whose verdicts are cached */

/* Filter verdicts for one header line, reused while the line is unchanged. */
struct netstat_verdicts {
    char *key; /* malloc'd "<proto>\0<names>", NULL: empty slot */
    size_t len;
    uint8_t match[NETSTAT_CACHE_FIELDS];
};

/* Filter verdicts for snmp6's fields: their names, each NUL-terminated, in
 * file order, and the verdicts; reused while the names are unchanged. */
struct netstat_snmp6_verdicts {
    struct cn_buf names;
    uint8_t *match;
    size_t n, cap;
};

struct netstat_state {
    struct plg_filter *fields;
    struct cn_buf file[3]; /* netstat, snmp, snmp6 */
    struct netstat_verdicts cache[NETSTAT_MAX_SECTIONS];
    struct netstat_snmp6_verdicts cache6;
};

/* One header/value line pair of netstat or snmp, split in place. */
struct netstat_section {
    const char *path;
    char *proto;  /* NUL-terminated */
    char *names;  /* space-separated field names, NULL when none */
    char *values; /* space-separated values, as many as names */
    size_t plen, nlen;
};

enum { F_NETSTAT, F_SNMP, F_SNMP6 };

static const char *const netstat_files[3] = {"net/netstat", "net/snmp", "net/snmp6"};
static const char *const netstat_what[3] = {"netstats", "SNMP stats", "SNMP6 stats"};

static const struct plg_option netstat_options[] = {
    {"fields", NETSTAT_DEFAULT_FIELDS, "Regexp of fields to return for netstat collector."},
    {NULL, NULL, NULL},
};

static void netstat_destroy(void *state)
{
    struct netstat_state *s = state;
    if (!s)
        return;
    plg_filter_destroy(s->fields);
    for (int i = 0; i < 3; i++)
        cn_buf_free(&s->file[i]);
    for (int i = 0; i < NETSTAT_MAX_SECTIONS; i++)
        free(s->cache[i].key);
    cn_buf_free(&s->cache6.names);
    free(s->cache6.match);
    free(s);
}

static int netstat_init(const struct plg_config *cfg, void **state)
{
    struct netstat_state *s = cn_calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    for (int i = 0; i < 3; i++)
        cn_buf_init(&s->file[i]);
    cn_buf_init(&s->cache6.names);
    char err[256] = "";
    int rc = plg_filter_create(plg_config_get(cfg, "fields"), NULL, &s->fields, err, sizeof(err));
    if (rc) {
        cn_log(CN_LOG_ERROR, "netstat", "invalid --collector.netstat.fields", "err", err, NULL);
        netstat_destroy(s);
        return rc;
    }
    *state = s;
    return 0;
}

/* Go's strconv.ParseFloat on a whole token. */
static bool netstat_parse_float(const char *tok, double *out)
{
    return plg_parse_float(tok, strlen(tok), out) == 0;
}

/* Handles one field: validates the value and, if the field is selected,
 * emits node_netstat_<proto>_<name>. *match: -1 unknown (runs the filter and
 * stores the verdict), else the cached verdict 0/1. */
static int netstat_field(struct plg_collect *c, const struct plg_filter *fields, const char *path,
                         const char *proto, const char *name, const char *value, int *match)
{
    double v;
    if (*match == 0) { /* known to be dropped: only the value matters */
        if (netstat_parse_float(value, &v))
            return 0;
        return plg_fail(c, -EINVAL, "invalid value \"%s\" for %s_%s in %s", value, proto, name,
                        path);
    }
    /* metric = "node_netstat_" key, key = "<proto>_<name>" */
    char metric[256];
    size_t pl = strlen(proto), nl = strlen(name);
    if (13 + pl + 1 + nl >= sizeof(metric))
        return plg_fail(c, -EINVAL, "field name %s%s too long in %s", proto, name, path);
    memcpy(metric, "node_netstat_", 13);
    memcpy(metric + 13, proto, pl);
    metric[13 + pl] = '_';
    memcpy(metric + 14 + pl, name, nl + 1);
    const char *key = metric + 13;
    if (*match < 0)
        *match = !plg_filter_ignored(fields, key);
    if (!*match) {
        if (!netstat_parse_float(value, &v))
            return plg_fail(c, -EINVAL, "invalid value \"%s\" for %s in %s", value, key, path);
        return 0;
    }
    if (!netstat_parse_float(value, &v))
        return plg_fail(c, -EINVAL, "invalid value \"%s\" for %s in %s", value, key, path);
    if (!exp_valid_metric_name(metric))
        return plg_fail(c, -EINVAL, "invalid field name \"%s\" in %s", key, path);
    char help[sizeof(metric)];
    snprintf(help, sizeof(help), "Statistic %s%s.", proto, name);
    exp_add(c->b, exp_family(c->b, metric, help, EXP_UNTYPED), v, 0);
    return 0;
}

/* Cuts the line starting at *p (NUL-terminating it, dropping a trailing
 * '\r' as bufio.Scanner does) and advances *p past it. NULL at the end. */
static char *netstat_next_line(char **p, char *end, size_t *len)
{
    char *line = plg_next_line(p, end, len);
    if (line && *len > 0 && line[*len - 1] == '\r')
        line[--*len] = '\0';
    return line;
}

static size_t netstat_count(const char *s, char ch)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == ch;
    return n;
}

/* Splits netstat/snmp content into header/value sections, checking that each
 * header and its value line have as many space-separated parts. */
static int netstat_sections(struct plg_collect *c, const char *path, struct cn_buf *buf,
                            struct netstat_section *sec, int *nsec)
{
    char *p = buf->data, *end = buf->data + buf->len;
    char *hdr;
    size_t hlen, vlen;
    while ((hdr = netstat_next_line(&p, end, &hlen))) {
        char *values = netstat_next_line(&p, end, &vlen);
        if (!values)
            values = end; /* "": what Go's Scanner yields past the end */
        if (hlen == 0)
            return plg_fail(c, -EINVAL, "empty header line in %s", path);
        if (*nsec == NETSTAT_MAX_SECTIONS)
            return plg_fail(c, -E2BIG, "more than %d sections in %s", NETSTAT_MAX_SECTIONS, path);
        struct netstat_section *s = &sec[(*nsec)++];
        /* "TcpExt: A B": the protocol is the first word minus its last byte
         * (the colon), the names the remaining words. */
        char *sp = memchr(hdr, ' ', hlen);
        size_t wlen = sp ? (size_t)(sp - hdr) : hlen;
        if (wlen == 0)
            return plg_fail(c, -EINVAL, "missing protocol in header line of %s", path);
        hdr[wlen - 1] = '\0';
        s->path = path;
        s->proto = hdr;
        s->plen = wlen - 1;
        s->names = sp ? sp + 1 : NULL;
        s->nlen = sp ? (size_t)(hdr + hlen - s->names) : 0;
        char *vsp = strchr(values, ' ');
        s->values = vsp ? vsp + 1 : NULL;
        size_t nn = sp ? 1 + netstat_count(s->names, ' ') : 0;
        size_t nv = vsp ? 1 + netstat_count(s->values, ' ') : 0;
        if (nn != nv)
            return plg_fail(c, -EINVAL, "mismatch field count mismatch in %s: %s", path, s->proto);
    }
    return 0;
}

/* Emits the fields of one netstat/snmp section, with cached filter verdicts. */
static int netstat_emit_section(struct netstat_state *st, struct plg_collect *c,
                                const struct netstat_section *s, int idx)
{
    if (!s->names)
        return 0;
    struct netstat_verdicts *vc = &st->cache[idx];
    size_t klen = s->plen + 1 + s->nlen;
    bool cached = vc->key && vc->len == klen && memcmp(vc->key, s->proto, s->plen + 1) == 0 &&
                  memcmp(vc->key + s->plen + 1, s->names, s->nlen) == 0;
    if (!cached) {
        free(vc->key);
        vc->key = cn_malloc(klen);
        vc->len = klen;
        if (vc->key) {
            memcpy(vc->key, s->proto, s->plen + 1);
            memcpy(vc->key + s->plen + 1, s->names, s->nlen);
        }
    }
    char *name = s->names, *value = s->values;
    for (size_t i = 0;; i++) {
        char *ne = strchr(name, ' '), *ve = strchr(value, ' ');
        if (ne)
            *ne = '\0';
        if (ve)
            *ve = '\0';
        int match = cached && i < NETSTAT_CACHE_FIELDS ? vc->match[i] : -1;
        int rc = netstat_field(c, st->fields, s->path, s->proto, name, value, &match);
        if (rc) {
            free(vc->key); /* verdicts of the later fields are unknown */
            vc->key = NULL;
            return rc;
        }
        if (!cached && vc->key && i < NETSTAT_CACHE_FIELDS)
            vc->match[i] = (uint8_t)match;
        if (!ne || !ve)
            return 0;
        name = ne + 1;
        value = ve + 1;
    }
}

/*
 * snmp6: one "<Proto6><Field> <value>" per line (whitespace-separated, more
 * words ignored); lines with fewer than two words or no '6' in the first are
 * skipped. Emits every field and records the protocols seen in p6/l6.
 */
static int netstat_snmp6(struct netstat_state *st, struct plg_collect *c, const char *path,
                         const char **p6, size_t *l6, int *n6)
{
    struct netstat_snmp6_verdicts *vc = &st->cache6;
    size_t off = 0, i = 0; /* position in the cached names and verdicts */
    bool cached = true;    /* the names so far equal the cached ones */
    bool record = true;    /* false after an allocation failure */
    struct cn_buf *b = &st->file[F_SNMP6];
    char *p = b->data, *end = b->data + b->len, *line;
    size_t len;
    while ((line = netstat_next_line(&p, end, &len))) {
        char *f[2];
        if (plg_fields(line, f, 2) < 2)
            continue;
        char *w = f[0], *v = f[1];
        size_t wl = strlen(w);
        const char *six = memchr(w, '6', wl);
        if (!six)
            continue;
        size_t pl = (size_t)(six - w) + 1;
        char proto[64];
        if (pl >= sizeof(proto))
            return plg_fail(c, -EINVAL, "field name %s too long in %s", w, path);
        memcpy(proto, w, pl);
        proto[pl] = '\0';

        cached = cached && i < vc->n && off + wl < vc->names.len &&
                 memcmp(vc->names.data + off, w, wl + 1) == 0;
        int match = cached ? vc->match[i] : -1;
        int rc = netstat_field(c, st->fields, path, proto, w + pl, v, &match);
        if (rc) {
            vc->n = 0; /* later verdicts unknown */
            cn_buf_reset(&vc->names);
            return rc;
        }
        if (!cached && record) {
            /* Record from here on: the names before are unchanged. */
            vc->names.len = off;
            vc->n = i;
            cn_buf_append(&vc->names, w, wl + 1);
            if (i == vc->cap) {
                size_t ncap = vc->cap ? vc->cap * 2 : 128;
                uint8_t *m = cn_realloc(vc->match, ncap);
                if (m) {
                    vc->match = m;
                    vc->cap = ncap;
                }
            }
            if (vc->names.err || i == vc->cap) { /* out of memory: no cache this cycle */
                record = false;
                cn_buf_reset(&vc->names);
                vc->n = 0;
            } else {
                vc->match[i] = (uint8_t)match;
                vc->n = i + 1;
            }
        }
        off += wl + 1;
        i++;

        int k;
        for (k = 0; k < *n6; k++)
            if (l6[k] == pl && memcmp(p6[k], w, pl) == 0)
                break;
        if (k == *n6 && *n6 < NETSTAT_MAX_SNMP6_PROTOS) {
            p6[*n6] = w;
            l6[(*n6)++] = pl;
        }
    }
    /* Fewer fields than last time: forget the tail. */
    vc->n = i < vc->n ? i : vc->n;
    vc->names.len = off < vc->names.len ? off : vc->names.len;
    return 0;
}

static int netstat_collect(void *state, struct plg_collect *c)
{
    struct netstat_state *st = state;
    char path[3][PATH_MAX];
    bool have6 = true;
    for (int f = 0; f < 3; f++) {
        if (!plg_proc(path[f], c->paths, netstat_files[f]))
            return plg_fail(c, -ENAMETOOLONG, "path too long for %s", netstat_files[f]);
        int rc = plg_read_buf(c, path[f], &st->file[f], NETSTAT_MAX_FILE);
        if (rc == -ENOENT && f == F_SNMP6) {
            have6 = false; /* IPv6 disabled */
            continue;
        }
        if (rc)
            return plg_fail(c, rc, "couldn't get %s: %s: %s", netstat_what[f], path[f],
                            strerror(-rc));
    }

    struct netstat_section sec[NETSTAT_MAX_SECTIONS];
    int nsec = 0;
    for (int f = F_NETSTAT; f <= F_SNMP; f++) {
        int rc = netstat_sections(c, path[f], &st->file[f], sec, &nsec);
        if (rc)
            return rc;
    }

    const char *p6[NETSTAT_MAX_SNMP6_PROTOS];
    size_t l6[NETSTAT_MAX_SNMP6_PROTOS];
    int n6 = 0;
    if (have6) {
        int rc = netstat_snmp6(st, c, path[F_SNMP6], p6, l6, &n6);
        if (rc)
            return rc;
    }

    for (int i = 0; i < nsec; i++) {
        /* A later section or snmp6 with the same protocol replaces this one. */
        bool shadowed = false;
        for (int j = i + 1; j < nsec && !shadowed; j++)
            shadowed = sec[i].plen == sec[j].plen && strcmp(sec[i].proto, sec[j].proto) == 0;
        for (int k = 0; k < n6 && !shadowed; k++)
            shadowed = l6[k] == sec[i].plen && memcmp(p6[k], sec[i].proto, l6[k]) == 0;
        if (shadowed)
            continue;
        int rc = netstat_emit_section(st, c, &sec[i], i);
        if (rc)
            return rc;
    }
    return 0;
}

const struct plg_collector plg_collector_netstat = {
    .name = "netstat",
    .default_enabled = true,
    .options = netstat_options,
    .init = netstat_init,
    .collect = netstat_collect,
    .destroy = netstat_destroy,
};
