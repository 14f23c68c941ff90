/*
 * meminfo: /proc/meminfo -> one gauge per line, node_memory_<Field>[_bytes],
 * named exactly as node_exporter 1.5 names them:
 *
 * - the trailing ':' of the key is dropped and a parenthesised part becomes an
 *   underscore suffix ("Active(anon):" -> "Active_anon");
 * - a line with a unit ("1560 kB") is scaled by 1024 and gets "_bytes"
 *   ("node_memory_Active_anon_bytes"); a line without one is exported as is
 *   ("node_memory_HugePages_Total");
 * - HELP is "Memory information field <key>." with the final key, and a key
 *   ending in "_total" would be a counter (none does on current kernels).
 *
 * The file is a few kilobytes whatever the machine size, so it is read into a
 * stack buffer. A line that node_exporter could not parse (a value that is
 * not a number, more than three fields) fails the collection; so does a line
 * with a key and no value, on which node_exporter 1.5 would crash, and a key
 * that does not make a valid metric name.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define MEMINFO_MAX_KEY 200

/* Builds the metric key from the raw first field: drops its last character
 * (the ':') and rewrites "a(b)c" to "a_bc" as Go's \((.*)\) -> _${1} does.
 * Returns 0 or -ENAMETOOLONG. */
static int meminfo_key(const char *field, char *out, size_t cap)
{
    size_t len = strlen(field);
    if (len > 0)
        len--; /* the ':' (whatever the last character is, as node_exporter) */
    if (len + 2 > cap)
        return -ENAMETOOLONG;
    const char *open = memchr(field, '(', len);
    const char *close = NULL;
    for (const char *p = field + len; open && p > open + 1;) {
        p--;
        if (*p == ')') {
            close = p;
            break;
        }
    }
    if (!open || !close) {
        memcpy(out, field, len);
        out[len] = '\0';
        return 0;
    }
    size_t n = 0;
    memcpy(out, field, (size_t)(open - field));
    n += (size_t)(open - field);
    out[n++] = '_';
    memcpy(out + n, open + 1, (size_t)(close - open - 1));
    n += (size_t)(close - open - 1);
    size_t rest = len - (size_t)(close + 1 - field);
    memcpy(out + n, close + 1, rest);
    n += rest;
    out[n] = '\0';
    return 0;
}

static int meminfo_collect(void *state, struct plg_collect *c)
{
    (void)state;
    char path[PATH_MAX], buf[16384];
    if (!plg_proc(path, c->paths, "meminfo"))
        return plg_fail(c, -ENAMETOOLONG, "procfs path too long");
    long len = plg_read(c, path, buf, sizeof(buf));
    if (len < 0)
        return plg_fail(c, (int)len, "couldn't get meminfo: couldn't read %s: %s", path,
                        strerror((int)-len));

    char *end = buf + len;
    for (char *p = buf, *line; (line = plg_next_line(&p, end, NULL));) {
        char *tok[3];
        int n = plg_fields(line, tok, 3);
        if (n == 0)
            continue; /* empty lines occur on some kernels; node_exporter skips them
                       */
        if (n == 1)
            return plg_fail(c, -EINVAL, "invalid line in %s: \"%.64s\" has no value", path, tok[0]);
        double v;
        if (plg_parse_float(tok[1], strlen(tok[1]), &v)) /* Go's ParseFloat */
            return plg_fail(c, -EINVAL, "invalid value in %s: \"%.64s\" for %.64s", path, tok[1],
                            tok[0]);
        char key[MEMINFO_MAX_KEY + 8];
        if (meminfo_key(tok[0], key, MEMINFO_MAX_KEY))
            return plg_fail(c, -EINVAL, "invalid key in %s: \"%.64s...\"", path, tok[0]);
        if (n == 3) {
            v *= 1024;
            strcat(key, "_bytes");
        } else if (n != 2) {
            return plg_fail(c, -EINVAL, "invalid line in %s: \"%.64s\" has %d fields", path, tok[0],
                            n);
        }
        char name[sizeof(key) + 16], help[sizeof(key) + 40];
        snprintf(name, sizeof(name), "node_memory_%s", key);
        if (!exp_valid_metric_name(name))
            return plg_fail(c, -EINVAL, "invalid key in %s: \"%s\" is no metric name", path, name);
        snprintf(help, sizeof(help), "Memory information field %s.", key);
        size_t klen = strlen(key);
        bool counter = klen >= 6 && strcmp(key + klen - 6, "_total") == 0;
        struct exp_family *f = exp_family(c->b, name, help, counter ? EXP_COUNTER : EXP_GAUGE);
        exp_add(c->b, f, v, 0);
    }
    return 0;
}

const struct plg_collector plg_collector_meminfo = {
    .name = "meminfo",
    .default_enabled = true,
    .collect = meminfo_collect,
};
