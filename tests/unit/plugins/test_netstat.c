/* Tests of the netstat collector against fixture trees in
 * tests/fixtures/netstat/. The expected texts were worked out from the fixture
 * files by hand-written rules (node_exporter 1.5's), not from the collector's
 * output. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char netstat_ok_text[] =
    "# HELP node_netstat_Icmp6_InErrors Statistic Icmp6InErrors.\n"
    "# TYPE node_netstat_Icmp6_InErrors untyped\n"
    "node_netstat_Icmp6_InErrors 2032\n"
    "# HELP node_netstat_Icmp6_InMsgs Statistic Icmp6InMsgs.\n"
    "# TYPE node_netstat_Icmp6_InMsgs untyped\n"
    "node_netstat_Icmp6_InMsgs 2031\n"
    "# HELP node_netstat_Icmp6_OutMsgs Statistic Icmp6OutMsgs.\n"
    "# TYPE node_netstat_Icmp6_OutMsgs untyped\n"
    "node_netstat_Icmp6_OutMsgs 2033\n"
    "# HELP node_netstat_Icmp_InErrors Statistic IcmpInErrors.\n"
    "# TYPE node_netstat_Icmp_InErrors untyped\n"
    "node_netstat_Icmp_InErrors 1012\n"
    "# HELP node_netstat_Icmp_InMsgs Statistic IcmpInMsgs.\n"
    "# TYPE node_netstat_Icmp_InMsgs untyped\n"
    "node_netstat_Icmp_InMsgs 1011\n"
    "# HELP node_netstat_Icmp_OutMsgs Statistic IcmpOutMsgs.\n"
    "# TYPE node_netstat_Icmp_OutMsgs untyped\n"
    "node_netstat_Icmp_OutMsgs 1013\n"
    "# HELP node_netstat_Ip6_InOctets Statistic Ip6InOctets.\n"
    "# TYPE node_netstat_Ip6_InOctets untyped\n"
    "node_netstat_Ip6_InOctets 2029\n"
    "# HELP node_netstat_Ip6_OutOctets Statistic Ip6OutOctets.\n"
    "# TYPE node_netstat_Ip6_OutOctets untyped\n"
    "node_netstat_Ip6_OutOctets 2030\n"
    "# HELP node_netstat_IpExt_InOctets Statistic IpExtInOctets.\n"
    "# TYPE node_netstat_IpExt_InOctets untyped\n"
    "node_netstat_IpExt_InOctets 6.3096499e+07\n"
    "# HELP node_netstat_IpExt_OutOctets Statistic IpExtOutOctets.\n"
    "# TYPE node_netstat_IpExt_OutOctets untyped\n"
    "node_netstat_IpExt_OutOctets 1009\n"
    "# HELP node_netstat_Ip_Forwarding Statistic IpForwarding.\n"
    "# TYPE node_netstat_Ip_Forwarding untyped\n"
    "node_netstat_Ip_Forwarding 2\n"
    "# HELP node_netstat_TcpExt_ListenDrops Statistic TcpExtListenDrops.\n"
    "# TYPE node_netstat_TcpExt_ListenDrops untyped\n"
    "node_netstat_TcpExt_ListenDrops 1005\n"
    "# HELP node_netstat_TcpExt_ListenOverflows Statistic "
    "TcpExtListenOverflows.\n"
    "# TYPE node_netstat_TcpExt_ListenOverflows untyped\n"
    "node_netstat_TcpExt_ListenOverflows 1004\n"
    "# HELP node_netstat_TcpExt_SyncookiesFailed Statistic "
    "TcpExtSyncookiesFailed.\n"
    "# TYPE node_netstat_TcpExt_SyncookiesFailed untyped\n"
    "node_netstat_TcpExt_SyncookiesFailed 1003\n"
    "# HELP node_netstat_TcpExt_SyncookiesRecv Statistic "
    "TcpExtSyncookiesRecv.\n"
    "# TYPE node_netstat_TcpExt_SyncookiesRecv untyped\n"
    "node_netstat_TcpExt_SyncookiesRecv 1002\n"
    "# HELP node_netstat_TcpExt_SyncookiesSent Statistic "
    "TcpExtSyncookiesSent.\n"
    "# TYPE node_netstat_TcpExt_SyncookiesSent untyped\n"
    "node_netstat_TcpExt_SyncookiesSent 1001\n"
    "# HELP node_netstat_TcpExt_TCPSynRetrans Statistic TcpExtTCPSynRetrans.\n"
    "# TYPE node_netstat_TcpExt_TCPSynRetrans untyped\n"
    "node_netstat_TcpExt_TCPSynRetrans 1007\n"
    "# HELP node_netstat_TcpExt_TCPTimeouts Statistic TcpExtTCPTimeouts.\n"
    "# TYPE node_netstat_TcpExt_TCPTimeouts untyped\n"
    "node_netstat_TcpExt_TCPTimeouts 1006\n"
    "# HELP node_netstat_Tcp_ActiveOpens Statistic TcpActiveOpens.\n"
    "# TYPE node_netstat_Tcp_ActiveOpens untyped\n"
    "node_netstat_Tcp_ActiveOpens 1014\n"
    "# HELP node_netstat_Tcp_CurrEstab Statistic TcpCurrEstab.\n"
    "# TYPE node_netstat_Tcp_CurrEstab untyped\n"
    "node_netstat_Tcp_CurrEstab 1016\n"
    "# HELP node_netstat_Tcp_InErrs Statistic TcpInErrs.\n"
    "# TYPE node_netstat_Tcp_InErrs untyped\n"
    "node_netstat_Tcp_InErrs 1020\n"
    "# HELP node_netstat_Tcp_InSegs Statistic TcpInSegs.\n"
    "# TYPE node_netstat_Tcp_InSegs untyped\n"
    "node_netstat_Tcp_InSegs 1017\n"
    "# HELP node_netstat_Tcp_OutRsts Statistic TcpOutRsts.\n"
    "# TYPE node_netstat_Tcp_OutRsts untyped\n"
    "node_netstat_Tcp_OutRsts 1021\n"
    "# HELP node_netstat_Tcp_OutSegs Statistic TcpOutSegs.\n"
    "# TYPE node_netstat_Tcp_OutSegs untyped\n"
    "node_netstat_Tcp_OutSegs 1018\n"
    "# HELP node_netstat_Tcp_PassiveOpens Statistic TcpPassiveOpens.\n"
    "# TYPE node_netstat_Tcp_PassiveOpens untyped\n"
    "node_netstat_Tcp_PassiveOpens 1015\n"
    "# HELP node_netstat_Tcp_RetransSegs Statistic TcpRetransSegs.\n"
    "# TYPE node_netstat_Tcp_RetransSegs untyped\n"
    "node_netstat_Tcp_RetransSegs 1019\n"
    "# HELP node_netstat_Udp6_InDatagrams Statistic Udp6InDatagrams.\n"
    "# TYPE node_netstat_Udp6_InDatagrams untyped\n"
    "node_netstat_Udp6_InDatagrams 2034\n"
    "# HELP node_netstat_Udp6_InErrors Statistic Udp6InErrors.\n"
    "# TYPE node_netstat_Udp6_InErrors untyped\n"
    "node_netstat_Udp6_InErrors 2036\n"
    "# HELP node_netstat_Udp6_NoPorts Statistic Udp6NoPorts.\n"
    "# TYPE node_netstat_Udp6_NoPorts untyped\n"
    "node_netstat_Udp6_NoPorts 2035\n"
    "# HELP node_netstat_Udp6_OutDatagrams Statistic Udp6OutDatagrams.\n"
    "# TYPE node_netstat_Udp6_OutDatagrams untyped\n"
    "node_netstat_Udp6_OutDatagrams 2037\n"
    "# HELP node_netstat_Udp6_RcvbufErrors Statistic Udp6RcvbufErrors.\n"
    "# TYPE node_netstat_Udp6_RcvbufErrors untyped\n"
    "node_netstat_Udp6_RcvbufErrors 2038\n"
    "# HELP node_netstat_Udp6_SndbufErrors Statistic Udp6SndbufErrors.\n"
    "# TYPE node_netstat_Udp6_SndbufErrors untyped\n"
    "node_netstat_Udp6_SndbufErrors 2039\n"
    "# HELP node_netstat_UdpLite6_InErrors Statistic UdpLite6InErrors.\n"
    "# TYPE node_netstat_UdpLite6_InErrors untyped\n"
    "node_netstat_UdpLite6_InErrors 2040\n"
    "# HELP node_netstat_UdpLite_InErrors Statistic UdpLiteInErrors.\n"
    "# TYPE node_netstat_UdpLite_InErrors untyped\n"
    "node_netstat_UdpLite_InErrors 1028\n"
    "# HELP node_netstat_Udp_InDatagrams Statistic UdpInDatagrams.\n"
    "# TYPE node_netstat_Udp_InDatagrams untyped\n"
    "node_netstat_Udp_InDatagrams 1022\n"
    "# HELP node_netstat_Udp_InErrors Statistic UdpInErrors.\n"
    "# TYPE node_netstat_Udp_InErrors untyped\n"
    "node_netstat_Udp_InErrors 1024\n"
    "# HELP node_netstat_Udp_NoPorts Statistic UdpNoPorts.\n"
    "# TYPE node_netstat_Udp_NoPorts untyped\n"
    "node_netstat_Udp_NoPorts 1023\n"
    "# HELP node_netstat_Udp_OutDatagrams Statistic UdpOutDatagrams.\n"
    "# TYPE node_netstat_Udp_OutDatagrams untyped\n"
    "node_netstat_Udp_OutDatagrams 1025\n"
    "# HELP node_netstat_Udp_RcvbufErrors Statistic UdpRcvbufErrors.\n"
    "# TYPE node_netstat_Udp_RcvbufErrors untyped\n"
    "node_netstat_Udp_RcvbufErrors 1026\n"
    "# HELP node_netstat_Udp_SndbufErrors Statistic UdpSndbufErrors.\n"
    "# TYPE node_netstat_Udp_SndbufErrors untyped\n"
    "node_netstat_Udp_SndbufErrors 1027\n";

Test(plugins_netstat, ok)
{
    struct harness_result r = harness_run("netstat", "netstat/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, netstat_ok_text);
    harness_free(&r);
}

/* IPv6 disabled: no snmp6, which node_exporter skips silently. */
Test(plugins_netstat, nosnmp6)
{
    struct harness_result r = harness_run("netstat", "netstat/nosnmp6", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert(harness_has_line(r.text, "node_netstat_Tcp_InSegs 1017"), "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_netstat_IpExt_InOctets 6.3096499e+07"));
    cr_assert_null(strstr(r.text, "Ip6_"));
    cr_assert_null(strstr(r.text, "Icmp6_"));
    cr_assert_null(strstr(r.text, "Udp6_"));
    harness_free(&r);
}

Test(plugins_netstat, missing)
{
    struct harness_result r = harness_run("netstat", "netstat/missing", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_not(r.nodata);
    cr_assert_not_null(strstr(r.errmsg, "couldn't get netstats"), "%s", r.errmsg);
    cr_assert_not_null(strstr(r.errmsg, "/proc/net/netstat"), "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_netstat, snmp_missing)
{
    struct harness_result r = harness_run("netstat", "netstat/nosnmp", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_not_null(strstr(r.errmsg, "couldn't get SNMP stats"), "%s", r.errmsg);
    cr_assert_not_null(strstr(r.errmsg, "/proc/net/snmp"), "%s", r.errmsg);
    harness_free(&r);
}

/* An unparseable value fails the collector even in a field the filter drops
 * (TcpExt_EmbryonicRsts), as node_exporter parses every value. */
Test(plugins_netstat, garbage)
{
    struct harness_result r = harness_run("netstat", "netstat/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not_null(strstr(r.errmsg, "invalid value \"x1\" for TcpExt_EmbryonicRsts"), "%s",
                       r.errmsg);
    cr_assert_not_null(strstr(r.errmsg, "/proc/net/netstat"), "%s", r.errmsg);
    harness_free(&r);
}

Test(plugins_netstat, mismatch)
{
    struct harness_result r = harness_run("netstat", "netstat/mismatch", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not_null(strstr(r.errmsg, "mismatch field count mismatch in "), "%s", r.errmsg);
    cr_assert_not_null(strstr(r.errmsg, "/proc/net/snmp: Tcp"), "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* A header line without its value line (file cut short). */
Test(plugins_netstat, truncated)
{
    struct harness_result r = harness_run("netstat", "netstat/truncated", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not_null(strstr(r.errmsg, "/proc/net/netstat: IpExt"), "%s", r.errmsg);
    harness_free(&r);
}

Test(plugins_netstat, bad_snmp6)
{
    struct harness_result r = harness_run("netstat", "netstat/badsnmp6", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not_null(strstr(r.errmsg, "invalid value \"12ab\" for Udp6_InDatagrams"), "%s",
                       r.errmsg);
    cr_assert_not_null(strstr(r.errmsg, "/proc/net/snmp6"), "%s", r.errmsg);
    harness_free(&r);
}

Test(plugins_netstat, fields_option)
{
    const char *opts[] = {"fields=^Tcp_(InSegs|MaxConn)$", NULL};
    struct harness_result r = harness_run("netstat", "netstat/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "# HELP node_netstat_Tcp_InSegs Statistic TcpInSegs.\n"
                             "# TYPE node_netstat_Tcp_InSegs untyped\n"
                             "node_netstat_Tcp_InSegs 1017\n"
                             "# HELP node_netstat_Tcp_MaxConn Statistic TcpMaxConn.\n"
                             "# TYPE node_netstat_Tcp_MaxConn untyped\n"
                             "node_netstat_Tcp_MaxConn -1\n");
    harness_free(&r);
}

/* The pattern matches anywhere in "<Proto>_<Field>", as Go's MatchString. */
Test(plugins_netstat, fields_unanchored)
{
    const char *opts[] = {"fields=Lite6?_(MemErrors|InCsum)", NULL};
    struct harness_result r = harness_run("netstat", "netstat/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "# HELP node_netstat_UdpLite6_InCsumErrors Statistic "
                             "UdpLite6InCsumErrors.\n"
                             "# TYPE node_netstat_UdpLite6_InCsumErrors untyped\n"
                             "node_netstat_UdpLite6_InCsumErrors 0\n"
                             "# HELP node_netstat_UdpLite6_MemErrors Statistic UdpLite6MemErrors.\n"
                             "# TYPE node_netstat_UdpLite6_MemErrors untyped\n"
                             "node_netstat_UdpLite6_MemErrors 0\n"
                             "# HELP node_netstat_UdpLite_InCsumErrors Statistic "
                             "UdpLiteInCsumErrors.\n"
                             "# TYPE node_netstat_UdpLite_InCsumErrors untyped\n"
                             "node_netstat_UdpLite_InCsumErrors 0\n"
                             "# HELP node_netstat_UdpLite_MemErrors Statistic UdpLiteMemErrors.\n"
                             "# TYPE node_netstat_UdpLite_MemErrors untyped\n"
                             "node_netstat_UdpLite_MemErrors 0\n");
    harness_free(&r);
}

Test(plugins_netstat, fields_invalid)
{
    const char *opts[] = {"fields=^(Tcp", NULL};
    struct harness_result r = harness_run("netstat", "netstat/ok", opts);
    cr_assert_eq(r.rc, -EINVAL);
    harness_free(&r);
}

/* A protocol seen again later replaces the earlier section wholesale: Tcp in
 * netstat by snmp's, Udp in snmp by its second section, Ip6 by snmp6. */
Test(plugins_netstat, later_section_wins)
{
    const char *opts[] = {"fields=^(Tcp|Ip6|Udp)_", NULL};
    struct harness_result r = harness_run("netstat", "netstat/dup", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert(harness_has_line(r.text, "node_netstat_Tcp_InSegs 1017"), "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_netstat_Ip6_InOctets 2029"));
    cr_assert(harness_has_line(r.text, "node_netstat_Udp_InDatagrams 77"));
    cr_assert(harness_has_line(r.text, "node_netstat_Udp_Late 78"));
    cr_assert_null(strstr(r.text, "Bogus"));
    cr_assert_null(strstr(r.text, "node_netstat_Udp_NoPorts"));
    harness_free(&r);
}

/* Runs netstat's collect on one state for each fixture in turn (the field
 * verdicts are cached between cycles) and returns the last cycle's text. */
static char *netstat_cycles(const char *const *fixtures, const char *const *opts)
{
    struct harness_instance h;
    harness_start(&h, "netstat", fixtures[0], opts);
    struct harness_result r = {0};
    for (size_t i = 0; fixtures[i]; i++) {
        harness_free(&r);
        r = harness_cycle(&h, fixtures[i]);
        cr_assert_eq(r.rc, 0, "%s: %s", fixtures[i], r.errmsg);
    }
    harness_stop(&h);
    return r.text;
}

Test(plugins_netstat, cycles_same_content)
{
    const char *fx[] = {"netstat/ok", "netstat/ok", "netstat/ok", NULL};
    char *text = netstat_cycles(fx, NULL);
    cr_assert_str_eq(text, netstat_ok_text);
    free(text);
}

/* The sections change between cycles (different protocols at the same
 * positions): cached verdicts must not leak from one layout to the next. */
Test(plugins_netstat, cycles_changed_layout)
{
    const char *const opts[] = {"fields=^(Tcp|Ip6|Udp)_", NULL};
    const char *fx1[] = {"netstat/ok", "netstat/dup", NULL};
    char *text = netstat_cycles(fx1, opts);
    cr_assert(harness_has_line(text, "node_netstat_Udp_Late 78"), "%s", text);
    cr_assert_null(strstr(text, "Bogus"));
    free(text);
    const char *fx2[] = {"netstat/dup", "netstat/ok", NULL};
    text = netstat_cycles(fx2, NULL);
    cr_assert_str_eq(text, netstat_ok_text);
    free(text);
}

/* snmp6's lines change order and one goes away between cycles: each field
 * keeps its own verdict (the cache follows the names, not positions). */
Test(plugins_netstat, cycles_snmp6_reordered)
{
    /* Expected: the ok text without Ip6_InOctets, as the fixture drops that line. */
    char expect[sizeof(netstat_ok_text)];
    const char *cut = strstr(netstat_ok_text, "# HELP node_netstat_Ip6_InOctets ");
    cr_assert_not_null(cut);
    const char *rest = strstr(cut, "# HELP node_netstat_Ip6_OutOctets ");
    cr_assert_not_null(rest);
    snprintf(expect, sizeof(expect), "%.*s%s", (int)(cut - netstat_ok_text), netstat_ok_text, rest);

    const char *fx1[] = {"netstat/ok", "netstat/reordered", NULL};
    char *text = netstat_cycles(fx1, NULL);
    cr_assert_str_eq(text, expect);
    free(text);
    const char *fx2[] = {"netstat/reordered", "netstat/ok", NULL};
    text = netstat_cycles(fx2, NULL);
    cr_assert_str_eq(text, netstat_ok_text);
    free(text);
    const char *fx3[] = {"netstat/nosnmp6", "netstat/ok", "netstat/ok", NULL};
    text = netstat_cycles(fx3, NULL);
    cr_assert_str_eq(text, netstat_ok_text);
    free(text);
}
