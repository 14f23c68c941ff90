#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

#define CT_ENTRIES                                                                                 \
    "# HELP node_nf_conntrack_entries Number of currently allocated flow entries for connection "  \
    "tracking.\n"                                                                                  \
    "# TYPE node_nf_conntrack_entries gauge\n"                                                     \
    "node_nf_conntrack_entries 123\n"                                                              \
    "# HELP node_nf_conntrack_entries_limit Maximum size of connection tracking table.\n"          \
    "# TYPE node_nf_conntrack_entries_limit gauge\n"                                               \
    "node_nf_conntrack_entries_limit 262144\n"

/* Two CPUs' hex stat lines, summed column by column. */
Test(plugins_conntrack, ok)
{
    struct harness_result r = harness_run("conntrack", "conntrack/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(
        r.text, CT_ENTRIES
        "# HELP node_nf_conntrack_stat_drop Number of packets dropped due to conntrack failure.\n"
        "# TYPE node_nf_conntrack_stat_drop gauge\n"
        "node_nf_conntrack_stat_drop 102\n"
        "# HELP node_nf_conntrack_stat_early_drop Number of dropped conntrack entries to make "
        "room for new ones, if maximum table size was reached.\n"
        "# TYPE node_nf_conntrack_stat_early_drop gauge\n"
        "node_nf_conntrack_stat_early_drop 119\n"
        "# HELP node_nf_conntrack_stat_found Number of searched entries which were successful.\n"
        "# TYPE node_nf_conntrack_stat_found gauge\n"
        "node_nf_conntrack_stat_found 256\n"
        "# HELP node_nf_conntrack_stat_ignore Number of packets seen which are already connected "
        "to a conntrack entry.\n"
        "# TYPE node_nf_conntrack_stat_ignore gauge\n"
        "node_nf_conntrack_stat_ignore 51\n"
        "# HELP node_nf_conntrack_stat_insert Number of entries inserted into the list.\n"
        "# TYPE node_nf_conntrack_stat_insert gauge\n"
        "node_nf_conntrack_stat_insert 68\n"
        "# HELP node_nf_conntrack_stat_insert_failed Number of entries for which list insertion "
        "was attempted but failed.\n"
        "# TYPE node_nf_conntrack_stat_insert_failed gauge\n"
        "node_nf_conntrack_stat_insert_failed 85\n"
        "# HELP node_nf_conntrack_stat_invalid Number of packets seen which can not be tracked.\n"
        "# TYPE node_nf_conntrack_stat_invalid gauge\n"
        "node_nf_conntrack_stat_invalid 34\n"
        "# HELP node_nf_conntrack_stat_search_restart Number of conntrack table lookups which had "
        "to be restarted due to hashtable resizes.\n"
        "# TYPE node_nf_conntrack_stat_search_restart gauge\n"
        "node_nf_conntrack_stat_search_restart 136\n");
    harness_free(&r);
}

/* A stat line with 16 fields: the sysctl series stay, the collector fails. */
Test(plugins_conntrack, garbage)
{
    struct harness_result r = harness_run("conntrack", "conntrack/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "net/stat/nf_conntrack line 2: 16 fields, want 17") != NULL, "%s",
              r.errmsg);
    cr_assert_str_eq(r.text, CT_ENTRIES);
    harness_free(&r);
}

Test(plugins_conntrack, badcount)
{
    struct harness_result r = harness_run("conntrack", "conntrack/badcount", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "invalid number in") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "nf_conntrack_count") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* Module loaded without the stat file: the sysctls, then "no data". */
Test(plugins_conntrack, nostat)
{
    struct harness_result r = harness_run("conntrack", "conntrack/nostat", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert_str_eq(r.text, CT_ENTRIES);
    harness_free(&r);
}

/* No nf_conntrack module: "no data", nothing exported. */
Test(plugins_conntrack, missing)
{
    struct harness_result r = harness_run("conntrack", "conntrack/missing", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert(strstr(r.errmsg, "conntrack probably not loaded") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
