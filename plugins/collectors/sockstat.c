/*
 * sockstat: <procfs>/net/sockstat and net/sockstat6 -> node_sockstat_*
 * gauges, as node_exporter 1.5's sockstat collector (procfs' NetSockstat).
 *
 * Each line is "<PROTO>: key value key value ...", split on single spaces
 * as procfs does (so a doubled blank is a malformed line). "sockets: used N"
 * of the IPv4 file becomes node_sockstat_sockets_used; every other line
 * becomes node_sockstat_<PROTO>_<key> for the keys inuse (always, 0 when
 * absent), orphan, tw, alloc, mem and memory (when present), plus
 * node_sockstat_<PROTO>_mem_bytes = mem * page size, since "mem" counts
 * pages. HELP is "Number of <PROTO> sockets in state <key>.". Values are
 * integers in Go's base-0 syntax; a repeated key keeps its last value.
 *
 * A file that does not exist is skipped (no IPv6, no IPv4); both files
 * missing is still success, as in node_exporter. Both files are parsed and
 * checked before anything is exported, so a malformed sockstat6 exports
 * nothing, again as node_exporter, which parses both first. A protocol
 * that would make an invalid metric name fails the collector (node_exporter
 * would panic on it).
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SOCKSTAT_FILE_MAX 8192 /* a few hundred bytes in practice */
#define SOCKSTAT_MAX_FIELDS 64

/* The IPv4 and IPv6 files, under the procfs. */
static const char *const sockstat_files[2] = {"net/sockstat", "net/sockstat6"};

/* The per-protocol keys node_exporter exports, in its order. */
static const char *const sockstat_keys[] = {"inuse", "orphan", "tw", "alloc", "mem", "memory"};
#define SOCKSTAT_NKEYS (sizeof(sockstat_keys) / sizeof(sockstat_keys[0]))

struct sockstat_line {
    char *field[SOCKSTAT_MAX_FIELDS];
    size_t len[SOCKSTAT_MAX_FIELDS];
    int n;
};

/* Splits line[0..len) on single spaces. 0 or -EINVAL (too many fields). */
static int sockstat_split(char *line, size_t len, struct sockstat_line *l)
{
    l->n = 0;
    char *p = line, *end = line + len;
    for (;;) {
        if (l->n == SOCKSTAT_MAX_FIELDS)
            return -EINVAL;
        char *sp = memchr(p, ' ', (size_t)(end - p));
        l->field[l->n] = p;
        l->len[l->n] = (size_t)((sp ? sp : end) - p);
        l->n++;
        if (!sp)
            return 0;
        p = sp + 1;
    }
}

/*
 * Walks the file in buf. With emit false it only checks it and returns 0 or
 * -EINVAL with a message in err; with emit true (after a successful check)
 * it exports the series.
 */
static int sockstat_walk(struct plg_collect *c, char *buf, bool ipv6, bool emit, long page,
                         char *err, size_t errcap)
{
    struct sockstat_line l;
    for (char *p = buf, *next; *p; p = next) {
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        next = nl ? nl + 1 : p + len;
        if (len > 0 && p[len - 1] == '\r')
            len--;
        if (sockstat_split(p, len, &l) || l.n < 3) {
            snprintf(err, errcap, "malformed sockstat line: \"%.*s\"", (int)len, p);
            return -EINVAL;
        }
        if ((l.n - 1) % 2 != 0) {
            snprintf(err, errcap, "odd number of fields in key/value pairs in \"%.*s\"", (int)len,
                     p);
            return -EINVAL;
        }
        /* values[k]: the last value of sockstat_keys[k]; have[k]: seen */
        int64_t values[SOCKSTAT_NKEYS] = {0}, used = 0;
        bool have[SOCKSTAT_NKEYS] = {false};
        for (int i = 1; i < l.n; i += 2) {
            int64_t v; /* Go's strconv.ParseInt(s, 0, 64) */
            if (plg_parse_int(l.field[i + 1], l.len[i + 1], 0, 64, &v)) {
                snprintf(err, errcap, "invalid value \"%.*s\" in \"%.*s\"", (int)l.len[i + 1],
                         l.field[i + 1], (int)len, p);
                return -EINVAL;
            }
            if (l.len[i] == 4 && memcmp(l.field[i], "used", 4) == 0)
                used = v;
            for (size_t k = 0; k < SOCKSTAT_NKEYS; k++)
                if (strlen(sockstat_keys[k]) == l.len[i] &&
                    memcmp(sockstat_keys[k], l.field[i], l.len[i]) == 0) {
                    values[k] = v;
                    have[k] = true;
                }
        }
        size_t plen = l.len[0];
        if (plen > 0 && l.field[0][plen - 1] == ':')
            plen--;
        char proto[128];
        if (plen >= sizeof(proto)) {
            snprintf(err, errcap, "protocol name too long in \"%.*s\"", (int)len, p);
            return -EINVAL;
        }
        memcpy(proto, l.field[0], plen);
        proto[plen] = '\0';

        if (strcmp(proto, "sockets") == 0) {
            if (emit && !ipv6)
                exp_gauge(c->b, "node_sockstat_sockets_used", "Number of IPv4 sockets in use.",
                          (double)used, 0);
            continue;
        }
        have[0] = true; /* inuse is always exported */
        char name[192], help[192];
        for (size_t k = 0; k <= SOCKSTAT_NKEYS; k++) {
            /* k == SOCKSTAT_NKEYS: mem_bytes, derived from mem (index 4) */
            bool bytes = k == SOCKSTAT_NKEYS;
            if (!(bytes ? have[4] : have[k]))
                continue;
            const char *key = bytes ? "mem_bytes" : sockstat_keys[k];
            snprintf(name, sizeof(name), "node_sockstat_%s_%s", proto, key);
            if (!emit) {
                if (!exp_valid_metric_name(name)) {
                    snprintf(err, errcap, "protocol \"%s\" makes an invalid metric name", proto);
                    return -EINVAL;
                }
                continue;
            }
            snprintf(help, sizeof(help), "Number of %s sockets in state %s.", proto, key);
            /* Go multiplies ints, wrapping on overflow; so do we, without UB */
            double v =
                bytes
                    ? (double)(long long)((unsigned long long)values[4] * (unsigned long long)page)
                    : (double)values[k];
            exp_gauge(c->b, name, help, v, 0);
        }
    }
    return 0;
}

static int sockstat_collect(void *state, struct plg_collect *c)
{
    (void)state;
    char path[2][PATH_MAX], buf[2][SOCKSTAT_FILE_MAX], err[256];
    bool have[2];
    long page = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < 2; i++) {
        plg_proc(path[i], c->paths, sockstat_files[i]);
        long n = plg_read(c, path[i], buf[i], sizeof(buf[i]));
        have[i] = n >= 0;
        if (n == -ENOENT)
            continue;
        if (n < 0)
            return plg_fail(c, (int)n, "failed to get IPv%d sockstat data: %s: %s", i ? 6 : 4,
                            path[i], strerror((int)-n));
        if (memchr(buf[i], '\0', (size_t)n))
            return plg_fail(c, -EINVAL, "failed to get IPv%d sockstat data: NUL byte in %s",
                            i ? 6 : 4, path[i]);
        if (sockstat_walk(c, buf[i], i == 1, false, page, err, sizeof(err)))
            return plg_fail(c, -EINVAL, "failed to get IPv%d sockstat data: %s: %s", i ? 6 : 4,
                            path[i], err);
    }
    for (int i = 0; i < 2; i++)
        if (have[i])
            sockstat_walk(c, buf[i], i == 1, true, page, err, sizeof(err));
    return 0;
}

const struct plg_collector plg_collector_sockstat = {
    .name = "sockstat",
    .default_enabled = true,
    .collect = sockstat_collect,
};
