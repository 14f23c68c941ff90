/*
 * thermal_zone collector tests. expected.prom files are node_exporter
 * 1.5.0's output for the same fixture trees (minus node_scrape_*).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

Test(plugins_thermal_zone, ok)
{
    struct harness_result r = harness_run("thermal_zone", "thermal_zone/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    char *want = harness_read_fixture("thermal_zone/ok/expected.prom");
    cr_assert_str_eq(r.text, want);
    free(want);
    /* millidegrees to degrees, negative values, cur_state -1 (powerclamp) */
    cr_assert(harness_has_line(r.text, "node_thermal_zone_temp{type=\"acpitz\",zone=\"0\"} 27.8"));
    cr_assert(
        harness_has_line(r.text, "node_thermal_zone_temp{type=\"iwlwifi_1\",zone=\"10\"} -40"));
    cr_assert(harness_has_line(
        r.text, "node_cooling_device_cur_state{name=\"1\",type=\"intel_powerclamp\"} -1"));
    harness_free(&r);
}

Test(plugins_thermal_zone, garbage)
{
    /* zones are all parsed first: a bad temperature exports nothing */
    struct harness_result r = harness_run("thermal_zone", "thermal_zone/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "thermal_zone1/temp") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_thermal_zone, garbage_cooling)
{
    /* zones are exported before the cooling devices are read */
    struct harness_result r = harness_run("thermal_zone", "thermal_zone/garbage_cooling", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "cooling_device1/cur_state") != NULL, "%s", r.errmsg);
    char *want = harness_read_fixture("thermal_zone/garbage_cooling/expected.prom");
    cr_assert_str_eq(r.text, want);
    free(want);
    harness_free(&r);
}

Test(plugins_thermal_zone, garbage_passive)
{
    struct harness_result r = harness_run("thermal_zone", "thermal_zone/garbage_passive", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "thermal_zone0/passive") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_thermal_zone, missing_policy)
{
    struct harness_result r = harness_run("thermal_zone", "thermal_zone/nopolicy", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "thermal_zone0/policy") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_thermal_zone, missing)
{
    /* no thermal class: success with no series, as node_exporter (a glob) */
    struct harness_result r = harness_run("thermal_zone", "thermal_zone/missing", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_not(r.nodata);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
