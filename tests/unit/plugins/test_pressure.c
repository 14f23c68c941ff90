#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "harness.h"

#define PRESSURE_CPU_TEXT                                                                          \
    "# HELP node_pressure_cpu_waiting_seconds_total Total time in seconds that "                   \
    "processes have "                                                                              \
    "waited for CPU time\n"                                                                        \
    "# TYPE node_pressure_cpu_waiting_seconds_total counter\n"                                     \
    "node_pressure_cpu_waiting_seconds_total 5.033956\n"

#define PRESSURE_OK_TEXT                                                                           \
    PRESSURE_CPU_TEXT                                                                              \
    "# HELP node_pressure_io_stalled_seconds_total Total time in seconds no "                      \
    "process could make "                                                                          \
    "progress due to IO congestion\n"                                                              \
    "# TYPE node_pressure_io_stalled_seconds_total counter\n"                                      \
    "node_pressure_io_stalled_seconds_total 4.035973\n"                                            \
    "# HELP node_pressure_io_waiting_seconds_total Total time in seconds that "                    \
    "processes have "                                                                              \
    "waited due to IO congestion\n"                                                                \
    "# TYPE node_pressure_io_waiting_seconds_total counter\n"                                      \
    "node_pressure_io_waiting_seconds_total 4.185359\n"                                            \
    "# HELP node_pressure_memory_stalled_seconds_total Total time in seconds "                     \
    "no process could "                                                                            \
    "make progress due to memory congestion\n"                                                     \
    "# TYPE node_pressure_memory_stalled_seconds_total counter\n"                                  \
    "node_pressure_memory_stalled_seconds_total 1.000001\n"                                        \
    "# HELP node_pressure_memory_waiting_seconds_total Total time in seconds "                     \
    "that processes have "                                                                         \
    "waited for memory\n"                                                                          \
    "# TYPE node_pressure_memory_waiting_seconds_total counter\n"                                  \
    "node_pressure_memory_waiting_seconds_total 1.234567\n"

/* The cpu "full" line and lines with unknown prefixes are ignored. */
Test(plugins_pressure, ok)
{
    struct harness_result r = harness_run("pressure", "pressure/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, PRESSURE_OK_TEXT);
    harness_free(&r);
}

/* Kernels before 5.13 have no "full" line for cpu. */
Test(plugins_pressure, cpu_without_full)
{
    struct harness_result r = harness_run("pressure", "pressure/oldcpu", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, PRESSURE_OK_TEXT);
    harness_free(&r);
}

Test(plugins_pressure, missing)
{
    struct harness_result r = harness_run("pressure", "pressure/missing", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert(strstr(r.errmsg, "CONFIG_PSI") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* A later resource missing: nodata, what came before stays. */
Test(plugins_pressure, partial)
{
    struct harness_result r = harness_run("pressure", "pressure/partial", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert(strstr(r.errmsg, "pressure/partial/proc/pressure/io is missing") != NULL, "%s",
              r.errmsg);
    cr_assert_str_eq(r.text, PRESSURE_CPU_TEXT);
    harness_free(&r);
}

Test(plugins_pressure, garbage)
{
    struct harness_result r = harness_run("pressure", "pressure/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "bad line in ") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "\"some avg10=0.00 avg60=x avg300=0.39 total=4185359\"") != NULL,
              "%s", r.errmsg);
    cr_assert_str_eq(r.text, PRESSURE_CPU_TEXT);
    harness_free(&r);
}

Test(plugins_pressure, no_full_line)
{
    struct harness_result r = harness_run("pressure", "pressure/nofull", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "no \"full\" line in ") != NULL, "%s", r.errmsg);
    cr_assert_null(strstr(r.text, "memory"));
    harness_free(&r);
}
