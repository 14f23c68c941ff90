/*
 * udp_queues: <procfs>/net/udp and net/udp6 -> node_udp_queues{ip,queue}
 * (gauge), the bytes queued in all UDP sockets' send (tx) and receive (rx)
 * queues, as node_exporter 1.5's udp_queues collector (procfs'
 * NetUDPSummary).
 *
 * After the header line every line is one socket and is validated as procfs
 * does: at least ten blank-separated fields; "sl:" with a number; local and
 * remote "HEXIP:HEXPORT" with an IPv4 (8 hex digits) or IPv6 (32) address;
 * a hex state; "TX:RX" hex queue sizes, which are summed; decimal uid and
 * inode. Any bad line fails that file. Series for udp are exported before
 * udp6 is read, so a bad udp6 leaves the v4 pair exported, as in
 * node_exporter.
 *
 * A file that does not exist is skipped (no IPv6); both missing is "no
 * data". The files grow with the number of sockets, so they are read into a
 * buffer kept in the collector state, which keeps its allocation between
 * cycles.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define UDPQ_FILE_MAX ((size_t)1 << 30)
#define UDPQ_FIELDS 10

/* s[0..n) as Go's strconv.ParseUint(s, 16, 64): hex digits only. */
static bool udpq_hex(const char *s, size_t n, uint64_t *out)
{
    return plg_parse_uint(s, n, 16, 64, out) == 0;
}

/* s[0..n) as Go's strconv.ParseUint(s, 0, 64) (decimal, 0x hex, 0 octal). */
static bool udpq_uint0(const char *s, size_t n)
{
    uint64_t v;
    return plg_parse_uint(s, n, 0, 64, &v) == 0;
}

/* "a:b" split into exactly two parts. */
static bool udpq_pair(const char *s, size_t n, size_t *colon)
{
    const char *c1 = memchr(s, ':', n);
    if (!c1 || memchr(c1 + 1, ':', n - (size_t)(c1 - s) - 1))
        return false;
    *colon = (size_t)(c1 - s);
    return true;
}

/* "HEXIP:HEXPORT" with a 4- or 16-byte address. */
static bool udpq_addr(const char *s, size_t n)
{
    size_t colon;
    uint64_t port;
    if (!udpq_pair(s, n, &colon) || (colon != 8 && colon != 32))
        return false;
    if (strspn(s, "0123456789abcdefABCDEF") < colon)
        return false;
    return udpq_hex(s + colon + 1, n - colon - 1, &port);
}

/* Validates one socket line and adds its queues. Returns NULL or what is
 * wrong with it. */
static const char *udpq_line(char *p, uint64_t *tx, uint64_t *rx)
{
    const char *f[UDPQ_FIELDS];
    size_t len[UDPQ_FIELDS];
    int n = 0;
    while (n < UDPQ_FIELDS && (f[n] = plg_next_field(&p, &len[n])))
        n++;
    if (n < UDPQ_FIELDS)
        return "less than 10 columns";
    size_t colon;
    uint64_t st, t, r;
    if (!udpq_pair(f[0], len[0], &colon) || !udpq_uint0(f[0], colon))
        return "cannot parse sl field";
    if (!udpq_addr(f[1], len[1]))
        return "cannot parse local_address field";
    if (!udpq_addr(f[2], len[2]))
        return "cannot parse rem_address field";
    if (!udpq_hex(f[3], len[3], &st))
        return "cannot parse st field";
    if (!udpq_pair(f[4], len[4], &colon) || !udpq_hex(f[4], colon, &t) ||
        !udpq_hex(f[4] + colon + 1, len[4] - colon - 1, &r))
        return "cannot parse tx/rx queues";
    if (!udpq_uint0(f[7], len[7]))
        return "cannot parse uid field";
    if (!udpq_uint0(f[9], len[9]))
        return "cannot parse inode field";
    *tx += t;
    *rx += r;
    return NULL;
}

/* Sums one file. 0, -ENOENT (not recorded), or the result of plg_fail. */
static int udpq_file(struct cn_buf *buf, struct plg_collect *c, const char *rel, const char *ip)
{
    char path[PATH_MAX];
    plg_proc(path, c->paths, rel);
    int rc = plg_read_buf(c, path, buf, UDPQ_FILE_MAX);
    if (rc == -ENOENT)
        return rc;
    if (rc < 0)
        return plg_fail(c, rc, "couldn't get %s queued bytes: %s: %s", rel, path, strerror(-rc));
    char *p = buf->data, *bufend = buf->data + buf->len, *l;
    plg_next_line(&p, bufend, NULL); /* the header line */
    uint64_t tx = 0, rx = 0;
    for (int line = 2; (l = plg_next_line(&p, bufend, NULL)); line++) {
        const char *err = udpq_line(l, &tx, &rx);
        if (err)
            return plg_fail(c, -EINVAL, "couldn't get %s queued bytes: %s line %d: %s", rel, path,
                            line, err);
    }
    struct exp_family *f = exp_family(
        c->b, "node_udp_queues",
        "Number of allocated memory in the kernel for UDP datagrams in bytes.", EXP_GAUGE);
    exp_add(c->b, f, (double)tx, 2, "queue", "tx", "ip", ip);
    exp_add(c->b, f, (double)rx, 2, "queue", "rx", "ip", ip);
    return 0;
}

static int udpq_collect(void *state, struct plg_collect *c)
{
    struct cn_buf *buf = state;
    int rc4 = udpq_file(buf, c, "net/udp", "v4");
    if (rc4 && rc4 != -ENOENT)
        return rc4;
    int rc6 = udpq_file(buf, c, "net/udp6", "v6");
    if (rc6 && rc6 != -ENOENT)
        return rc6;
    if (rc4 && rc6)
        return plg_nodata(c, "neither net/udp nor net/udp6 exists under %s", c->paths->procfs);
    return 0;
}

const struct plg_collector plg_collector_udp_queues = {
    .name = "udp_queues",
    .default_enabled = true,
    .init = plg_buf_state_init,
    .collect = udpq_collect,
    .destroy = plg_buf_state_destroy,
};
