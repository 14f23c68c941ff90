/*
 * timex: the kernel clock discipline state from adjtimex(2) (modes 0, a pure
 * read), as node_exporter 1.5's timex collector: node_timex_* gauges and
 * the four PPS event counters.
 *
 * Units follow node_exporter exactly: offset and PPS jitter are in µs, or
 * in ns when STA_NANO is set in status; maxerror, esterror and tick are
 * always µs; freq, ppsfreq and stabil are ppm with a 16-bit fraction
 * (scaled 2^-16), and the frequency is reported as the ratio 1 + freq.
 * sync_status is 0 when adjtimex returns TIME_ERROR (clock unsynchronised),
 * else 1.
 *
 * Like node_exporter this reads the running kernel, not --path.procfs or
 * --path.sysfs: no file exposes these values. When the call is not
 * permitted (EPERM or EACCES, e.g. under a seccomp profile) there is no data (success 0);
 * any other error fails the collector.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <string.h>
#include <sys/timex.h>

#define TIMEX_STA_NANO 0x2000
#define TIMEX_TIME_ERROR 5
#define TIMEX_PPM16FRAC (1000000.0 * 65536.0)

static void timex_gauge(struct plg_collect *c, const char *name, const char *help, double v)
{
    exp_gauge(c->b, name, help, v, 0);
}

static int timex_collect(void *state, struct plg_collect *c)
{
    (void)state;
    struct timex tx;
    memset(&tx, 0, sizeof(tx));
    int st = adjtimex(&tx);
    if (st < 0) {
        int e = errno;
        if (e == EPERM || e == EACCES)
            return plg_nodata(c, "not collecting timex metrics: adjtimex: %s", strerror(e));
        return plg_fail(c, -e, "failed to retrieve adjtimex stats: %s", strerror(e));
    }
    double divisor = (tx.status & TIMEX_STA_NANO) ? 1e9 : 1e6;

    timex_gauge(c, "node_timex_sync_status",
                "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
                st == TIMEX_TIME_ERROR ? 0 : 1);
    timex_gauge(c, "node_timex_offset_seconds",
                "Time offset in between local system and reference clock.",
                (double)tx.offset / divisor);
    timex_gauge(c, "node_timex_frequency_adjustment_ratio", "Local clock frequency adjustment.",
                1 + (double)tx.freq / TIMEX_PPM16FRAC);
    timex_gauge(c, "node_timex_maxerror_seconds", "Maximum error in seconds.",
                (double)tx.maxerror / 1e6);
    timex_gauge(c, "node_timex_estimated_error_seconds", "Estimated error in seconds.",
                (double)tx.esterror / 1e6);
    timex_gauge(c, "node_timex_status", "Value of the status array bits.", (double)tx.status);
    timex_gauge(c, "node_timex_loop_time_constant", "Phase-locked loop time constant.",
                (double)tx.constant);
    timex_gauge(c, "node_timex_tick_seconds", "Seconds between clock ticks.",
                (double)tx.tick / 1e6);
    timex_gauge(c, "node_timex_pps_frequency_hertz", "Pulse per second frequency.",
                (double)tx.ppsfreq / TIMEX_PPM16FRAC);
    timex_gauge(c, "node_timex_pps_jitter_seconds", "Pulse per second jitter.",
                (double)tx.jitter / divisor);
    timex_gauge(c, "node_timex_pps_shift_seconds", "Pulse per second interval duration.",
                (double)tx.shift);
    timex_gauge(c, "node_timex_pps_stability_hertz",
                "Pulse per second stability, average of recent frequency changes.",
                (double)tx.stabil / TIMEX_PPM16FRAC);
    exp_counter(c->b, "node_timex_pps_jitter_total",
                "Pulse per second count of jitter limit exceeded events.", (double)tx.jitcnt, 0);
    exp_counter(c->b, "node_timex_pps_calibration_total",
                "Pulse per second count of calibration intervals.", (double)tx.calcnt, 0);
    exp_counter(c->b, "node_timex_pps_error_total", "Pulse per second count of calibration errors.",
                (double)tx.errcnt, 0);
    exp_counter(c->b, "node_timex_pps_stability_exceeded_total",
                "Pulse per second count of stability limit exceeded events.", (double)tx.stbcnt, 0);
    timex_gauge(c, "node_timex_tai_offset_seconds", "International Atomic Time (TAI) offset.",
                (double)tx.tai);
    return 0;
}

const struct plg_collector plg_collector_timex = {
    .name = "timex",
    .default_enabled = true,
    .collect = timex_collect,
};
