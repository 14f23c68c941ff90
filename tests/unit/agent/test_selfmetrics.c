/* The agent's own metrics: process_* values are this process's, HTTP
 * counters count by handler and code. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "agent/internal.h"

static const struct exp_series *find(struct exp_builder *b, const char *name)
{
    size_t n;
    struct exp_family *const *f = exp_builder_families(b, &n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(f[i]->name, name) && f[i]->nseries == 1)
            return &f[i]->series[0];
    cr_assert_fail("no single series %s", name);
    return NULL;
}

Test(agent_selfmetrics, process)
{
    double boot = agent_boot_time();
    cr_assert_gt(boot, 1e9, "btime read from /proc/stat");
    struct exp_builder *b = exp_builder_create();
    agent_process_metrics(b, boot);
    cr_assert_eq(exp_builder_error(b), 0);
    double now = cn_now_seconds();
    double start = find(b, "process_start_time_seconds")->value;
    cr_assert(start >= boot && start <= now + 1, "start %f boot %f now %f", start, boot, now);
    cr_assert_gt(find(b, "process_resident_memory_bytes")->value, 1 << 20);
    cr_assert_geq(find(b, "process_cpu_seconds_total")->value, 0);

    /* Opening one more descriptor shows up as one more. */
    double fds = find(b, "process_open_fds")->value;
    exp_builder_unref(b);
    int fd = open("/dev/null", O_RDONLY);
    b = exp_builder_create();
    agent_process_metrics(b, boot);
    cr_assert_eq(find(b, "process_open_fds")->value, fds + 1);
    close(fd);
    exp_builder_unref(b);
}

Test(agent_selfmetrics, http_counters)
{
    struct agent_http_stats *s = agent_http_stats_create();
    agent_http_stats_inc(s, "/metrics", 200);
    agent_http_stats_inc(s, "/metrics", 200);
    agent_http_stats_inc(s, "/metrics", 503);
    struct exp_builder *b = exp_builder_create();
    agent_http_stats_export(s, b);
    exp_builder_finish(b);
    size_t n;
    struct exp_family *const *f = exp_builder_families(b, &n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(f[0]->name, "cairn_http_requests_total");
    cr_assert_eq(f[0]->type, EXP_COUNTER);
    cr_assert_eq(f[0]->nseries, 2);
    cr_assert_str_eq(f[0]->series[0].labels[0].value, "200");
    cr_assert_eq(f[0]->series[0].value, 2);
    cr_assert_str_eq(f[0]->series[1].labels[0].value, "503");
    cr_assert_eq(f[0]->series[1].value, 1);
    exp_builder_unref(b);
    agent_http_stats_destroy(s);
}
