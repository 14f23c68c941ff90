#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* sda alone: 20-field line, full udev entry with ATA properties. */
Test(plugins_diskstats, one_device_exact)
{
    const char *opts[] = {"device-exclude=", "device-include=^sda$", NULL};
    struct harness_result r = harness_run("diskstats", "diskstats/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text,
                     "# HELP node_disk_ata_rotation_rate_rpm ATA disk rotation rate in RPMs "
                     "(0 for SSDs).\n"
                     "# TYPE node_disk_ata_rotation_rate_rpm gauge\n"
                     "node_disk_ata_rotation_rate_rpm{device=\"sda\"} 0\n"
                     "# HELP node_disk_ata_write_cache ATA disk has a write cache.\n"
                     "# TYPE node_disk_ata_write_cache gauge\n"
                     "node_disk_ata_write_cache{device=\"sda\"} 1\n"
                     "# HELP node_disk_ata_write_cache_enabled ATA disk has its write cache "
                     "enabled.\n"
                     "# TYPE node_disk_ata_write_cache_enabled gauge\n"
                     "node_disk_ata_write_cache_enabled{device=\"sda\"} 1\n"
                     "# HELP node_disk_discard_time_seconds_total This is the total number of "
                     "seconds spent by all discards.\n"
                     "# TYPE node_disk_discard_time_seconds_total counter\n"
                     "node_disk_discard_time_seconds_total{device=\"sda\"} 0.077\n"
                     "# HELP node_disk_discarded_sectors_total The total number of sectors "
                     "discarded successfully.\n"
                     "# TYPE node_disk_discarded_sectors_total counter\n"
                     "node_disk_discarded_sectors_total{device=\"sda\"} 2.097152e+06\n"
                     "# HELP node_disk_discards_completed_total The total number of discards "
                     "completed successfully.\n"
                     "# TYPE node_disk_discards_completed_total counter\n"
                     "node_disk_discards_completed_total{device=\"sda\"} 1024\n"
                     "# HELP node_disk_discards_merged_total The total number of discards "
                     "merged.\n"
                     "# TYPE node_disk_discards_merged_total counter\n"
                     "node_disk_discards_merged_total{device=\"sda\"} 3\n"
                     "# HELP node_disk_flush_requests_time_seconds_total This is the total "
                     "number of seconds spent by all flush requests.\n"
                     "# TYPE node_disk_flush_requests_time_seconds_total counter\n"
                     "node_disk_flush_requests_time_seconds_total{device=\"sda\"} 82.157\n"
                     "# HELP node_disk_flush_requests_total The total number of flush "
                     "requests completed successfully\n"
                     "# TYPE node_disk_flush_requests_total counter\n"
                     "node_disk_flush_requests_total{device=\"sda\"} 40187\n"
                     "# HELP node_disk_info Info of /sys/block/<block_device>.\n"
                     "# TYPE node_disk_info gauge\n"
                     "node_disk_info{device=\"sda\",major=\"8\",minor=\"0\",model=\"Samsung_"
                     "SSD_860_EVO_500GB\","
                     "path=\"pci-0000:00:17.0-ata-1\",revision=\"RVT04B6Q\",serial="
                     "\"S3Z2NB0K123456X\",wwn=\"0x5002538e40a1b2c3\"} 1\n"
                     "# HELP node_disk_io_now The number of I/Os currently in progress.\n"
                     "# TYPE node_disk_io_now gauge\n"
                     "node_disk_io_now{device=\"sda\"} 0\n"
                     "# HELP node_disk_io_time_seconds_total Total seconds spent doing I/Os.\n"
                     "# TYPE node_disk_io_time_seconds_total counter\n"
                     "node_disk_io_time_seconds_total{device=\"sda\"} 521.332\n"
                     "# HELP node_disk_io_time_weighted_seconds_total The weighted # of "
                     "seconds spent doing I/Os.\n"
                     "# TYPE node_disk_io_time_weighted_seconds_total counter\n"
                     "node_disk_io_time_weighted_seconds_total{device=\"sda\"} 1232.453\n"
                     "# HELP node_disk_read_bytes_total The total number of bytes read "
                     "successfully.\n"
                     "# TYPE node_disk_read_bytes_total counter\n"
                     "node_disk_read_bytes_total{device=\"sda\"} 6.518094848e+09\n"
                     "# HELP node_disk_read_time_seconds_total The total number of seconds "
                     "spent by all reads.\n"
                     "# TYPE node_disk_read_time_seconds_total counter\n"
                     "node_disk_read_time_seconds_total{device=\"sda\"} 160.942\n"
                     "# HELP node_disk_reads_completed_total The total number of reads completed "
                     "successfully.\n"
                     "# TYPE node_disk_reads_completed_total counter\n"
                     "node_disk_reads_completed_total{device=\"sda\"} 224537\n"
                     "# HELP node_disk_reads_merged_total The total number of reads merged.\n"
                     "# TYPE node_disk_reads_merged_total counter\n"
                     "node_disk_reads_merged_total{device=\"sda\"} 55421\n"
                     "# HELP node_disk_write_time_seconds_total This is the total number of "
                     "seconds spent by all writes.\n"
                     "# TYPE node_disk_write_time_seconds_total counter\n"
                     "node_disk_write_time_seconds_total{device=\"sda\"} 989.3530000000001\n"
                     "# HELP node_disk_writes_completed_total The total number of writes "
                     "completed successfully.\n"
                     "# TYPE node_disk_writes_completed_total counter\n"
                     "node_disk_writes_completed_total{device=\"sda\"} 412881\n"
                     "# HELP node_disk_writes_merged_total The number of writes merged.\n"
                     "# TYPE node_disk_writes_merged_total counter\n"
                     "node_disk_writes_merged_total{device=\"sda\"} 348201\n"
                     "# HELP node_disk_written_bytes_total The total number of bytes written "
                     "successfully.\n"
                     "# TYPE node_disk_written_bytes_total counter\n"
                     "node_disk_written_bytes_total{device=\"sda\"} 1.0556583936e+10\n");
    harness_free(&r);
}

Test(plugins_diskstats, ok)
{
    struct harness_result r = harness_run("diskstats", "diskstats/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    const char *t = r.text;

    /* default exclude: partitions, loop and ram devices; the 3-counter sdc
     * line is too short and skipped, as procfs does */
    cr_assert_eq(harness_count_prefix(t, "node_disk_info{"), 7, "%s", t);
    const char *const kept[] = {"sda", "sdb", "sr0", "nvme0n1", "dm-0", "md0", "zram0"};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        char needle[64];
        snprintf(needle, sizeof(needle), "node_disk_info{device=\"%s\",", kept[i]);
        cr_assert_eq(harness_count_prefix(t, needle), 1, "%s", needle);
    }
    cr_assert_null(strstr(t, "loop"));
    cr_assert_null(strstr(t, "sda1"));
    cr_assert_null(strstr(t, "nvme0n1p1"));
    cr_assert_null(strstr(t, "\"ram0\""));
    cr_assert_null(strstr(t, "sdc"));

    /* without a udev entry the info labels are empty */
    cr_assert(harness_has_line(t, "node_disk_info{device=\"md0\",major=\"9\",minor=\"0\","
                                  "model=\"\",path=\"\",revision=\"\",serial=\"\",wwn=\"\"} 1"));
    /* nvme: udev entry with a model containing spaces */
    cr_assert(harness_has_line(t, "node_disk_info{device=\"nvme0n1\",major=\"259\",minor=\"0\","
                                  "model=\"Samsung SSD 970 EVO Plus 1TB\",path=\"pci-0000:01:00.0-"
                                  "nvme-1\",revision=\"2B2QEXM7\",serial=\"S4EWNX0R123456\","
                                  "wwn=\"eui.002538b581b2c3d4\"} 1"));
    cr_assert(harness_has_line(t, "node_disk_read_bytes_total{device=\"nvme0n1\"} "
                                  "5.0392599552e+10"));
    cr_assert(harness_has_line(t, "node_disk_write_time_seconds_total{device=\"nvme0n1\"} "
                                  "1867.29"));
    cr_assert(harness_has_line(t, "node_disk_discarded_sectors_total{device=\"nvme0n1\"} "
                                  "1.053741512e+09"));

    /* sdb: 18 fields (4.18 kernel): discards but no flush counters */
    cr_assert(harness_has_line(t, "node_disk_io_now{device=\"sdb\"} 2"));
    cr_assert(harness_has_line(t, "node_disk_write_time_seconds_total{device=\"sdb\"} "
                                  "4.4030000000000005"));
    cr_assert(harness_has_line(t, "node_disk_discard_time_seconds_total{device=\"sdb\"} 0"));
    cr_assert_null(strstr(t, "node_disk_flush_requests_total{device=\"sdb\"}"));
    /* sdb's ATA rotation rate does not parse: skipped; the other two stay */
    cr_assert(harness_has_line(t, "node_disk_ata_write_cache{device=\"sdb\"} 1"));
    cr_assert(harness_has_line(t, "node_disk_ata_write_cache_enabled{device=\"sdb\"} 0"));
    cr_assert_null(strstr(t, "node_disk_ata_rotation_rate_rpm{device=\"sdb\"}"));
    cr_assert(harness_has_line(t, "node_disk_filesystem_info{device=\"sdb\",type=\""
                                  "linux_raid_member\",usage=\"raid\",uuid=\"2d4c1f7e-9a3b-4c5d-"
                                  "8e6f-0a1b2c3d4e5f\",version=\"1.2\"} 1"));

    /* sr0: 14 fields: the 11 classic counters only */
    cr_assert(harness_has_line(t, "node_disk_io_time_weighted_seconds_total{device=\"sr0\"} "
                                  "0.033"));
    cr_assert_null(strstr(t, "node_disk_discards_completed_total{device=\"sr0\"}"));
    cr_assert_eq(harness_count_prefix(t, "node_disk_"),
                 11 + 1 + 0 +         /* sr0 */
                     15 + 1 + 2 + 1 + /* sdb */
                     17 + 1 + 3 +     /* sda */
                     17 + 1 +         /* nvme0n1 */
                     17 + 1 + 1 + 1 + /* dm-0 */
                     17 + 1 +         /* md0 */
                     17 + 1,          /* zram0 */
                 "%s", t);

    /* dm-0: device mapper and filesystem info from udev */
    cr_assert(harness_has_line(t, "# HELP node_disk_device_mapper_info Info about disk device "
                                  "mapper."));
    cr_assert(harness_has_line(t, "# TYPE node_disk_device_mapper_info gauge"));
    cr_assert(harness_has_line(t,
                               "node_disk_device_mapper_info{device=\"dm-0\",lv_layer=\"\",lv_name="
                               "\"root\",name=\"vg0-root\",uuid=\"LVM-"
                               "Ox2uCj8pd3DAh2m5sbHtZnHSrRp5ldtdw0aKtPvCfSMKdN3S5x8lNZ1"
                               "nEG6b4X8r\",vg_name=\"vg0\"} 1"));
    cr_assert(harness_has_line(t, "# HELP node_disk_filesystem_info Info about disk filesystem."));
    cr_assert(harness_has_line(t, "# TYPE node_disk_filesystem_info gauge"));
    cr_assert(harness_has_line(t, "node_disk_filesystem_info{device=\"dm-0\",type=\"ext4\","
                                  "usage=\"filesystem\",uuid=\"0f6b2a1c-5d4e-4f3a-9b8c-"
                                  "7d6e5f4a3b2c\",version=\"1.0\"} 1"));
    harness_free(&r);
}

Test(plugins_diskstats, garbage)
{
    struct harness_result r = harness_run("diskstats", "diskstats/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "diskstats line 2: expected integer") != NULL, "%s", r.errmsg);
    /* like node_exporter, a bad line exports nothing, not even sda */
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_diskstats, missing)
{
    struct harness_result r = harness_run("diskstats", "diskstats/missing", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert(strstr(r.errmsg, "couldn't get diskstats") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_diskstats, device_exclude)
{
    const char *opts[] = {"device-exclude=^(sd|loop|ram|nvme0n1p)", NULL};
    struct harness_result r = harness_run("diskstats", "diskstats/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_null(strstr(r.text, "\"sd"), "%s", r.text);
    cr_assert(strstr(r.text, "node_disk_info{device=\"nvme0n1\"") != NULL);
    cr_assert_eq(harness_count_prefix(r.text, "node_disk_info{"), 5, "%s", r.text);
    harness_free(&r);
}

Test(plugins_diskstats, include_and_exclude_are_mutually_exclusive)
{
    /* as in 1.5, device-include with the default device-exclude fails */
    const char *opts[] = {"device-include=^sd", NULL};
    struct harness_result r = harness_run("diskstats", "diskstats/ok", opts);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_diskstats, device_include)
{
    const char *opts[] = {"device-exclude=", "device-include=^(sd[a-z]|loop)[0-9]*$", NULL};
    struct harness_result r = harness_run("diskstats", "diskstats/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    /* sda, sda1, sdb, loop0, loop1 (sdc is too short) */
    cr_assert_eq(harness_count_prefix(r.text, "node_disk_info{"), 5, "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_disk_reads_completed_total{device=\"sda1\"} 224112"));
    cr_assert(harness_has_line(r.text, "node_disk_read_time_seconds_total{device=\"loop0\"} "
                                       "0.015"));
    harness_free(&r);
}

Test(plugins_diskstats, deprecated_ignored_devices)
{
    const char *opts[] = {"ignored-devices=^(sd|loop|ram|nvme|dm|md|zram)", NULL};
    struct harness_result r = harness_run("diskstats", "diskstats/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_eq(harness_count_prefix(r.text, "node_disk_info{"), 1, "%s", r.text);
    cr_assert(strstr(r.text, "node_disk_info{device=\"sr0\"") != NULL, "%s", r.text);
    harness_free(&r);

    const char *both[] = {"ignored-devices=^sd", "device-exclude=^md", NULL};
    r = harness_run("diskstats", "diskstats/ok", both);
    cr_assert_eq(r.rc, -EINVAL);
    harness_free(&r);
}

Test(plugins_diskstats, bad_regex)
{
    const char *opts[] = {"device-exclude=^(sd", NULL};
    struct harness_result r = harness_run("diskstats", "diskstats/ok", opts);
    cr_assert_eq(r.rc, -EINVAL);
    harness_free(&r);
}
