/*
 * cpufreq collector tests. expected.prom is node_exporter 1.5.0's output for
 * the same fixture tree (minus node_scrape_*).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

Test(plugins_cpufreq, ok)
{
    /* cpu0/1/10 link to cpufreq/policyN; cpu2 has no cpufreq and is skipped;
     * cpu1 lacks cpuinfo_cur_freq (root-only on real hosts) */
    struct harness_result r = harness_run("cpufreq", "cpufreq/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    char *want = harness_read_fixture("cpufreq/ok/expected.prom");
    cr_assert_str_eq(r.text, want);
    free(want);
    cr_assert(harness_has_line(r.text, "node_cpu_frequency_hertz{cpu=\"0\"} 1.8e+09"));
    cr_assert(harness_has_line(r.text, "node_cpu_scaling_frequency_hertz{cpu=\"1\"} 2.500123e+09"));
    cr_assert_null(strstr(r.text, "node_cpu_frequency_hertz{cpu=\"1\"}"));
    cr_assert_null(strstr(r.text, "cpu=\"2\""));
    harness_free(&r);
}

Test(plugins_cpufreq, garbage)
{
    /* every CPU is parsed before export: one bad value exports nothing */
    struct harness_result r = harness_run("cpufreq", "cpufreq/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "cpu1/cpufreq/scaling_cur_freq") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_cpufreq, missing_governor)
{
    /* node_exporter requires the string attributes it reads, though 1.5
     * exports none of them */
    struct harness_result r = harness_run("cpufreq", "cpufreq/nogovernor", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert(strstr(r.errmsg, "scaling_governor") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_cpufreq, missing)
{
    /* a VM without cpufreq (this machine): success, no series */
    struct harness_result r = harness_run("cpufreq", "cpufreq/missing", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_not(r.nodata);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
