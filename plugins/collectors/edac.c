/*
 * edac: memory error counters of the EDAC memory controllers in
 * <sysfs>/devices/system/edac/mc/mc<N>/, as node_exporter 1.5 exports them
 * (all counters):
 *
 *   node_edac_correctable_errors_total{controller}      mc<N>/ce_count
 *   node_edac_uncorrectable_errors_total{controller}    mc<N>/ue_count
 *   node_edac_csrow_correctable_errors_total{controller,csrow}
 *       mc<N>/csrow<M>/ce_count, and csrow="unknown" from mc<N>/ce_noinfo_count
 *   node_edac_csrow_uncorrectable_errors_total{controller,csrow}
 *       mc<N>/csrow<M>/ue_count, and csrow="unknown" from mc<N>/ue_noinfo_count
 *
 * Like node_exporter, a host without EDAC (no mc directory) succeeds with no
 * series, and the first unreadable or malformed counter ends the collection
 * with the series exported so far kept. The controller and csrow labels are
 * the digits following "mc" and "csrow" in the directory names (entries
 * matching mc[0-9]* and csrow[0-9]*).
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

struct edac_fams {
    struct exp_family *ce, *ue, *row_ce, *row_ue;
};

/* Reads dir/file as node_exporter's readUintFromFile: the whole file,
 * surrounding whitespace trimmed, a base-10 unsigned integer. */
static int edac_read(struct plg_collect *c, const char *dir, const char *file, uint64_t *out,
                     const char *what)
{
    char path[PATH_MAX];
    if (!cn_path_join(path, sizeof(path), dir, file, NULL))
        return plg_fail(c, -ENAMETOOLONG, "path too long under %s", dir);
    int rc = plg_read_u64(c, path, out);
    if (rc == -EBADMSG)
        return plg_fail(c, -EINVAL, "couldn't get %s for %s: %s is not an unsigned integer", file,
                        what, path);
    if (rc)
        return plg_fail(c, rc, "couldn't get %s for %s: %s", file, what, strerror(-rc));
    return 0;
}

/* The digits after `prefix` in name ("mc12" -> "12"; "mc0x" -> "0"). */
static void edac_number(const char *name, size_t prefix, char *out, size_t cap)
{
    size_t n = strspn(name + prefix, "0123456789");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, name + prefix, n);
    out[n] = '\0';
}

static int edac_csrows(struct plg_collect *c, const struct edac_fams *f, const char *mc,
                       const char *ctl)
{
    char **names, dir[PATH_MAX], what[96], row[32];
    int n = plg_dir_list(mc, &names);
    if (n < 0)
        return n == -ENOMEM ? plg_fail(c, n, "out of memory listing %s", mc) : 0;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (!plg_glob_num(names[i], "csrow"))
            continue;
        edac_number(names[i], 5, row, sizeof(row));
        snprintf(what, sizeof(what), "controller/csrow %s/%s", ctl, row);
        uint64_t v;
        if (!cn_path_join(dir, sizeof(dir), mc, names[i], NULL)) {
            rc = plg_fail(c, -ENAMETOOLONG, "path too long under %s", mc);
        } else if (!(rc = edac_read(c, dir, "ce_count", &v, what))) {
            exp_add(c->b, f->row_ce, (double)v, 2, "controller", ctl, "csrow", row);
            if (!(rc = edac_read(c, dir, "ue_count", &v, what)))
                exp_add(c->b, f->row_ue, (double)v, 2, "controller", ctl, "csrow", row);
        }
    }
    plg_dir_free(names, n);
    return rc;
}

/* One controller directory; 0 or a plg_fail code. */
static int edac_controller(struct plg_collect *c, const struct edac_fams *f, const char *mc,
                           const char *ctl)
{
    char what[64];
    uint64_t v;
    int rc;
    snprintf(what, sizeof(what), "controller %s", ctl);
    if ((rc = edac_read(c, mc, "ce_count", &v, what)))
        return rc;
    exp_add(c->b, f->ce, (double)v, 1, "controller", ctl);
    if ((rc = edac_read(c, mc, "ce_noinfo_count", &v, what)))
        return rc;
    exp_add(c->b, f->row_ce, (double)v, 2, "controller", ctl, "csrow", "unknown");
    if ((rc = edac_read(c, mc, "ue_count", &v, what)))
        return rc;
    exp_add(c->b, f->ue, (double)v, 1, "controller", ctl);
    if ((rc = edac_read(c, mc, "ue_noinfo_count", &v, what)))
        return rc;
    exp_add(c->b, f->row_ue, (double)v, 2, "controller", ctl, "csrow", "unknown");
    return edac_csrows(c, f, mc, ctl);
}

static int edac_collect(void *state, struct plg_collect *c)
{
    (void)state;
    char base[PATH_MAX], mc[PATH_MAX], ctl[32];
    if (!plg_sys(base, c->paths, "devices/system/edac/mc"))
        return plg_fail(c, -ENAMETOOLONG, "sysfs path too long");
    char **names;
    int n = plg_dir_list(base, &names);
    if (n < 0) /* node_exporter globs: no EDAC directory is no controllers */
        return n == -ENOMEM ? plg_fail(c, n, "out of memory listing %s", base) : 0;
    struct edac_fams f = {
        exp_family(c->b, "node_edac_correctable_errors_total", "Total correctable memory errors.",
                   EXP_COUNTER),
        exp_family(c->b, "node_edac_uncorrectable_errors_total",
                   "Total uncorrectable memory errors.", EXP_COUNTER),
        exp_family(c->b, "node_edac_csrow_correctable_errors_total",
                   "Total correctable memory errors for this csrow.", EXP_COUNTER),
        exp_family(c->b, "node_edac_csrow_uncorrectable_errors_total",
                   "Total uncorrectable memory errors for this csrow.", EXP_COUNTER),
    };
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (!plg_glob_num(names[i], "mc"))
            continue;
        edac_number(names[i], 2, ctl, sizeof(ctl));
        if (!cn_path_join(mc, sizeof(mc), base, names[i], NULL))
            rc = plg_fail(c, -ENAMETOOLONG, "path too long under %s", base);
        else
            rc = edac_controller(c, &f, mc, ctl);
    }
    plg_dir_free(names, n);
    return rc;
}

const struct plg_collector plg_collector_edac = {
    .name = "edac",
    .default_enabled = true,
    .collect = edac_collect,
};
