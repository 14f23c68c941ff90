/*
 * hwmon collector tests. The expected.prom files next to the fixture trees
 * are what node_exporter 1.5.0 exported for the same trees (with
 * --path.sysfs pointing at them), minus its node_scrape_* series, so the
 * whole rendering is compared with node_exporter's.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "harness.h"

Test(plugins_hwmon, ok)
{
    struct harness_result r = harness_run("hwmon", "hwmon/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    char *want = harness_read_fixture("hwmon/ok/expected.prom");
    cr_assert_str_eq(r.text, want);
    free(want);
    harness_free(&r);
}

Test(plugins_hwmon, ok_chip_names)
{
    /* The chip label's three sources: the resolved device link (platform,
     * PCI, ACPI and power-supply parents), the name file, the directory. */
    struct harness_result r = harness_run("hwmon", "hwmon/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert(harness_has_line(
        r.text, "node_hwmon_chip_names{chip=\"pci0000:00_0000:00:02_0\",chip_name=\"i915\"} 1"));
    cr_assert(harness_has_line(
        r.text,
        "node_hwmon_chip_names{chip=\"device:00_acpi000d:00\",chip_name=\"power_meter\"} 1"));
    cr_assert(harness_has_line(
        r.text, "node_hwmon_chip_names{chip=\"hum_sensor\",chip_name=\"hum_sensor\"} 1"));
    cr_assert(
        harness_has_line(r.text, "node_hwmon_temp_celsius{chip=\"hwmon7\",sensor=\"temp1\"} 30"));
    /* the dangling hwmon8 link is skipped */
    cr_assert_null(strstr(r.text, "hwmon8"));
    /* invalid UTF-8 in a label becomes U+FFFD */
    cr_assert(harness_has_line(r.text, "node_hwmon_sensor_label{chip=\"platform_nct6775_656\","
                                       "label=\"AUXTIN\xEF\xBF\xBD 3\",sensor=\"temp2\"} 1"));
    harness_free(&r);
}

Test(plugins_hwmon, garbage)
{
    /* Unparsable values ("hot!", "", "0x1f") are skipped, a 200-digit value
     * is cut at 128 bytes as node_exporter reads it; a chip whose device is
     * not a directory fails the collection but the other chip is kept. */
    struct harness_result r = harness_run("hwmon", "hwmon/garbage", NULL);
    cr_assert_eq(r.rc, -ENOTDIR, "%d %s", r.rc, r.errmsg);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "hwmon1/device") != NULL, "%s", r.errmsg);
    char *want = harness_read_fixture("hwmon/garbage/expected.prom");
    cr_assert_str_eq(r.text, want);
    free(want);
    harness_free(&r);
}

Test(plugins_hwmon, missing)
{
    struct harness_result r = harness_run("hwmon", "hwmon/missing", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_hwmon, class_not_a_directory)
{
    /* Anything but ENOENT on class/hwmon is a real failure, not "no data". */
    char tmpl[PATH_MAX], path[PATH_MAX + 16];
    harness_tmpdir(tmpl, "hwmon");
    snprintf(path, sizeof(path), "%s/class/hwmon", tmpl);
    harness_write_file(path, "");
    struct plg_paths paths = {.procfs = "/nonexistent",
                              .sysfs = tmpl,
                              .rootfs = "/nonexistent",
                              .udev_data = "/nonexistent"};
    struct harness_result r = harness_run_paths("hwmon", &paths, NULL);
    harness_rmtree(tmpl);
    cr_assert_eq(r.rc, -ENOTDIR, "%d %s", r.rc, r.errmsg);
    cr_assert_not(r.nodata);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
