/*
 * rapl collector tests. expected*.prom are node_exporter 1.5.0's output for
 * the same fixture trees (minus node_scrape_*), with the absolute fixture
 * path in the path label replaced by @SYSFS@.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

/* The expected text of fixture file rel with @SYSFS@ replaced by the
 * fixture case's sys directory. Caller frees. */
static char *expected(const char *rel, const char *fixture)
{
    char path[PATH_MAX], sys[PATH_MAX + 8];
    struct cn_buf out;
    cn_buf_init(&out);
    char *in = harness_read_fixture(rel);
    harness_fixture(path, fixture);
    snprintf(sys, sizeof(sys), "%s/sys", path);
    const char *s = in, *at;
    while ((at = strstr(s, "@SYSFS@"))) {
        cn_buf_append(&out, s, (size_t)(at - s));
        cn_buf_puts(&out, sys);
        s = at + strlen("@SYSFS@");
    }
    cn_buf_puts(&out, s);
    char *r = strdup(cn_buf_cstr(&out));
    free(in);
    cn_buf_free(&out);
    return r;
}

static void check(const char *fixture, const char *golden, const char *const *opts)
{
    struct harness_result r = harness_run("rapl", fixture, opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    char *want = expected(golden, fixture);
    cr_assert_str_eq(r.text, want);
    free(want);
    harness_free(&r);
}

Test(plugins_rapl, ok)
{
    /* package-0 -> name package, index 0; the MMIO package zone has the same
     * name and index but another path; the control types have no name file */
    check("rapl/ok", "rapl/ok/expected.prom", NULL);
}

Test(plugins_rapl, ok_values)
{
    struct harness_result r = harness_run("rapl", "rapl/ok", NULL);
    char sys[PATH_MAX], line[PATH_MAX + 128];
    harness_fixture(sys, "rapl/ok/sys");
    snprintf(line, sizeof(line),
             "node_rapl_uncore_joules_total{index=\"0\",path=\"%s/class/powercap/intel-rapl:0:1\"} "
             "1.283727",
             sys);
    cr_assert(harness_has_line(r.text, line), "%s", r.text);
    cr_assert(harness_has_line(r.text, "# TYPE node_rapl_package_joules_total counter"));
    cr_assert(harness_has_line(
        r.text, "# HELP node_rapl_package_joules_total Current RAPL package value in joules"));
    harness_free(&r);
}

Test(plugins_rapl, server_index_by_count)
{
    /* two "dram" zones without an index suffix get 0 and 1 in directory order */
    check("rapl/server", "rapl/server/expected.prom", NULL);
}

Test(plugins_rapl, zone_label)
{
    const char *opts[] = {"enable-zone-label=true", NULL};
    check("rapl/ok", "rapl/ok/expected-zone-label.prom", opts);
}

Test(plugins_rapl, zone_label_false)
{
    const char *opts[] = {"enable-zone-label=false", NULL};
    check("rapl/ok", "rapl/ok/expected.prom", opts);
}

Test(plugins_rapl, zone_label_bad)
{
    const char *opts[] = {"enable-zone-label=maybe", NULL};
    struct harness_result r = harness_run("rapl", "rapl/ok", opts);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_rapl, garbage)
{
    /* The psys counter is hex: the zone before it is kept, then failure. */
    struct harness_result r = harness_run("rapl", "rapl/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "intel-rapl:1/energy_uj") != NULL, "%s", r.errmsg);
    char *want = expected("rapl/garbage/expected.prom", "rapl/garbage");
    cr_assert_str_eq(r.text, want);
    free(want);
    harness_free(&r);
}

Test(plugins_rapl, garbage_max_energy_range)
{
    /* zones are discovered first: a bad max_energy_range_uj exports nothing */
    struct harness_result r = harness_run("rapl", "rapl/garbage_max", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "max_energy_range_uj") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_rapl, missing_max_energy_range_is_nodata)
{
    struct harness_result r = harness_run("rapl", "rapl/nomax", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_rapl, missing_energy_fails)
{
    struct harness_result r = harness_run("rapl", "rapl/noenergy", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "energy_uj") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_rapl, missing)
{
    struct harness_result r = harness_run("rapl", "rapl/missing", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
