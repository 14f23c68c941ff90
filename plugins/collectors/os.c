/*
 * os: node_os_info (the os-release identification fields as labels, value
 * 1) and node_os_version (the major.minor of VERSION_ID as a number),
 * gauges, as node_exporter 1.5's os collector.
 *
 * Source: <rootfs>/etc/os-release, or <rootfs>/usr/lib/os-release when the
 * first does not exist (os-release(5)). Neither existing is "no data"
 * (success 0); any other read error, or a file the parser rejects, fails
 * the collector.
 *
 * Parsing follows hashicorp/go-envparse, which node_exporter uses: lines are
 * trimmed; blank lines and lines starting with '#' are skipped; every other
 * line must be KEY=VALUE with an optional "export " prefix and a key of
 * [A-Za-z_][A-Za-z0-9_./]*; a value may mix unquoted text, '...' (literal)
 * and "..." (with the JSON escapes \" \\ \/ \b \f \r \n \t \uXXXX, surrogate
 * pairs included); an unquoted '#' starts a comment and the blanks before
 * it are dropped; control characters are errors. The last assignment of a
 * key wins. The file is read into a stack buffer and unquoted in place; the
 * twelve exported values point into it, so a cycle allocates nothing beyond
 * the builder.
 *
 * node_os_version is VERSION_ID's leading `[0-9]+\.?[0-9]*` as a float
 * ("22.04.3" -> 22.04) and is exported only when that is > 0.
 *
 * Difference on purpose: node_exporter caches the parsed file by name and
 * mtime; we re-read it every cycle (one small read), which is simpler and
 * never serves stale labels when a file is replaced with the same mtime.
 */
#include "common/common.h"
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum {
    OS_BUILD_ID,
    OS_ID,
    OS_ID_LIKE,
    OS_IMAGE_ID,
    OS_IMAGE_VERSION,
    OS_NAME,
    OS_PRETTY_NAME,
    OS_VARIANT,
    OS_VARIANT_ID,
    OS_VERSION,
    OS_VERSION_CODENAME,
    OS_VERSION_ID,
    OS_NKEYS
};

/* Keys in os-release and the label each becomes, in label order. */
static const char *const os_keys[OS_NKEYS] = {
    "BUILD_ID",    "ID",      "ID_LIKE",    "IMAGE_ID", "IMAGE_VERSION",    "NAME",
    "PRETTY_NAME", "VARIANT", "VARIANT_ID", "VERSION",  "VERSION_CODENAME", "VERSION_ID",
};
static const char *const os_labels[OS_NKEYS] = {
    "build_id",    "id",      "id_like",    "image_id", "image_version",    "name",
    "pretty_name", "variant", "variant_id", "version",  "version_codename", "version_id",
};

/* Where os-release lives, in order of preference, under the rootfs. */
static const char *const os_files[] = {"etc/os-release", "usr/lib/os-release"};

#define OS_FILE_MAX 16384 /* os-release files are a few hundred bytes */

/* The exported values, NUL-terminated strings inside the read buffer (an
 * absent key points at the buffer's terminating NUL). */
struct os_release {
    char *v[OS_NKEYS];
};

/* The four hex digits of a \u escape at s (n bytes available). */
static int os_hex4(const char *s, size_t n, unsigned *out)
{
    uint64_t v;
    if (n < 4 || plg_parse_uint(s, 4, 16, 16, &v))
        return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

/*
 * Unquotes value[0..n) into out (which has room for n bytes: unescaping
 * never grows a value), storing its length in *outlen. Returns NULL or a
 * static description of the error.
 */
static const char *os_unquote(const char *value, size_t n, char *out, size_t *outlen)
{
    enum { NORMAL, DOUBLE, SINGLE, ESCAPE } mode = NORMAL;
    size_t o = 0, last_sig = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char v = (unsigned char)value[i];
        if (v < 32)
            return "control character in value";
        if (v > 127) {
            if (mode == ESCAPE)
                return "multibyte characters disallowed in escape sequences";
            out[o++] = (char)v;
            last_sig = o;
            continue;
        }
        switch (mode) {
        case NORMAL:
            if (v == '"') {
                mode = DOUBLE;
            } else if (v == '\'') {
                mode = SINGLE;
            } else if (v == '#') {
                *outlen = last_sig;
                return NULL;
            } else {
                out[o++] = (char)v;
                if (v != ' ')
                    last_sig = o;
            }
            break;
        case DOUBLE:
            if (v == '"') {
                mode = NORMAL;
            } else if (v == '\\') {
                mode = ESCAPE;
            } else {
                out[o++] = (char)v;
                last_sig = o;
            }
            break;
        case SINGLE:
            if (v == '\'') {
                mode = NORMAL;
            } else {
                out[o++] = (char)v;
                last_sig = o;
            }
            break;
        case ESCAPE:
            switch (v) {
            case '"':
            case '\\':
            case '/': out[o++] = (char)v; break;
            case 'b': out[o++] = '\b'; break;
            case 'f': out[o++] = '\f'; break;
            case 'r': out[o++] = '\r'; break;
            case 'n': out[o++] = '\n'; break;
            case 't': out[o++] = '\t'; break;
            case 'u': {
                unsigned r;
                if (os_hex4(value + i + 1, n - i - 1, &r))
                    return "incomplete or invalid \\u escape";
                i += 4;
                if (r >= 0xD800 && r <= 0xDFFF) {
                    unsigned r2;
                    if (n < i + 7 || value[i + 1] != '\\' || value[i + 2] != 'u')
                        return "incomplete Unicode surrogate pair";
                    if (os_hex4(value + i + 3, n - i - 3, &r2))
                        return "incomplete or invalid \\u escape";
                    i += 6;
                    /* utf16.DecodeRune: a valid pair or U+FFFD */
                    if (r < 0xDC00 && r2 >= 0xDC00 && r2 <= 0xDFFF)
                        r = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
                    else
                        r = 0xFFFD;
                }
                o += cn_utf8_encode(out + o, r);
                break;
            }
            default: return "invalid escape sequence";
            }
            last_sig = o;
            mode = DOUBLE;
            break;
        }
    }
    if (mode == DOUBLE)
        return "unmatched \"";
    if (mode == SINGLE)
        return "unmatched '";
    if (mode == ESCAPE)
        return "incomplete escape sequence";
    *outlen = o;
    return NULL;
}

/* Parses the file in buf, in place, into r. Returns NULL or an error
 * description, with the 1-based line number in *line. */
static const char *os_parse(char *buf, struct os_release *r, int *line)
{
    char *empty = buf + strlen(buf);
    for (int i = 0; i < OS_NKEYS; i++)
        r->v[i] = empty;
    char *p = buf;
    for (*line = 1; *p; (*line)++) {
        char *nl = strchr(p, '\n');
        char *end = nl ? nl : p + strlen(p);
        char *next = nl ? nl + 1 : end;
        /* trim (this also drops the \r of CRLF lines) */
        while (p < end && plg_is_space(*p))
            p++;
        while (end > p && plg_is_space(end[-1]))
            end--;
        if (p == end || *p == '#') {
            p = next;
            continue;
        }
        char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq)
            return "missing =";
        char *k = p, *kend = eq, *v = eq + 1, *vend = end;
        while (kend > k && plg_is_space(kend[-1]))
            kend--;
        while (v < vend && plg_is_space(*v))
            v++;
        if ((size_t)(kend - k) > 7 && memcmp(k, "export ", 7) == 0)
            k += 7;
        if (k == kend)
            return "empty key";
        char k0 = *k;
        if (!((k0 >= 'A' && k0 <= 'Z') || (k0 >= 'a' && k0 <= 'z') || k0 == '_'))
            return "key must start with [A-Za-z_]";
        for (const char *q = k + 1; q < kend; q++)
            if (!((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') ||
                  (*q >= '0' && *q <= '9') || *q == '_' || *q == '.' || *q == '/'))
                return "key characters must be [A-Za-z0-9/_.]";
        /* Unquote in place: the result is never longer than the input. */
        size_t vlen = 0;
        const char *err = os_unquote(v, (size_t)(vend - v), v, &vlen);
        if (err)
            return err;
        for (int i = 0; i < OS_NKEYS; i++) {
            if (strlen(os_keys[i]) == (size_t)(kend - k) &&
                memcmp(os_keys[i], k, (size_t)(kend - k)) == 0) {
                /* v + vlen is at most the line's end: `next` is safe */
                v[vlen] = '\0';
                r->v[i] = v;
                break;
            }
        }
        p = next;
    }
    return NULL;
}

/* VERSION_ID's leading [0-9]+\.?[0-9]* as a number, 0 when there is none.
 * s is writable: the match is cut off in place for strtod and restored. */
static double os_version(char *s)
{
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    if (n == 0)
        return 0;
    if (s[n] == '.') {
        n++;
        while (s[n] >= '0' && s[n] <= '9')
            n++;
    }
    char saved = s[n];
    s[n] = '\0';
    double v = strtod(s, NULL);
    s[n] = saved;
    return v;
}

static int os_collect(void *state, struct plg_collect *c)
{
    (void)state;
    char path[PATH_MAX], buf[OS_FILE_MAX];
    long n = -ENOENT;
    for (size_t i = 0; i < sizeof(os_files) / sizeof(os_files[0]) && n == -ENOENT; i++) {
        plg_root(path, c->paths, os_files[i]);
        n = cn_read_file(path, buf, sizeof(buf));
    }
    if (n == -ENOENT)
        return plg_nodata(c, "no os-release file found under %s", c->paths->rootfs);
    if (n < 0)
        return plg_fail(c, (int)n, "couldn't read %s: %s", path, strerror((int)-n));
    if (memchr(buf, '\0', (size_t)n))
        return plg_fail(c, -EINVAL, "unexpected NUL byte in %s", path);

    struct os_release r;
    int line;
    const char *err = os_parse(buf, &r, &line);
    if (err)
        return plg_fail(c, -EINVAL, "couldn't parse %s: error on line %d: %s", path, line, err);

    const char *values[OS_NKEYS];
    for (int i = 0; i < OS_NKEYS; i++)
        values[i] = r.v[i];
    struct exp_family *f = exp_family(
        c->b, "node_os_info",
        "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, "
        "image_version, name, pretty_name, variant, variant_id, version, version_codename, "
        "version_id.",
        EXP_GAUGE);
    exp_addv(c->b, f, 1, OS_NKEYS, os_labels, values);
    double version = os_version(r.v[OS_VERSION_ID]);
    if (version > 0)
        exp_gauge(c->b, "node_os_version",
                  "Metric containing the major.minor part of the OS version.", version, 3, "id",
                  r.v[OS_ID], "id_like", r.v[OS_ID_LIKE], "name", r.v[OS_NAME]);
    return 0;
}

const struct plg_collector plg_collector_os = {
    .name = "os",
    .default_enabled = true,
    .collect = os_collect,
};
