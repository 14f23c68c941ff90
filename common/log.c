/*
 * The logger. Lines are assembled in a stack buffer and written with one
 * write(2) so that concurrent threads never interleave within a line. Values
 * are quoted in logfmt only when they need it (space, '=', '"' or control
 * characters), as go-kit's logfmt does; JSON output escapes per RFC 8259.
 *
 * Level and format are process-wide: set by cn_log_setup() before threads
 * start, read-only afterwards.
 */
#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
    enum cn_log_level level;
    enum cn_log_format format;
    int fd;
} logger = {CN_LOG_INFO, CN_LOG_LOGFMT, 2};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void cn_log_setup(enum cn_log_level level, enum cn_log_format format)
{
    logger.level = level;
    logger.format = format;
}

void cn_log_set_fd(int fd)
{
    logger.fd = fd;
}

int cn_log_level_parse(const char *s, enum cn_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum cn_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

int cn_log_format_parse(const char *s, enum cn_log_format *out)
{
    if (strcmp(s, "logfmt") == 0)
        *out = CN_LOG_LOGFMT;
    else if (strcmp(s, "json") == 0)
        *out = CN_LOG_JSON;
    else
        return -EINVAL;
    return 0;
}

bool cn_log_enabled(enum cn_log_level level)
{
    return level >= logger.level;
}

/* A fixed line buffer; overlong lines are cut and end with "...". */
struct line {
    char buf[4096];
    size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
    size_t room = sizeof(l->buf) - 5 - l->len; /* keep room for "...\n" */
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void putstr(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

static bool logfmt_needs_quote(const char *v)
{
    if (*v == '\0')
        return true;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= ' ' || *p == '=' || *p == '"' || *p == 0x7f)
            return true;
    return false;
}

/* Escapes into quotes; the same escapes serve logfmt and JSON strings. */
static void put_quoted(struct line *l, const char *v)
{
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': put(l, "\\\"", 2); break;
        case '\\': put(l, "\\\\", 2); break;
        case '\n': put(l, "\\n", 2); break;
        case '\r': put(l, "\\r", 2); break;
        case '\t': put(l, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof(esc), "\\u%04x", *p);
                put(l, esc, 6);
            } else {
                put(l, (const char *)p, 1);
            }
        }
    }
    put(l, "\"", 1);
}

static void put_pair(struct line *l, const char *k, const char *v, bool first)
{
    if (!v)
        v = "";
    if (logger.format == CN_LOG_JSON) {
        if (!first)
            put(l, ",", 1);
        put_quoted(l, k);
        put(l, ":", 1);
        put_quoted(l, v);
    } else {
        if (!first)
            put(l, " ", 1);
        putstr(l, k);
        put(l, "=", 1);
        if (logfmt_needs_quote(v))
            put_quoted(l, v);
        else
            putstr(l, v);
    }
}

void cn_logv(enum cn_log_level level, const char *module, const char *msg, va_list ap)
{
    if (level < logger.level)
        return;
    struct timespec ts;
    struct tm tm;
    char tsbuf[96]; /* room for any int the compiler cannot rule out */
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(tsbuf, sizeof(tsbuf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    struct line l = {.len = 0};
    if (logger.format == CN_LOG_JSON)
        put(&l, "{", 1);
    put_pair(&l, "ts", tsbuf, true);
    put_pair(&l, "level", level_names[level], false);
    put_pair(&l, "module", module, false);
    put_pair(&l, "msg", msg, false);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        put_pair(&l, k, v, false);
    }
    if (l.len >= sizeof(l.buf) - 5)
        memcpy(l.buf + l.len, "...", 3), l.len += 3;
    if (logger.format == CN_LOG_JSON)
        l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    ssize_t w = write(logger.fd, l.buf, l.len);
    (void)w; /* nowhere to report a failed log write */
}

void cn_log(enum cn_log_level level, const char *module, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    cn_logv(level, module, msg, ap);
    va_end(ap);
}

const char *cn_fmt_num(char *buf, double v)
{
    snprintf(buf, 32, "%.10g", v);
    return buf;
}

const char *cn_fmt_int(char *buf, int64_t v)
{
    snprintf(buf, 24, "%lld", (long long)v);
    return buf;
}
