/*
 * edac collector tests. expected.prom files are node_exporter 1.5.0's output
 * for the same fixture trees (minus node_scrape_*).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

Test(plugins_edac, ok)
{
    struct harness_result r = harness_run("edac", "edac/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    char *want = harness_read_fixture("edac/ok/expected.prom");
    cr_assert_str_eq(r.text, want);
    free(want);
    /* the *_noinfo_count files become csrow="unknown" */
    cr_assert(harness_has_line(r.text, "node_edac_csrow_correctable_errors_total"
                                       "{controller=\"0\",csrow=\"unknown\"} 1"));
    cr_assert(harness_has_line(r.text, "# TYPE node_edac_correctable_errors_total counter"));
    harness_free(&r);
}

Test(plugins_edac, garbage)
{
    /* ce_count was exported before the malformed ce_noinfo_count */
    struct harness_result r = harness_run("edac", "edac/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "couldn't get ce_noinfo_count for controller 0") != NULL, "%s",
              r.errmsg);
    char *want = harness_read_fixture("edac/garbage/expected.prom");
    cr_assert_str_eq(r.text, want);
    free(want);
    harness_free(&r);
}

Test(plugins_edac, missing_file)
{
    struct harness_result r = harness_run("edac", "edac/missing_file", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert(strstr(r.errmsg, "couldn't get ue_count for controller/csrow 0/0") != NULL, "%s",
              r.errmsg);
    char *want = harness_read_fixture("edac/missing_file/expected.prom");
    cr_assert_str_eq(r.text, want);
    free(want);
    harness_free(&r);
}

Test(plugins_edac, missing)
{
    /* no EDAC driver (this machine): success, no series */
    struct harness_result r = harness_run("edac", "edac/missing", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_not(r.nodata);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
