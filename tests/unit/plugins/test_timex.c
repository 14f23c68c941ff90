#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <criterion/criterion.h>

#include "harness.h"

static const struct {
    const char *name, *type, *help;
} timex_families[] = {
    {"node_timex_estimated_error_seconds", "gauge", "Estimated error in seconds."},
    {"node_timex_frequency_adjustment_ratio", "gauge", "Local clock frequency adjustment."},
    {"node_timex_loop_time_constant", "gauge", "Phase-locked loop time constant."},
    {"node_timex_maxerror_seconds", "gauge", "Maximum error in seconds."},
    {"node_timex_offset_seconds", "gauge",
     "Time offset in between local system and reference clock."},
    {"node_timex_pps_calibration_total", "counter",
     "Pulse per second count of calibration intervals."},
    {"node_timex_pps_error_total", "counter", "Pulse per second count of calibration errors."},
    {"node_timex_pps_frequency_hertz", "gauge", "Pulse per second frequency."},
    {"node_timex_pps_jitter_seconds", "gauge", "Pulse per second jitter."},
    {"node_timex_pps_jitter_total", "counter",
     "Pulse per second count of jitter limit exceeded events."},
    {"node_timex_pps_shift_seconds", "gauge", "Pulse per second interval duration."},
    {"node_timex_pps_stability_exceeded_total", "counter",
     "Pulse per second count of stability limit exceeded events."},
    {"node_timex_pps_stability_hertz", "gauge",
     "Pulse per second stability, average of recent frequency changes."},
    {"node_timex_status", "gauge", "Value of the status array bits."},
    {"node_timex_sync_status", "gauge",
     "Is clock synchronized to a reliable server (1 = yes, 0 = no)."},
    {"node_timex_tai_offset_seconds", "gauge", "International Atomic Time (TAI) offset."},
    {"node_timex_tick_seconds", "gauge", "Seconds between clock ticks."},
};
#define NFAM (sizeof(timex_families) / sizeof(timex_families[0]))

/* adjtimex reads the running kernel, so values are checked for shape and
 * for the fields that do not move (tick, TAI offset, scaling). */
Test(plugins_timex, live)
{
    struct harness_result r = harness_run("timex", "timex/none", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    char line[256];
    int nlines = 0;
    for (const char *p = r.text; *p; p = strchr(p, '\n') + 1)
        nlines++;
    cr_assert_eq(nlines, (int)NFAM * 3, "%s", r.text);
    for (size_t i = 0; i < NFAM; i++) {
        snprintf(line, sizeof(line), "# HELP %s %s", timex_families[i].name,
                 timex_families[i].help);
        cr_assert(harness_has_line(r.text, line), "missing %s", line);
        snprintf(line, sizeof(line), "# TYPE %s %s", timex_families[i].name,
                 timex_families[i].type);
        cr_assert(harness_has_line(r.text, line), "missing %s", line);
        (void)harness_sample(r.text, timex_families[i].name);
    }
    struct timex tx = {0};
    int st = adjtimex(&tx);
    cr_assert(st >= 0);
    cr_assert_float_eq(harness_sample(r.text, "node_timex_tick_seconds"), (double)tx.tick / 1e6,
                       1e-12);
    cr_assert_float_eq(harness_sample(r.text, "node_timex_tai_offset_seconds"), (double)tx.tai, 0);
    cr_assert_float_eq(harness_sample(r.text, "node_timex_loop_time_constant"), (double)tx.constant,
                       0);
    double sync = harness_sample(r.text, "node_timex_sync_status");
    cr_assert(sync == 0 || sync == 1);
    double status = harness_sample(r.text, "node_timex_status");
    cr_assert(status >= 0 && status == (double)(long)status);
    double ratio = harness_sample(r.text, "node_timex_frequency_adjustment_ratio");
    cr_assert(ratio > 0.999 && ratio < 1.001, "ratio %f", ratio); /* |freq| <= 500 ppm */
    cr_assert(harness_sample(r.text, "node_timex_maxerror_seconds") >= 0);
    cr_assert(harness_sample(r.text, "node_timex_estimated_error_seconds") >= 0);
    harness_free(&r);
}
