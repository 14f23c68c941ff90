#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

Test(plugins_filefd, ok)
{
    struct harness_result r = harness_run("filefd", "filefd/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "# HELP node_filefd_allocated File descriptor statistics: allocated.\n"
                             "# TYPE node_filefd_allocated gauge\n"
                             "node_filefd_allocated 570\n"
                             "# HELP node_filefd_maximum File descriptor statistics: maximum.\n"
                             "# TYPE node_filefd_maximum gauge\n"
                             "node_filefd_maximum 2.466183e+06\n");
    harness_free(&r);
}

/* Fields separated by spaces instead of tabs: one field, not three. */
Test(plugins_filefd, garbage)
{
    struct harness_result r = harness_run("filefd", "filefd/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "unexpected number of file stats") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "sys/fs/file-nr") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* A maximum that is not a number: nothing is exported, not even allocated. */
Test(plugins_filefd, badvalue)
{
    struct harness_result r = harness_run("filefd", "filefd/badvalue", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "invalid value lots") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_filefd, missing)
{
    struct harness_result r = harness_run("filefd", "filefd/missing", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "file-nr") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
