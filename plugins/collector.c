/* Helpers shared by all collectors: failure reporting, options, paths,
 * attribute files, include/exclude filters and sorted directory listings. */
#include "plugins/plugins.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

__attribute__((format(printf, 3, 0))) static int vfail(struct plg_collect *c, int err,
                                                       const char *fmt, va_list ap)
{
    if (c->errmsg[0] == '\0')
        vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
    return err < 0 ? err : -EIO;
}

int plg_fail(struct plg_collect *c, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(c, err, fmt, ap);
    va_end(ap);
    return rc;
}

int plg_nodata(struct plg_collect *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(c, -ENODATA, fmt, ap);
    va_end(ap);
    c->nodata = true;
    return rc;
}

int plg_config_fail(const struct plg_config *cfg, int err, const char *fmt, ...)
{
    if (cfg->errbuf && cfg->errcap && !cfg->errbuf[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cfg->errbuf, cfg->errcap, fmt, ap);
        va_end(ap);
    }
    return err < 0 ? err : -EINVAL;
}

const char *plg_config_get(const struct plg_config *cfg, const char *name)
{
    const struct plg_option *o = cfg->collector->options;
    for (size_t i = 0; o && o[i].name; i++) {
        if (strcmp(o[i].name, name) == 0)
            return cfg->values && cfg->values[i] ? cfg->values[i] : o[i].def;
    }
    return NULL;
}

int plg_config_bool(const struct plg_config *cfg, const char *name, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
    const char *v = plg_config_get(cfg, name);
    for (size_t i = 0; v && i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!strcmp(v, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcmp(v, no[i])) {
            *out = false;
            return 0;
        }
    }
    return plg_config_fail(cfg, -EINVAL, "option %s: \"%s\" is not a boolean (true or false)", name,
                           v ? v : "");
}

const struct plg_collector *plg_find_collector(const char *name)
{
    for (const struct plg_collector *const *c = plg_builtin_collectors(); *c; c++)
        if (strcmp((*c)->name, name) == 0)
            return *c;
    return NULL;
}

char *plg_proc(char *out, const struct plg_paths *p, const char *rel)
{
    return cn_path_join(out, PATH_MAX, p->procfs, rel, NULL);
}

char *plg_sys(char *out, const struct plg_paths *p, const char *rel)
{
    return cn_path_join(out, PATH_MAX, p->sysfs, rel, NULL);
}

char *plg_root(char *out, const struct plg_paths *p, const char *rel)
{
    return cn_path_join(out, PATH_MAX, p->rootfs, rel, NULL);
}

long plg_read_attr(const char *path, char *buf, size_t cap)
{
    long n = cn_read_file(path, buf, cap);
    if (n < 0)
        return n;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return n;
}

int plg_read_u64(const char *path, uint64_t *out)
{
    char buf[64];
    long n = plg_read_attr(path, buf, sizeof(buf));
    if (n < 0)
        return (int)n;
    return cn_parse_u64(buf, out);
}

int plg_read_double(const char *path, double *out)
{
    char buf[64];
    long n = plg_read_attr(path, buf, sizeof(buf));
    if (n < 0)
        return (int)n;
    return cn_parse_double(buf, out);
}

struct plg_filter {
    pcre2_code *include;
    pcre2_code *exclude;
    pcre2_match_data *md;
};

static int compile(const char *pat, pcre2_code **out, char *err, size_t errcap)
{
    *out = NULL;
    if (!pat || !*pat)
        return 0;
    int code;
    PCRE2_SIZE off;
    *out = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &off, NULL);
    if (!*out) {
        char msg[160];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
        snprintf(err, errcap, "invalid regular expression %s at offset %zu: %s", pat, (size_t)off,
                 msg);
        return -EINVAL;
    }
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE); /* best effort */
    return 0;
}

int plg_filter_create(const char *include, const char *exclude, struct plg_filter **out, char *err,
                      size_t errcap)
{
    struct plg_filter *f = cn_calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    int rc = compile(include, &f->include, err, errcap);
    if (!rc)
        rc = compile(exclude, &f->exclude, err, errcap);
    if (!rc) {
        f->md = pcre2_match_data_create(4, NULL);
        if (!f->md)
            rc = -ENOMEM;
    }
    if (rc) {
        plg_filter_destroy(f);
        return rc;
    }
    *out = f;
    return 0;
}

static bool matches(const pcre2_code *re, pcre2_match_data *md, const char *s)
{
    return pcre2_match(re, (PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) >= 0;
}

bool plg_filter_ignored(const struct plg_filter *f, const char *item)
{
    if (!f)
        return false;
    if (f->exclude && matches(f->exclude, f->md, item))
        return true;
    if (f->include && !matches(f->include, f->md, item))
        return true;
    return false;
}

void plg_filter_destroy(struct plg_filter *f)
{
    if (!f)
        return;
    pcre2_code_free(f->include);
    pcre2_code_free(f->exclude);
    pcre2_match_data_free(f->md);
    free(f);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int plg_dir_list(const char *path, char ***names)
{
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    char **v = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = cn_realloc(v, (size_t)cap * sizeof(*v));
            if (!nv)
                goto nomem;
            v = nv;
        }
        if (!(v[n] = cn_strdup(e->d_name)))
            goto nomem;
        n++;
    }
    closedir(d);
    if (n)
        qsort(v, (size_t)n, sizeof(*v), cmp_str);
    *names = v;
    return n;
nomem:
    closedir(d);
    plg_dir_free(v, n);
    return -ENOMEM;
}

void plg_dir_free(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
