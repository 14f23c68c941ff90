#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

/* Two filesystems: sda1 with a 5.x kernel's stats (rmapbt, refcntbt,
 * defer_relog lines, 8 vnode counters) and dm-2 with an older layout (7
 * vnode counters, 8 quota counters). The global fs/xfs/stats/stats is not a
 * filesystem and is ignored, as 1.5 ignores it. */
Test(plugins_xfs, ok)
{
    struct harness_result r = harness_run("xfs", "xfs/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(
        r.text,
        "# HELP node_xfs_allocation_btree_compares_total Number of allocation B-tree compares for "
        "a filesystem.\n"
        "# TYPE node_xfs_allocation_btree_compares_total counter\n"
        "node_xfs_allocation_btree_compares_total{device=\"dm-2\"} 0\n"
        "node_xfs_allocation_btree_compares_total{device=\"sda1\"} 0\n"
        "# HELP node_xfs_allocation_btree_lookups_total Number of allocation B-tree lookups for a "
        "filesystem.\n"
        "# TYPE node_xfs_allocation_btree_lookups_total counter\n"
        "node_xfs_allocation_btree_lookups_total{device=\"dm-2\"} 0\n"
        "node_xfs_allocation_btree_lookups_total{device=\"sda1\"} 0\n"
        "# HELP node_xfs_allocation_btree_records_deleted_total Number of allocation B-tree "
        "records deleted for a filesystem.\n"
        "# TYPE node_xfs_allocation_btree_records_deleted_total counter\n"
        "node_xfs_allocation_btree_records_deleted_total{device=\"dm-2\"} 0\n"
        "node_xfs_allocation_btree_records_deleted_total{device=\"sda1\"} 0\n"
        "# HELP node_xfs_allocation_btree_records_inserted_total Number of allocation B-tree "
        "records inserted for a filesystem.\n"
        "# TYPE node_xfs_allocation_btree_records_inserted_total counter\n"
        "node_xfs_allocation_btree_records_inserted_total{device=\"dm-2\"} 0\n"
        "node_xfs_allocation_btree_records_inserted_total{device=\"sda1\"} 0\n"
        "# HELP node_xfs_block_map_btree_compares_total Number of block map B-tree compares for a "
        "filesystem.\n"
        "# TYPE node_xfs_block_map_btree_compares_total counter\n"
        "node_xfs_block_map_btree_compares_total{device=\"dm-2\"} 0\n"
        "node_xfs_block_map_btree_compares_total{device=\"sda1\"} 0\n"
        "# HELP node_xfs_block_map_btree_lookups_total Number of block map B-tree lookups for a "
        "filesystem.\n"
        "# TYPE node_xfs_block_map_btree_lookups_total counter\n"
        "node_xfs_block_map_btree_lookups_total{device=\"dm-2\"} 0\n"
        "node_xfs_block_map_btree_lookups_total{device=\"sda1\"} 0\n"
        "# HELP node_xfs_block_map_btree_records_deleted_total Number of block map B-tree records "
        "deleted for a filesystem.\n"
        "# TYPE node_xfs_block_map_btree_records_deleted_total counter\n"
        "node_xfs_block_map_btree_records_deleted_total{device=\"dm-2\"} 0\n"
        "node_xfs_block_map_btree_records_deleted_total{device=\"sda1\"} 0\n"
        "# HELP node_xfs_block_map_btree_records_inserted_total Number of block map B-tree records "
        "inserted for a filesystem.\n"
        "# TYPE node_xfs_block_map_btree_records_inserted_total counter\n"
        "node_xfs_block_map_btree_records_inserted_total{device=\"dm-2\"} 0\n"
        "node_xfs_block_map_btree_records_inserted_total{device=\"sda1\"} 0\n"
        "# HELP node_xfs_block_mapping_extent_list_compares_total Number of extent list compares "
        "for a filesystem.\n"
        "# TYPE node_xfs_block_mapping_extent_list_compares_total counter\n"
        "node_xfs_block_mapping_extent_list_compares_total{device=\"dm-2\"} 0\n"
        "node_xfs_block_mapping_extent_list_compares_total{device=\"sda1\"} 0\n"
        "# HELP node_xfs_block_mapping_extent_list_deletions_total Number of extent list deletions "
        "for a filesystem.\n"
        "# TYPE node_xfs_block_mapping_extent_list_deletions_total counter\n"
        "node_xfs_block_mapping_extent_list_deletions_total{device=\"dm-2\"} 3\n"
        "node_xfs_block_mapping_extent_list_deletions_total{device=\"sda1\"} 92448\n"
        "# HELP node_xfs_block_mapping_extent_list_insertions_total Number of extent list "
        "insertions for a filesystem.\n"
        "# TYPE node_xfs_block_mapping_extent_list_insertions_total counter\n"
        "node_xfs_block_mapping_extent_list_insertions_total{device=\"dm-2\"} 12\n"
        "node_xfs_block_mapping_extent_list_insertions_total{device=\"sda1\"} 92447\n"
        "# HELP node_xfs_block_mapping_extent_list_lookups_total Number of extent list lookups for "
        "a filesystem.\n"
        "# TYPE node_xfs_block_mapping_extent_list_lookups_total counter\n"
        "node_xfs_block_mapping_extent_list_lookups_total{device=\"dm-2\"} 2201\n"
        "node_xfs_block_mapping_extent_list_lookups_total{device=\"sda1\"} 2.140766e+06\n"
        "# HELP node_xfs_block_mapping_reads_total Number of block map for read operations for a "
        "filesystem.\n"
        "# TYPE node_xfs_block_mapping_reads_total counter\n"
        "node_xfs_block_mapping_reads_total{device=\"dm-2\"} 2113\n"
        "node_xfs_block_mapping_reads_total{device=\"sda1\"} 1.767055e+06\n"
        "# HELP node_xfs_block_mapping_unmaps_total Number of block unmaps (deletes) for a "
        "filesystem.\n"
        "# TYPE node_xfs_block_mapping_unmaps_total counter\n"
        "node_xfs_block_mapping_unmaps_total{device=\"dm-2\"} 9\n"
        "node_xfs_block_mapping_unmaps_total{device=\"sda1\"} 184891\n"
        "# HELP node_xfs_block_mapping_writes_total Number of block map for write operations for a "
        "filesystem.\n"
        "# TYPE node_xfs_block_mapping_writes_total counter\n"
        "node_xfs_block_mapping_writes_total{device=\"dm-2\"} 57\n"
        "node_xfs_block_mapping_writes_total{device=\"sda1\"} 188820\n"
        "# HELP node_xfs_directory_operation_create_total Number of times a new directory entry "
        "was created for a filesystem.\n"
        "# TYPE node_xfs_directory_operation_create_total counter\n"
        "node_xfs_directory_operation_create_total{device=\"dm-2\"} 14\n"
        "node_xfs_directory_operation_create_total{device=\"sda1\"} 92447\n"
        "# HELP node_xfs_directory_operation_getdents_total Number of times the directory getdents "
        "operation was performed for a filesystem.\n"
        "# TYPE node_xfs_directory_operation_getdents_total counter\n"
        "node_xfs_directory_operation_getdents_total{device=\"dm-2\"} 31\n"
        "node_xfs_directory_operation_getdents_total{device=\"sda1\"} 136422\n"
        "# HELP node_xfs_directory_operation_lookup_total Number of file name directory lookups "
        "which miss the operating systems directory name lookup cache.\n"
        "# TYPE node_xfs_directory_operation_lookup_total counter\n"
        "node_xfs_directory_operation_lookup_total{device=\"dm-2\"} 77\n"
        "node_xfs_directory_operation_lookup_total{device=\"sda1\"} 185039\n"
        "# HELP node_xfs_directory_operation_remove_total Number of times an existing directory "
        "entry was created for a filesystem.\n"
        "# TYPE node_xfs_directory_operation_remove_total counter\n"
        "node_xfs_directory_operation_remove_total{device=\"dm-2\"} 2\n"
        "node_xfs_directory_operation_remove_total{device=\"sda1\"} 92444\n"
        "# HELP node_xfs_extent_allocation_blocks_allocated_total Number of blocks allocated for a "
        "filesystem.\n"
        "# TYPE node_xfs_extent_allocation_blocks_allocated_total counter\n"
        "node_xfs_extent_allocation_blocks_allocated_total{device=\"dm-2\"} 340\n"
        "node_xfs_extent_allocation_blocks_allocated_total{device=\"sda1\"} 97589\n"
        "# HELP node_xfs_extent_allocation_blocks_freed_total Number of blocks freed for a "
        "filesystem.\n"
        "# TYPE node_xfs_extent_allocation_blocks_freed_total counter\n"
        "node_xfs_extent_allocation_blocks_freed_total{device=\"dm-2\"} 28\n"
        "node_xfs_extent_allocation_blocks_freed_total{device=\"sda1\"} 93751\n"
        "# HELP node_xfs_extent_allocation_extents_allocated_total Number of extents allocated for "
        "a filesystem.\n"
        "# TYPE node_xfs_extent_allocation_extents_allocated_total counter\n"
        "node_xfs_extent_allocation_extents_allocated_total{device=\"dm-2\"} 12\n"
        "node_xfs_extent_allocation_extents_allocated_total{device=\"sda1\"} 92447\n"
        "# HELP node_xfs_extent_allocation_extents_freed_total Number of extents freed for a "
        "filesystem.\n"
        "# TYPE node_xfs_extent_allocation_extents_freed_total counter\n"
        "node_xfs_extent_allocation_extents_freed_total{device=\"dm-2\"} 3\n"
        "node_xfs_extent_allocation_extents_freed_total{device=\"sda1\"} 92448\n"
        "# HELP node_xfs_inode_operation_attempts_total Number of times the OS looked for an XFS "
        "inode in the inode cache.\n"
        "# TYPE node_xfs_inode_operation_attempts_total counter\n"
        "node_xfs_inode_operation_attempts_total{device=\"dm-2\"} 0\n"
        "node_xfs_inode_operation_attempts_total{device=\"sda1\"} 185045\n"
        "# HELP node_xfs_inode_operation_attribute_changes_total Number of times the OS explicitly "
        "changed the attributes of an XFS inode.\n"
        "# TYPE node_xfs_inode_operation_attribute_changes_total counter\n"
        "node_xfs_inode_operation_attribute_changes_total{device=\"dm-2\"} 4\n"
        "node_xfs_inode_operation_attribute_changes_total{device=\"sda1\"} 22\n"
        "# HELP node_xfs_inode_operation_duplicates_total Number of times the OS tried to add a "
        "missing XFS inode to the inode cache, but found it had already been added by another "
        "process.\n"
        "# TYPE node_xfs_inode_operation_duplicates_total counter\n"
        "node_xfs_inode_operation_duplicates_total{device=\"dm-2\"} 0\n"
        "node_xfs_inode_operation_duplicates_total{device=\"sda1\"} 0\n"
        "# HELP node_xfs_inode_operation_found_total Number of times the OS looked for and found "
        "an XFS inode in the inode cache.\n"
        "# TYPE node_xfs_inode_operation_found_total counter\n"
        "node_xfs_inode_operation_found_total{device=\"dm-2\"} 22\n"
        "node_xfs_inode_operation_found_total{device=\"sda1\"} 58807\n"
        "# HELP node_xfs_inode_operation_missed_total Number of times the OS looked for an XFS "
        "inode in the cache, but did not find it.\n"
        "# TYPE node_xfs_inode_operation_missed_total counter\n"
        "node_xfs_inode_operation_missed_total{device=\"dm-2\"} 55\n"
        "node_xfs_inode_operation_missed_total{device=\"sda1\"} 126238\n"
        "# HELP node_xfs_inode_operation_reclaims_total Number of times the OS reclaimed an XFS "
        "inode from the inode cache to free memory for another purpose.\n"
        "# TYPE node_xfs_inode_operation_reclaims_total counter\n"
        "node_xfs_inode_operation_reclaims_total{device=\"dm-2\"} 0\n"
        "node_xfs_inode_operation_reclaims_total{device=\"sda1\"} 33637\n"
        "# HELP node_xfs_inode_operation_recycled_total Number of times the OS found an XFS inode "
        "in the cache, but could not use it as it was being recycled.\n"
        "# TYPE node_xfs_inode_operation_recycled_total counter\n"
        "node_xfs_inode_operation_recycled_total{device=\"dm-2\"} 0\n"
        "node_xfs_inode_operation_recycled_total{device=\"sda1\"} 0\n"
        "# HELP node_xfs_read_calls_total Number of read(2) system calls made to files in a "
        "filesystem.\n"
        "# TYPE node_xfs_read_calls_total counter\n"
        "node_xfs_read_calls_total{device=\"dm-2\"} 1893\n"
        "node_xfs_read_calls_total{device=\"sda1\"} 94045\n"
        "# HELP node_xfs_vnode_active_total Number of vnodes not on free lists for a filesystem.\n"
        "# TYPE node_xfs_vnode_active_total counter\n"
        "node_xfs_vnode_active_total{device=\"dm-2\"} 77\n"
        "node_xfs_vnode_active_total{device=\"sda1\"} 92601\n"
        "# HELP node_xfs_vnode_allocate_total Number of times vn_alloc called for a filesystem.\n"
        "# TYPE node_xfs_vnode_allocate_total counter\n"
        "node_xfs_vnode_allocate_total{device=\"dm-2\"} 0\n"
        "node_xfs_vnode_allocate_total{device=\"sda1\"} 0\n"
        "# HELP node_xfs_vnode_get_total Number of times vn_get called for a filesystem.\n"
        "# TYPE node_xfs_vnode_get_total counter\n"
        "node_xfs_vnode_get_total{device=\"dm-2\"} 0\n"
        "node_xfs_vnode_get_total{device=\"sda1\"} 0\n"
        "# HELP node_xfs_vnode_hold_total Number of times vn_hold called for a filesystem.\n"
        "# TYPE node_xfs_vnode_hold_total counter\n"
        "node_xfs_vnode_hold_total{device=\"dm-2\"} 0\n"
        "node_xfs_vnode_hold_total{device=\"sda1\"} 0\n"
        "# HELP node_xfs_vnode_reclaim_total Number of times vn_reclaim called for a filesystem.\n"
        "# TYPE node_xfs_vnode_reclaim_total counter\n"
        "node_xfs_vnode_reclaim_total{device=\"dm-2\"} 2\n"
        "node_xfs_vnode_reclaim_total{device=\"sda1\"} 92444\n"
        "# HELP node_xfs_vnode_release_total Number of times vn_rele called for a filesystem.\n"
        "# TYPE node_xfs_vnode_release_total counter\n"
        "node_xfs_vnode_release_total{device=\"dm-2\"} 2\n"
        "node_xfs_vnode_release_total{device=\"sda1\"} 92444\n"
        "# HELP node_xfs_vnode_remove_total Number of times vn_remove called for a filesystem.\n"
        "# TYPE node_xfs_vnode_remove_total counter\n"
        "node_xfs_vnode_remove_total{device=\"dm-2\"} 2\n"
        "node_xfs_vnode_remove_total{device=\"sda1\"} 92444\n"
        "# HELP node_xfs_write_calls_total Number of write(2) system calls made to files in a "
        "filesystem.\n"
        "# TYPE node_xfs_write_calls_total counter\n"
        "node_xfs_write_calls_total{device=\"dm-2\"} 4471\n"
        "node_xfs_write_calls_total{device=\"sda1\"} 107739\n");
    harness_free(&r);
}

Test(plugins_xfs, garbage)
{
    struct harness_result r = harness_run("xfs", "xfs/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "sdb1/stats/stats: invalid rw value \"18x93\"") != NULL, "%s",
              r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_xfs, wrong_number_of_values)
{
    struct harness_result r = harness_run("xfs", "xfs/badcount", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "incorrect number of values for XFS block mapping stats: 6") != NULL,
              "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_xfs, missing)
{
    /* no XFS mounted: nothing to export, and success, as in 1.5 */
    struct harness_result r = harness_run("xfs", "xfs/missing", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
