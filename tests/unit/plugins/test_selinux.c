#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

#define ENABLED_HEAD                                                                               \
    "# HELP node_selinux_enabled SELinux is enabled, 1 is true, 0 is false\n"                      \
    "# TYPE node_selinux_enabled gauge\n"

static void expect(const char *fixture, double config, double current)
{
    char want[512];
    snprintf(want, sizeof(want),
             "# HELP node_selinux_config_mode Configured SELinux enforcement mode\n"
             "# TYPE node_selinux_config_mode gauge\n"
             "node_selinux_config_mode %g\n"
             "# HELP node_selinux_current_mode Current SELinux enforcement mode\n"
             "# TYPE node_selinux_current_mode gauge\n"
             "node_selinux_current_mode %g\n" ENABLED_HEAD "node_selinux_enabled 1\n",
             config, current);
    struct harness_result r = harness_run("selinux", fixture, NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, want);
    harness_free(&r);
}

static void expect_disabled(const char *fixture)
{
    struct harness_result r = harness_run("selinux", fixture, NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, ENABLED_HEAD "node_selinux_enabled 0\n");
    harness_free(&r);
}

/* Enforcing; the config's first SELINUX= line (quoted) wins over a later one. */
Test(plugins_selinux, ok)
{
    expect("selinux/ok", 1, 1);
}

Test(plugins_selinux, permissive)
{
    expect("selinux/permissive", 0, 0);
}

/* enforce reads "1\n" (go-selinux's Atoi rejects it) and the config key has
 * blanks around '=': both modes are -1, not errors, as in node_exporter. */
Test(plugins_selinux, garbage)
{
    expect("selinux/garbage", -1, -1);
}

/* An unreadable process label does not disable SELinux; no config is -1. */
Test(plugins_selinux, nolabel)
{
    expect("selinux/nolabel", -1, 0);
}

/* SELinux in the kernel without a policy: the label is "kernel". */
Test(plugins_selinux, kernel)
{
    expect_disabled("selinux/kernel");
}

/* The bare mount point, selinuxfs not mounted. */
Test(plugins_selinux, unmounted)
{
    expect_disabled("selinux/unmounted");
}

/* No fs/selinux at all (this machine): only node_selinux_enabled 0. */
Test(plugins_selinux, missing)
{
    expect_disabled("selinux/missing");
}
