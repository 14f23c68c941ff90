/*
 * cpufreq: per-CPU frequency limits and current frequencies from
 * <sysfs>/devices/system/cpu/cpu<N>/cpufreq/, as node_exporter 1.5's cpufreq
 * collector (procfs' SystemCpufreq) exports them:
 *
 *   node_cpu_frequency_hertz, node_cpu_frequency_{min,max}_hertz (cpuinfo_*)
 *   node_cpu_scaling_frequency_hertz,
 * node_cpu_scaling_frequency_{min,max}_hertz
 *
 * all gauges labelled cpu="<N>", kHz in sysfs times 1000.
 *
 * Semantics copied from node_exporter rather than invented:
 * - CPUs without a cpufreq directory are skipped; a host without cpufreq at
 *   all (most VMs, this one) succeeds with no series.
 * - A numeric attribute that is absent or unreadable for permission reasons
 *   (cpuinfo_cur_freq is root-only) is skipped; one that does not parse fails
 *   the whole collection.
 * - node_exporter also reads five string attributes (governors, driver,
 *   governor, related_cpus, setspeed) that 1.5 does not export; when one of
 *   them cannot be read the collection fails. We read them too so that the
 *   collector fails on the same hosts.
 * - Every CPU is parsed before anything is exported, so a failure exports
 *   nothing, as node_exporter does.
 *
 * Cost: one stat and twelve small reads per CPU that has cpufreq; nothing on
 * hosts without it. The per-CPU values live in one array allocated per cycle.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CF_NVALUES = 7 };

/* In procfs' order (which decides which error is reported first). The
 * transition latency is read (a parse error fails) but not exported. */
static const char *const cf_uint_files[CF_NVALUES] = {
    "cpuinfo_cur_freq", "cpuinfo_max_freq", "cpuinfo_min_freq", "cpuinfo_transition_latency",
    "scaling_cur_freq", "scaling_max_freq", "scaling_min_freq",
};

static const char *const cf_string_files[] = {
    "scaling_available_governors",
    "scaling_driver",
    "scaling_governor",
    "related_cpus",
    "scaling_setspeed",
};

/* Exported families: index into the values, name, help. */
static const struct {
    int idx;
    const char *name;
    const char *help;
} cf_families[] = {
    {0, "node_cpu_frequency_hertz", "Current cpu thread frequency in hertz."},
    {2, "node_cpu_frequency_min_hertz", "Minimum cpu thread frequency in hertz."},
    {1, "node_cpu_frequency_max_hertz", "Maximum cpu thread frequency in hertz."},
    {4, "node_cpu_scaling_frequency_hertz", "Current scaled CPU thread frequency in hertz."},
    {6, "node_cpu_scaling_frequency_min_hertz", "Minimum scaled CPU thread frequency in hertz."},
    {5, "node_cpu_scaling_frequency_max_hertz", "Maximum scaled CPU thread frequency in hertz."},
};

struct cf_cpu {
    const char *name; /* "0", "1", ... (borrowed from the directory listing) */
    unsigned have;    /* bit i: values[i] was read */
    uint64_t values[CF_NVALUES];
};

/* Parses one CPU's cpufreq directory `dir` into *cpu; 0 or a plg_fail code. */
static int cf_parse(struct plg_collect *c, const char *dir, struct cf_cpu *cpu)
{
    char path[PATH_MAX], buf[PLG_SYSFS_MAX + 1];
    for (int i = 0; i < CF_NVALUES; i++) {
        if (!cn_path_join(path, sizeof(path), dir, cf_uint_files[i], NULL))
            return plg_fail(c, -ENAMETOOLONG, "path too long under %s", dir);
        int rc = plg_read_u64(c, path, &cpu->values[i]);
        if (rc == -ENOENT || rc == -EACCES || rc == -EPERM)
            continue;
        if (rc == -EBADMSG)
            return plg_fail(c, -EINVAL, "couldn't parse %s: not an unsigned integer", path);
        if (rc)
            return plg_fail(c, rc, "couldn't read %s: %s", path, strerror(-rc));
        cpu->have |= 1u << i;
    }
    /* Read with procfs' SysReadFile, whose errors fail the collection. */
    for (size_t i = 0; i < sizeof(cf_string_files) / sizeof(cf_string_files[0]); i++) {
        if (!cn_path_join(path, sizeof(path), dir, cf_string_files[i], NULL))
            return plg_fail(c, -ENAMETOOLONG, "path too long under %s", dir);
        long rc = plg_sysfs_read(c, path, buf);
        if (rc < 0)
            return plg_fail(c, (int)rc, "couldn't read %s: %s", path, strerror((int)-rc));
    }
    return 0;
}

static int cpufreq_collect(void *state, struct plg_collect *c)
{
    (void)state;
    char base[PATH_MAX], dir[PATH_MAX];
    if (!plg_sys(base, c->paths, "devices/system/cpu"))
        return plg_fail(c, -ENAMETOOLONG, "sysfs path too long");
    char **names;
    int n = plg_dir_list(base, &names);
    if (n < 0) /* node_exporter globs: an unreadable or absent directory is no CPUs */
        return n == -ENOMEM ? plg_fail(c, n, "out of memory listing %s", base) : 0;
    struct cf_cpu *cpus = n ? cn_calloc((size_t)n, sizeof(*cpus)) : NULL;
    int ncpu = 0, rc = 0;
    if (n && !cpus) {
        rc = plg_fail(c, -ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (!plg_glob_num(names[i], "cpu"))
            continue;
        struct stat st;
        if (!cn_path_join(dir, sizeof(dir), base, names[i], "cpufreq", NULL)) {
            rc = plg_fail(c, -ENAMETOOLONG, "path too long under %s", base);
            goto out;
        }
        if (stat(dir, &st) != 0) {
            if (errno == ENOENT)
                continue;
            rc = plg_fail(c, -errno, "couldn't stat %s: %s", dir, strerror(errno));
            goto out;
        }
        struct cf_cpu *cpu = &cpus[ncpu++];
        cpu->name = names[i] + 3;
        if ((rc = cf_parse(c, dir, cpu)))
            goto out;
    }
    for (size_t f = 0; f < sizeof(cf_families) / sizeof(cf_families[0]); f++) {
        struct exp_family *fam = NULL;
        for (int i = 0; i < ncpu; i++) {
            int idx = cf_families[f].idx;
            if (!(cpus[i].have & (1u << idx)))
                continue;
            if (!fam)
                fam = exp_family(c->b, cf_families[f].name, cf_families[f].help, EXP_GAUGE);
            exp_add(c->b, fam, (double)cpus[i].values[idx] * 1000.0, 1, "cpu", cpus[i].name);
        }
    }
out:
    free(cpus);
    plg_dir_free(names, n);
    return rc;
}

const struct plg_collector plg_collector_cpufreq = {
    .name = "cpufreq",
    .default_enabled = true,
    .collect = cpufreq_collect,
};
