#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

Test(plugins_nvme, ok)
{
    struct harness_result r = harness_run("nvme", "nvme/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(
        r.text, "# HELP node_nvme_info Non-numeric data from /sys/class/nvme/<device>, value "
                "is always 1.\n"
                "# TYPE node_nvme_info gauge\n"
                "node_nvme_info{device=\"nvme0\",firmware_revision=\"2B2QEXM7\",model=\"Samsung "
                "SSD 970 EVO Plus 1TB\",serial=\"S4EWNX0R123456\",state=\"live\"} 1\n"
                "node_nvme_info{device=\"nvme1\",firmware_revision=\"VDV10131\",model=\"INTEL "
                "SSDPE2KX040T8\",serial=\"PHLJ9123004X4P0DGN\",state=\"resetting\"} 1\n");
    harness_free(&r);
}

Test(plugins_nvme, garbage)
{
    /* nvme0/state is unreadable (a directory): the collection fails and,
     * as in 1.5, exports nothing, not even the healthy nvme1 */
    struct harness_result r = harness_run("nvme", "nvme/garbage", NULL);
    cr_assert_eq(r.rc, -EISDIR);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "nvme0/state") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_nvme, missing_attribute)
{
    /* nvme1 has no serial: "not found" is no data in 1.5; nvme0's series,
     * already built, is dropped */
    struct harness_result r = harness_run("nvme", "nvme/partial", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert(strstr(r.errmsg, "nvme1/serial") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_nvme, missing)
{
    struct harness_result r = harness_run("nvme", "nvme/missing", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert(strstr(r.errmsg, "class/nvme") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
