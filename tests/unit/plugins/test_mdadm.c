#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

/* raid5 recovering (with bitmap after the progress line), raid1 resyncing,
 * raid1 with a spare and with a failed disk, raid0, raid6 with
 * resync=PENDING, raid10 checking, and an inactive array. */
Test(plugins_mdadm, ok)
{
    struct harness_result r = harness_run("mdadm", "mdadm/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "# HELP node_md_blocks Total number of blocks on device.\n"
                             "# TYPE node_md_blocks gauge\n"
                             "node_md_blocks{device=\"md0\"} 1.046528e+06\n"
                             "node_md_blocks{device=\"md1\"} 523264\n"
                             "node_md_blocks{device=\"md127\"} 1.048512e+06\n"
                             "node_md_blocks{device=\"md2\"} 9.76630464e+08\n"
                             "node_md_blocks{device=\"md3\"} 3.9067648e+09\n"
                             "node_md_blocks{device=\"md4\"} 1.953260544e+09\n"
                             "node_md_blocks{device=\"md5\"} 2.093056e+06\n"
                             "node_md_blocks{device=\"md6\"} 2.093056e+06\n"
                             "# HELP node_md_blocks_synced Number of blocks synced on device.\n"
                             "# TYPE node_md_blocks_synced gauge\n"
                             "node_md_blocks_synced{device=\"md0\"} 1.046528e+06\n"
                             "node_md_blocks_synced{device=\"md1\"} 523264\n"
                             "node_md_blocks_synced{device=\"md127\"} 1.048512e+06\n"
                             "node_md_blocks_synced{device=\"md2\"} 2.69557248e+08\n"
                             "node_md_blocks_synced{device=\"md3\"} 2.46784e+08\n"
                             "node_md_blocks_synced{device=\"md4\"} 1.953260544e+09\n"
                             "node_md_blocks_synced{device=\"md5\"} 0\n"
                             "node_md_blocks_synced{device=\"md6\"} 17536\n"
                             "# HELP node_md_disks Number of active/failed/spare disks of device.\n"
                             "# TYPE node_md_disks gauge\n"
                             "node_md_disks{device=\"md0\",state=\"active\"} 1\n"
                             "node_md_disks{device=\"md0\",state=\"failed\"} 1\n"
                             "node_md_disks{device=\"md0\",state=\"spare\"} 0\n"
                             "node_md_disks{device=\"md1\",state=\"active\"} 2\n"
                             "node_md_disks{device=\"md1\",state=\"failed\"} 0\n"
                             "node_md_disks{device=\"md1\",state=\"spare\"} 1\n"
                             "node_md_disks{device=\"md127\",state=\"active\"} 0\n"
                             "node_md_disks{device=\"md127\",state=\"failed\"} 0\n"
                             "node_md_disks{device=\"md127\",state=\"spare\"} 1\n"
                             "node_md_disks{device=\"md2\",state=\"active\"} 2\n"
                             "node_md_disks{device=\"md2\",state=\"failed\"} 0\n"
                             "node_md_disks{device=\"md2\",state=\"spare\"} 0\n"
                             "node_md_disks{device=\"md3\",state=\"active\"} 2\n"
                             "node_md_disks{device=\"md3\",state=\"failed\"} 0\n"
                             "node_md_disks{device=\"md3\",state=\"spare\"} 0\n"
                             "node_md_disks{device=\"md4\",state=\"active\"} 2\n"
                             "node_md_disks{device=\"md4\",state=\"failed\"} 0\n"
                             "node_md_disks{device=\"md4\",state=\"spare\"} 0\n"
                             "node_md_disks{device=\"md5\",state=\"active\"} 4\n"
                             "node_md_disks{device=\"md5\",state=\"failed\"} 0\n"
                             "node_md_disks{device=\"md5\",state=\"spare\"} 0\n"
                             "node_md_disks{device=\"md6\",state=\"active\"} 4\n"
                             "node_md_disks{device=\"md6\",state=\"failed\"} 0\n"
                             "node_md_disks{device=\"md6\",state=\"spare\"} 0\n"
                             "# HELP node_md_disks_required Total number of disks of device.\n"
                             "# TYPE node_md_disks_required gauge\n"
                             "node_md_disks_required{device=\"md0\"} 2\n"
                             "node_md_disks_required{device=\"md1\"} 2\n"
                             "node_md_disks_required{device=\"md127\"} 0\n"
                             "node_md_disks_required{device=\"md2\"} 2\n"
                             "node_md_disks_required{device=\"md3\"} 3\n"
                             "node_md_disks_required{device=\"md4\"} 2\n"
                             "node_md_disks_required{device=\"md5\"} 4\n"
                             "node_md_disks_required{device=\"md6\"} 4\n"
                             "# HELP node_md_state Indicates the state of md-device.\n"
                             "# TYPE node_md_state gauge\n"
                             "node_md_state{device=\"md0\",state=\"active\"} 1\n"
                             "node_md_state{device=\"md0\",state=\"check\"} 0\n"
                             "node_md_state{device=\"md0\",state=\"inactive\"} 0\n"
                             "node_md_state{device=\"md0\",state=\"recovering\"} 0\n"
                             "node_md_state{device=\"md0\",state=\"resync\"} 0\n"
                             "node_md_state{device=\"md1\",state=\"active\"} 1\n"
                             "node_md_state{device=\"md1\",state=\"check\"} 0\n"
                             "node_md_state{device=\"md1\",state=\"inactive\"} 0\n"
                             "node_md_state{device=\"md1\",state=\"recovering\"} 0\n"
                             "node_md_state{device=\"md1\",state=\"resync\"} 0\n"
                             "node_md_state{device=\"md127\",state=\"active\"} 0\n"
                             "node_md_state{device=\"md127\",state=\"check\"} 0\n"
                             "node_md_state{device=\"md127\",state=\"inactive\"} 1\n"
                             "node_md_state{device=\"md127\",state=\"recovering\"} 0\n"
                             "node_md_state{device=\"md127\",state=\"resync\"} 0\n"
                             "node_md_state{device=\"md2\",state=\"active\"} 0\n"
                             "node_md_state{device=\"md2\",state=\"check\"} 0\n"
                             "node_md_state{device=\"md2\",state=\"inactive\"} 0\n"
                             "node_md_state{device=\"md2\",state=\"recovering\"} 0\n"
                             "node_md_state{device=\"md2\",state=\"resync\"} 1\n"
                             "node_md_state{device=\"md3\",state=\"active\"} 0\n"
                             "node_md_state{device=\"md3\",state=\"check\"} 0\n"
                             "node_md_state{device=\"md3\",state=\"inactive\"} 0\n"
                             "node_md_state{device=\"md3\",state=\"recovering\"} 1\n"
                             "node_md_state{device=\"md3\",state=\"resync\"} 0\n"
                             "node_md_state{device=\"md4\",state=\"active\"} 1\n"
                             "node_md_state{device=\"md4\",state=\"check\"} 0\n"
                             "node_md_state{device=\"md4\",state=\"inactive\"} 0\n"
                             "node_md_state{device=\"md4\",state=\"recovering\"} 0\n"
                             "node_md_state{device=\"md4\",state=\"resync\"} 0\n"
                             "node_md_state{device=\"md5\",state=\"active\"} 0\n"
                             "node_md_state{device=\"md5\",state=\"check\"} 0\n"
                             "node_md_state{device=\"md5\",state=\"inactive\"} 0\n"
                             "node_md_state{device=\"md5\",state=\"recovering\"} 0\n"
                             "node_md_state{device=\"md5\",state=\"resync\"} 1\n"
                             "node_md_state{device=\"md6\",state=\"active\"} 0\n"
                             "node_md_state{device=\"md6\",state=\"check\"} 1\n"
                             "node_md_state{device=\"md6\",state=\"inactive\"} 0\n"
                             "node_md_state{device=\"md6\",state=\"recovering\"} 0\n"
                             "node_md_state{device=\"md6\",state=\"resync\"} 0\n");
    harness_free(&r);
}

Test(plugins_mdadm, no_arrays)
{
    struct harness_result r = harness_run("mdadm", "mdadm/none", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_mdadm, garbage)
{
    struct harness_result r = harness_run("mdadm", "mdadm/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "mdstat") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "invalid size 10465x8") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_mdadm, truncated)
{
    struct harness_result r = harness_run("mdadm", "mdadm/truncated", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "\"md0\": too few lines for md device") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_mdadm, sync_line_without_speed)
{
    struct harness_result r = harness_run("mdadm", "mdadm/badsync", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "unexpected recoveryLine matching speed") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_mdadm, missing)
{
    /* no md driver: node_exporter reports the collector as failed (no data) */
    struct harness_result r = harness_run("mdadm", "mdadm/missing", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert(strstr(r.errmsg, "mdstat") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
