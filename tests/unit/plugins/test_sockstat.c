#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "harness.h"

/* "node_sockstat_<name> <pages * page size>" as the encoder writes it. */
static void mem_bytes_line(char *out, size_t cap, const char *name, double pages)
{
    char num[32];
    exp_format_double(num, pages * (double)sysconf(_SC_PAGESIZE));
    snprintf(out, cap, "node_sockstat_%s %s", name, num);
}

static void check_line(const char *text, const char *line)
{
    cr_assert(harness_has_line(text, line), "missing \"%s\" in\n%s", line, text);
}

static void check_ipv4(const char *text)
{
    char line[128];
    check_line(text, "# HELP node_sockstat_sockets_used Number of IPv4 sockets in use.");
    check_line(text, "# TYPE node_sockstat_sockets_used gauge");
    check_line(text, "node_sockstat_sockets_used 231");
    check_line(text, "# HELP node_sockstat_TCP_inuse Number of TCP sockets in state inuse.");
    check_line(text, "# TYPE node_sockstat_TCP_inuse gauge");
    check_line(text, "node_sockstat_TCP_inuse 12");
    check_line(text, "node_sockstat_TCP_orphan 1");
    check_line(text, "node_sockstat_TCP_tw 7");
    check_line(text, "node_sockstat_TCP_alloc 15");
    check_line(text, "node_sockstat_TCP_mem 254");
    check_line(text,
               "# HELP node_sockstat_TCP_mem_bytes Number of TCP sockets in state mem_bytes.");
    mem_bytes_line(line, sizeof(line), "TCP_mem_bytes", 254);
    check_line(text, line);
    check_line(text, "node_sockstat_UDP_inuse 3");
    check_line(text, "node_sockstat_UDP_mem 5");
    mem_bytes_line(line, sizeof(line), "UDP_mem_bytes", 5);
    check_line(text, line);
    check_line(text, "node_sockstat_UDPLITE_inuse 0");
    check_line(text, "node_sockstat_RAW_inuse 1");
    check_line(text, "node_sockstat_FRAG_inuse 0");
    check_line(text, "# HELP node_sockstat_FRAG_memory Number of FRAG sockets in state memory.");
    check_line(text, "node_sockstat_FRAG_memory 0");
}

Test(plugins_sockstat, ok)
{
    struct harness_result r = harness_run("sockstat", "sockstat/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    check_ipv4(r.text);
    check_line(r.text, "# HELP node_sockstat_TCP6_inuse Number of TCP6 sockets in state inuse.");
    check_line(r.text, "# TYPE node_sockstat_TCP6_inuse gauge");
    check_line(r.text, "node_sockstat_TCP6_inuse 4");
    check_line(r.text, "node_sockstat_UDP6_inuse 2");
    check_line(r.text, "node_sockstat_UDPLITE6_inuse 0");
    check_line(r.text, "node_sockstat_RAW6_inuse 1");
    check_line(r.text, "node_sockstat_FRAG6_inuse 0");
    check_line(r.text, "node_sockstat_FRAG6_memory 0");
    cr_assert_eq(harness_count_samples(r.text), 20, "%s", r.text);
    harness_free(&r);
}

/* No sockstat6 (IPv6 disabled): skipped, not a failure. */
Test(plugins_sockstat, ipv4only)
{
    struct harness_result r = harness_run("sockstat", "sockstat/ipv4only", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    check_ipv4(r.text);
    cr_assert_eq(harness_count_samples(r.text), 14, "%s", r.text);
    harness_free(&r);
}

/* A doubled blank makes an empty field: malformed, nothing exported. */
Test(plugins_sockstat, garbage)
{
    struct harness_result r = harness_run("sockstat", "sockstat/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "failed to get IPv4 sockstat data") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "net/sockstat:") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* A bad sockstat6 exports nothing, not even the good IPv4 file. */
Test(plugins_sockstat, garbage6)
{
    struct harness_result r = harness_run("sockstat", "sockstat/garbage6", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "failed to get IPv6 sockstat data") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "invalid value \"two\"") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_sockstat, badname)
{
    struct harness_result r = harness_run("sockstat", "sockstat/badname", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "protocol \"TCP-X\" makes an invalid metric name") != NULL, "%s",
              r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

/* Neither file: success with nothing, as node_exporter. */
Test(plugins_sockstat, missing)
{
    struct harness_result r = harness_run("sockstat", "sockstat/missing", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
