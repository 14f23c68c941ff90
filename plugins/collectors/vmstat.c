/*
 * vmstat: /proc/vmstat -> node_vmstat_<field> (untyped), one per line whose
 * field name the "fields" pattern matches, as node_exporter 1.5 does. The
 * default pattern is node_exporter's ^(oom_kill|pgpg|pswp|pg.*fault).*; like
 * Go's MatchString it matches anywhere in the name unless anchored.
 *
 * The pattern is compiled once at init and kept in the state, with the read
 * buffer (the file has some 200 lines and grows with kernel versions, so it
 * is read into a reused heap buffer rather than a fixed stack array).
 *
 * As in node_exporter, every line's value must parse as a number, including
 * lines the pattern drops: a malformed file fails the collection. Blank lines
 * are skipped (node_exporter would crash on them); a line with a name and no
 * value fails.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VMSTAT_MAX_FILE (4u << 20)

struct vmstat_state {
    struct plg_filter *fields;
    struct cn_buf buf;
};

static const struct plg_option vmstat_options[] = {
    {"fields", "^(oom_kill|pgpg|pswp|pg.*fault).*",
     "Regexp of fields to return for vmstat collector."},
    {NULL, NULL, NULL},
};

static void vmstat_destroy(void *state)
{
    struct vmstat_state *st = state;
    if (!st)
        return;
    plg_filter_destroy(st->fields);
    cn_buf_free(&st->buf);
    free(st);
}

static int vmstat_init(const struct plg_config *cfg, void **state)
{
    struct vmstat_state *st = cn_calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    cn_buf_init(&st->buf);
    char err[256];
    int rc = plg_filter_create(plg_config_get(cfg, "fields"), NULL, &st->fields, err, sizeof(err));
    if (rc) {
        cn_log(CN_LOG_ERROR, "collector", "couldn't create collector", "collector", "vmstat", "err",
               rc == -EINVAL ? err : strerror(-rc), NULL);
        vmstat_destroy(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int vmstat_collect(void *state, struct plg_collect *c)
{
    struct vmstat_state *st = state;
    char path[PATH_MAX];
    if (!plg_proc(path, c->paths, "vmstat"))
        return plg_fail(c, -ENAMETOOLONG, "procfs path too long");
    int rc = plg_read_buf(c, path, &st->buf, VMSTAT_MAX_FILE);
    if (rc < 0)
        return plg_fail(c, rc, "couldn't read %s: %s", path, strerror(-rc));

    char *end = st->buf.data + st->buf.len;
    for (char *p = st->buf.data, *line; (line = plg_next_line(&p, end, NULL));) {
        char *f[2]; /* further columns, if any, are ignored as node_exporter does */
        int n = plg_fields(line, f, 2);
        if (n == 0)
            continue;
        char *field = f[0], *val = f[1];
        double v;
        if (n < 2)
            return plg_fail(c, -EINVAL, "invalid line in %s: \"%.64s\" has no value", path, field);
        if (plg_parse_float(val, strlen(val), &v)) /* Go's ParseFloat */
            return plg_fail(c, -EINVAL, "invalid value in %s: \"%.64s\" for %.64s", path, val,
                            field);
        if (plg_filter_ignored(st->fields, field))
            continue;
        char name[256], help[300];
        if ((size_t)snprintf(name, sizeof(name), "node_vmstat_%s", field) >= sizeof(name) ||
            !exp_valid_metric_name(name))
            return plg_fail(c, -EINVAL, "invalid field name in %s: \"%.64s\"", path, field);
        snprintf(help, sizeof(help), "/proc/vmstat information field %s.", field);
        exp_add(c->b, exp_family(c->b, name, help, EXP_UNTYPED), v, 0);
    }
    return 0;
}

const struct plg_collector plg_collector_vmstat = {
    .name = "vmstat",
    .default_enabled = true,
    .options = vmstat_options,
    .init = vmstat_init,
    .collect = vmstat_collect,
    .destroy = vmstat_destroy,
};
