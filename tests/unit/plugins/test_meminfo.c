#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "harness.h"

Test(plugins_meminfo, ok)
{
    struct harness_result r = harness_run("meminfo", "meminfo/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    const char *lines[] = {
        "# HELP node_memory_MemTotal_bytes Memory information field "
        "MemTotal_bytes.",
        "# TYPE node_memory_MemTotal_bytes gauge",
        "node_memory_MemTotal_bytes 2.5276514304e+10",
        "# HELP node_memory_Active_anon_bytes Memory information field "
        "Active_anon_bytes.",
        "# TYPE node_memory_Active_anon_bytes gauge",
        "node_memory_Active_anon_bytes 1.622016e+06",
        "node_memory_VmallocTotal_bytes 3.5184372087808e+13",
        "# HELP node_memory_HugePages_Total Memory information field "
        "HugePages_Total.",
        "# TYPE node_memory_HugePages_Total gauge",
        "node_memory_HugePages_Total 0",
        "node_memory_Hugepagesize_bytes 2.097152e+06",
        "node_memory_DirectMap1G_bytes 2.5769803776e+10",
        "node_memory_SwapTotal_bytes 0",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        cr_assert(harness_has_line(r.text, lines[i]), "missing %s in\n%s", lines[i], r.text);
    /* one family per line of the file, all gauges */
    cr_assert_eq(harness_count_prefix(r.text, "# TYPE node_memory_"), 54);
    cr_assert_eq(harness_count_prefix(r.text, "node_memory_"), 54);
    cr_assert_null(strstr(r.text, " counter\n"));
    harness_free(&r);
}

/* Parenthesised parts, unit-less lines, "_total" keys, blank lines. */
Test(plugins_meminfo, names)
{
    struct harness_result r = harness_run("meminfo", "meminfo/names", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "# HELP node_memory_Active_anon_bytes Memory information field "
                             "Active_anon_bytes.\n"
                             "# TYPE node_memory_Active_anon_bytes gauge\n"
                             "node_memory_Active_anon_bytes 1.59744e+06\n"
                             "# HELP node_memory_Foo_barbaz Memory information field Foo_barbaz.\n"
                             "# TYPE node_memory_Foo_barbaz gauge\n"
                             "node_memory_Foo_barbaz 3\n"
                             "# HELP node_memory_Foo_total Memory information field Foo_total.\n"
                             "# TYPE node_memory_Foo_total counter\n"
                             "node_memory_Foo_total 7\n"
                             "# HELP node_memory_HugePages_Total Memory information field "
                             "HugePages_Total.\n"
                             "# TYPE node_memory_HugePages_Total gauge\n"
                             "node_memory_HugePages_Total 0\n"
                             "# HELP node_memory_Hugepagesize_bytes Memory information field "
                             "Hugepagesize_bytes.\n"
                             "# TYPE node_memory_Hugepagesize_bytes gauge\n"
                             "node_memory_Hugepagesize_bytes 2.097152e+06\n"
                             "# HELP node_memory_MemTotal_bytes Memory information field "
                             "MemTotal_bytes.\n"
                             "# TYPE node_memory_MemTotal_bytes gauge\n"
                             "node_memory_MemTotal_bytes 2.5276514304e+10\n");
    harness_free(&r);
}

Test(plugins_meminfo, garbage)
{
    struct harness_result r = harness_run("meminfo", "meminfo/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "invalid value in ") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "\"2429514O\" for MemFree:") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "meminfo/garbage/proc/meminfo") != NULL, "%s", r.errmsg);
    /* the line before the bad one was exported, nothing after it */
    cr_assert(harness_has_line(r.text, "node_memory_MemTotal_bytes 2.5276514304e+10"));
    cr_assert_null(strstr(r.text, "MemAvailable"));
    harness_free(&r);
}

Test(plugins_meminfo, too_many_fields)
{
    struct harness_result r = harness_run("meminfo", "meminfo/toomany", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "\"Dirty:\" has 4 fields") != NULL, "%s", r.errmsg);
    harness_free(&r);
}

Test(plugins_meminfo, no_value)
{
    struct harness_result r = harness_run("meminfo", "meminfo/novalue", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "\"Dirty:\" has no value") != NULL, "%s", r.errmsg);
    harness_free(&r);
}

Test(plugins_meminfo, bad_key)
{
    struct harness_result r = harness_run("meminfo", "meminfo/badkey", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "\"node_memory_Weird_a)(bx\" is no metric name") != NULL, "%s",
              r.errmsg);
    harness_free(&r);
}

Test(plugins_meminfo, missing)
{
    struct harness_result r = harness_run("meminfo", "meminfo/missing", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "couldn't get meminfo") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
