/* Tests of the netclass collector against fixture trees in
 * tests/fixtures/netclass/. The expected texts were worked out from the fixture
 * files by node_exporter 1.5's rules (procfs sysfs.NetClass), not from the
 * collector's output. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "harness.h"

/* eth0 and lo as on this VM; ifb0 down (carrier, dormant, duplex,
 * name_assign_type, speed unreadable) with a 150-byte ifalias cut at 128
 * bytes; enp1s0 behind a symlink at 10 Gbit/s; bonding_masters is a file. */
static const char netclass_ok_text[] =
    "# HELP node_network_address_assign_type Network device property: "
    "address_assign_type\n"
    "# TYPE node_network_address_assign_type gauge\n"
    "node_network_address_assign_type{device=\"enp1s0\"} 0\n"
    "node_network_address_assign_type{device=\"eth0\"} 0\n"
    "node_network_address_assign_type{device=\"ifb0\"} 1\n"
    "node_network_address_assign_type{device=\"lo\"} 0\n"
    "# HELP node_network_carrier Network device property: carrier\n"
    "# TYPE node_network_carrier gauge\n"
    "node_network_carrier{device=\"enp1s0\"} 1\n"
    "node_network_carrier{device=\"eth0\"} 1\n"
    "node_network_carrier{device=\"lo\"} 1\n"
    "# HELP node_network_carrier_changes_total Network device property: "
    "carrier_changes_total\n"
    "# TYPE node_network_carrier_changes_total counter\n"
    "node_network_carrier_changes_total{device=\"enp1s0\"} 5\n"
    "node_network_carrier_changes_total{device=\"eth0\"} 2\n"
    "node_network_carrier_changes_total{device=\"ifb0\"} 0\n"
    "node_network_carrier_changes_total{device=\"lo\"} 0\n"
    "# HELP node_network_carrier_down_changes_total Network device property: "
    "carrier_down_changes_total\n"
    "# TYPE node_network_carrier_down_changes_total counter\n"
    "node_network_carrier_down_changes_total{device=\"enp1s0\"} 2\n"
    "node_network_carrier_down_changes_total{device=\"eth0\"} 1\n"
    "node_network_carrier_down_changes_total{device=\"ifb0\"} 0\n"
    "node_network_carrier_down_changes_total{device=\"lo\"} 0\n"
    "# HELP node_network_carrier_up_changes_total Network device property: "
    "carrier_up_changes_total\n"
    "# TYPE node_network_carrier_up_changes_total counter\n"
    "node_network_carrier_up_changes_total{device=\"enp1s0\"} 3\n"
    "node_network_carrier_up_changes_total{device=\"eth0\"} 1\n"
    "node_network_carrier_up_changes_total{device=\"ifb0\"} 0\n"
    "node_network_carrier_up_changes_total{device=\"lo\"} 0\n"
    "# HELP node_network_device_id Network device property: device_id\n"
    "# TYPE node_network_device_id gauge\n"
    "node_network_device_id{device=\"enp1s0\"} 0\n"
    "node_network_device_id{device=\"eth0\"} 0\n"
    "node_network_device_id{device=\"ifb0\"} 0\n"
    "node_network_device_id{device=\"lo\"} 0\n"
    "# HELP node_network_dormant Network device property: dormant\n"
    "# TYPE node_network_dormant gauge\n"
    "node_network_dormant{device=\"enp1s0\"} 0\n"
    "node_network_dormant{device=\"eth0\"} 0\n"
    "node_network_dormant{device=\"lo\"} 0\n"
    "# HELP node_network_flags Network device property: flags\n"
    "# TYPE node_network_flags gauge\n"
    "node_network_flags{device=\"enp1s0\"} 4099\n"
    "node_network_flags{device=\"eth0\"} 4099\n"
    "node_network_flags{device=\"ifb0\"} 130\n"
    "node_network_flags{device=\"lo\"} 9\n"
    "# HELP node_network_iface_id Network device property: iface_id\n"
    "# TYPE node_network_iface_id gauge\n"
    "node_network_iface_id{device=\"enp1s0\"} 5\n"
    "node_network_iface_id{device=\"eth0\"} 4\n"
    "node_network_iface_id{device=\"ifb0\"} 2\n"
    "node_network_iface_id{device=\"lo\"} 1\n"
    "# HELP node_network_iface_link Network device property: iface_link\n"
    "# TYPE node_network_iface_link gauge\n"
    "node_network_iface_link{device=\"enp1s0\"} 5\n"
    "node_network_iface_link{device=\"eth0\"} 4\n"
    "node_network_iface_link{device=\"ifb0\"} 2\n"
    "node_network_iface_link{device=\"lo\"} 1\n"
    "# HELP node_network_iface_link_mode Network device property: "
    "iface_link_mode\n"
    "# TYPE node_network_iface_link_mode gauge\n"
    "node_network_iface_link_mode{device=\"enp1s0\"} 0\n"
    "node_network_iface_link_mode{device=\"eth0\"} 0\n"
    "node_network_iface_link_mode{device=\"ifb0\"} 0\n"
    "node_network_iface_link_mode{device=\"lo\"} 0\n"
    "# HELP node_network_info Non-numeric data from /sys/class/net/<iface>, "
    "value is always 1.\n"
    "# TYPE node_network_info gauge\n"
    "node_network_info{address=\"00:00:00:00:00:00\",broadcast=\"00:00:00:00:"
    "00:00\",device=\"lo\",duplex=\"\",ifalias=\"\",operstate=\"unknown\"} 1\n"
    "node_network_info{address=\"02:fc:00:00:00:01\",broadcast=\"ff:ff:ff:ff:"
    "ff:ff\",device=\"eth0\",duplex=\"unknown\",ifalias=\"\",operstate=\"up\"} "
    "1\n"
    "node_network_info{address=\"52:54:00:12:34:56\",broadcast=\"ff:ff:ff:ff:"
    "ff:ff\",device=\"enp1s0\",duplex=\"full\",ifalias=\"uplink to "
    "core\",operstate=\"up\"} 1\n"
    "node_network_info{address=\"be:d0:76:5a:69:22\",broadcast=\"ff:ff:ff:ff:"
    "ff:ff\",device=\"ifb0\",duplex=\"\",ifalias="
    "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx  "
    "abcdef\",operstate=\"down\"} 1\n"
    "# HELP node_network_mtu_bytes Network device property: mtu_bytes\n"
    "# TYPE node_network_mtu_bytes gauge\n"
    "node_network_mtu_bytes{device=\"enp1s0\"} 9000\n"
    "node_network_mtu_bytes{device=\"eth0\"} 1400\n"
    "node_network_mtu_bytes{device=\"ifb0\"} 1500\n"
    "node_network_mtu_bytes{device=\"lo\"} 65536\n"
    "# HELP node_network_name_assign_type Network device property: "
    "name_assign_type\n"
    "# TYPE node_network_name_assign_type gauge\n"
    "node_network_name_assign_type{device=\"enp1s0\"} 4\n"
    "node_network_name_assign_type{device=\"eth0\"} 1\n"
    "node_network_name_assign_type{device=\"lo\"} 2\n"
    "# HELP node_network_net_dev_group Network device property: net_dev_group\n"
    "# TYPE node_network_net_dev_group gauge\n"
    "node_network_net_dev_group{device=\"enp1s0\"} 0\n"
    "node_network_net_dev_group{device=\"eth0\"} 0\n"
    "node_network_net_dev_group{device=\"ifb0\"} 0\n"
    "node_network_net_dev_group{device=\"lo\"} 0\n"
    "# HELP node_network_protocol_type Network device property: protocol_type\n"
    "# TYPE node_network_protocol_type gauge\n"
    "node_network_protocol_type{device=\"enp1s0\"} 1\n"
    "node_network_protocol_type{device=\"eth0\"} 1\n"
    "node_network_protocol_type{device=\"ifb0\"} 1\n"
    "node_network_protocol_type{device=\"lo\"} 772\n"
    "# HELP node_network_speed_bytes Network device property: speed_bytes\n"
    "# TYPE node_network_speed_bytes gauge\n"
    "node_network_speed_bytes{device=\"enp1s0\"} 1.25e+09\n"
    "node_network_speed_bytes{device=\"eth0\"} -125000\n"
    "# HELP node_network_transmit_queue_length Network device property: "
    "transmit_queue_length\n"
    "# TYPE node_network_transmit_queue_length gauge\n"
    "node_network_transmit_queue_length{device=\"enp1s0\"} 1000\n"
    "node_network_transmit_queue_length{device=\"eth0\"} 1000\n"
    "node_network_transmit_queue_length{device=\"ifb0\"} 32\n"
    "node_network_transmit_queue_length{device=\"lo\"} 1000\n"
    "# HELP node_network_up Value is 1 if operstate is 'up', 0 otherwise.\n"
    "# TYPE node_network_up gauge\n"
    "node_network_up{device=\"enp1s0\"} 1\n"
    "node_network_up{device=\"eth0\"} 1\n"
    "node_network_up{device=\"ifb0\"} 0\n"
    "node_network_up{device=\"lo\"} 0\n";

Test(plugins_netclass, ok)
{
    struct harness_result r = harness_run("netclass", "netclass/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, netclass_ok_text);
    harness_free(&r);
}

/* speed -1 (unknown) is dropped with ignore-invalid-speed; 10000 stays. */
Test(plugins_netclass, ignore_invalid_speed)
{
    const char *opts[] = {"ignore-invalid-speed=true", NULL};
    struct harness_result r = harness_run("netclass", "netclass/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert(harness_has_line(r.text, "node_network_speed_bytes{device=\"enp1s0\"} 1.25e+09"),
              "%s", r.text);
    cr_assert_null(strstr(r.text, "node_network_speed_bytes{device=\"eth0\"}"));
    cr_assert(harness_has_line(r.text, "node_network_mtu_bytes{device=\"eth0\"} 1400"));
    harness_free(&r);
}

Test(plugins_netclass, ignored_devices)
{
    const char *opts[] = {"ignored-devices=^(lo|ifb.*)$", NULL};
    struct harness_result r = harness_run("netclass", "netclass/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert(harness_has_line(r.text, "node_network_up{device=\"eth0\"} 1"), "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_network_up{device=\"enp1s0\"} 1"));
    cr_assert_null(strstr(r.text, "device=\"lo\""));
    cr_assert_null(strstr(r.text, "device=\"ifb0\""));
    harness_free(&r);
}

/* The pattern matches anywhere in the name, as Go's MatchString. */
Test(plugins_netclass, ignored_devices_unanchored)
{
    const char *opts[] = {"ignored-devices=s0", NULL};
    struct harness_result r = harness_run("netclass", "netclass/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_null(strstr(r.text, "enp1s0"));
    cr_assert(harness_has_line(r.text, "node_network_up{device=\"eth0\"} 1"), "%s", r.text);
    harness_free(&r);
}

/* Go's empty regexp matches every name: nothing is exported. */
Test(plugins_netclass, ignored_devices_empty)
{
    const char *opts[] = {"ignored-devices=", NULL};
    struct harness_result r = harness_run("netclass", "netclass/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_netclass, bad_options)
{
    const char *opts1[] = {"ignored-devices=(", NULL};
    struct harness_result r = harness_run("netclass", "netclass/ok", opts1);
    cr_assert_eq(r.rc, -EINVAL);
    harness_free(&r);
    const char *opts2[] = {"ignore-invalid-speed=sometimes", NULL};
    r = harness_run("netclass", "netclass/ok", opts2);
    cr_assert_eq(r.rc, -EINVAL);
    harness_free(&r);
}

Test(plugins_netclass, garbage)
{
    struct harness_result r = harness_run("netclass", "netclass/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not_null(strstr(r.errmsg, "invalid value \"abc\" in "), "%s", r.errmsg);
    cr_assert_not_null(strstr(r.errmsg, "/sys/class/net/eth0/mtu"), "%s", r.errmsg);
    harness_free(&r);
}

/* A read error other than "absent / not supported / invalid" fails. */
Test(plugins_netclass, read_error)
{
    struct harness_result r = harness_run("netclass", "netclass/readerror", NULL);
    cr_assert_eq(r.rc, -EISDIR);
    cr_assert_not_null(strstr(r.errmsg, "failed to read file "), "%s", r.errmsg);
    cr_assert_not_null(strstr(r.errmsg, "/sys/class/net/eth0/mtu"), "%s", r.errmsg);
    harness_free(&r);
}

/* No class/net: no data, as node_exporter (success 0, logged at debug). */
Test(plugins_netclass, missing)
{
    struct harness_result r = harness_run("netclass", "netclass/missing", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert_not_null(strstr(r.errmsg, "/sys/class/net"), "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* ---- several cycles on one state: the cached attribute fds ------------------------------ */

/* Open fds of this process. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* One cycle on h; returns the text (malloc'd), its rc in *rc and its message
 * in errmsg (if not NULL). */
static char *run_cycle(struct harness_instance *h, int *rc, char *errmsg)
{
    struct harness_result r = harness_cycle(h, NULL);
    *rc = r.rc;
    if (errmsg)
        memcpy(errmsg, r.errmsg, sizeof(r.errmsg));
    return r.text;
}

/* Later cycles read through the kept fds and see the same values; destroy
 * closes every one of them. */
Test(plugins_netclass, cycles_cached)
{
    int before = count_fds();
    struct harness_instance h;
    harness_start(&h, "netclass", "netclass/ok", NULL);
    for (int i = 0; i < 3; i++) {
        int rc;
        char *text = run_cycle(&h, &rc, NULL);
        cr_assert_eq(rc, 0);
        cr_assert_str_eq(text, netclass_ok_text, "cycle %d", i);
        free(text);
        /* eth0 22 files, lo 20, ifb0 17, enp1s0 22 */
        cr_assert_eq(count_fds(), before + 81, "cycle %d: %d fds", i, count_fds() - before);
    }
    harness_stop(&h);
    cr_assert_eq(count_fds(), before);
}

/* With a low fd limit nothing is kept open and the results are the same. */
Test(plugins_netclass, cycles_fd_limit)
{
    struct rlimit old, low;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 128; /* budget 16 fds: less than one interface */
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int before = count_fds();
    struct harness_instance h;
    harness_start(&h, "netclass", "netclass/ok", NULL);
    for (int i = 0; i < 2; i++) {
        int rc;
        char *text = run_cycle(&h, &rc, NULL);
        cr_assert_eq(rc, 0);
        cr_assert_str_eq(text, netclass_ok_text);
        free(text);
        cr_assert_eq(count_fds(), before);
    }
    harness_stop(&h);
    setrlimit(RLIMIT_NOFILE, &old);
}

/* Switching trees re-opens (the entries' inodes differ): the garbage tree's
 * error shows, and the good tree reads right again afterwards. */
Test(plugins_netclass, cycles_switch_tree)
{
    char msg[256];
    struct harness_instance h;
    harness_start(&h, "netclass", "netclass/ok", NULL);
    int rc;
    free(run_cycle(&h, &rc, NULL));
    cr_assert_eq(rc, 0);
    harness_point(&h, "netclass/garbage");
    free(run_cycle(&h, &rc, msg));
    cr_assert_eq(rc, -EINVAL);
    cr_assert_not_null(strstr(msg, "invalid value \"abc\""), "%s", msg);
    harness_point(&h, "netclass/ok");
    char *text = run_cycle(&h, &rc, NULL);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(text, netclass_ok_text);
    free(text);
    harness_stop(&h);
}

static void sh(const char *cmd)
{
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* Values written between cycles are seen; removed, renamed and swapped
 * interfaces are followed (a swap keeps the names but changes the entries'
 * inodes, so no interface is reported with another one's values). */
Test(plugins_netclass, cycles_changes)
{
    char tmpl[PATH_MAX], src[PATH_MAX];
    harness_tmpdir(tmpl, "netclass");
    harness_fixture(src, "netclass/ok/sys");
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s/sys'", src, tmpl);
    sh(cmd);
    int before = count_fds();
    struct harness_instance h;
    harness_start(&h, "netclass", "netclass/ok", NULL);
    harness_point_dir(&h, tmpl); /* the copy */
    int rc;
    char *text = run_cycle(&h, &rc, NULL);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(text, netclass_ok_text);
    free(text);

    snprintf(cmd, sizeof(cmd), "echo 1280 > '%s/sys/class/net/eth0/mtu'", tmpl);
    sh(cmd);
    text = run_cycle(&h, &rc, NULL);
    cr_assert_eq(rc, 0);
    cr_assert(harness_has_line(text, "node_network_mtu_bytes{device=\"eth0\"} 1280"), "%s", text);
    free(text);

    snprintf(cmd, sizeof(cmd),
             "cd '%s/sys/class/net' && rm -r ifb0 && mv lo lo2 && mv eth0 x && mv enp1s0 eth0 && "
             "mv x enp1s0",
             tmpl);
    sh(cmd);
    text = run_cycle(&h, &rc, NULL);
    cr_assert_eq(rc, 0);
    cr_assert(harness_has_line(text, "node_network_mtu_bytes{device=\"eth0\"} 9000"), "%s", text);
    cr_assert(harness_has_line(text, "node_network_mtu_bytes{device=\"enp1s0\"} 1280"));
    cr_assert(harness_has_line(text, "node_network_speed_bytes{device=\"eth0\"} 1.25e+09"));
    cr_assert(harness_has_line(text, "node_network_speed_bytes{device=\"enp1s0\"} -125000"));
    cr_assert(harness_has_line(text, "node_network_mtu_bytes{device=\"lo2\"} 65536"));
    cr_assert_null(strstr(text, "device=\"lo\""));
    cr_assert_null(strstr(text, "ifb0"));
    free(text);
    /* eth0 22, enp1s0 22, lo2 20; ifb0's and lo's files are closed */
    cr_assert_eq(count_fds(), before + 64, "%d", count_fds() - before);
    harness_stop(&h);
    cr_assert_eq(count_fds(), before);
    harness_rmtree(tmpl);
}
