/* Tests of the netdev collector against fixture trees in
 * tests/fixtures/netdev/. The expected texts were worked out from the fixture
 * files by node_exporter 1.5's rules, not from the collector's output. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "harness.h"

/* Defaults: lo excluded (Debian's 1.5.0 default ^lo$), /proc/net/dev's columns
 * plus receive_nohandler from sysfs where present (not for ifb0). */
static const char netdev_ok_text[] =
    "# HELP node_network_receive_bytes_total Network device statistic "
    "receive_bytes.\n"
    "# TYPE node_network_receive_bytes_total counter\n"
    "node_network_receive_bytes_total{device=\"eth0\"} 6.3113134e+07\n"
    "node_network_receive_bytes_total{device=\"ifb0\"} 0\n"
    "node_network_receive_bytes_total{device=\"veth1a2b3c4\"} "
    "1.8446744073709552e+19\n"
    "# HELP node_network_receive_compressed_total Network device statistic "
    "receive_compressed.\n"
    "# TYPE node_network_receive_compressed_total counter\n"
    "node_network_receive_compressed_total{device=\"eth0\"} 5\n"
    "node_network_receive_compressed_total{device=\"ifb0\"} 0\n"
    "node_network_receive_compressed_total{device=\"veth1a2b3c4\"} 0\n"
    "# HELP node_network_receive_drop_total Network device statistic "
    "receive_drop.\n"
    "# TYPE node_network_receive_drop_total counter\n"
    "node_network_receive_drop_total{device=\"eth0\"} 2\n"
    "node_network_receive_drop_total{device=\"ifb0\"} 0\n"
    "node_network_receive_drop_total{device=\"veth1a2b3c4\"} 0\n"
    "# HELP node_network_receive_errs_total Network device statistic "
    "receive_errs.\n"
    "# TYPE node_network_receive_errs_total counter\n"
    "node_network_receive_errs_total{device=\"eth0\"} 1\n"
    "node_network_receive_errs_total{device=\"ifb0\"} 0\n"
    "node_network_receive_errs_total{device=\"veth1a2b3c4\"} 0\n"
    "# HELP node_network_receive_fifo_total Network device statistic "
    "receive_fifo.\n"
    "# TYPE node_network_receive_fifo_total counter\n"
    "node_network_receive_fifo_total{device=\"eth0\"} 3\n"
    "node_network_receive_fifo_total{device=\"ifb0\"} 0\n"
    "node_network_receive_fifo_total{device=\"veth1a2b3c4\"} 0\n"
    "# HELP node_network_receive_frame_total Network device statistic "
    "receive_frame.\n"
    "# TYPE node_network_receive_frame_total counter\n"
    "node_network_receive_frame_total{device=\"eth0\"} 4\n"
    "node_network_receive_frame_total{device=\"ifb0\"} 0\n"
    "node_network_receive_frame_total{device=\"veth1a2b3c4\"} 0\n"
    "# HELP node_network_receive_multicast_total Network device statistic "
    "receive_multicast.\n"
    "# TYPE node_network_receive_multicast_total counter\n"
    "node_network_receive_multicast_total{device=\"eth0\"} 6\n"
    "node_network_receive_multicast_total{device=\"ifb0\"} 0\n"
    "node_network_receive_multicast_total{device=\"veth1a2b3c4\"} 0\n"
    "# HELP node_network_receive_nohandler_total Network device statistic "
    "receive_nohandler.\n"
    "# TYPE node_network_receive_nohandler_total counter\n"
    "node_network_receive_nohandler_total{device=\"eth0\"} 13\n"
    "node_network_receive_nohandler_total{device=\"veth1a2b3c4\"} 0\n"
    "# HELP node_network_receive_packets_total Network device statistic "
    "receive_packets.\n"
    "# TYPE node_network_receive_packets_total counter\n"
    "node_network_receive_packets_total{device=\"eth0\"} 1440\n"
    "node_network_receive_packets_total{device=\"ifb0\"} 0\n"
    "node_network_receive_packets_total{device=\"veth1a2b3c4\"} 1.234567e+06\n"
    "# HELP node_network_transmit_bytes_total Network device statistic "
    "transmit_bytes.\n"
    "# TYPE node_network_transmit_bytes_total counter\n"
    "node_network_transmit_bytes_total{device=\"eth0\"} 62265\n"
    "node_network_transmit_bytes_total{device=\"ifb0\"} 0\n"
    "node_network_transmit_bytes_total{device=\"veth1a2b3c4\"} 9.87654321e+08\n"
    "# HELP node_network_transmit_carrier_total Network device statistic "
    "transmit_carrier.\n"
    "# TYPE node_network_transmit_carrier_total counter\n"
    "node_network_transmit_carrier_total{device=\"eth0\"} 11\n"
    "node_network_transmit_carrier_total{device=\"ifb0\"} 0\n"
    "node_network_transmit_carrier_total{device=\"veth1a2b3c4\"} 0\n"
    "# HELP node_network_transmit_colls_total Network device statistic "
    "transmit_colls.\n"
    "# TYPE node_network_transmit_colls_total counter\n"
    "node_network_transmit_colls_total{device=\"eth0\"} 10\n"
    "node_network_transmit_colls_total{device=\"ifb0\"} 0\n"
    "node_network_transmit_colls_total{device=\"veth1a2b3c4\"} 0\n"
    "# HELP node_network_transmit_compressed_total Network device statistic "
    "transmit_compressed.\n"
    "# TYPE node_network_transmit_compressed_total counter\n"
    "node_network_transmit_compressed_total{device=\"eth0\"} 12\n"
    "node_network_transmit_compressed_total{device=\"ifb0\"} 0\n"
    "node_network_transmit_compressed_total{device=\"veth1a2b3c4\"} 0\n"
    "# HELP node_network_transmit_drop_total Network device statistic "
    "transmit_drop.\n"
    "# TYPE node_network_transmit_drop_total counter\n"
    "node_network_transmit_drop_total{device=\"eth0\"} 8\n"
    "node_network_transmit_drop_total{device=\"ifb0\"} 0\n"
    "node_network_transmit_drop_total{device=\"veth1a2b3c4\"} 0\n"
    "# HELP node_network_transmit_errs_total Network device statistic "
    "transmit_errs.\n"
    "# TYPE node_network_transmit_errs_total counter\n"
    "node_network_transmit_errs_total{device=\"eth0\"} 7\n"
    "node_network_transmit_errs_total{device=\"ifb0\"} 0\n"
    "node_network_transmit_errs_total{device=\"veth1a2b3c4\"} 0\n"
    "# HELP node_network_transmit_fifo_total Network device statistic "
    "transmit_fifo.\n"
    "# TYPE node_network_transmit_fifo_total counter\n"
    "node_network_transmit_fifo_total{device=\"eth0\"} 9\n"
    "node_network_transmit_fifo_total{device=\"ifb0\"} 0\n"
    "node_network_transmit_fifo_total{device=\"veth1a2b3c4\"} 0\n"
    "# HELP node_network_transmit_packets_total Network device statistic "
    "transmit_packets.\n"
    "# TYPE node_network_transmit_packets_total counter\n"
    "node_network_transmit_packets_total{device=\"eth0\"} 773\n"
    "node_network_transmit_packets_total{device=\"ifb0\"} 0\n"
    "node_network_transmit_packets_total{device=\"veth1a2b3c4\"} 5\n";

Test(plugins_netdev, ok)
{
    struct harness_result r = harness_run("netdev", "netdev/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, netdev_ok_text);
    harness_free(&r);
}

/* An explicit empty exclude removes the default: lo is exported. */
Test(plugins_netdev, exclude_empty)
{
    const char *opts[] = {"device-exclude=", NULL};
    struct harness_result r = harness_run("netdev", "netdev/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert(harness_has_line(r.text, "node_network_receive_bytes_total{device=\"lo\"} 3267"),
              "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_network_receive_nohandler_total{device=\"lo\"} 0"));
    cr_assert(harness_has_line(r.text, "node_network_receive_bytes_total{device=\"eth0\"} "
                                       "6.3113134e+07"));
    harness_free(&r);
}

Test(plugins_netdev, exclude)
{
    const char *opts[] = {"device-exclude=^(eth|veth)", NULL};
    struct harness_result r = harness_run("netdev", "netdev/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert(harness_has_line(r.text, "node_network_transmit_packets_total{device=\"lo\"} 29"),
              "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_network_transmit_packets_total{device=\"ifb0\"} 0"));
    cr_assert_null(strstr(r.text, "eth0"));
    harness_free(&r);
}

/* include given, exclude left at its default: the default no longer applies
 * and only matching devices are exported (matched anywhere in the name). */
Test(plugins_netdev, include)
{
    const char *opts[] = {"device-include=eth", NULL};
    struct harness_result r = harness_run("netdev", "netdev/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert(harness_has_line(r.text, "node_network_receive_bytes_total{device=\"eth0\"} "
                                       "6.3113134e+07"),
              "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_network_receive_bytes_total{device=\"veth1a2b3c4\"} "
                                       "1.8446744073709552e+19"));
    cr_assert_null(strstr(r.text, "device=\"lo\""));
    cr_assert_null(strstr(r.text, "device=\"ifb0\""));
    harness_free(&r);
}

Test(plugins_netdev, include_and_exclude)
{
    const char *opts[] = {"device-include=eth", "device-exclude=^lo$", NULL};
    struct harness_result r = harness_run("netdev", "netdev/ok", opts);
    cr_assert_eq(r.rc, -EINVAL);
    harness_free(&r);
}

Test(plugins_netdev, bad_regex)
{
    const char *opts[] = {"device-exclude=(", NULL};
    struct harness_result r = harness_run("netdev", "netdev/ok", opts);
    cr_assert_eq(r.rc, -EINVAL);
    harness_free(&r);
}

Test(plugins_netdev, bad_bool)
{
    const char *opts[] = {"address-info=maybe", NULL};
    struct harness_result r = harness_run("netdev", "netdev/ok", opts);
    cr_assert_eq(r.rc, -EINVAL);
    harness_free(&r);
}

/* netlink=false: /proc/net/dev's sixteen columns alone, no receive_nohandler.
 */
Test(plugins_netdev, procfs_mode)
{
    const char *opts[] = {"netlink=false", NULL};
    struct harness_result r = harness_run("netdev", "netdev/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_null(strstr(r.text, "nohandler"), "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_network_transmit_carrier_total{device=\"eth0\"} 11"));
    cr_assert(harness_has_line(r.text, "node_network_receive_errs_total{device=\"eth0\"} 1"));
    harness_free(&r);
}

/* procfs mode with detailed names: errors/dropped instead of errs/drop. */
Test(plugins_netdev, procfs_detailed)
{
    const char *opts[] = {"netlink=false", "enable-detailed-metrics=true", NULL};
    struct harness_result r = harness_run("netdev", "netdev/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert(harness_has_line(r.text, "# HELP node_network_receive_errors_total Network device "
                                       "statistic receive_errors."),
              "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_network_receive_errors_total{device=\"eth0\"} 1"));
    cr_assert(harness_has_line(r.text, "node_network_receive_dropped_total{device=\"eth0\"} 2"));
    cr_assert(harness_has_line(r.text, "node_network_transmit_errors_total{device=\"eth0\"} 7"));
    cr_assert(harness_has_line(r.text, "node_network_transmit_dropped_total{device=\"eth0\"} 8"));
    cr_assert(harness_has_line(r.text, "node_network_transmit_colls_total{device=\"eth0\"} 10"));
    cr_assert_null(strstr(r.text, "_errs_"));
    cr_assert_null(strstr(r.text, "_drop_"));
    harness_free(&r);
}

/* netlink mode with detailed names: the 24 link counters from sysfs, unfolded
 * (eth0 has them all, veth only rx_nohandler, ifb0 none). */
Test(plugins_netdev, netlink_detailed)
{
    const char *opts[] = {"enable-detailed-metrics=true", NULL};
    struct harness_result r = harness_run("netdev", "netdev/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    const char *const lines[] = {
        "# HELP node_network_multicast_total Network device statistic multicast.",
        "# TYPE node_network_multicast_total counter",
        "node_network_receive_packets_total{device=\"eth0\"} 1440",
        "node_network_transmit_packets_total{device=\"eth0\"} 773",
        "node_network_receive_bytes_total{device=\"eth0\"} 6.3113134e+07",
        "node_network_transmit_bytes_total{device=\"eth0\"} 62265",
        "node_network_receive_errors_total{device=\"eth0\"} 1",
        "node_network_transmit_errors_total{device=\"eth0\"} 7",
        "node_network_receive_dropped_total{device=\"eth0\"} 1",
        "node_network_transmit_dropped_total{device=\"eth0\"} 8",
        "node_network_multicast_total{device=\"eth0\"} 6",
        "node_network_collisions_total{device=\"eth0\"} 10",
        "node_network_receive_length_errors_total{device=\"eth0\"} 1",
        "node_network_receive_over_errors_total{device=\"eth0\"} 1",
        "node_network_receive_crc_errors_total{device=\"eth0\"} 1",
        "node_network_receive_frame_errors_total{device=\"eth0\"} 1",
        "node_network_receive_fifo_errors_total{device=\"eth0\"} 3",
        "node_network_receive_missed_errors_total{device=\"eth0\"} 1",
        "node_network_transmit_aborted_errors_total{device=\"eth0\"} 2",
        "node_network_transmit_carrier_errors_total{device=\"eth0\"} 3",
        "node_network_transmit_fifo_errors_total{device=\"eth0\"} 9",
        "node_network_transmit_heartbeat_errors_total{device=\"eth0\"} 4",
        "node_network_transmit_window_errors_total{device=\"eth0\"} 2",
        "node_network_receive_compressed_total{device=\"eth0\"} 5",
        "node_network_transmit_compressed_total{device=\"eth0\"} 12",
        "node_network_receive_nohandler_total{device=\"eth0\"} 13",
        "node_network_receive_nohandler_total{device=\"veth1a2b3c4\"} 0",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        cr_assert(harness_has_line(r.text, lines[i]), "missing %s in\n%s", lines[i], r.text);
    cr_assert_null(strstr(r.text, "ifb0"));
    cr_assert_null(strstr(r.text, "_errs_"));
    cr_assert_null(strstr(r.text, "transmit_colls"));
    harness_free(&r);
}

/* address-info reads the live interfaces (getifaddrs), as node_exporter's
 * net.Interfaces(); the loopback address is there on any host like CI's. */
Test(plugins_netdev, address_info)
{
    const char *opts[] = {"address-info=true", NULL};
    struct harness_result r = harness_run("netdev", "netdev/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert(harness_has_line(r.text, "# HELP node_network_address_info node network address by "
                                       "device"),
              "%s", r.text);
    cr_assert(harness_has_line(r.text, "# TYPE node_network_address_info gauge"));
    cr_assert(harness_has_line(r.text, "node_network_address_info{address=\"127.0.0.1\","
                                       "device=\"lo\",netmask=\"8\",scope=\"link-local\"} 1"),
              "%s", r.text);
    harness_free(&r);
}

Test(plugins_netdev, no_address_info_by_default)
{
    struct harness_result r = harness_run("netdev", "netdev/ok", NULL);
    cr_assert_null(strstr(r.text, "address_info"));
    harness_free(&r);
}

Test(plugins_netdev, garbage)
{
    struct harness_result r = harness_run("netdev", "netdev/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not_null(strstr(r.errmsg, "invalid line 4 in "), "%s", r.errmsg);
    cr_assert_not_null(strstr(r.errmsg, "/proc/net/dev: bad or missing column 6 for eth0"), "%s",
                       r.errmsg);
    harness_free(&r);
}

Test(plugins_netdev, short_line)
{
    struct harness_result r = harness_run("netdev", "netdev/short", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not_null(strstr(r.errmsg, "bad or missing column 6 for eth0"), "%s", r.errmsg);
    harness_free(&r);
}

Test(plugins_netdev, no_colon)
{
    struct harness_result r = harness_run("netdev", "netdev/nocolon", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not_null(strstr(r.errmsg, "missing colon"), "%s", r.errmsg);
    harness_free(&r);
}

Test(plugins_netdev, no_name)
{
    struct harness_result r = harness_run("netdev", "netdev/noname", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not_null(strstr(r.errmsg, "empty interface name"), "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_netdev, bad_sysfs_counter)
{
    struct harness_result r = harness_run("netdev", "netdev/badsys", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not_null(strstr(r.errmsg, "/sys/class/net/eth0/statistics/rx_nohandler"), "%s",
                       r.errmsg);
    harness_free(&r);
}

Test(plugins_netdev, missing)
{
    struct harness_result r = harness_run("netdev", "netdev/missing", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert_not(r.nodata);
    cr_assert_not_null(strstr(r.errmsg, "/proc/net/dev"), "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
