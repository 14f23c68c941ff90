#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

Test(plugins_cpu, ok)
{
    struct harness_result r = harness_run("cpu", "cpu/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "# HELP node_cpu_guest_seconds_total Seconds the CPUs spent in guests "
                             "(VMs) for each "
                             "mode.\n"
                             "# TYPE node_cpu_guest_seconds_total counter\n"
                             "node_cpu_guest_seconds_total{cpu=\"0\",mode=\"nice\"} 0\n"
                             "node_cpu_guest_seconds_total{cpu=\"0\",mode=\"user\"} 0\n"
                             "node_cpu_guest_seconds_total{cpu=\"1\",mode=\"nice\"} 0.01\n"
                             "node_cpu_guest_seconds_total{cpu=\"1\",mode=\"user\"} 0.03\n"
                             "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n"
                             "# TYPE node_cpu_seconds_total counter\n"
                             "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 388.65\n"
                             "node_cpu_seconds_total{cpu=\"0\",mode=\"iowait\"} 0.14\n"
                             "node_cpu_seconds_total{cpu=\"0\",mode=\"irq\"} 0\n"
                             "node_cpu_seconds_total{cpu=\"0\",mode=\"nice\"} 0\n"
                             "node_cpu_seconds_total{cpu=\"0\",mode=\"softirq\"} 0.06\n"
                             "node_cpu_seconds_total{cpu=\"0\",mode=\"steal\"} 0.02\n"
                             "node_cpu_seconds_total{cpu=\"0\",mode=\"system\"} 8.25\n"
                             "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 7.6\n"
                             "node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"} 373.37\n"
                             "node_cpu_seconds_total{cpu=\"1\",mode=\"iowait\"} 4.51\n"
                             "node_cpu_seconds_total{cpu=\"1\",mode=\"irq\"} 0\n"
                             "node_cpu_seconds_total{cpu=\"1\",mode=\"nice\"} 0\n"
                             "node_cpu_seconds_total{cpu=\"1\",mode=\"softirq\"} 0.26\n"
                             "node_cpu_seconds_total{cpu=\"1\",mode=\"steal\"} 0.07\n"
                             "node_cpu_seconds_total{cpu=\"1\",mode=\"system\"} 12.25\n"
                             "node_cpu_seconds_total{cpu=\"1\",mode=\"user\"} 14.25\n");
    harness_free(&r);
}

Test(plugins_cpu, guest_off)
{
    const char *opts[] = {"guest=false", NULL};
    struct harness_result r = harness_run("cpu", "cpu/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_null(strstr(r.text, "node_cpu_guest_seconds_total"));
    cr_assert_eq(harness_count_prefix(r.text, "node_cpu_seconds_total{"), 16);
    harness_free(&r);
}

Test(plugins_cpu, bad_bool_option)
{
    const char *opts[] = {"guest=maybe", NULL};
    struct harness_result r = harness_run("cpu", "cpu/ok", opts);
    cr_assert_eq(r.rc, -EINVAL);
    harness_free(&r);
}

Test(plugins_cpu, garbage)
{
    struct harness_result r = harness_run("cpu", "cpu/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "couldn't parse the cpu1 line of ") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "cpu/garbage/proc/stat") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_cpu, missing)
{
    struct harness_result r = harness_run("cpu", "cpu/missing", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "couldn't read ") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* Offline CPUs below the highest cpuN line are exported with zero times. */
Test(plugins_cpu, gap)
{
    struct harness_result r = harness_run("cpu", "cpu/gap", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert(harness_has_line(r.text, "node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"} 0"));
    cr_assert(harness_has_line(r.text, "node_cpu_seconds_total{cpu=\"1\",mode=\"user\"} 0"));
    cr_assert(harness_has_line(r.text, "node_cpu_guest_seconds_total{cpu=\"1\",mode=\"user\"} 0"));
    cr_assert(harness_has_line(r.text, "node_cpu_seconds_total{cpu=\"2\",mode=\"idle\"} 20"));
    cr_assert(harness_has_line(r.text, "node_cpu_seconds_total{cpu=\"2\",mode=\"nice\"} 0.02"));
    cr_assert(harness_has_line(r.text, "node_cpu_seconds_total{cpu=\"2\",mode=\"iowait\"} 0.5"));
    cr_assert(harness_has_line(r.text, "node_cpu_seconds_total{cpu=\"2\",mode=\"irq\"} 0.6"));
    cr_assert(harness_has_line(r.text, "node_cpu_seconds_total{cpu=\"2\",mode=\"softirq\"} 0.7"));
    cr_assert(harness_has_line(r.text, "node_cpu_seconds_total{cpu=\"2\",mode=\"steal\"} 0.8"));
    cr_assert(
        harness_has_line(r.text, "node_cpu_guest_seconds_total{cpu=\"2\",mode=\"user\"} 0.9"));
    cr_assert(harness_has_line(r.text, "node_cpu_guest_seconds_total{cpu=\"2\",mode=\"nice\"} 1"));
    cr_assert(harness_has_line(r.text, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 10"));
    cr_assert_eq(harness_count_prefix(r.text, "node_cpu_seconds_total{"), 24);
    harness_free(&r);
}

/* Thermal throttle counts: first readable count per (package, core) and per
 * package in name order of the cpu directories; CPUs without topology are
 * skipped. Isolated CPUs come from the isolated list. */
Test(plugins_cpu, throttle_and_isolated)
{
    struct harness_result r = harness_run("cpu", "cpu/throttle", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    const char *tail = strstr(r.text, "# HELP node_cpu_core_throttles_total");
    cr_assert_not_null(tail, "%s", r.text);
    cr_assert_str_eq(tail, "# HELP node_cpu_core_throttles_total Number of times this CPU core has "
                           "been "
                           "throttled.\n"
                           "# TYPE node_cpu_core_throttles_total counter\n"
                           "node_cpu_core_throttles_total{core=\"0\",package=\"0\"} 5\n"
                           "node_cpu_core_throttles_total{core=\"0\",package=\"1\"} 7\n"
                           "node_cpu_core_throttles_total{core=\"1\",package=\"0\"} 6\n"
                           "# HELP node_cpu_guest_seconds_total Seconds the CPUs spent in guests "
                           "(VMs) for "
                           "each mode.\n"
                           "# TYPE node_cpu_guest_seconds_total counter\n"
                           "node_cpu_guest_seconds_total{cpu=\"0\",mode=\"nice\"} 0\n"
                           "node_cpu_guest_seconds_total{cpu=\"0\",mode=\"user\"} 0\n"
                           "# HELP node_cpu_isolated Whether each core is isolated, information "
                           "from "
                           "/sys/devices/system/cpu/isolated.\n"
                           "# TYPE node_cpu_isolated gauge\n"
                           "node_cpu_isolated{cpu=\"1\"} 1\n"
                           "node_cpu_isolated{cpu=\"3\"} 1\n"
                           "node_cpu_isolated{cpu=\"4\"} 1\n"
                           "# HELP node_cpu_package_throttles_total Number of times this CPU "
                           "package has "
                           "been throttled.\n"
                           "# TYPE node_cpu_package_throttles_total counter\n"
                           "node_cpu_package_throttles_total{package=\"0\"} 100\n"
                           "node_cpu_package_throttles_total{package=\"1\"} 300\n"
                           "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n"
                           "# TYPE node_cpu_seconds_total counter\n"
                           "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1\n"
                           "node_cpu_seconds_total{cpu=\"0\",mode=\"iowait\"} 0\n"
                           "node_cpu_seconds_total{cpu=\"0\",mode=\"irq\"} 0\n"
                           "node_cpu_seconds_total{cpu=\"0\",mode=\"nice\"} 0\n"
                           "node_cpu_seconds_total{cpu=\"0\",mode=\"softirq\"} 0\n"
                           "node_cpu_seconds_total{cpu=\"0\",mode=\"steal\"} 0\n"
                           "node_cpu_seconds_total{cpu=\"0\",mode=\"system\"} 0.1\n"
                           "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 0.1\n");
    cr_assert_eq(tail, r.text, "unexpected families before the throttle counts");
    harness_free(&r);
}

Test(plugins_cpu, bad_isolated_list)
{
    struct harness_result r = harness_run("cpu", "cpu/badiso", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* Counters never go backwards; an idle drop of 3s or more resets the CPU;
 * a changed CPU count clears the cache. */
Test(plugins_cpu, counters_going_backwards)
{
    struct harness_instance h;
    harness_start(&h, "cpu", "cpu/jump/a", NULL);
    struct harness_result r = harness_cycle(&h, "cpu/jump/a");
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    char *t = r.text;
    cr_assert(harness_has_line(t, "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 5"), "%s", t);
    cr_assert(harness_has_line(t, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 10"), "%s", t);
    free(t);

    r = harness_cycle(&h, "cpu/jump/b");
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    t = r.text;
    cr_assert(harness_has_line(t, "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 5"), "%s", t);
    cr_assert(harness_has_line(t, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 10"), "%s", t);
    cr_assert(harness_has_line(t, "node_cpu_seconds_total{cpu=\"0\",mode=\"iowait\"} 0.4"), "%s",
              t);
    cr_assert(harness_has_line(t, "node_cpu_seconds_total{cpu=\"0\",mode=\"system\"} 3"), "%s", t);
    free(t);

    r = harness_cycle(&h, "cpu/jump/c");
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    t = r.text;
    cr_assert(harness_has_line(t, "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 1"), "%s", t);
    cr_assert(harness_has_line(t, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 5"), "%s", t);
    cr_assert(harness_has_line(t, "node_cpu_seconds_total{cpu=\"0\",mode=\"iowait\"} 0.1"), "%s",
              t);
    cr_assert(harness_has_line(t, "node_cpu_seconds_total{cpu=\"0\",mode=\"system\"} 0.5"), "%s",
              t);
    free(t);

    r = harness_cycle(&h, "cpu/jump/d");
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    t = r.text;
    cr_assert(harness_has_line(t, "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 0.9"), "%s", t);
    cr_assert(harness_has_line(t, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 4"), "%s", t);
    cr_assert(harness_has_line(t, "node_cpu_seconds_total{cpu=\"1\",mode=\"steal\"} 0.08"), "%s",
              t);
    free(t);

    /* Back to one CPU: cleared again, so cpu0 takes jump/a's values as they are.
     */
    r = harness_cycle(&h, "cpu/jump/a");
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    t = r.text;
    cr_assert(harness_has_line(t, "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 5"), "%s", t);
    cr_assert_null(strstr(t, "cpu=\"1\""), "%s", t);
    free(t);
    harness_stop(&h);
}

Test(plugins_cpu, info)
{
    const char *opts[] = {"info=true", NULL};
    struct harness_result r = harness_run("cpu", "cpu/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert(harness_has_line(r.text, "# HELP node_cpu_info CPU information from /proc/cpuinfo."));
    cr_assert(harness_has_line(r.text, "# TYPE node_cpu_info gauge"));
    cr_assert(harness_has_line(r.text, "node_cpu_info{cachesize=\"1024 "
                                       "KB\",core=\"0\",cpu=\"0\",family=\"25\","
                                       "microcode=\"0x1000065\",model=\"17\",model_name="
                                       "\"AMD EPYC\",package=\"0\","
                                       "stepping=\"1\",vendor=\"AuthenticAMD\"} 1"),
              "%s", r.text);
    cr_assert(harness_has_line(
        r.text, "node_cpu_info{cachesize=\"1024 KB\",core=\"1\",cpu=\"1\",family=\"25\","
                "microcode=\"0x1000065\",model=\"17\",model_name=\"AMD "
                "EPYC\",package=\"0\","
                "stepping=\"1\",vendor=\"AuthenticAMD\"} 1"));
    cr_assert_eq(harness_count_prefix(r.text, "node_cpu_info{"), 2);
    /* No include pattern: no flag or bug series. */
    cr_assert_null(strstr(r.text, "flag_info"));
    cr_assert_null(strstr(r.text, "bug_info"));
    harness_free(&r);
}

/* An include pattern turns info on by itself and selects flags/bugs. */
Test(plugins_cpu, info_flags_and_bugs)
{
    const char *opts[] = {"info.flags-include=^sse4", "info.bugs-include=spectre", NULL};
    struct harness_result r = harness_run("cpu", "cpu/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_eq(harness_count_prefix(r.text, "node_cpu_info{"), 2);
    cr_assert(harness_has_line(r.text, "# HELP node_cpu_flag_info The `flags` field of CPU "
                                       "information from /proc/cpuinfo taken from the first "
                                       "core."));
    cr_assert(harness_has_line(r.text, "# TYPE node_cpu_flag_info gauge"));
    cr_assert(harness_has_line(r.text, "node_cpu_flag_info{flag=\"sse4_1\"} 1"));
    cr_assert(harness_has_line(r.text, "node_cpu_flag_info{flag=\"sse4_2\"} 1"));
    cr_assert(harness_has_line(r.text, "node_cpu_flag_info{flag=\"sse4a\"} 1"));
    cr_assert_eq(harness_count_prefix(r.text, "node_cpu_flag_info{"), 3, "%s", r.text);
    cr_assert(harness_has_line(r.text, "# HELP node_cpu_bug_info The `bugs` field of CPU "
                                       "information from /proc/cpuinfo taken from the first "
                                       "core."));
    cr_assert(harness_has_line(r.text, "node_cpu_bug_info{bug=\"spectre_v1\"} 1"));
    cr_assert(harness_has_line(r.text, "node_cpu_bug_info{bug=\"spectre_v2\"} 1"));
    cr_assert(harness_has_line(r.text, "node_cpu_bug_info{bug=\"spectre_v2_user\"} 1"));
    cr_assert_eq(harness_count_prefix(r.text, "node_cpu_bug_info{"), 3);
    harness_free(&r);
}

Test(plugins_cpu, info_bad_pattern)
{
    const char *opts[] = {"info.flags-include=(", NULL};
    struct harness_result r = harness_run("cpu", "cpu/ok", opts);
    cr_assert_eq(r.rc, -EINVAL);
    harness_free(&r);
}

Test(plugins_cpu, info_garbage)
{
    const char *opts[] = {"info=true", NULL};
    struct harness_result r = harness_run("cpu", "cpu/badinfo", opts);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "bad cpu MHz value \"fast\"") != NULL, "%s", r.errmsg);
    cr_assert_null(strstr(r.text, "node_cpu_seconds_total"));
    harness_free(&r);

    r = harness_run("cpu", "cpu/badinfo-first", opts);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "invalid first line") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_cpu, info_missing)
{
    const char *opts[] = {"info=true", NULL};
    struct harness_result r = harness_run("cpu", "cpu/gap", opts);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert(strstr(r.errmsg, "cpuinfo") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
