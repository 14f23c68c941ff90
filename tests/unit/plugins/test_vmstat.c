#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "harness.h"

Test(plugins_vmstat, ok)
{
    struct harness_result r = harness_run("vmstat", "vmstat/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text,
                     "# HELP node_vmstat_oom_kill /proc/vmstat information field oom_kill.\n"
                     "# TYPE node_vmstat_oom_kill untyped\n"
                     "node_vmstat_oom_kill 0\n"
                     "# HELP node_vmstat_pgfault /proc/vmstat information field pgfault.\n"
                     "# TYPE node_vmstat_pgfault untyped\n"
                     "node_vmstat_pgfault 6.378108e+06\n"
                     "# HELP node_vmstat_pgmajfault /proc/vmstat information field "
                     "pgmajfault.\n"
                     "# TYPE node_vmstat_pgmajfault untyped\n"
                     "node_vmstat_pgmajfault 1550\n"
                     "# HELP node_vmstat_pgpgin /proc/vmstat information field pgpgin.\n"
                     "# TYPE node_vmstat_pgpgin untyped\n"
                     "node_vmstat_pgpgin 1.788017e+06\n"
                     "# HELP node_vmstat_pgpgout /proc/vmstat information field pgpgout.\n"
                     "# TYPE node_vmstat_pgpgout untyped\n"
                     "node_vmstat_pgpgout 793732\n"
                     "# HELP node_vmstat_pswpin /proc/vmstat information field pswpin.\n"
                     "# TYPE node_vmstat_pswpin untyped\n"
                     "node_vmstat_pswpin 0\n"
                     "# HELP node_vmstat_pswpout /proc/vmstat information field pswpout.\n"
                     "# TYPE node_vmstat_pswpout untyped\n"
                     "node_vmstat_pswpout 0\n");
    harness_free(&r);
}

Test(plugins_vmstat, fields_option)
{
    const char *opts[] = {"fields=^nr_free", NULL};
    struct harness_result r = harness_run("vmstat", "vmstat/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "# HELP node_vmstat_nr_free_cma /proc/vmstat information field "
                             "nr_free_cma.\n"
                             "# TYPE node_vmstat_nr_free_cma untyped\n"
                             "node_vmstat_nr_free_cma 0\n"
                             "# HELP node_vmstat_nr_free_pages /proc/vmstat information field "
                             "nr_free_pages.\n"
                             "# TYPE node_vmstat_nr_free_pages untyped\n"
                             "node_vmstat_nr_free_pages 1.057483e+06\n"
                             "# HELP node_vmstat_nr_free_pages_blocks /proc/vmstat information "
                             "field nr_free_pages_blocks.\n"
                             "# TYPE node_vmstat_nr_free_pages_blocks untyped\n"
                             "node_vmstat_nr_free_pages_blocks 1.025536e+06\n");
    harness_free(&r);
}

/* Unanchored patterns match anywhere in the name, as Go's MatchString. */
Test(plugins_vmstat, fields_unanchored)
{
    const char *opts[] = {"fields=majfault", NULL};
    struct harness_result r = harness_run("vmstat", "vmstat/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert(harness_has_line(r.text, "node_vmstat_pgmajfault 1550"), "%s", r.text);
    cr_assert_null(strstr(r.text, "node_vmstat_pgfault"));
    harness_free(&r);
}

Test(plugins_vmstat, fields_bad_pattern)
{
    const char *opts[] = {"fields=pg(", NULL};
    struct harness_result r = harness_run("vmstat", "vmstat/ok", opts);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* Values of fields the pattern drops must parse too, as in node_exporter. */
Test(plugins_vmstat, garbage)
{
    struct harness_result r = harness_run("vmstat", "vmstat/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "invalid value in ") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "\"12k\" for nr_dirty") != NULL, "%s", r.errmsg);
    harness_free(&r);
}

Test(plugins_vmstat, no_value)
{
    struct harness_result r = harness_run("vmstat", "vmstat/novalue", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "\"pgfault\" has no value") != NULL, "%s", r.errmsg);
    cr_assert_null(strstr(r.text, "node_vmstat_pgfault"));
    harness_free(&r);
}

Test(plugins_vmstat, missing)
{
    struct harness_result r = harness_run("vmstat", "vmstat/missing", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_not(r.nodata);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
