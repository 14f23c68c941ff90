/* See harness.h. Shared by the unit test binaries through #include in each
 * module's harness_impl.c, so it is compiled once per test binary. */
#include "harness.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *harness_fixture(char *out, const char *rel)
{
    snprintf(out, PATH_MAX, "%s/tests/fixtures/%s", CAIRN_SOURCE_DIR, rel);
    return out;
}

struct harness_result harness_run_paths(const char *name, const struct plg_paths *paths,
                                        const char *const *opts)
{
    struct harness_result r = {0};
    const struct plg_collector *col = plg_find_collector(name);
    cr_assert_not_null(col, "unknown collector %s", name);
    size_t nopt = 0;
    while (col->options && col->options[nopt].name)
        nopt++;
    const char **values = calloc(nopt + 1, sizeof(*values));
    for (size_t i = 0; opts && opts[i]; i++) {
        const char *eq = strchr(opts[i], '=');
        cr_assert_not_null(eq, "option %s lacks '='", opts[i]);
        size_t k;
        for (k = 0; k < nopt; k++)
            if (strlen(col->options[k].name) == (size_t)(eq - opts[i]) &&
                strncmp(col->options[k].name, opts[i], (size_t)(eq - opts[i])) == 0)
                break;
        cr_assert(k < nopt, "collector %s has no option %s", name, opts[i]);
        values[k] = eq + 1;
    }
    struct plg_config cfg = {.paths = paths, .collector = col, .values = values};
    void *state = NULL;
    struct exp_builder *b = exp_builder_create();
    cr_assert_not_null(b);
    if (col->init)
        r.rc = col->init(&cfg, &state);
    if (r.rc == 0) {
        struct plg_collect c = {.b = b, .paths = paths};
        r.rc = col->collect(state, &c);
        r.nodata = c.nodata;
        memcpy(r.errmsg, c.errmsg, sizeof(r.errmsg));
        if (col->destroy)
            col->destroy(state);
    }
    free(values);
    cr_assert_eq(exp_builder_error(b), 0, "builder error %d", exp_builder_error(b));
    exp_builder_finish(b);
    size_t n;
    struct exp_family *const *fams = exp_builder_families(b, &n);
    struct cn_buf out;
    cn_buf_init(&out);
    exp_encode(&out, fams, n, EXP_FMT_TEXT);
    r.text = strdup(cn_buf_cstr(&out));
    cn_buf_free(&out);
    exp_builder_unref(b);
    return r;
}

struct harness_result harness_run(const char *name, const char *fixture, const char *const *opts)
{
    char base[PATH_MAX], proc[PATH_MAX + 8], sys[PATH_MAX + 8], root[PATH_MAX + 8],
        udev[PATH_MAX + 8];
    harness_fixture(base, fixture);
    snprintf(proc, sizeof(proc), "%s/proc", base);
    snprintf(sys, sizeof(sys), "%s/sys", base);
    snprintf(root, sizeof(root), "%s/root", base);
    snprintf(udev, sizeof(udev), "%s/udev", base);
    struct plg_paths paths = {.procfs = proc, .sysfs = sys, .rootfs = root, .udev_data = udev};
    return harness_run_paths(name, &paths, opts);
}

void harness_free(struct harness_result *r)
{
    free(r->text);
    r->text = NULL;
}

bool harness_has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == n && memcmp(p, line, n) == 0)
            return true;
        p = nl ? nl + 1 : NULL;
    }
    return false;
}
