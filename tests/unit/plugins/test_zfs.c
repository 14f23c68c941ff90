#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

Test(plugins_zfs, ok)
{
    struct harness_result r = harness_run("zfs", "zfs/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    const char *t = r.text;
    const char *const lines[] = {
        /* module-wide kstats: untyped, HELP is the kstat name */
        "# HELP node_zfs_arc_hits kstat.zfs.misc.arcstats.hits",
        "# TYPE node_zfs_arc_hits untyped",
        "node_zfs_arc_hits 8.772612e+06",
        "node_zfs_arc_misses 604635",
        "node_zfs_arc_c_max 8.367976448e+09",
        "node_zfs_arc_size 1.603939792e+09",
        "node_zfs_arc_p 5.16395305e+08",
        "node_zfs_arc_l2_hits 0",
        "node_zfs_zfetch_hits 7.067992e+06",
        "node_zfs_abd_scatter_data_size 16384",
        "node_zfs_dmu_tx_dmu_tx_assigned 3.532844e+06",
        "node_zfs_vdev_mirror_preferred_not_found 94",
        /* '-' becomes '_' in the name, not in the HELP */
        "# HELP node_zfs_fm_erpt_dropped kstat.zfs.misc.fm.erpt-dropped",
        "node_zfs_fm_erpt_dropped 18",
        /* a uint64 beyond 2^63 */
        "node_zfs_zil_zil_itx_needcopy_bytes 1.8446744073709537e+19",
        /* pool io */
        "# HELP node_zfs_zpool_nread kstat.zfs.misc.io.nread",
        "# TYPE node_zfs_zpool_nread untyped",
        "node_zfs_zpool_nread{zpool=\"tank\"} 1.88416e+06",
        "node_zfs_zpool_wlentime{zpool=\"tank\"} 1.04112268e+08",
        "node_zfs_zpool_rupdate{zpool=\"tank\"} 1.3801499658e+10",
        /* datasets */
        "# HELP node_zfs_zpool_dataset_nread kstat.zfs.misc.objset.nread",
        "# TYPE node_zfs_zpool_dataset_nread untyped",
        "node_zfs_zpool_dataset_nread{dataset=\"tank/home\",zpool=\"tank\"} 13312",
        "node_zfs_zpool_dataset_nread{dataset=\"tank\",zpool=\"tank\"} 266240",
        "node_zfs_zpool_dataset_nunlinks{dataset=\"tank/home\",zpool=\"tank\"} 14148",
        "node_zfs_zpool_dataset_reads{dataset=\"backup/snapshots\",zpool=\"backup\"} 3",
        /* states */
        "# HELP node_zfs_zpool_state kstat.zfs.misc.state",
        "# TYPE node_zfs_zpool_state gauge",
        "node_zfs_zpool_state{state=\"online\",zpool=\"tank\"} 1",
        "node_zfs_zpool_state{state=\"degraded\",zpool=\"tank\"} 0",
        "node_zfs_zpool_state{state=\"online\",zpool=\"backup\"} 0",
        "node_zfs_zpool_state{state=\"degraded\",zpool=\"backup\"} 1",
        "node_zfs_zpool_state{state=\"unavail\",zpool=\"backup\"} 0",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        cr_assert(harness_has_line(t, lines[i]), "missing: %s", lines[i]);
    /* arcstats 50 + zfetch 3 + zil 13 + abd 12 + mirror 7 + fm 4 + dmu_tx 12
     * + io 12 + 3 datasets x 6 + 2 pools x 6 states */
    cr_assert_eq(harness_count_samples(t), 50 + 3 + 13 + 12 + 7 + 4 + 12 + 12 + 18 + 12, "%s", t);
    /* dataset_name (type 7) is a label, not a metric; only backup has no io */
    cr_assert_null(strstr(t, "dataset_name"));
    cr_assert_null(strstr(t, "node_zfs_zpool_nread{zpool=\"backup\"}"));
    harness_free(&r);
}

Test(plugins_zfs, garbage)
{
    struct harness_result r = harness_run("zfs", "zfs/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "could not parse expected integer value for "
                               "\"kstat.zfs.misc.arcstats.misses\"") != NULL,
              "%s", r.errmsg);
    /* the rows before the bad one stay, as in 1.5 */
    cr_assert(harness_has_line(r.text, "node_zfs_arc_hits 8.772612e+06"), "%s", r.text);
    cr_assert_null(strstr(r.text, "node_zfs_arc_misses"));
    harness_free(&r);
}

Test(plugins_zfs, kstat_without_header)
{
    struct harness_result r = harness_run("zfs", "zfs/noheader", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "did not parse a single \"zil\" metric") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_zfs, missing)
{
    struct harness_result r = harness_run("zfs", "zfs/missing", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert(strstr(r.errmsg, "spl/kstat/zfs") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
