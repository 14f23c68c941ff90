#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "harness.h"

Test(plugins_softnet, ok)
{
    struct harness_result r = harness_run("softnet", "softnet/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "# HELP node_softnet_dropped_total Number of dropped packets\n"
                             "# TYPE node_softnet_dropped_total counter\n"
                             "node_softnet_dropped_total{cpu=\"0\"} 0\n"
                             "node_softnet_dropped_total{cpu=\"1\"} 0\n"
                             "node_softnet_dropped_total{cpu=\"2\"} 10\n"
                             "# HELP node_softnet_processed_total Number of processed packets\n"
                             "# TYPE node_softnet_processed_total counter\n"
                             "node_softnet_processed_total{cpu=\"0\"} 53\n"
                             "node_softnet_processed_total{cpu=\"1\"} 1339\n"
                             "node_softnet_processed_total{cpu=\"2\"} 4.294967295e+09\n"
                             "# HELP node_softnet_times_squeezed_total Number of times "
                             "processing packets ran out of quota\n"
                             "# TYPE node_softnet_times_squeezed_total counter\n"
                             "node_softnet_times_squeezed_total{cpu=\"0\"} 0\n"
                             "node_softnet_times_squeezed_total{cpu=\"1\"} 0\n"
                             "node_softnet_times_squeezed_total{cpu=\"2\"} 31\n");
    harness_free(&r);
}

Test(plugins_softnet, garbage)
{
    struct harness_result r = harness_run("softnet", "softnet/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "bad hex value in line 2") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "softnet/garbage/proc/net/softnet_stat") != NULL, "%s", r.errmsg);
    cr_assert(harness_has_line(r.text, "node_softnet_processed_total{cpu=\"0\"} 53"));
    cr_assert_null(strstr(r.text, "cpu=\"1\""));
    harness_free(&r);
}

Test(plugins_softnet, too_few_columns)
{
    struct harness_result r = harness_run("softnet", "softnet/short", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "line 2 has 5 columns, at least 9 expected") != NULL, "%s",
              r.errmsg);
    harness_free(&r);
}

/* Columns are 32-bit, as procfs parses them. */
Test(plugins_softnet, overflow)
{
    struct harness_result r = harness_run("softnet", "softnet/overflow", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "bad hex value in line 1") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* node_exporter reports a missing file as an error, not as "no data". */
Test(plugins_softnet, missing)
{
    struct harness_result r = harness_run("softnet", "softnet/missing", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "could not get softnet statistics") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
