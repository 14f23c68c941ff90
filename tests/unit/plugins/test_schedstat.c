#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "harness.h"

Test(plugins_schedstat, ok)
{
    struct harness_result r = harness_run("schedstat", "schedstat/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "# HELP node_schedstat_running_seconds_total Number of seconds CPU "
                             "spent running a process.\n"
                             "# TYPE node_schedstat_running_seconds_total counter\n"
                             "node_schedstat_running_seconds_total{cpu=\"0\"} 14.839398383\n"
                             "node_schedstat_running_seconds_total{cpu=\"1\"} 22.40128771\n"
                             "# HELP node_schedstat_timeslices_total Number of timeslices "
                             "executed by CPU.\n"
                             "# TYPE node_schedstat_timeslices_total counter\n"
                             "node_schedstat_timeslices_total{cpu=\"0\"} 61862\n"
                             "node_schedstat_timeslices_total{cpu=\"1\"} 85047\n"
                             "# HELP node_schedstat_waiting_seconds_total Number of seconds spent "
                             "by processing waiting for this CPU.\n"
                             "# TYPE node_schedstat_waiting_seconds_total counter\n"
                             "node_schedstat_waiting_seconds_total{cpu=\"0\"} 1.36239394\n"
                             "node_schedstat_waiting_seconds_total{cpu=\"1\"} 3.033560474\n");
    harness_free(&r);
}

Test(plugins_schedstat, garbage)
{
    struct harness_result r = harness_run("schedstat", "schedstat/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "malformed line in ") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "\"cpu1 0 0 0 0 0 0 22401287710 30335\"") != NULL, "%s", r.errmsg);
    /* cpu0 came before the bad line and stays */
    cr_assert(harness_has_line(r.text, "node_schedstat_timeslices_total{cpu=\"0\"} 61862"));
    cr_assert_null(strstr(r.text, "cpu=\"1\""));
    harness_free(&r);
}

/* No /proc/schedstat (CONFIG_SCHEDSTATS off): nodata, as node_exporter's
 * ErrNoData. */
Test(plugins_schedstat, missing)
{
    struct harness_result r = harness_run("schedstat", "schedstat/missing", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert(strstr(r.errmsg, "does not exist") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
