/*
 * powersupplyclass collector tests. The expected*.prom files next to the
 * fixture trees are what node_exporter 1.5.0 exported for the same trees
 * (minus its node_scrape_* series). They are compared line by line after
 * sorting, because node_exporter orders the node_power_supply_info series
 * (whose label sets differ) by label count first, and cairn's encoder by
 * label names and values.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "harness.h"

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits s (modified) into sorted lines; returns the count. */
static size_t sorted_lines(char *s, char **lines, size_t cap)
{
    size_t n = 0;
    for (char *save = NULL, *l = strtok_r(s, "\n", &save); l && n < cap;
         l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    qsort(lines, n, sizeof(*lines), cmp_line);
    return n;
}

static void assert_same_lines(const char *got, const char *rel)
{
    char *want = harness_read_fixture(rel), *have = strdup(got);
    char *wl[512], *hl[512];
    size_t nw = sorted_lines(want, wl, 512), nh = sorted_lines(have, hl, 512);
    for (size_t i = 0; i < nw && i < nh; i++)
        cr_assert_str_eq(hl[i], wl[i], "line %zu differs", i);
    cr_assert_eq(nh, nw, "got %zu lines, want %zu:\n%s", nh, nw, got);
    free(want);
    free(have);
}

Test(plugins_powersupplyclass, ok)
{
    struct harness_result r = harness_run("powersupplyclass", "powersupplyclass/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    assert_same_lines(r.text, "powersupplyclass/ok/expected.prom");
    /* spot checks of the scaling: micro-units, tenths of a degree, counts */
    cr_assert(
        harness_has_line(r.text, "node_power_supply_energy_watthour{power_supply=\"BAT0\"} 43.79"));
    cr_assert(
        harness_has_line(r.text, "node_power_supply_temp_celsius{power_supply=\"BAT1\"} 29.5"));
    cr_assert(harness_has_line(r.text, "node_power_supply_cyclecount{power_supply=\"BAT0\"} 123"));
    cr_assert(
        harness_has_line(r.text, "node_power_supply_info{power_supply=\"AC\",type=\"Mains\"} 1"));
    /* parsed but not exported by node_exporter 1.5 */
    cr_assert_null(strstr(r.text, "avg"));
    harness_free(&r);
}

Test(plugins_powersupplyclass, ignored_supplies)
{
    const char *opts[] = {"ignored-supplies=^(AC|ucsi.*)$", NULL};
    struct harness_result r = harness_run("powersupplyclass", "powersupplyclass/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    assert_same_lines(r.text, "powersupplyclass/ok/expected-ignored.prom");
    harness_free(&r);
}

Test(plugins_powersupplyclass, ignored_supplies_unanchored)
{
    /* Go's MatchString matches anywhere: "BAT" drops BAT0 and BAT1 */
    const char *opts[] = {"ignored-supplies=BAT", NULL};
    struct harness_result r = harness_run("powersupplyclass", "powersupplyclass/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    assert_same_lines(r.text, "powersupplyclass/ok/expected-ignored-bat.prom");
    harness_free(&r);
}

Test(plugins_powersupplyclass, bad_pattern)
{
    const char *opts[] = {"ignored-supplies=(BAT", NULL};
    struct harness_result r = harness_run("powersupplyclass", "powersupplyclass/ok", opts);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_powersupplyclass, base0_integers)
{
    /* 0x1F, 010 (octal), 1_000 and -0b101 as Go's ParseInt(s, 0, 64) reads them */
    struct harness_result r = harness_run("powersupplyclass", "powersupplyclass/base0", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    assert_same_lines(r.text, "powersupplyclass/base0/expected.prom");
    cr_assert(harness_has_line(r.text, "node_power_supply_capacity{power_supply=\"BAT0\"} 31"));
    cr_assert(harness_has_line(r.text, "node_power_supply_cyclecount{power_supply=\"BAT0\"} 8"));
    harness_free(&r);
}

Test(plugins_powersupplyclass, garbage)
{
    /* A malformed attribute of one supply fails the collection: nothing is
     * exported, not even the healthy AC adapter, as in node_exporter. */
    struct harness_result r = harness_run("powersupplyclass", "powersupplyclass/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_not(r.nodata);
    cr_assert(strstr(r.errmsg, "BAT0/capacity") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "\"eighty\"") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_powersupplyclass, garbage_even_when_ignored)
{
    /* node_exporter parses every supply before applying ignored-supplies */
    const char *opts[] = {"ignored-supplies=^BAT0$", NULL};
    struct harness_result r = harness_run("powersupplyclass", "powersupplyclass/garbage", opts);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_powersupplyclass, missing)
{
    struct harness_result r = harness_run("powersupplyclass", "powersupplyclass/missing", NULL);
    cr_assert_eq(r.rc, -ENODATA);
    cr_assert(r.nodata);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_powersupplyclass, empty_class)
{
    /* This VM: class/power_supply exists but is empty -> success, no series.
     * (git keeps no empty directories, so the tree is made here.) */
    char tmpl[PATH_MAX], path[PATH_MAX + 32];
    harness_tmpdir(tmpl, "psc");
    snprintf(path, sizeof(path), "%s/class/power_supply", tmpl);
    harness_mkdirs(path);
    struct plg_paths paths = {.procfs = "/nonexistent",
                              .sysfs = tmpl,
                              .rootfs = "/nonexistent",
                              .udev_data = "/nonexistent"};
    struct harness_result r = harness_run_paths("powersupplyclass", &paths, NULL);
    harness_rmtree(tmpl);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_powersupplyclass, dangling_link)
{
    /* an entry whose device is gone: node_exporter reports "no data" */
    struct harness_result r = harness_run("powersupplyclass", "powersupplyclass/dangling", NULL);
    cr_assert_eq(r.rc, -ENODATA, "%d %s", r.rc, r.errmsg);
    cr_assert(r.nodata);
    cr_assert(strstr(r.errmsg, "BAT0") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}
