#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

#define ARP_HEAD                                                                                   \
    "# HELP node_arp_entries ARP entries by device\n"                                              \
    "# TYPE node_arp_entries gauge\n"
#define ARP_CNI0 "node_arp_entries{device=\"cni0\"} 2\n"
#define ARP_ETH0 "node_arp_entries{device=\"eth0\"} 3\n"
#define ARP_ETH1 "node_arp_entries{device=\"eth1\"} 1\n"

Test(plugins_arp, ok)
{
    struct harness_result r = harness_run("arp", "arp/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, ARP_HEAD ARP_CNI0 ARP_ETH0 ARP_ETH1);
    harness_free(&r);
}

Test(plugins_arp, include)
{
    const char *opts[] = {"device-include=^eth", NULL};
    struct harness_result r = harness_run("arp", "arp/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, ARP_HEAD ARP_ETH0 ARP_ETH1);
    harness_free(&r);
}

/* Patterns match anywhere in the name unless anchored. */
Test(plugins_arp, exclude)
{
    const char *opts[] = {"device-exclude=h0", NULL};
    struct harness_result r = harness_run("arp", "arp/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, ARP_HEAD ARP_CNI0 ARP_ETH1);
    harness_free(&r);
}

Test(plugins_arp, include_and_exclude)
{
    const char *opts[] = {"device-include=^eth", "device-exclude=^eth1$", NULL};
    struct harness_result r = harness_run("arp", "arp/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, ARP_HEAD ARP_ETH0);
    harness_free(&r);
}

/* Everything filtered out: no family at all. */
Test(plugins_arp, all_excluded)
{
    const char *opts[] = {"device-exclude=.", NULL};
    struct harness_result r = harness_run("arp", "arp/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_arp, bad_pattern)
{
    const char *opts[] = {"device-include=(eth", NULL};
    struct harness_result r = harness_run("arp", "arp/ok", opts);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* A truncated line rejects the whole table. */
Test(plugins_arp, garbage)
{
    struct harness_result r = harness_run("arp", "arp/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "unexpected ARP table format") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "net/arp line 3") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* Only the header: no entries, no family, success. */
Test(plugins_arp, empty)
{
    struct harness_result r = harness_run("arp", "arp/empty", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_arp, missing)
{
    struct harness_result r = harness_run("arp", "arp/missing", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "could not get ARP entries") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
