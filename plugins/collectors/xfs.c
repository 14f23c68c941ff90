/*
 * xfs: per-filesystem XFS statistics from <sysfs>/fs/xfs/<device>/stats/stats
 * -> node_xfs_*_total{device} counters, as node_exporter 1.5's xfs collector.
 *
 * 1.5 reads only the per-device sysfs files (not the global
 * /proc/fs/xfs/stat), so a host without mounted XFS exports nothing and
 * succeeds. The stats file has one line per kind: a label and its counters
 * ("rw 1542 3071"). As procfs does, every line of two or more fields must
 * have unsigned 32-bit counters (64-bit for "xpc"), and the kinds procfs
 * knows must have their exact number of counters; a violation fails the
 * collection. Kinds we do not export are validated and dropped. The values
 * of one device are gathered into an array indexed like xfs_metrics, then
 * exported, so a bad file exports nothing for that collection.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Kinds procfs checks, with the counts it accepts (second 0 if only one). */
static const struct {
    const char *label;
    int n1, n2;
    const char *what;
} xfs_kinds[] = {
    {"extent_alloc", 4, 0, "extent allocation"},
    {"abt", 4, 0, "btree"},
    {"blk_map", 7, 0, "block mapping"},
    {"bmbt", 4, 0, "btree"},
    {"dir", 4, 0, "directory operation"},
    {"trans", 3, 0, "transaction"},
    {"ig", 7, 0, "inode operation"},
    {"log", 5, 0, "log operation"},
    {"rw", 2, 0, "read write"},
    {"attr", 4, 0, "attribute operation"},
    {"icluster", 3, 0, "inode clustering"},
    {"vnodes", 7, 8, "vnode"},
    {"buf", 9, 0, "buffer"},
    {"push_ail", 10, 0, "push ail"},
    {"xstrat", 2, 0, "xstrat"},
    {"abtb2", 15, 0, "abtb2"},
    {"abtc2", 15, 0, "abtc2"},
    {"bmbt2", 15, 0, "bmbt2"},
    {"ibt2", 15, 0, "ibt2"},
    {"qm", 8, 9, "quota"},
    {"debug", 1, 0, "debug"},
    {"xpc", 3, 0, "extended precision"},
};

/* The exported counters: stats line label, index of the value, name, help. */
static const struct {
    const char *label;
    int idx;
    const char *name, *help;
} xfs_metrics[] = {
    {"extent_alloc", 0, "node_xfs_extent_allocation_extents_allocated_total",
     "Number of extents allocated for a filesystem."},
    {"extent_alloc", 1, "node_xfs_extent_allocation_blocks_allocated_total",
     "Number of blocks allocated for a filesystem."},
    {"extent_alloc", 2, "node_xfs_extent_allocation_extents_freed_total",
     "Number of extents freed for a filesystem."},
    {"extent_alloc", 3, "node_xfs_extent_allocation_blocks_freed_total",
     "Number of blocks freed for a filesystem."},
    {"abt", 0, "node_xfs_allocation_btree_lookups_total",
     "Number of allocation B-tree lookups for a filesystem."},
    {"abt", 1, "node_xfs_allocation_btree_compares_total",
     "Number of allocation B-tree compares for a filesystem."},
    {"abt", 2, "node_xfs_allocation_btree_records_inserted_total",
     "Number of allocation B-tree records inserted for a filesystem."},
    {"abt", 3, "node_xfs_allocation_btree_records_deleted_total",
     "Number of allocation B-tree records deleted for a filesystem."},
    {"blk_map", 0, "node_xfs_block_mapping_reads_total",
     "Number of block map for read operations for a filesystem."},
    {"blk_map", 1, "node_xfs_block_mapping_writes_total",
     "Number of block map for write operations for a filesystem."},
    {"blk_map", 2, "node_xfs_block_mapping_unmaps_total",
     "Number of block unmaps (deletes) for a filesystem."},
    {"blk_map", 3, "node_xfs_block_mapping_extent_list_insertions_total",
     "Number of extent list insertions for a filesystem."},
    {"blk_map", 4, "node_xfs_block_mapping_extent_list_deletions_total",
     "Number of extent list deletions for a filesystem."},
    {"blk_map", 5, "node_xfs_block_mapping_extent_list_lookups_total",
     "Number of extent list lookups for a filesystem."},
    {"blk_map", 6, "node_xfs_block_mapping_extent_list_compares_total",
     "Number of extent list compares for a filesystem."},
    {"bmbt", 0, "node_xfs_block_map_btree_lookups_total",
     "Number of block map B-tree lookups for a filesystem."},
    {"bmbt", 1, "node_xfs_block_map_btree_compares_total",
     "Number of block map B-tree compares for a filesystem."},
    {"bmbt", 2, "node_xfs_block_map_btree_records_inserted_total",
     "Number of block map B-tree records inserted for a filesystem."},
    {"bmbt", 3, "node_xfs_block_map_btree_records_deleted_total",
     "Number of block map B-tree records deleted for a filesystem."},
    {"dir", 0, "node_xfs_directory_operation_lookup_total",
     "Number of file name directory lookups which miss the operating systems directory name "
     "lookup cache."},
    {"dir", 1, "node_xfs_directory_operation_create_total",
     "Number of times a new directory entry was created for a filesystem."},
    {"dir", 2, "node_xfs_directory_operation_remove_total",
     "Number of times an existing directory entry was created for a filesystem."},
    {"dir", 3, "node_xfs_directory_operation_getdents_total",
     "Number of times the directory getdents operation was performed for a filesystem."},
    {"ig", 0, "node_xfs_inode_operation_attempts_total",
     "Number of times the OS looked for an XFS inode in the inode cache."},
    {"ig", 1, "node_xfs_inode_operation_found_total",
     "Number of times the OS looked for and found an XFS inode in the inode cache."},
    {"ig", 2, "node_xfs_inode_operation_recycled_total",
     "Number of times the OS found an XFS inode in the cache, but could not use it as it was "
     "being recycled."},
    {"ig", 3, "node_xfs_inode_operation_missed_total",
     "Number of times the OS looked for an XFS inode in the cache, but did not find it."},
    {"ig", 4, "node_xfs_inode_operation_duplicates_total",
     "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it "
     "had already been added by another process."},
    {"ig", 5, "node_xfs_inode_operation_reclaims_total",
     "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for "
     "another purpose."},
    {"ig", 6, "node_xfs_inode_operation_attribute_changes_total",
     "Number of times the OS explicitly changed the attributes of an XFS inode."},
    {"rw", 1, "node_xfs_read_calls_total",
     "Number of read(2) system calls made to files in a filesystem."},
    {"rw", 0, "node_xfs_write_calls_total",
     "Number of write(2) system calls made to files in a filesystem."},
    {"vnodes", 0, "node_xfs_vnode_active_total",
     "Number of vnodes not on free lists for a filesystem."},
    {"vnodes", 1, "node_xfs_vnode_allocate_total",
     "Number of times vn_alloc called for a filesystem."},
    {"vnodes", 2, "node_xfs_vnode_get_total", "Number of times vn_get called for a filesystem."},
    {"vnodes", 3, "node_xfs_vnode_hold_total", "Number of times vn_hold called for a filesystem."},
    {"vnodes", 4, "node_xfs_vnode_release_total",
     "Number of times vn_rele called for a filesystem."},
    {"vnodes", 5, "node_xfs_vnode_reclaim_total",
     "Number of times vn_reclaim called for a filesystem."},
    {"vnodes", 6, "node_xfs_vnode_remove_total",
     "Number of times vn_remove called for a filesystem."},
};

#define XFS_NMETRICS (sizeof(xfs_metrics) / sizeof(xfs_metrics[0]))
#define XFS_MAX_VALUES 64

/* Parses the stats file in buf into vals (indexed like xfs_metrics). */
static int xfs_parse(char *buf, size_t len, double vals[XFS_NMETRICS], char *msg, size_t cap)
{
    for (size_t i = 0; i < XFS_NMETRICS; i++)
        vals[i] = 0;
    for (char *p = buf, *line; (line = plg_next_line(&p, buf + len, NULL));) {
        char *f[XFS_MAX_VALUES + 1];
        int n = plg_fields(line, f, XFS_MAX_VALUES + 1);
        if (n < 2)
            continue;
        if (n > XFS_MAX_VALUES + 1) {
            snprintf(msg, cap, "too many values for XFS %s stats: %d", f[0], n - 1);
            return -EINVAL;
        }
        bool wide = strcmp(f[0], "xpc") == 0;
        uint64_t v[XFS_MAX_VALUES];
        for (int i = 1; i < n; i++) {
            if (plg_parse_uint(f[i], strlen(f[i]), 10, 64, &v[i - 1]) ||
                (!wide && v[i - 1] > UINT32_MAX)) {
                snprintf(msg, cap, "invalid %s value \"%s\"", f[0], f[i]);
                return -EINVAL;
            }
        }
        int count = n - 1;
        for (size_t k = 0; k < sizeof(xfs_kinds) / sizeof(xfs_kinds[0]); k++) {
            if (strcmp(f[0], xfs_kinds[k].label) != 0)
                continue;
            if (count != xfs_kinds[k].n1 && count != xfs_kinds[k].n2) {
                snprintf(msg, cap, "incorrect number of values for XFS %s stats: %d",
                         xfs_kinds[k].what, count);
                return -EINVAL;
            }
        }
        for (size_t m = 0; m < XFS_NMETRICS; m++)
            if (strcmp(f[0], xfs_metrics[m].label) == 0)
                vals[m] = (double)v[xfs_metrics[m].idx];
    }
    return 0;
}

static int xfs_collect(void *state, struct plg_collect *c)
{
    (void)state;
    char dir[PATH_MAX];
    plg_sys(dir, c->paths, "fs/xfs");
    char **names;
    int n = plg_dir_list(dir, &names);
    if (n < 0)
        return 0; /* no XFS: the glob matches nothing (Go's Glob ignores I/O errors) */

    double(*vals)[XFS_NMETRICS] = cn_calloc(n ? (size_t)n : 1, sizeof(*vals));
    bool *have = cn_calloc(n ? (size_t)n : 1, sizeof(*have));
    int rc = (!vals || !have) ? plg_fail(c, -ENOMEM, "out of memory") : 0;
    for (int i = 0; i < n && !rc; i++) {
        char path[PATH_MAX], buf[16384], msg[200];
        if (!cn_path_join(path, sizeof(path), dir, names[i], "stats/stats", NULL))
            continue;
        long len = plg_read(c, path, buf, sizeof(buf));
        if (len == -ENOENT || len == -ENOTDIR)
            continue; /* not a filesystem directory */
        if (len < 0)
            rc = plg_fail(c, (int)len, "failed to retrieve XFS stats: %s: %s", path,
                          strerror((int)-len));
        else if (xfs_parse(buf, (size_t)len, vals[i], msg, sizeof(msg)))
            rc = plg_fail(c, -EINVAL, "failed to retrieve XFS stats: %s: %s", path, msg);
        else
            have[i] = true;
    }
    for (int i = 0; i < n && !rc; i++) {
        if (!have[i])
            continue;
        for (size_t m = 0; m < XFS_NMETRICS; m++)
            exp_counter(c->b, xfs_metrics[m].name, xfs_metrics[m].help, vals[i][m], 1, "device",
                        names[i]);
    }
    free(vals);
    free(have);
    plg_dir_free(names, n);
    return rc;
}

const struct plg_collector plg_collector_xfs = {
    .name = "xfs",
    .default_enabled = true,
    .collect = xfs_collect,
};
