#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

#define U1 "0abb23a9-579b-43e6-ad30-227ef47fcb9d"

/* Two filesystems: one with a label, metadata_uuid, raid0 data and raid1
 * metadata, mounted per the fixture's mounts at a plain directory (the
 * ioctls are refused, so device sizes come from sysfs); one without
 * metadata_uuid (the uuid comes from the directory name), an empty label,
 * an unparsable bytes_reserved (read as 0, as procfs does), and raid5/raid6
 * layouts whose ratios depend on its 3 devices. */
Test(plugins_btrfs, ok)
{
    struct harness_result r = harness_run("btrfs", "btrfs/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(
        r.text,
        "# HELP node_btrfs_allocation_ratio Data allocation ratio for a layout/data type\n"
        "# TYPE node_btrfs_allocation_ratio gauge\n"
        "node_btrfs_allocation_ratio{block_group_type=\"data\",mode=\"raid0\",uuid=\"0abb23a9-579b-"
        "43e6-ad30-227ef47fcb9d\"} 1\n"
        "node_btrfs_allocation_ratio{block_group_type=\"data\",mode=\"raid0\",uuid=\"7f07c59f-6136-"
        "449c-ab87-e1cf2328731b\"} 1\n"
        "node_btrfs_allocation_ratio{block_group_type=\"data\",mode=\"raid5\",uuid=\"7f07c59f-6136-"
        "449c-ab87-e1cf2328731b\"} 1.5\n"
        "node_btrfs_allocation_ratio{block_group_type=\"metadata\",mode=\"raid1\",uuid=\"0abb23a9-"
        "579b-43e6-ad30-227ef47fcb9d\"} 2\n"
        "node_btrfs_allocation_ratio{block_group_type=\"metadata\",mode=\"raid6\",uuid=\"7f07c59f-"
        "6136-449c-ab87-e1cf2328731b\"} 3\n"
        "node_btrfs_allocation_ratio{block_group_type=\"system\",mode=\"raid1\",uuid=\"0abb23a9-"
        "579b-43e6-ad30-227ef47fcb9d\"} 2\n"
        "node_btrfs_allocation_ratio{block_group_type=\"system\",mode=\"raid1\",uuid=\"7f07c59f-"
        "6136-449c-ab87-e1cf2328731b\"} 2\n"
        "# HELP node_btrfs_device_size_bytes Size of a device that is part of the filesystem.\n"
        "# TYPE node_btrfs_device_size_bytes gauge\n"
        "node_btrfs_device_size_bytes{device=\"loop25\",uuid=\"0abb23a9-579b-43e6-ad30-"
        "227ef47fcb9d\"} 1.073741824e+10\n"
        "node_btrfs_device_size_bytes{device=\"loop26\",uuid=\"0abb23a9-579b-43e6-ad30-"
        "227ef47fcb9d\"} 1.073741824e+10\n"
        "node_btrfs_device_size_bytes{device=\"sdb\",uuid=\"7f07c59f-6136-449c-ab87-e1cf2328731b\"}"
        " 1.073741824e+09\n"
        "node_btrfs_device_size_bytes{device=\"sdc\",uuid=\"7f07c59f-6136-449c-ab87-e1cf2328731b\"}"
        " 1.073741824e+09\n"
        "node_btrfs_device_size_bytes{device=\"sdd\",uuid=\"7f07c59f-6136-449c-ab87-e1cf2328731b\"}"
        " 2.147483648e+09\n"
        "# HELP node_btrfs_global_rsv_size_bytes Size of global reserve.\n"
        "# TYPE node_btrfs_global_rsv_size_bytes gauge\n"
        "node_btrfs_global_rsv_size_bytes{uuid=\"0abb23a9-579b-43e6-ad30-227ef47fcb9d\"} "
        "1.6777216e+07\n"
        "node_btrfs_global_rsv_size_bytes{uuid=\"7f07c59f-6136-449c-ab87-e1cf2328731b\"} "
        "3.670016e+06\n"
        "# HELP node_btrfs_info Filesystem information\n"
        "# TYPE node_btrfs_info gauge\n"
        "node_btrfs_info{label=\"\",uuid=\"7f07c59f-6136-449c-ab87-e1cf2328731b\"} 1\n"
        "node_btrfs_info{label=\"fixture\",uuid=\"0abb23a9-579b-43e6-ad30-227ef47fcb9d\"} 1\n"
        "# HELP node_btrfs_reserved_bytes Amount of space reserved for a data type\n"
        "# TYPE node_btrfs_reserved_bytes gauge\n"
        "node_btrfs_reserved_bytes{block_group_type=\"data\",uuid=\"0abb23a9-579b-43e6-ad30-"
        "227ef47fcb9d\"} 0\n"
        "node_btrfs_reserved_bytes{block_group_type=\"data\",uuid=\"7f07c59f-6136-449c-ab87-"
        "e1cf2328731b\"} 0\n"
        "node_btrfs_reserved_bytes{block_group_type=\"metadata\",uuid=\"0abb23a9-579b-43e6-ad30-"
        "227ef47fcb9d\"} 131072\n"
        "node_btrfs_reserved_bytes{block_group_type=\"metadata\",uuid=\"7f07c59f-6136-449c-ab87-"
        "e1cf2328731b\"} 16384\n"
        "node_btrfs_reserved_bytes{block_group_type=\"system\",uuid=\"0abb23a9-579b-43e6-ad30-"
        "227ef47fcb9d\"} 0\n"
        "node_btrfs_reserved_bytes{block_group_type=\"system\",uuid=\"7f07c59f-6136-449c-ab87-"
        "e1cf2328731b\"} 0\n"
        "# HELP node_btrfs_size_bytes Amount of space allocated for a layout/data type\n"
        "# TYPE node_btrfs_size_bytes gauge\n"
        "node_btrfs_size_bytes{block_group_type=\"data\",mode=\"raid0\",uuid=\"0abb23a9-579b-43e6-"
        "ad30-227ef47fcb9d\"} 2.147483648e+09\n"
        "node_btrfs_size_bytes{block_group_type=\"data\",mode=\"raid0\",uuid=\"7f07c59f-6136-449c-"
        "ab87-e1cf2328731b\"} 8.388608e+06\n"
        "node_btrfs_size_bytes{block_group_type=\"data\",mode=\"raid5\",uuid=\"7f07c59f-6136-449c-"
        "ab87-e1cf2328731b\"} 4.2991616e+08\n"
        "node_btrfs_size_bytes{block_group_type=\"metadata\",mode=\"raid1\",uuid=\"0abb23a9-579b-"
        "43e6-ad30-227ef47fcb9d\"} 1.073741824e+09\n"
        "node_btrfs_size_bytes{block_group_type=\"metadata\",mode=\"raid6\",uuid=\"7f07c59f-6136-"
        "449c-ab87-e1cf2328731b\"} 2.68435456e+08\n"
        "node_btrfs_size_bytes{block_group_type=\"system\",mode=\"raid1\",uuid=\"0abb23a9-579b-"
        "43e6-ad30-227ef47fcb9d\"} 8.388608e+06\n"
        "node_btrfs_size_bytes{block_group_type=\"system\",mode=\"raid1\",uuid=\"7f07c59f-6136-"
        "449c-ab87-e1cf2328731b\"} 8.388608e+06\n"
        "# HELP node_btrfs_used_bytes Amount of used space by a layout/data type\n"
        "# TYPE node_btrfs_used_bytes gauge\n"
        "node_btrfs_used_bytes{block_group_type=\"data\",mode=\"raid0\",uuid=\"0abb23a9-579b-43e6-"
        "ad30-227ef47fcb9d\"} 8.08189952e+08\n"
        "node_btrfs_used_bytes{block_group_type=\"data\",mode=\"raid0\",uuid=\"7f07c59f-6136-449c-"
        "ab87-e1cf2328731b\"} 0\n"
        "node_btrfs_used_bytes{block_group_type=\"data\",mode=\"raid5\",uuid=\"7f07c59f-6136-449c-"
        "ab87-e1cf2328731b\"} 65536\n"
        "node_btrfs_used_bytes{block_group_type=\"metadata\",mode=\"raid1\",uuid=\"0abb23a9-579b-"
        "43e6-ad30-227ef47fcb9d\"} 933888\n"
        "node_btrfs_used_bytes{block_group_type=\"metadata\",mode=\"raid6\",uuid=\"7f07c59f-6136-"
        "449c-ab87-e1cf2328731b\"} 114688\n"
        "node_btrfs_used_bytes{block_group_type=\"system\",mode=\"raid1\",uuid=\"0abb23a9-579b-"
        "43e6-ad30-227ef47fcb9d\"} 16384\n"
        "node_btrfs_used_bytes{block_group_type=\"system\",mode=\"raid1\",uuid=\"7f07c59f-6136-"
        "449c-ab87-e1cf2328731b\"} 16384\n");
    harness_free(&r);
}

Test(plugins_btrfs, garbage)
{
    /* allocation/system/bytes_reserved cannot be read: the collection fails
     * and no btrfs series are exported, not even the other filesystem's */
    struct harness_result r = harness_run("btrfs", "btrfs/garbage", NULL);
    cr_assert_eq(r.rc, -EISDIR);
    cr_assert(strstr(r.errmsg, U1) != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_btrfs, read_error_outside_system_is_not_fatal)
{
    /* procfs 0.8 lets each block group type overwrite the reader's error, so
     * an unreadable allocation/data/bytes_pinned only zeroes what data reads
     * after it -- and bytes_pinned, being a directory, shows up as a layout */
    struct harness_result r = harness_run("btrfs", "btrfs/dataerr", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert(harness_has_line(r.text, "node_btrfs_size_bytes{block_group_type=\"data\",mode="
                                       "\"raid0\",uuid=\"" U1 "\"} 0"),
              "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_btrfs_allocation_ratio{block_group_type=\"data\","
                                       "mode=\"bytes_pinned\",uuid=\"" U1 "\"} 0"),
              "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_btrfs_size_bytes{block_group_type=\"metadata\",mode="
                                       "\"raid1\",uuid=\"" U1 "\"} 1.073741824e+09"),
              "%s", r.text);
    harness_free(&r);
}

Test(plugins_btrfs, missing)
{
    /* no btrfs: success with nothing, as 1.5 reports it */
    struct harness_result r = harness_run("btrfs", "btrfs/missing", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
