#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "harness.h"

#define STAT_OK_TEXT                                                                               \
    "# HELP node_boot_time_seconds Node boot time, in unixtime.\n"                                 \
    "# TYPE node_boot_time_seconds gauge\n"                                                        \
    "node_boot_time_seconds 1.795244905e+09\n"                                                     \
    "# HELP node_context_switches_total Total number of context switches.\n"                       \
    "# TYPE node_context_switches_total counter\n"                                                 \
    "node_context_switches_total 314015\n"                                                         \
    "# HELP node_forks_total Total number of forks.\n"                                             \
    "# TYPE node_forks_total counter\n"                                                            \
    "node_forks_total 7555\n"                                                                      \
    "# HELP node_intr_total Total number of interrupts serviced.\n"                                \
    "# TYPE node_intr_total counter\n"                                                             \
    "node_intr_total 144359\n"                                                                     \
    "# HELP node_procs_blocked Number of processes blocked waiting for I/O to "                    \
    "complete.\n"                                                                                  \
    "# TYPE node_procs_blocked gauge\n"                                                            \
    "node_procs_blocked 0\n"                                                                       \
    "# HELP node_procs_running Number of processes in runnable state.\n"                           \
    "# TYPE node_procs_running gauge\n"                                                            \
    "node_procs_running 2\n"

Test(plugins_stat, ok)
{
    struct harness_result r = harness_run("stat", "stat/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, STAT_OK_TEXT);
    harness_free(&r);
}

/* A blank line does not end the parse. */
Test(plugins_stat, blank_line)
{
    struct harness_result r = harness_run("stat", "stat/blank", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, STAT_OK_TEXT);
    harness_free(&r);
}

Test(plugins_stat, softirq)
{
    const char *opts[] = {"softirq=true", NULL};
    struct harness_result r = harness_run("stat", "stat/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    const char *s = strstr(r.text, "# HELP node_softirqs_total");
    cr_assert_not_null(s, "%s", r.text);
    cr_assert_str_eq(s, "# HELP node_softirqs_total Number of softirq calls.\n"
                        "# TYPE node_softirqs_total counter\n"
                        "node_softirqs_total{vector=\"block\"} 39177\n"
                        "node_softirqs_total{vector=\"block_iopoll\"} 0\n"
                        "node_softirqs_total{vector=\"hi\"} 0\n"
                        "node_softirqs_total{vector=\"hrtimer\"} 0\n"
                        "node_softirqs_total{vector=\"net_rx\"} 1571\n"
                        "node_softirqs_total{vector=\"net_tx\"} 4\n"
                        "node_softirqs_total{vector=\"rcu\"} 22224\n"
                        "node_softirqs_total{vector=\"sched\"} 23787\n"
                        "node_softirqs_total{vector=\"tasklet\"} 2\n"
                        "node_softirqs_total{vector=\"timer\"} 10321\n");
    cr_assert(harness_has_line(r.text, "node_intr_total 144359"));
    harness_free(&r);
}

Test(plugins_stat, softirq_option_bad)
{
    const char *opts[] = {"softirq=yes please", NULL};
    struct harness_result r = harness_run("stat", "stat/ok", opts);
    cr_assert_eq(r.rc, -EINVAL);
    harness_free(&r);
}

/* A malformed softirq line fails even with the option off, as procfs parses it
 * always. */
Test(plugins_stat, softirq_malformed)
{
    struct harness_result r = harness_run("stat", "stat/badsoftirq", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "couldn't parse the softirq line of ") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* No softirq line: fine without the option, a failure with it. */
Test(plugins_stat, softirq_absent)
{
    struct harness_result r = harness_run("stat", "stat/nosoftirq", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, STAT_OK_TEXT);
    harness_free(&r);
    const char *opts[] = {"softirq=1", NULL};
    r = harness_run("stat", "stat/nosoftirq", opts);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "no softirq line in ") != NULL, "%s", r.errmsg);
    harness_free(&r);
}

Test(plugins_stat, garbage)
{
    struct harness_result r = harness_run("stat", "stat/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "couldn't parse the ctxt line of ") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "stat/garbage/proc/stat") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_stat, truncated)
{
    struct harness_result r = harness_run("stat", "stat/truncated", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "no btime line in ") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_stat, missing)
{
    struct harness_result r = harness_run("stat", "stat/missing", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_not(r.nodata);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
