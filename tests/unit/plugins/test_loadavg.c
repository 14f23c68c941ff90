#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

Test(plugins_loadavg, ok)
{
    struct harness_result r = harness_run("loadavg", "loadavg/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "# HELP node_load1 1m load average.\n"
                             "# TYPE node_load1 gauge\n"
                             "node_load1 0.21\n"
                             "# HELP node_load15 15m load average.\n"
                             "# TYPE node_load15 gauge\n"
                             "node_load15 0.42\n"
                             "# HELP node_load5 5m load average.\n"
                             "# TYPE node_load5 gauge\n"
                             "node_load5 0.37\n");
    harness_free(&r);
}

Test(plugins_loadavg, garbage)
{
    struct harness_result r = harness_run("loadavg", "loadavg/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "unexpected content") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_loadavg, missing)
{
    struct harness_result r = harness_run("loadavg", "loadavg/missing", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
