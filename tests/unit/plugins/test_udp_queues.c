#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

#define UDPQ_HEAD                                                                                  \
    "# HELP node_udp_queues Number of allocated memory in the kernel for UDP datagrams in "        \
    "bytes.\n"                                                                                     \
    "# TYPE node_udp_queues gauge\n"
#define UDPQ_V4                                                                                    \
    "node_udp_queues{ip=\"v4\",queue=\"rx\"} 6656\n"                                               \
    "node_udp_queues{ip=\"v4\",queue=\"tx\"} 768\n"

/* Queues are hex: v4 tx 0x200 + 0x100, rx 0xA00 + 0x1000; v6 tx 0x40, rx 0xC00. */
Test(plugins_udp_queues, ok)
{
    struct harness_result r = harness_run("udp_queues", "udp_queues/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, UDPQ_HEAD UDPQ_V4 "node_udp_queues{ip=\"v6\",queue=\"rx\"} 3072\n"
                                               "node_udp_queues{ip=\"v6\",queue=\"tx\"} 64\n");
    harness_free(&r);
}

Test(plugins_udp_queues, v4only)
{
    struct harness_result r = harness_run("udp_queues", "udp_queues/v4only", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, UDPQ_HEAD UDPQ_V4);
    harness_free(&r);
}

/* "TX-RX" instead of "TX:RX" on line 3. */
Test(plugins_udp_queues, garbage)
{
    struct harness_result r = harness_run("udp_queues", "udp_queues/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "net/udp line 3: cannot parse tx/rx queues") != NULL, "%s",
              r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* A 14-byte address in udp6: the v4 series stay, the collector fails. */
Test(plugins_udp_queues, garbage6)
{
    struct harness_result r = harness_run("udp_queues", "udp_queues/garbage6", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "net/udp6 line 2: cannot parse local_address field") != NULL, "%s",
              r.errmsg);
    cr_assert_str_eq(r.text, UDPQ_HEAD UDPQ_V4);
    harness_free(&r);
}

Test(plugins_udp_queues, missing)
{
    struct harness_result r = harness_run("udp_queues", "udp_queues/missing", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
