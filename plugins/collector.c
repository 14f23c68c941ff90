/*
 * Helpers shared by all collectors: failure reporting, options, paths, the
 * Go-equivalent text and number parsing, attribute files, include/exclude
 * filters and sorted directory listings. See plugins.h for the contracts.
 *
 * The number parsers are ports of Go's strconv rules rather than wrappers of
 * strtoull/strtod, whose accepted syntax differs (leading blanks, signs on
 * unsigned numbers, hexadecimal floats without an exponent, "nan(...)", no
 * 0b/0o prefixes or underscores). plg_parse_float still lets strtod do the
 * rounding, after checking the syntax Go would reject, and takes a fast exact
 * path for plain integers, which are most of what /proc holds.
 */
#include "plugins/plugins.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

const char *plg_config_explicit(const struct plg_config *cfg, const char *name)
{
    const struct plg_option *o = cfg->collector->options;
    for (size_t i = 0; o && o[i].name; i++)
        if (strcmp(o[i].name, name) == 0)
            return cfg->values ? cfg->values[i] : NULL;
    return NULL;
}

int plg_config_renamed(const struct plg_config *cfg, const char *name, const char *old,
                       const char **out)
{
    const char *newv = plg_config_explicit(cfg, name);
    const char *oldv = plg_config_explicit(cfg, old);
    if (oldv && *oldv) {
        if (newv) {
            const char *prefix = cfg->collector->option_prefix ? cfg->collector->option_prefix
                                                               : cfg->collector->name;
            return plg_config_fail(cfg, -EINVAL,
                                   "--collector.%s.%s and --collector.%s.%s are mutually exclusive",
                                   prefix, old, prefix, name);
        }
        *out = oldv;
        return 0;
    }
    *out = plg_config_get(cfg, name);
    return 0;
}

int plg_buf_state_init(const struct plg_config *cfg, void **state)
{
    (void)cfg;
    struct cn_buf *buf = cn_malloc(sizeof(*buf));
    if (!buf)
        return -ENOMEM;
    cn_buf_init(buf);
    *state = buf;
    return 0;
}

void plg_buf_state_destroy(void *state)
{
    if (!state)
        return;
    cn_buf_free(state);
    free(state);
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

const char *plg_strip_rootfs(const char *path, const char *rootfs)
{
    if (!rootfs || strcmp(rootfs, "/") == 0)
        return path;
    size_t n = strlen(rootfs);
    if (strncmp(path, rootfs, n) != 0)
        return path;
    return path[n] ? path + n : "/";
}

int plg_read_mounts(struct plg_collect *c, struct cn_buf *buf, size_t max, char *path)
{
    if (!plg_proc(path, c->paths, "1/mounts"))
        return -ENAMETOOLONG;
    int rc = plg_read_buf(c, path, buf, max);
    if (rc == -ENOENT) {
        if (!plg_proc(path, c->paths, "mounts"))
            return -ENAMETOOLONG;
        rc = plg_read_buf(c, path, buf, max);
    }
    return rc;
}

void plg_unescape_mount(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (r[0] == '\\' && r[1] == '0' && r[2] == '4' && r[3] == '0') {
            *w++ = ' ';
            r += 4;
        } else if (r[0] == '\\' && r[1] == '0' && r[2] == '1' && r[3] == '1') {
            *w++ = '\t';
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* ---- text ----------------------------------------------------------------- */

char *plg_next_line(char **pos, char *end, size_t *len)
{
    char *line = *pos;
    if (!line || line >= end)
        return NULL;
    char *nl = memchr(line, '\n', (size_t)(end - line));
    char *le = nl ? nl : end;
    if (nl)
        *nl = '\0';
    *pos = nl ? nl + 1 : end;
    if (len)
        *len = (size_t)(le - line);
    return line;
}

char *plg_next_field(char **pos, size_t *len)
{
    char *p = *pos;
    while (plg_is_space(*p))
        p++;
    if (!*p) {
        *pos = p;
        return NULL;
    }
    char *f = p;
    while (*p && !plg_is_space(*p))
        p++;
    *len = (size_t)(p - f);
    *pos = p;
    return f;
}

int plg_fields(char *s, char **fields, int max)
{
    int n = 0;
    size_t len;
    for (char *f; (f = plg_next_field(&s, &len));) {
        if (n < max)
            fields[n] = f;
        n++;
        if (*s)
            *s++ = '\0';
    }
    return n;
}

bool plg_glob_num(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 && name[n] >= '0' && name[n] <= '9';
}

char *plg_fmt_u64(char *buf, uint64_t v)
{
    char tmp[PLG_U64_LEN];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return buf;
}

size_t plg_utf8_len(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    if (s[0] < 0x80)
        return 1;
    size_t len;
    unsigned min;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, min = 0x80;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        len = 3, min = 0x800;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void plg_valid_utf8(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in), o = 0;
    bool bad = false;
    for (size_t i = 0; i < n;) {
        size_t l = plg_utf8_len(in + i, n - i);
        if (l == 0) {
            if (!bad && o + 3 < cap) {
                memcpy(out + o, "\xEF\xBF\xBD", 3);
                o += 3;
            }
            bad = true;
            i++;
            continue;
        }
        bad = false;
        if (o + l >= cap)
            break;
        memcpy(out + o, in + i, l);
        o += l;
        i += l;
    }
    out[o] = '\0';
}

/* ---- numbers -------------------------------------------------------------- */

static char lower(char c)
{
    return (char)(c | ('x' - 'X'));
}

/* Go's strconv.underscoreOK: underscores only between digits, or between a
 * base prefix and a digit. */
static bool underscore_ok(const char *s, size_t n)
{
    char saw = '^'; /* ^ start, 0 digit or prefix, _ underscore, ! other */
    size_t i = 0;
    if (n >= 1 && (s[0] == '-' || s[0] == '+'))
        s++, n--;
    bool hex = false;
    if (n >= 2 && s[0] == '0' && (lower(s[1]) == 'b' || lower(s[1]) == 'o' || lower(s[1]) == 'x')) {
        i = 2;
        saw = '0';
        hex = lower(s[1]) == 'x';
    }
    for (; i < n; i++) {
        if ((s[i] >= '0' && s[i] <= '9') || (hex && lower(s[i]) >= 'a' && lower(s[i]) <= 'f')) {
            saw = '0';
            continue;
        }
        if (s[i] == '_') {
            if (saw != '0')
                return false;
            saw = '_';
            continue;
        }
        if (saw == '_')
            return false;
        saw = '!';
    }
    return saw != '_';
}

int plg_parse_uint(const char *s, size_t n, int base, int bits, uint64_t *out)
{
    const char *s0 = s;
    size_t n0 = n;
    if (n == 0)
        return -EINVAL;
    bool base0 = base == 0;
    if (base0) {
        base = 10;
        if (s[0] == '0') {
            char l = n >= 3 ? lower(s[1]) : '\0';
            if (l == 'b' || l == 'o' || l == 'x') {
                base = l == 'b' ? 2 : l == 'o' ? 8 : 16;
                s += 2, n -= 2;
            } else {
                base = 8;
                s++, n--;
            }
        }
    } else if (base < 2 || base > 36) {
        return -EINVAL;
    }
    if (bits == 0)
        bits = 64;
    else if (bits < 0 || bits > 64)
        return -EINVAL;
    uint64_t cutoff = UINT64_MAX / (uint64_t)base + 1;
    uint64_t max = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
    bool underscores = false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        unsigned d;
        if (c == '_' && base0) {
            underscores = true;
            continue;
        } else if (c >= '0' && c <= '9') {
            d = (unsigned)(c - '0');
        } else if (lower(c) >= 'a' && lower(c) <= 'z') {
            d = (unsigned)(lower(c) - 'a' + 10);
        } else {
            return -EINVAL;
        }
        if (d >= (unsigned)base)
            return -EINVAL;
        if (v >= cutoff)
            return -ERANGE; /* v * base overflows */
        v *= (uint64_t)base;
        uint64_t v1 = v + d;
        if (v1 < v || v1 > max)
            return -ERANGE;
        v = v1;
    }
    if (underscores && !underscore_ok(s0, n0))
        return -EINVAL;
    *out = v;
    return 0;
}

int plg_parse_int(const char *s, size_t n, int base, int bits, int64_t *out)
{
    if (n == 0)
        return -EINVAL;
    bool neg = false;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        s++, n--;
    }
    uint64_t u;
    int rc = plg_parse_uint(s, n, base, bits, &u);
    if (rc)
        return rc;
    uint64_t cutoff = UINT64_C(1) << ((bits ? bits : 64) - 1);
    if ((!neg && u >= cutoff) || (neg && u > cutoff))
        return -ERANGE;
    /* -(u - 1) - 1 reaches INT64_MIN without overflowing */
    *out = neg ? (u ? -(int64_t)(u - 1) - 1 : 0) : (int64_t)u;
    return 0;
}

/* The syntax Go's ParseFloat rejects and strtod accepts, on s[0..n). */
static bool float_syntax_ok(const char *s, size_t n)
{
    if (plg_is_space(s[0]) || memchr(s, '(', n)) /* strtod skips blanks, takes nan(...) */
        return false;
    size_t i = s[0] == '+' || s[0] == '-';
    if (i && i < n && lower(s[i]) == 'n') /* Go: no sign on nan */
        return false;
    if (n - i >= 2 && s[i] == '0' && lower(s[i + 1]) == 'x' && !memchr(s, 'p', n) &&
        !memchr(s, 'P', n))
        return false; /* Go: a hexadecimal mantissa needs a 'p' exponent */
    return !memchr(s, '_', n) || underscore_ok(s, n);
}

int plg_parse_float(const char *s, size_t n, double *out)
{
    if (n == 0)
        return -EINVAL;
    /* Fast path: an optional sign and up to 19 digits convert exactly as
     * strtod would round them. */
    size_t i = s[0] == '+' || s[0] == '-';
    if (i < n && n - i <= 19) {
        uint64_t v = 0;
        size_t k = i;
        for (; k < n && s[k] >= '0' && s[k] <= '9'; k++)
            v = v * 10 + (uint64_t)(s[k] - '0');
        if (k == n) {
            *out = s[0] == '-' ? -(double)v : (double)v;
            return 0;
        }
    }
    if (!float_syntax_ok(s, n))
        return -EINVAL;
    char tmp[128], *buf = tmp;
    if (n >= sizeof(tmp) && !(buf = cn_malloc(n + 1)))
        return -ENOMEM;
    size_t len = 0;
    for (size_t k = 0; k < n; k++)
        if (s[k] != '_')
            buf[len++] = s[k];
    buf[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    int rc = 0;
    if (end != buf + len)
        rc = -EINVAL;
    else if (errno == ERANGE && isinf(v))
        rc = -ERANGE;
    if (buf != tmp)
        free(buf);
    if (!rc)
        *out = v;
    return rc;
}

/* ---- files ---------------------------------------------------------------- */

/* Trims the bytes of cutset (none if NULL) from both ends of s[0..n) in
 * place and NUL-terminates; returns the new length. */
static size_t trim(char *s, size_t n, const char *cutset)
{
    size_t a = 0;
    if (cutset) {
        while (n > 0 && s[n - 1] && strchr(cutset, s[n - 1]))
            n--;
        while (a < n && s[a] && strchr(cutset, s[a]))
            a++;
    }
    memmove(s, s + a, n - a);
    s[n - a] = '\0';
    return n - a;
}

/* Reads a whole number file, trimmed: its length, -EBADMSG when it is too
 * long to hold a number, or the negative errno of reading it. */
static long read_number_file(struct plg_collect *c, const char *path, char *buf, size_t cap)
{
    long n = plg_read(c, path, buf, cap);
    if (n == -EFBIG)
        return -EBADMSG;
    return n < 0 ? n : (long)trim(buf, (size_t)n, PLG_SPACE);
}

int plg_read_u64(struct plg_collect *c, const char *path, uint64_t *out)
{
    char buf[64];
    long n = read_number_file(c, path, buf, sizeof(buf));
    if (n < 0)
        return (int)n;
    return plg_parse_uint(buf, (size_t)n, 10, 64, out) ? -EBADMSG : 0;
}

int plg_read_i64(struct plg_collect *c, const char *path, int64_t *out)
{
    char buf[64];
    long n = read_number_file(c, path, buf, sizeof(buf));
    if (n < 0)
        return (int)n;
    return plg_parse_int(buf, (size_t)n, 10, 64, out) ? -EBADMSG : 0;
}

int plg_read_double(struct plg_collect *c, const char *path, double *out)
{
    char buf[64];
    long n = read_number_file(c, path, buf, sizeof(buf));
    if (n < 0)
        return (int)n;
    return plg_parse_float(buf, (size_t)n, out) ? -EBADMSG : 0;
}

int plg_collect_u64(struct plg_collect *c, const char *path, const char *what, uint64_t *out)
{
    int rc = plg_read_u64(c, path, out);
    if (rc == -EBADMSG)
        return plg_fail(c, -EINVAL, "%s: invalid number in %s", what, path);
    if (rc && rc != -ENOENT)
        return plg_fail(c, rc, "%s: %s: %s", what, path, strerror(-rc));
    return rc;
}

long plg_sysfs_pread(int fd, char *out, const char *cutset)
{
    ssize_t n;
    do
        n = pread(fd, out, PLG_SYSFS_MAX, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        out[0] = '\0';
        return -errno;
    }
    return (long)trim(out, (size_t)n, cutset);
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
