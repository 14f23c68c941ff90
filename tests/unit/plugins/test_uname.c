#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <criterion/criterion.h>

#include "harness.h"

#define UNAME_HEAD                                                                                 \
    "# HELP node_uname_info Labeled system information as provided by the uname system call.\n"    \
    "# TYPE node_uname_info gauge\n"

Test(plugins_uname, ok)
{
    struct utsname u;
    cr_assert_eq(uname(&u), 0);
    char want[1024];
    snprintf(want, sizeof(want),
             UNAME_HEAD "node_uname_info{domainname=\"example.org\",machine=\"%s\","
                        "nodename=\"db-7\",release=\"6.1.0-18-amd64\",sysname=\"Linux\","
                        "version=\"#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\"} 1\n",
             u.machine);
    struct harness_result r = harness_run("uname", "uname/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, want);
    harness_free(&r);
}

/* No sys/kernel files at all: every field comes from uname(2). */
Test(plugins_uname, missing)
{
    struct utsname u;
    cr_assert_eq(uname(&u), 0);
    char want[1024];
    snprintf(want, sizeof(want),
             UNAME_HEAD "node_uname_info{domainname=\"%s\",machine=\"%s\",nodename=\"%s\","
                        "release=\"%s\",sysname=\"%s\",version=\"%s\"} 1\n",
             u.domainname, u.machine, u.nodename, u.release, u.sysname, u.version);
    struct harness_result r = harness_run("uname", "uname/missing", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, want);
    harness_free(&r);
}

/* Only hostname exists: it wins, the rest falls back to uname(2). */
Test(plugins_uname, partial)
{
    struct utsname u;
    cr_assert_eq(uname(&u), 0);
    char want[1024];
    snprintf(want, sizeof(want),
             UNAME_HEAD
             "node_uname_info{domainname=\"%s\",machine=\"%s\",nodename=\"partial-host\","
             "release=\"%s\",sysname=\"%s\",version=\"%s\"} 1\n",
             u.domainname, u.machine, u.release, u.sysname, u.version);
    struct harness_result r = harness_run("uname", "uname/partial", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, want);
    harness_free(&r);
}

Test(plugins_uname, garbage)
{
    struct harness_result r = harness_run("uname", "uname/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "more than one line") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "sys/kernel/osrelease") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* 65 characters cannot be a utsname field. */
Test(plugins_uname, toolong)
{
    struct harness_result r = harness_run("uname", "uname/toolong", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "too long") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "sys/kernel/hostname") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
