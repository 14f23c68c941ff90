#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

Test(plugins_entropy, ok)
{
    struct harness_result r = harness_run("entropy", "entropy/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "# HELP node_entropy_available_bits Bits of available entropy.\n"
                             "# TYPE node_entropy_available_bits gauge\n"
                             "node_entropy_available_bits 3412\n"
                             "# HELP node_entropy_pool_size_bits Bits of entropy pool.\n"
                             "# TYPE node_entropy_pool_size_bits gauge\n"
                             "node_entropy_pool_size_bits 4096\n");
    harness_free(&r);
}

Test(plugins_entropy, garbage)
{
    struct harness_result r = harness_run("entropy", "entropy/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "invalid number") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "entropy_avail") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* A garbled poolsize fails before anything is exported, as KernelRandom(). */
Test(plugins_entropy, badpool)
{
    struct harness_result r = harness_run("entropy", "entropy/badpool", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "poolsize") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* A missing poolsize fails after the available bits were exported. */
Test(plugins_entropy, nopool)
{
    struct harness_result r = harness_run("entropy", "entropy/nopool", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "couldn't get entropy poolsize") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "# HELP node_entropy_available_bits Bits of available entropy.\n"
                             "# TYPE node_entropy_available_bits gauge\n"
                             "node_entropy_available_bits 256\n");
    harness_free(&r);
}

Test(plugins_entropy, missing)
{
    struct harness_result r = harness_run("entropy", "entropy/missing", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "couldn't get entropy_avail") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
