#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "harness.h"

#define OS_INFO_HEAD                                                                               \
    "# HELP node_os_info A metric with a constant '1' value labeled by build_id, id, id_like, "    \
    "image_id, image_version, name, pretty_name, variant, variant_id, version, "                   \
    "version_codename, version_id.\n"                                                              \
    "# TYPE node_os_info gauge\n"
#define OS_VERSION_HEAD                                                                            \
    "# HELP node_os_version Metric containing the major.minor part of the OS version.\n"           \
    "# TYPE node_os_version gauge\n"

/* This machine's /etc/os-release: the line node_exporter 1.5 exports for it. */
Test(plugins_os, ok)
{
    struct harness_result r = harness_run("os", "os/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(
        r.text, OS_INFO_HEAD
        "node_os_info{build_id=\"\",id=\"debian\",id_like=\"\",image_id=\"\",image_version=\"\","
        "name=\"Debian GNU/Linux\",pretty_name=\"Debian GNU/Linux 12 (bookworm)\",variant=\"\","
        "variant_id=\"\",version=\"12 (bookworm)\",version_codename=\"bookworm\","
        "version_id=\"12\"} 1\n" OS_VERSION_HEAD
        "node_os_version{id=\"debian\",id_like=\"\",name=\"Debian GNU/Linux\"} 12\n");
    harness_free(&r);
}

/* No etc/os-release: usr/lib/os-release is used. */
Test(plugins_os, usrlib)
{
    struct harness_result r = harness_run("os", "os/usrlib", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(
        r.text, OS_INFO_HEAD
        "node_os_info{build_id=\"\",id=\"ubuntu\",id_like=\"debian\",image_id=\"\","
        "image_version=\"\",name=\"Ubuntu\",pretty_name=\"Ubuntu 22.04.3 LTS\",variant=\"\","
        "variant_id=\"\",version=\"22.04.3 LTS (Jammy Jellyfish)\",version_codename=\"jammy\","
        "version_id=\"22.04\"} 1\n" OS_VERSION_HEAD
        "node_os_version{id=\"ubuntu\",id_like=\"debian\",name=\"Ubuntu\"} 22.04\n");
    harness_free(&r);
}

/* Both files: etc/os-release wins. */
Test(plugins_os, prefer_etc)
{
    struct harness_result r = harness_run("os", "os/prefer-etc", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(
        r.text, OS_INFO_HEAD
        "node_os_info{build_id=\"\",id=\"fedora\",id_like=\"\",image_id=\"\",image_version=\"\","
        "name=\"Fedora Linux\",pretty_name=\"Fedora Linux 39 (Container Image)\","
        "variant=\"Container Image\",variant_id=\"container\",version=\"39 (Container Image)\","
        "version_codename=\"\",version_id=\"39\"} 1\n" OS_VERSION_HEAD
        "node_os_version{id=\"fedora\",id_like=\"\",name=\"Fedora Linux\"} 39\n");
    harness_free(&r);
}

/* go-envparse syntax: comments, export, quotes, escapes, \u with a surrogate
 * pair, trailing comments, duplicate keys (last wins), CRLF, and a
 * VERSION_ID of 8.10.2 read as 8.10 = 8.1. */
Test(plugins_os, quoting)
{
    struct harness_result r = harness_run("os", "os/quoting", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(
        r.text, OS_INFO_HEAD
        "node_os_info{build_id=\"2024\",id=\"acme\",id_like=\"rhel fedora\","
        "image_id=\"unquoted value with spaces\",image_version=\"ab cde f\","
        "name=\"Acme \\\"Rocket\\\" OS\",pretty_name=\"Acme\tOS \\\"Rocket\\\" é🚀 \\\\ /\","
        "variant=\"second\",variant_id=\"\",version=\"8.10.2 (Rocket)\","
        "version_codename=\"crlf\",version_id=\"8.10.2\"} 1\n" OS_VERSION_HEAD
        "node_os_version{id=\"acme\",id_like=\"rhel fedora\",name=\"Acme \\\"Rocket\\\" OS\"} "
        "8.1\n");
    harness_free(&r);
}

/* VERSION_ID without a leading number: no node_os_version. */
Test(plugins_os, noversion)
{
    struct harness_result r = harness_run("os", "os/noversion", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, OS_INFO_HEAD
                     "node_os_info{build_id=\"rolling\",id=\"arch\",id_like=\"\",image_id=\"\","
                     "image_version=\"\",name=\"Arch Linux\",pretty_name=\"Arch Linux\","
                     "variant=\"\",variant_id=\"\",version=\"\",version_codename=\"\","
                     "version_id=\"rolling\"} 1\n");
    harness_free(&r);
}

/* An unmatched quote on line 3 fails the collector, exporting nothing. */
Test(plugins_os, garbage)
{
    struct harness_result r = harness_run("os", "os/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "etc/os-release: error on line 3: unmatched \"") != NULL, "%s",
              r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_os, badkey)
{
    struct harness_result r = harness_run("os", "os/badkey", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "error on line 2: key must start with [A-Za-z_]") != NULL, "%s",
              r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_os, missing)
{
    struct harness_result r = harness_run("os", "os/missing", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert(strstr(r.errmsg, "no os-release file found") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
