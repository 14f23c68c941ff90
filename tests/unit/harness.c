/* See harness.h. Shared by the unit test binaries through #include in each
 * module's harness_impl.c, so it is compiled once per test binary. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *harness_fixture(char *out, const char *rel)
{
    snprintf(out, PATH_MAX, "%s/tests/fixtures/%s", CAIRN_SOURCE_DIR, rel);
    return out;
}

/* ---- collector instances ----------------------------------------------------- */

/* Looks the collector up and runs its init with opts ("option=value"
 * strings) and h->paths; returns init's result. */
static int instance_init(struct harness_instance *h, const char *name, const char *const *opts)
{
    const struct plg_collector *col = plg_find_collector(name);
    cr_assert_not_null(col, "unknown collector %s", name);
    h->col = col;
    h->state = NULL;
    size_t nopt = 0;
    while (col->options && col->options[nopt].name)
        nopt++;
    const char **values = calloc(nopt + 1, sizeof(*values));
    cr_assert_not_null(values);
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
    struct plg_config cfg = {.paths = &h->paths, .collector = col, .values = values};
    int rc = col->init ? col->init(&cfg, &h->state) : 0;
    free(values);
    return rc;
}

void harness_point_dir(struct harness_instance *h, const char *base)
{
    snprintf(h->proc, sizeof(h->proc), "%s/proc", base);
    snprintf(h->sys, sizeof(h->sys), "%s/sys", base);
    snprintf(h->root, sizeof(h->root), "%s/root", base);
    snprintf(h->udev, sizeof(h->udev), "%s/udev", base);
    h->paths = (struct plg_paths){
        .procfs = h->proc, .sysfs = h->sys, .rootfs = h->root, .udev_data = h->udev};
}

void harness_point(struct harness_instance *h, const char *fixture)
{
    char base[PATH_MAX];
    harness_point_dir(h, harness_fixture(base, fixture));
}

int harness_try_start(struct harness_instance *h, const char *name, const char *fixture,
                      const char *const *opts)
{
    memset(h, 0, sizeof(*h));
    if (fixture)
        harness_point(h, fixture);
    return instance_init(h, name, opts);
}

void harness_start(struct harness_instance *h, const char *name, const char *fixture,
                   const char *const *opts)
{
    int rc = harness_try_start(h, name, fixture, opts);
    cr_assert_eq(rc, 0, "init of %s failed: %s", name, strerror(-rc));
}

void harness_start_paths(struct harness_instance *h, const char *name,
                         const struct plg_paths *paths, const char *const *opts)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->proc, sizeof(h->proc), "%s", paths->procfs ? paths->procfs : "");
    snprintf(h->sys, sizeof(h->sys), "%s", paths->sysfs ? paths->sysfs : "");
    snprintf(h->root, sizeof(h->root), "%s", paths->rootfs ? paths->rootfs : "");
    snprintf(h->udev, sizeof(h->udev), "%s", paths->udev_data ? paths->udev_data : "");
    h->paths = (struct plg_paths){.procfs = paths->procfs ? h->proc : NULL,
                                  .sysfs = paths->sysfs ? h->sys : NULL,
                                  .rootfs = paths->rootfs ? h->root : NULL,
                                  .udev_data = paths->udev_data ? h->udev : NULL};
    int rc = instance_init(h, name, opts);
    cr_assert_eq(rc, 0, "init of %s failed: %s", name, strerror(-rc));
}

void harness_use_files(struct harness_instance *h, size_t max_open)
{
    plg_files_destroy(h->files);
    h->files = plg_files_create(max_open);
    cr_assert_not_null(h->files);
}

struct harness_result harness_cycle(struct harness_instance *h, const char *fixture)
{
    if (fixture)
        harness_point(h, fixture);
    struct harness_result r = {0};
    struct exp_builder *b = exp_builder_create();
    cr_assert_not_null(b);
    struct plg_collect c = {.b = b, .paths = &h->paths, .files = h->files};
    int64_t t0 = cn_mono_ns();
    r.rc = h->col->collect(h->state, &c);
    r.ms = (double)(cn_mono_ns() - t0) / 1e6;
    plg_files_sweep(h->files);
    r.nodata = c.nodata;
    memcpy(r.errmsg, c.errmsg, sizeof(r.errmsg));
    cr_assert_eq(exp_builder_error(b), 0, "builder error %d", exp_builder_error(b));
    exp_builder_finish(b);
    size_t n;
    struct exp_family *const *fams = exp_builder_families(b, &n);
    struct cn_buf out;
    cn_buf_init(&out);
    exp_encode(&out, fams, n, EXP_FMT_TEXT);
    r.text = strdup(cn_buf_cstr(&out));
    cr_assert_not_null(r.text);
    cn_buf_free(&out);
    exp_builder_unref(b);
    return r;
}

void harness_stop(struct harness_instance *h)
{
    if (h->col && h->col->destroy && h->state)
        h->col->destroy(h->state);
    h->state = NULL;
    plg_files_destroy(h->files);
    h->files = NULL;
}

struct harness_result harness_run_paths(const char *name, const struct plg_paths *paths,
                                        const char *const *opts)
{
    struct harness_instance h = {.paths = *paths};
    int rc = instance_init(&h, name, opts);
    if (rc) {
        struct harness_result r = {.rc = rc, .text = strdup("")};
        cr_assert_not_null(r.text);
        return r;
    }
    struct harness_result r = harness_cycle(&h, NULL);
    harness_stop(&h);
    return r;
}

struct harness_result harness_run(const char *name, const char *fixture, const char *const *opts)
{
    struct harness_instance h;
    harness_point(&h, fixture);
    return harness_run_paths(name, &h.paths, opts);
}

void harness_free(struct harness_result *r)
{
    free(r->text);
    r->text = NULL;
}

/* ---- text ------------------------------------------------------------------------ */

/* Calls match(line, len, arg) for each line of text; counts the matches. */
static int count_lines(const char *text, bool (*match)(const char *, size_t, const char *),
                       const char *arg)
{
    int n = 0;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        n += match(p, len, arg);
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

static bool is_line(const char *l, size_t len, const char *line)
{
    return len == strlen(line) && memcmp(l, line, len) == 0;
}

static bool has_prefix(const char *l, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(l, prefix, n) == 0;
}

static bool contains(const char *l, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(l + i, needle, n) == 0)
            return true;
    return false;
}

static bool is_sample(const char *l, size_t len, const char *unused)
{
    (void)unused;
    (void)len;
    return l[0] != '#';
}

bool harness_has_line(const char *text, const char *line)
{
    return count_lines(text, is_line, line) > 0;
}

int harness_count_prefix(const char *text, const char *prefix)
{
    return count_lines(text, has_prefix, prefix);
}

int harness_count_lines(const char *text, const char *needle)
{
    return count_lines(text, contains, needle);
}

int harness_count_samples(const char *text)
{
    return count_lines(text, is_sample, NULL);
}

double harness_sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            char *end;
            double v = strtod(p + n + 1, &end);
            cr_assert(end > p + n + 1 && (*end == '\n' || *end == '\0'), "bad value of %s in\n%s",
                      series, text);
            return v;
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    cr_assert_fail("no sample %s in\n%s", series, text);
    return 0;
}

/* ---- files ------------------------------------------------------------------------ */

char *harness_read_fixture(const char *rel)
{
    char path[PATH_MAX];
    struct cn_buf b;
    cn_buf_init(&b);
    harness_fixture(path, rel);
    cr_assert_eq(cn_read_file_buf(path, &b, 1 << 20), 0, "cannot read %s", path);
    char *s = strdup(cn_buf_cstr(&b));
    cr_assert_not_null(s);
    cn_buf_free(&b);
    return s;
}

char *harness_tmpdir(char *out, const char *tag)
{
    snprintf(out, PATH_MAX, "/tmp/cairn-%s-XXXXXX", tag);
    cr_assert_not_null(mkdtemp(out), "mkdtemp %s: %s", out, strerror(errno));
    return out;
}

void harness_mkdirs(const char *path)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s", path);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        cr_assert(mkdir(p, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", p, strerror(errno));
        *s = c;
        if (!c)
            break;
    }
}

void harness_write_file(const char *path, const char *content)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        harness_mkdirs(dir);
    }
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s: %s", path, strerror(errno));
    fputs(content, f);
    cr_assert_eq(fclose(f), 0, "cannot write %s", path);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    cr_assert_eq(rc, 0, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

void harness_rmtree(const char *path)
{
    cr_assert_eq(nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0, "cannot remove %s", path);
}
