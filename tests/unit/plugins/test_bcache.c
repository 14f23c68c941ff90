#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

/* One cache set with a backing device and a cache device; the kernel's
 * humanized values ("1.5k", "-296.4k", "11.2G") are decoded as procfs 0.8
 * decodes them (1.5k = (1 + 5/10.24) * 1024 = 1524). */
Test(plugins_bcache, ok_with_priority_stats)
{
    const char *opts[] = {"priorityStats=true", NULL};
    struct harness_result r = harness_run("bcache", "bcache/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(
        r.text,
        "# HELP node_bcache_active_journal_entries Number of journal entries that are newer than "
        "the index.\n"
        "# TYPE node_bcache_active_journal_entries gauge\n"
        "node_bcache_active_journal_entries{uuid=\"deaddd54-c735-46d5-868e-f331c5fd7c74\"} 3\n"
        "# HELP node_bcache_average_key_size_sectors Average data per key in the btree (sectors).\n"
        "# TYPE node_bcache_average_key_size_sectors gauge\n"
        "node_bcache_average_key_size_sectors{uuid=\"deaddd54-c735-46d5-868e-f331c5fd7c74\"} 1524\n"
        "# HELP node_bcache_btree_cache_size_bytes Amount of memory currently used by the btree "
        "cache.\n"
        "# TYPE node_bcache_btree_cache_size_bytes gauge\n"
        "node_bcache_btree_cache_size_bytes{uuid=\"deaddd54-c735-46d5-868e-f331c5fd7c74\"} "
        "8.900608e+06\n"
        "# HELP node_bcache_btree_nodes Total nodes in the btree.\n"
        "# TYPE node_bcache_btree_nodes gauge\n"
        "node_bcache_btree_nodes{uuid=\"deaddd54-c735-46d5-868e-f331c5fd7c74\"} 41\n"
        "# HELP node_bcache_btree_read_average_duration_seconds Average btree read duration.\n"
        "# TYPE node_bcache_btree_read_average_duration_seconds gauge\n"
        "node_bcache_btree_read_average_duration_seconds{uuid=\"deaddd54-c735-46d5-868e-"
        "f331c5fd7c74\"} 1.305e-06\n"
        "# HELP node_bcache_bypassed_bytes_total Amount of IO (both reads and writes) that has "
        "bypassed the cache.\n"
        "# TYPE node_bcache_bypassed_bytes_total counter\n"
        "node_bcache_bypassed_bytes_total{backing_device=\"bdev0\",uuid=\"deaddd54-c735-46d5-868e-"
        "f331c5fd7c74\"} 5.55008e+06\n"
        "# HELP node_bcache_cache_available_percent Percentage of cache device without dirty data, "
        "usable for writeback (may contain clean cached data).\n"
        "# TYPE node_bcache_cache_available_percent gauge\n"
        "node_bcache_cache_available_percent{uuid=\"deaddd54-c735-46d5-868e-f331c5fd7c74\"} 97\n"
        "# HELP node_bcache_cache_bypass_hits_total Hits for IO intended to skip the cache.\n"
        "# TYPE node_bcache_cache_bypass_hits_total counter\n"
        "node_bcache_cache_bypass_hits_total{backing_device=\"bdev0\",uuid=\"deaddd54-c735-46d5-"
        "868e-f331c5fd7c74\"} 77\n"
        "# HELP node_bcache_cache_bypass_misses_total Misses for IO intended to skip the cache.\n"
        "# TYPE node_bcache_cache_bypass_misses_total counter\n"
        "node_bcache_cache_bypass_misses_total{backing_device=\"bdev0\",uuid=\"deaddd54-c735-46d5-"
        "868e-f331c5fd7c74\"} 1024\n"
        "# HELP node_bcache_cache_hits_total Hits counted per individual IO as bcache sees them.\n"
        "# TYPE node_bcache_cache_hits_total counter\n"
        "node_bcache_cache_hits_total{backing_device=\"bdev0\",uuid=\"deaddd54-c735-46d5-868e-"
        "f331c5fd7c74\"} 296136\n"
        "# HELP node_bcache_cache_miss_collisions_total Instances where data insertion from cache "
        "miss raced with write (data already present).\n"
        "# TYPE node_bcache_cache_miss_collisions_total counter\n"
        "node_bcache_cache_miss_collisions_total{backing_device=\"bdev0\",uuid=\"deaddd54-c735-"
        "46d5-868e-f331c5fd7c74\"} 3\n"
        "# HELP node_bcache_cache_misses_total Misses counted per individual IO as bcache sees "
        "them.\n"
        "# TYPE node_bcache_cache_misses_total counter\n"
        "node_bcache_cache_misses_total{backing_device=\"bdev0\",uuid=\"deaddd54-c735-46d5-868e-"
        "f331c5fd7c74\"} 4910\n"
        "# HELP node_bcache_cache_read_races_total Counts instances where while data was being "
        "read from the cache, the bucket was reused and invalidated - i.e. where the pointer was "
        "stale after the read completed.\n"
        "# TYPE node_bcache_cache_read_races_total counter\n"
        "node_bcache_cache_read_races_total{uuid=\"deaddd54-c735-46d5-868e-f331c5fd7c74\"} 2\n"
        "# HELP node_bcache_cache_readaheads_total Count of times readahead occurred.\n"
        "# TYPE node_bcache_cache_readaheads_total counter\n"
        "node_bcache_cache_readaheads_total{backing_device=\"bdev0\",uuid=\"deaddd54-c735-46d5-"
        "868e-f331c5fd7c74\"} 12\n"
        "# HELP node_bcache_congested Congestion.\n"
        "# TYPE node_bcache_congested gauge\n"
        "node_bcache_congested{uuid=\"deaddd54-c735-46d5-868e-f331c5fd7c74\"} 0\n"
        "# HELP node_bcache_dirty_data_bytes Amount of dirty data for this backing device in the "
        "cache.\n"
        "# TYPE node_bcache_dirty_data_bytes gauge\n"
        "node_bcache_dirty_data_bytes{backing_device=\"bdev0\",uuid=\"deaddd54-c735-46d5-868e-"
        "f331c5fd7c74\"} 9.105408e+06\n"
        "# HELP node_bcache_dirty_target_bytes Current dirty data target threshold for this "
        "backing device in bytes.\n"
        "# TYPE node_bcache_dirty_target_bytes gauge\n"
        "node_bcache_dirty_target_bytes{backing_device=\"bdev0\",uuid=\"deaddd54-c735-46d5-868e-"
        "f331c5fd7c74\"} 1.2020875264e+10\n"
        "# HELP node_bcache_io_errors Number of errors that have occurred, decayed by "
        "io_error_halflife.\n"
        "# TYPE node_bcache_io_errors gauge\n"
        "node_bcache_io_errors{cache_device=\"cache0\",uuid=\"deaddd54-c735-46d5-868e-"
        "f331c5fd7c74\"} 0\n"
        "# HELP node_bcache_metadata_written_bytes_total Sum of all non data writes (btree writes "
        "and all other metadata).\n"
        "# TYPE node_bcache_metadata_written_bytes_total counter\n"
        "node_bcache_metadata_written_bytes_total{cache_device=\"cache0\",uuid=\"deaddd54-c735-"
        "46d5-868e-f331c5fd7c74\"} 524288\n"
        "# HELP node_bcache_priority_stats_metadata_percent Bcache's metadata overhead.\n"
        "# TYPE node_bcache_priority_stats_metadata_percent gauge\n"
        "node_bcache_priority_stats_metadata_percent{cache_device=\"cache0\",uuid=\"deaddd54-c735-"
        "46d5-868e-f331c5fd7c74\"} 1\n"
        "# HELP node_bcache_priority_stats_unused_percent The percentage of the cache that doesn't "
        "contain any data.\n"
        "# TYPE node_bcache_priority_stats_unused_percent gauge\n"
        "node_bcache_priority_stats_unused_percent{cache_device=\"cache0\",uuid=\"deaddd54-c735-"
        "46d5-868e-f331c5fd7c74\"} 38\n"
        "# HELP node_bcache_root_usage_percent Percentage of the root btree node in use (tree "
        "depth increases if too high).\n"
        "# TYPE node_bcache_root_usage_percent gauge\n"
        "node_bcache_root_usage_percent{uuid=\"deaddd54-c735-46d5-868e-f331c5fd7c74\"} 1\n"
        "# HELP node_bcache_tree_depth Depth of the btree.\n"
        "# TYPE node_bcache_tree_depth gauge\n"
        "node_bcache_tree_depth{uuid=\"deaddd54-c735-46d5-868e-f331c5fd7c74\"} 1\n"
        "# HELP node_bcache_writeback_change Last writeback rate change step for this backing "
        "device.\n"
        "# TYPE node_bcache_writeback_change gauge\n"
        "node_bcache_writeback_change{backing_device=\"bdev0\",uuid=\"deaddd54-c735-46d5-868e-"
        "f331c5fd7c74\"} -12788\n"
        "# HELP node_bcache_writeback_rate Current writeback rate for this backing device in "
        "bytes.\n"
        "# TYPE node_bcache_writeback_rate gauge\n"
        "node_bcache_writeback_rate{backing_device=\"bdev0\",uuid=\"deaddd54-c735-46d5-868e-"
        "f331c5fd7c74\"} 4096\n"
        "# HELP node_bcache_writeback_rate_integral_term Current result of integral controller, "
        "part of writeback rate\n"
        "# TYPE node_bcache_writeback_rate_integral_term gauge\n"
        "node_bcache_writeback_rate_integral_term{backing_device=\"bdev0\",uuid=\"deaddd54-c735-"
        "46d5-868e-f331c5fd7c74\"} 5220\n"
        "# HELP node_bcache_writeback_rate_proportional_term Current result of proportional "
        "controller, part of writeback rate\n"
        "# TYPE node_bcache_writeback_rate_proportional_term gauge\n"
        "node_bcache_writeback_rate_proportional_term{backing_device=\"bdev0\",uuid=\"deaddd54-"
        "c735-46d5-868e-f331c5fd7c74\"} -303504\n"
        "# HELP node_bcache_written_bytes_total Sum of all data that has been written to the "
        "cache.\n"
        "# TYPE node_bcache_written_bytes_total counter\n"
        "node_bcache_written_bytes_total{cache_device=\"cache0\",uuid=\"deaddd54-c735-46d5-868e-"
        "f331c5fd7c74\"} 1.283457024e+09\n");
    harness_free(&r);
}

Test(plugins_bcache, ok_default_skips_priority_stats)
{
    struct harness_result r = harness_run("bcache", "bcache/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_null(strstr(r.text, "priority_stats"), "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_bcache_written_bytes_total{cache_device=\"cache0\","
                                       "uuid=\"deaddd54-c735-46d5-868e-f331c5fd7c74\"} "
                                       "1.283457024e+09"),
              "%s", r.text);
    harness_free(&r);
}

Test(plugins_bcache, garbage)
{
    struct harness_result r = harness_run("bcache", "bcache/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "bdev0/stats_total/cache_misses: \"49x10\"") != NULL, "%s",
              r.errmsg);
    /* nothing is exported, as procfs returns no stats on an error */
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_bcache, missing_writeback_rate_debug)
{
    struct harness_result r = harness_run("bcache", "bcache/nodebug", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert(strstr(r.errmsg, "failed to read: ") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "bdev0/writeback_rate_debug") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_bcache, missing)
{
    /* no bcache: success with nothing, as 1.5 reports it */
    struct harness_result r = harness_run("bcache", "bcache/missing", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_bcache, bad_option)
{
    const char *opts[] = {"priorityStats=maybe", NULL};
    struct harness_result r = harness_run("bcache", "bcache/ok", opts);
    cr_assert_eq(r.rc, -EINVAL);
    harness_free(&r);
}
