/*
 * The Prometheus HTTP API on the agent: /api/v1/query, query_range, series,
 * labels, label/<name>/values, metadata and status/{buildinfo,runtimeinfo,
 * tsdb}, answering as Prometheus 2.42's web/api/v1 does, so Grafana,
 * promtool and any Prometheus client work against one host.
 *
 * This file is the thin layer the design asks for: it decodes parameters,
 * calls the PromQL engine or the TSDB, and encodes JSON. It never sees
 * HTTP: http.c hands it a method, a path and the decoded parameters and
 * sends back the reply it builds, from a worker thread so a slow query
 * never holds up a scrape of /metrics.
 *
 * Fidelity. Clients parse these answers, and people grep the errors, so
 * the details follow Prometheus rather than taste: values are strings in
 * Go's shortest round-trip notation (exponent form below 1e-6 and from 1e21
 * in vectors and matrices, never in scalars), timestamps are seconds (with
 * exactly three decimals in vectors and matrices, as few as needed in
 * scalars and strings), strings are escaped as Go's encoding/json escapes
 * them (HTML-safe), and error messages carry Prometheus' words, wrapping
 * and quoting ("invalid parameter \"time\": ..." with Go's %q).
 *
 * Reading. Every query opens a TSDB querier for its time range: it pins the
 * blocks it reads and reads the head through its snapshot rules, so
 * ingestion goes on meanwhile. /api/v1/series reads only the index of a
 * block (chunk time ranges say whether a series has data in range) and the
 * head's samples in range, never a block's samples. /api/v1/status/tsdb
 * counts the head's series in one pass under the head's read lock, as
 * Prometheus counts its head postings.
 *
 * Timeouts. The engine applies --query.timeout itself; a request's own
 * `timeout` parameter, when shorter, is enforced by a watcher thread that
 * sets the query's cancel flag at its deadline, and the answer then says
 * "timed out" rather than "canceled", as Prometheus does for a request
 * deadline.
 */
#include "agent/internal.h"
#include "cairn_version.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "promql/promql.h"
#include "tsdb/tsdb.h"

/* Build facts from CMake (see CMakeLists.txt); "unknown" elsewhere. */
#ifndef CAIRN_REVISION
#define CAIRN_REVISION "unknown"
#endif
#ifndef CAIRN_BRANCH
#define CAIRN_BRANCH "unknown"
#endif
#ifndef CAIRN_BUILD_USER
#define CAIRN_BUILD_USER "unknown"
#endif
#ifndef CAIRN_BUILD_DATE
#define CAIRN_BUILD_DATE "unknown"
#endif

/* buildinfo's goVersion: cairn's toolchain is the C compiler. */
#ifdef __clang__
#define COMPILER_VERSION __VERSION__ /* "Debian Clang 14.0.6" */
#else
#define COMPILER_VERSION "gcc " __VERSION__
#endif

/* Points per series a range query may ask for (Prometheus' fixed limit). */
#define MAX_POINTS 11000
/* Entries of each /api/v1/status/tsdb list. */
#define TSDB_STATUS_TOP 10

/* ---- Go's text conventions ------------------------------------------------------------ */

/* Decodes one UTF-8 sequence as Go does (no overlong forms, surrogates or
 * values past U+10FFFF): its length and *cp, or 0 for an invalid byte. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v, min;
    if ((c & 0xe0) == 0xc0) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/*
 * Appends s quoted as Go's strconv.Quote (the %q of error messages):
 * backslash escapes for quotes, backslashes and control characters, \xHH
 * for invalid bytes. Printable characters are kept; Unicode's printable
 * classes are approximated as "everything but the C0 and C1 controls".
 */
static void go_quote(struct cn_buf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    cn_buf_putc(b, '"');
    while (*s) {
        uint32_t cp;
        size_t n = utf8_decode(s, &cp);
        if (n == 0) {
            cn_buf_printf(b, "\\x%02x", *s);
            s++;
            continue;
        }
        switch (cp) {
        case '"': cn_buf_puts(b, "\\\""); break;
        case '\\': cn_buf_puts(b, "\\\\"); break;
        case '\a': cn_buf_puts(b, "\\a"); break;
        case '\b': cn_buf_puts(b, "\\b"); break;
        case '\f': cn_buf_puts(b, "\\f"); break;
        case '\n': cn_buf_puts(b, "\\n"); break;
        case '\r': cn_buf_puts(b, "\\r"); break;
        case '\t': cn_buf_puts(b, "\\t"); break;
        case '\v': cn_buf_puts(b, "\\v"); break;
        default:
            if (cp < 0x20 || cp == 0x7f)
                cn_buf_printf(b, "\\x%02x", (unsigned)cp);
            else if (cp >= 0x80 && cp < 0xa0)
                cn_buf_printf(b, "\\u%04x", (unsigned)cp);
            else
                cn_buf_append(b, s, n);
        }
        s += n;
    }
    cn_buf_putc(b, '"');
}

/* ---- parameters ---------------------------------------------------------------------- */

void agent_params_free(struct agent_params *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].name);
        free(p->v[i].value);
    }
    free(p->v);
    memset(p, 0, sizeof(*p));
}

const char *agent_params_get(const struct agent_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->v[i].name, name))
            return p->v[i].value;
    return NULL;
}

/* Unescapes s[0..n) into a new string (Go's QueryUnescape); NULL and
 * *bad set to the offending escape's offset, or NULL with *bad = -1 on
 * ENOMEM. */
static char *unescape(const char *s, size_t n, long *bad)
{
    char *out = cn_malloc(n + 1);
    if (!out) {
        *bad = -1;
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 1 < n ? cn_hex_digit(s[i + 1]) : -1;
            int lo = i + 2 < n ? cn_hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                *bad = (long)i;
                return NULL;
            }
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Go's error for a bad escape: the escape's (up to) three bytes, quoted. */
static void escape_error(const char *s, size_t n, size_t at, char *err, size_t errcap)
{
    char esc[4];
    size_t len = n - at < 3 ? n - at : 3;
    memcpy(esc, s + at, len);
    esc[len] = '\0';
    struct cn_buf b;
    cn_buf_init(&b);
    go_quote(&b, esc);
    snprintf(err, errcap, "invalid URL escape %s", cn_buf_cstr(&b));
    cn_buf_free(&b);
}

int agent_form_parse(struct agent_params *p, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] != '&')
            j++;
        const char *pair = s + i;
        size_t plen = j - i;
        i = j + 1;
        if (plen == 0)
            continue;
        if (memchr(pair, ';', plen)) {
            if (!p->err[0])
                snprintf(p->err, sizeof(p->err), "invalid semicolon separator in query");
            continue;
        }
        const char *eq = memchr(pair, '=', plen);
        size_t klen = eq ? (size_t)(eq - pair) : plen;
        long bad = 0;
        char *name = unescape(pair, klen, &bad);
        char *value = NULL;
        if (name) {
            value = eq ? unescape(eq + 1, plen - klen - 1, &bad) : cn_strdup("");
            if (!value && eq && bad >= 0)
                bad += (long)klen + 1;
            else if (!value)
                bad = -1;
        }
        if (!name || !value) {
            free(name);
            if (bad < 0)
                return -ENOMEM;
            if (!p->err[0])
                escape_error(pair, plen, (size_t)bad, p->err, sizeof(p->err));
            continue;
        }
        if (cn_array_grow((void **)&p->v, &p->cap, p->n + 1, sizeof(*p->v), 8)) {
            free(name);
            free(value);
            return -ENOMEM;
        }
        p->v[p->n++] = (struct agent_param){name, value};
    }
    return 0;
}

/* ---- times and durations ------------------------------------------------------------- */

/*
 * Go's strconv.ParseFloat for the forms people write: an optional sign,
 * decimal digits with an optional point and exponent, "Inf"/"Infinity"
 * with an optional sign, "NaN" (any case). Hexadecimal floats and
 * underscores, which Go also takes, are refused. false when s is not such a
 * number or overflows.
 */
static bool parse_go_float(const char *s, double *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!strcasecmp(p, "inf") || !strcasecmp(p, "infinity")) {
        *out = *s == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (!strcasecmp(s, "nan")) {
        *out = NAN;
        return true;
    }
    size_t digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits++;
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return false;
    errno = 0;
    double v = strtod(s, NULL);
    if (errno == ERANGE && isinf(v))
        return false;
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits_at(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* time.Parse(time.RFC3339Nano, s) as Go 1.19 takes it, to ms. */
static bool parse_rfc3339(const char *s, int64_t *ms)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec;
    if (strlen(s) < 20 || !digits_at(s, 4, &y) || s[4] != '-' || !digits_at(s + 5, 2, &mo) ||
        s[7] != '-' || !digits_at(s + 8, 2, &d) || s[10] != 'T' || !digits_at(s + 11, 2, &h) ||
        s[13] != ':' || !digits_at(s + 14, 2, &mi) || s[16] != ':' || !digits_at(s + 17, 2, &sec))
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || sec > 59)
        return false;
    const char *p = s + 19;
    int64_t nsec = 0;
    if ((*p == '.' || *p == ',') && p[1] >= '0' && p[1] <= '9') {
        int64_t scale = 100000000;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            nsec += (*p - '0') * scale; /* digits past the ninth are dropped */
            scale /= 10;
        }
    }
    int64_t offset = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits_at(p + 1, 2, &oh) || p[3] != ':' || !digits_at(p + 4, 2, &om) || oh > 23 ||
            om > 59)
            return false;
        offset = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    *ms = secs * 1000 + nsec / 1000000;
    return true;
}

int agent_parse_time(const char *s, int64_t *ms)
{
    double f;
    if (parse_go_float(s, &f)) {
        /* Whole seconds, then the fraction rounded to ms, as Prometheus. */
        if (!isfinite(f) || fabs(f) >= 9223372036854775.0) /* ms would overflow */
            return -EINVAL;
        double ip, fp = modf(f, &ip);
        *ms = (int64_t)ip * 1000 + (int64_t)llround(fp * 1000);
        return 0;
    }
    if (parse_rfc3339(s, ms))
        return 0;
    /* Go cannot parse years past 9999; Prometheus accepts its own bounds. */
    if (!strcmp(s, "-292273086-05-16T16:47:06Z")) {
        *ms = AGENT_API_MIN_TIME;
        return 0;
    }
    if (!strcmp(s, "292277025-08-18T07:12:54.999999999Z")) {
        *ms = AGENT_API_MAX_TIME;
        return 0;
    }
    return -EINVAL;
}

int agent_parse_duration(const char *s, int64_t *ns)
{
    double f;
    if (parse_go_float(s, &f)) {
        if (isnan(f))
            return -EINVAL;
        double t = f * 1e9;
        if (t >= 9223372036854775808.0 || t < -9223372036854775808.0)
            return -ERANGE;
        *ns = (int64_t)t;
        return 0;
    }
    int64_t ms;
    if (cn_duration_parse(s, &ms) || ms > INT64_MAX / 1000000)
        return -EINVAL;
    *ns = ms * 1000000;
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------------ */

void agent_json_string(struct cn_buf *b, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    cn_buf_putc(b, '"');
    const unsigned char *run = s; /* bytes written as they are */
    while (*s) {
        unsigned char c = *s;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
            s++;
            continue;
        }
        uint32_t cp = 0;
        size_t n = c < 0x80 ? 1 : utf8_decode(s, &cp);
        if (c >= 0x80 && n && cp != 0x2028 && cp != 0x2029) {
            s += n;
            continue;
        }
        cn_buf_append(b, run, (size_t)(s - run));
        if (c >= 0x80 && !n) {
            cn_buf_puts(b, "\\ufffd");
            n = 1;
        } else if (c >= 0x80) {
            cn_buf_printf(b, "\\u%04x", (unsigned)cp);
        } else if (c == '"' || c == '\\') {
            cn_buf_putc(b, '\\');
            cn_buf_putc(b, (char)c);
        } else if (c == '\n') {
            cn_buf_puts(b, "\\n");
        } else if (c == '\r') {
            cn_buf_puts(b, "\\r");
        } else if (c == '\t') {
            cn_buf_puts(b, "\\t");
        } else {
            char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            cn_buf_puts(b, u);
        }
        s += n;
        run = s;
    }
    cn_buf_append(b, run, (size_t)(s - run));
    cn_buf_putc(b, '"');
}

void agent_json_timestamp(struct cn_buf *b, int64_t ms)
{
    uint64_t u = ms < 0 ? (uint64_t)(-(ms + 1)) + 1 : (uint64_t)ms;
    /* Digits by hand: a range query prints one timestamp per point. */
    char tmp[32], *p = tmp + sizeof(tmp);
    uint64_t frac = u % 1000, secs = u / 1000;
    if (frac) {
        for (int i = 0; i < 3; i++, frac /= 10)
            *--p = (char)('0' + frac % 10);
        *--p = '.';
    }
    do {
        *--p = (char)('0' + secs % 10);
        secs /= 10;
    } while (secs);
    if (ms < 0)
        *--p = '-';
    cn_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* The shortest decimal digits that read back as v (finite, > 0), as Go's
 * FormatFloat(v, _, -1, 64) finds them, into d (no point, no trailing
 * zeros); returns the decimal exponent of the first digit
 * (v = d1.d2d3... * 10^exp). */
static int shortest_digits(double v, char d[PROMQL_DIGITS_MAX])
{
    int k, n = promql_float_digits(v, d, &k);
    d[n] = '\0';
    return k - 1;
}

static size_t special_float(char *buf, double v)
{
    if (isnan(v))
        return (size_t)snprintf(buf, AGENT_FLOAT_BUF, "NaN");
    if (isinf(v))
        return (size_t)snprintf(buf, AGENT_FLOAT_BUF, v > 0 ? "+Inf" : "-Inf");
    if (v == 0)
        return (size_t)snprintf(buf, AGENT_FLOAT_BUF, signbit(v) ? "-0" : "0");
    return 0;
}

size_t agent_format_float(char *buf, double v)
{
    promql_format_float(v, buf, AGENT_FLOAT_BUF);
    return strlen(buf);
}

size_t agent_format_sample(char *buf, double v)
{
    double a = fabs(v);
    if (isnan(v) || a == 0 || (a >= 1e-6 && a < 1e21))
        return agent_format_float(buf, v);
    size_t n = special_float(buf, v);
    if (n)
        return n;
    char d[PROMQL_DIGITS_MAX];
    int e = shortest_digits(a, d);
    return (size_t)snprintf(buf, AGENT_FLOAT_BUF, "%s%c%s%s%c%c%02d", v < 0 ? "-" : "", d[0],
                            d[1] ? "." : "", d + 1, 'e', e < 0 ? '-' : '+', e < 0 ? -e : e);
}

static void json_labels(struct cn_buf *b, const struct tsdb_labels *ls)
{
    cn_buf_putc(b, '{');
    for (size_t i = 0; i < ls->n; i++) {
        if (i)
            cn_buf_putc(b, ',');
        agent_json_string(b, ls->v[i].name);
        cn_buf_putc(b, ':');
        agent_json_string(b, ls->v[i].value);
    }
    cn_buf_putc(b, '}');
}

/* A scalar's or string's time: Go's JSON encoding of float64(t) / 1000,
 * where vectors and matrices have agent_json_timestamp()'s three decimals. */
static void json_float_seconds(struct cn_buf *b, int64_t t)
{
    char num[AGENT_FLOAT_BUF];
    agent_format_float(num, (double)t / 1000.0);
    cn_buf_puts(b, num);
}

/* [t,"v"] */
static void json_point(struct cn_buf *b, int64_t t, double v, bool scalar)
{
    char num[AGENT_FLOAT_BUF];
    cn_buf_putc(b, '[');
    if (scalar)
        json_float_seconds(b, t);
    else
        agent_json_timestamp(b, t);
    cn_buf_puts(b, ",\"");
    if (scalar)
        agent_format_float(num, v);
    else
        agent_format_sample(num, v);
    cn_buf_puts(b, num);
    cn_buf_puts(b, "\"]");
}

static const char *result_type(enum promql_type t)
{
    switch (t) {
    case PROMQL_TYPE_SCALAR: return "scalar";
    case PROMQL_TYPE_VECTOR: return "vector";
    case PROMQL_TYPE_MATRIX: return "matrix";
    case PROMQL_TYPE_STRING: return "string";
    default: return "none";
    }
}

void agent_json_result(struct cn_buf *b, const struct promql_result *r)
{
    cn_buf_puts(b, "{\"resultType\":\"");
    cn_buf_puts(b, result_type(r->type));
    cn_buf_putc(b, '"');
    cn_buf_puts(b, ",\"result\":");
    switch (r->type) {
    case PROMQL_TYPE_SCALAR: json_point(b, r->scalar.t, r->scalar.v, true); break;
    case PROMQL_TYPE_STRING:
        cn_buf_putc(b, '[');
        json_float_seconds(b, r->string.t);
        cn_buf_putc(b, ',');
        agent_json_string(b, r->string.s ? r->string.s : "");
        cn_buf_putc(b, ']');
        break;
    case PROMQL_TYPE_VECTOR:
        cn_buf_putc(b, '[');
        for (size_t i = 0; i < r->vector.n; i++) {
            const struct promql_sample *s = &r->vector.v[i];
            struct tsdb_labels ls = promql_labels_view(s->labels);
            cn_buf_puts(b, i ? ",{\"metric\":" : "{\"metric\":");
            json_labels(b, &ls);
            cn_buf_puts(b, ",\"value\":");
            json_point(b, s->t, s->v, false);
            cn_buf_putc(b, '}');
        }
        cn_buf_putc(b, ']');
        break;
    case PROMQL_TYPE_MATRIX:
        cn_buf_putc(b, '[');
        for (size_t i = 0; i < r->matrix.n; i++) {
            const struct promql_series *s = &r->matrix.v[i];
            struct tsdb_labels ls = promql_labels_view(s->labels);
            cn_buf_puts(b, i ? ",{\"metric\":" : "{\"metric\":");
            json_labels(b, &ls);
            for (size_t k = 0; k < s->n; k++) {
                cn_buf_puts(b, k ? "," : ",\"values\":[");
                json_point(b, s->pts[k].t, s->pts[k].v, false);
            }
            cn_buf_puts(b, s->n ? "]}" : "}");
        }
        cn_buf_putc(b, ']');
        break;
    default: cn_buf_puts(b, "null");
    }
    cn_buf_putc(b, '}');
}

/* ---- the API object and the deadline watcher ------------------------------------------ */

/* A query being evaluated: its cancel flag, which the engine polls. */
struct running {
    struct running *next;
    int64_t deadline_ns; /* monotonic; 0: only the engine's own timeout */
    volatile bool cancel;
    bool timed_out; /* cancel was set by the deadline */
};

struct agent_api {
    struct agent_store *store;
    struct evt_service *events;
    struct promql_engine *engine;
    struct agent_source *source;
    int64_t retention_ms;
    uint64_t retention_bytes;
    struct timespec started; /* wall clock */
    char *cwd;

    pthread_mutex_t lock;
    pthread_cond_t cond;     /* on CLOCK_MONOTONIC: the watcher's wake-up */
    struct running *running; /* under lock */
    bool canceled;           /* under lock: cancel_all was called */
    bool stop;               /* under lock */
    pthread_t watcher;
    bool watcher_started;
};

static void *watch_deadlines(void *arg)
{
    struct agent_api *a = arg;
    pthread_mutex_lock(&a->lock);
    while (!a->stop) {
        int64_t now = cn_mono_ns(), next = 0;
        for (struct running *r = a->running; r; r = r->next) {
            if (!r->deadline_ns || r->cancel)
                continue;
            if (r->deadline_ns <= now) {
                r->timed_out = true;
                r->cancel = true;
            } else if (!next || r->deadline_ns < next) {
                next = r->deadline_ns;
            }
        }
        if (!next) {
            pthread_cond_wait(&a->cond, &a->lock);
        } else {
            struct timespec ts = {.tv_sec = next / 1000000000, .tv_nsec = next % 1000000000};
            pthread_cond_timedwait(&a->cond, &a->lock, &ts);
        }
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

int agent_api_create(const struct agent_api_opts *opts, struct agent_api **out)
{
    struct agent_api *a = cn_calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->store = opts->store;
    a->events = opts->events;
    a->engine = opts->engine;
    a->source = opts->source;
    a->retention_ms = opts->retention_ms;
    a->retention_bytes = opts->retention_bytes;
    clock_gettime(CLOCK_REALTIME, &a->started);
    char dir[4096];
    a->cwd = cn_strdup(getcwd(dir, sizeof(dir)) ? dir : "");
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = a->cwd ? -pthread_create(&a->watcher, NULL, watch_deadlines, a) : -ENOMEM;
    if (rc) {
        agent_api_destroy(a);
        return rc;
    }
    a->watcher_started = true;
    *out = a;
    return 0;
}

void agent_api_destroy(struct agent_api *a)
{
    if (!a)
        return;
    if (a->watcher_started) {
        pthread_mutex_lock(&a->lock);
        a->stop = true;
        pthread_cond_signal(&a->cond);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->watcher, NULL);
    }
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->lock);
    free(a->cwd);
    free(a);
}

void agent_api_cancel_all(struct agent_api *a)
{
    pthread_mutex_lock(&a->lock);
    a->canceled = true;
    for (struct running *r = a->running; r; r = r->next)
        r->cancel = true;
    pthread_mutex_unlock(&a->lock);
}

/* The engine's data: a TSDB querier per query. */
static int queryable_open(void *ctx, int64_t mint, int64_t maxt, void **handle,
                          const struct tsdb_source **src, size_t *nsrc)
{
    struct tsdb_db_querier *q;
    int rc = tsdb_db_querier_open(ctx, mint, maxt, &q);
    if (rc)
        return rc;
    *src = tsdb_db_querier_sources(q, nsrc);
    *handle = q;
    return 0;
}

static void queryable_close(void *ctx, void *handle)
{
    (void)ctx;
    tsdb_db_querier_close(handle);
}

/*
 * Evaluates expr (an instant query when step is 0) under the request's
 * timeout (INT64_MAX: none; <= 0: already passed), registered with the
 * watcher meanwhile.
 */
static int run_query(struct agent_api *a, const struct promql_expr *expr, int64_t start,
                     int64_t end, int64_t step, int64_t timeout_ns, struct promql_result *res,
                     struct promql_error *err)
{
    if (timeout_ns <= 0) {
        /* Expired before it started, where Prometheus notices it. */
        err->kind = PROMQL_ERR_TIMEOUT;
        snprintf(err->msg, sizeof(err->msg), "query timed out in query execution");
        return -ETIMEDOUT;
    }
    struct running r = {0};
    int64_t now = cn_mono_ns();
    pthread_mutex_lock(&a->lock);
    if (timeout_ns < INT64_MAX - now)
        r.deadline_ns = now + timeout_ns;
    if (a->canceled)
        r.cancel = true;
    r.next = a->running;
    a->running = &r;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);

    struct promql_queryable q = {queryable_open, queryable_close, agent_store_db(a->store)};
    struct promql_query_opts qo = {.cancel = &r.cancel};
    int rc = step ? promql_exec_range(a->engine, &q, expr, start, end, step, &qo, res, err)
                  : promql_exec_instant(a->engine, &q, expr, start, &qo, res, err);

    pthread_mutex_lock(&a->lock);
    for (struct running **p = &a->running; *p; p = &(*p)->next)
        if (*p == &r) {
            *p = r.next;
            break;
        }
    bool timed_out = r.timed_out;
    pthread_mutex_unlock(&a->lock);
    if (rc && timed_out && err->kind == PROMQL_ERR_CANCELED) {
        /* The request's deadline, not a cancellation: say so as Prometheus. */
        const char *prefix = "query was canceled in ";
        char where[PROMQL_ERR_MSG_MAX - 32];
        snprintf(where, sizeof(where), "%s",
                 !strncmp(err->msg, prefix, strlen(prefix)) ? err->msg + strlen(prefix)
                                                            : "expression evaluation");
        err->kind = PROMQL_ERR_TIMEOUT;
        snprintf(err->msg, sizeof(err->msg), "query timed out in %s", where);
    }
    return rc;
}

/* ---- replies ------------------------------------------------------------------------------ */

void agent_api_error(struct agent_api_reply *r, const char *type, unsigned code, const char *msg)
{
    cn_buf_reset(&r->body);
    r->code = code;
    r->content_type = "application/json";
    cn_buf_puts(&r->body, "{\"status\":\"error\",\"errorType\":\"");
    cn_buf_puts(&r->body, type);
    cn_buf_puts(&r->body, "\",\"error\":");
    agent_json_string(&r->body, msg);
    cn_buf_putc(&r->body, '}');
}

static void reply_error(struct agent_api_reply *r, enum promql_error_kind kind, const char *msg)
{
    static const struct {
        const char *type;
        unsigned code;
    } kinds[] = {
        [PROMQL_ERR_NONE] = {"internal", 500},       [PROMQL_ERR_BAD_DATA] = {"bad_data", 400},
        [PROMQL_ERR_EXECUTION] = {"execution", 422}, [PROMQL_ERR_TIMEOUT] = {"timeout", 503},
        [PROMQL_ERR_CANCELED] = {"canceled", 503},   [PROMQL_ERR_INTERNAL] = {"internal", 500},
    };
    if ((unsigned)kind >= sizeof(kinds) / sizeof(kinds[0]))
        kind = PROMQL_ERR_INTERNAL;
    agent_api_error(r, kinds[kind].type, kinds[kind].code, msg);
}

/* An error whose message is built in m (freed here). */
static void reply_error_buf(struct agent_api_reply *r, enum promql_error_kind kind,
                            struct cn_buf *m)
{
    reply_error(r, kind, m->err ? "out of memory" : cn_buf_cstr(m));
    cn_buf_free(m);
}

static void reply_errno(struct agent_api_reply *r, int rc)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "%s", strerror(-rc));
    reply_error(r, rc == -ENOMEM ? PROMQL_ERR_INTERNAL : PROMQL_ERR_EXECUTION, msg);
}

/* Starts a success reply; the handler appends the data and calls
 * reply_end(). */
static void reply_begin(struct agent_api_reply *r)
{
    r->code = 200;
    r->content_type = "application/json";
    cn_buf_puts(&r->body, "{\"status\":\"success\",\"data\":");
}

static void reply_end(struct agent_api_reply *r)
{
    cn_buf_putc(&r->body, '}');
}

/* ---- parameters of the handlers ------------------------------------------------------------ */

/*
 * Time parameter name: absent or empty gives def, unless required (then
 * it is parsed as ""). The message differs as in Prometheus: parseTime's
 * alone for query_range's start and end, wrapped by parseTimeParam for the
 * others. false after replying with the error.
 */
static bool time_param(const struct agent_params *p, const char *name, bool required, int64_t def,
                       struct agent_api_reply *r, int64_t *out)
{
    const char *v = agent_params_get(p, name);
    if (!required && (!v || !*v)) {
        *out = def;
        return true;
    }
    if (!v)
        v = "";
    if (!agent_parse_time(v, out))
        return true;
    struct cn_buf m;
    cn_buf_init(&m);
    cn_buf_printf(&m, "invalid parameter \"%s\": ", name);
    if (!required)
        cn_buf_printf(&m, "Invalid time value for '%s': ", name);
    cn_buf_puts(&m, "cannot parse ");
    go_quote(&m, v);
    cn_buf_puts(&m, " to a valid timestamp");
    reply_error_buf(r, PROMQL_ERR_BAD_DATA, &m);
    return false;
}

static bool duration_param(const char *name, const char *v, struct agent_api_reply *r, int64_t *ns)
{
    int rc = agent_parse_duration(v, ns);
    if (!rc)
        return true;
    struct cn_buf m;
    cn_buf_init(&m);
    cn_buf_printf(&m, "invalid parameter \"%s\": cannot parse ", name);
    go_quote(&m, v);
    cn_buf_puts(&m, rc == -ERANGE ? " to a valid duration. It overflows int64"
                                  : " to a valid duration");
    reply_error_buf(r, PROMQL_ERR_BAD_DATA, &m);
    return false;
}

/* The request's `timeout`: INT64_MAX when absent. */
static bool timeout_param(const struct agent_params *p, struct agent_api_reply *r, int64_t *ns)
{
    const char *v = agent_params_get(p, "timeout");
    *ns = INT64_MAX;
    return !v || !*v || duration_param("timeout", v, r, ns);
}

/* Every match[] parameter, as series selectors. */
struct matcher_sets {
    struct tsdb_matcher ***v;
    size_t *len;
    size_t n;
};

static void matcher_sets_free(struct matcher_sets *s)
{
    for (size_t i = 0; i < s->n; i++) {
        for (size_t k = 0; k < s->len[i]; k++)
            tsdb_matcher_destroy(s->v[i][k]);
        free(s->v[i]);
    }
    free(s->v);
    free(s->len);
    memset(s, 0, sizeof(*s));
}

/* 0, or -EINVAL with Prometheus' message in m, or -ENOMEM. */
static int matcher_sets_parse(const struct agent_params *p, struct matcher_sets *out,
                              struct cn_buf *m)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += !strcmp(p->v[i].name, "match[]");
    if (!n)
        return 0;
    out->v = cn_calloc(n, sizeof(*out->v));
    out->len = cn_calloc(n, sizeof(*out->len));
    if (!out->v || !out->len)
        return -ENOMEM;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->v[i].name, "match[]"))
            continue;
        struct promql_error err = {0};
        int rc = promql_parse_selector(p->v[i].value, &out->v[out->n], &out->len[out->n], &err);
        if (rc) {
            if (rc == -EINVAL)
                cn_buf_puts(m, err.msg);
            return rc;
        }
        out->n++;
    }
    for (size_t i = 0; i < out->n; i++) {
        bool nonempty = false;
        for (size_t k = 0; k < out->len[i] && !nonempty; k++)
            nonempty = !tsdb_matcher_matches(out->v[i][k], "");
        if (!nonempty) {
            cn_buf_puts(m, "match[] must contain at least one non-empty matcher");
            return -EINVAL;
        }
    }
    return 0;
}

/* Parses match[] for labels and label values; false after replying. */
static bool matchers_param(const struct agent_params *p, struct matcher_sets *ms,
                           struct agent_api_reply *r)
{
    struct cn_buf m;
    cn_buf_init(&m);
    int rc = matcher_sets_parse(p, ms, &m);
    if (!rc) {
        cn_buf_free(&m);
        return true;
    }
    matcher_sets_free(ms);
    if (rc == -ENOMEM) {
        cn_buf_free(&m);
        reply_errno(r, rc);
    } else {
        reply_error_buf(r, PROMQL_ERR_BAD_DATA, &m);
    }
    return false;
}

static void reply_engine_error(struct agent_api_reply *r, int rc, const struct promql_error *err,
                               const char *wrap)
{
    if (err->kind == PROMQL_ERR_NONE) {
        reply_errno(r, rc);
        return;
    }
    struct cn_buf m;
    cn_buf_init(&m);
    if (wrap)
        cn_buf_printf(&m, "invalid parameter \"%s\": ", wrap);
    cn_buf_puts(&m, err->msg);
    reply_error_buf(r, err->kind, &m);
}

/* ---- /api/v1/query and /api/v1/query_range ----------------------------------------------------
 */

static void h_query(struct agent_api *a, const struct agent_params *p, struct agent_api_reply *r)
{
    int64_t t, timeout;
    if (!time_param(p, "time", false, cn_now_ms(), r, &t) || !timeout_param(p, r, &timeout))
        return;
    const char *qs = agent_params_get(p, "query");
    struct promql_expr *expr = NULL;
    struct promql_error err = {0};
    int rc = promql_parse(qs ? qs : "", &expr, &err);
    if (rc) {
        reply_engine_error(r, rc, &err, "query");
        return;
    }
    struct promql_result res = {0};
    rc = run_query(a, expr, t, t, 0, timeout, &res, &err);
    if (rc) {
        reply_engine_error(r, rc, &err, NULL);
    } else {
        reply_begin(r);
        agent_json_result(&r->body, &res);
        reply_end(r);
    }
    promql_result_free(&res);
    promql_expr_free(expr);
}

static void h_query_range(struct agent_api *a, const struct agent_params *p,
                          struct agent_api_reply *r)
{
    int64_t start, end, step, timeout;
    if (!time_param(p, "start", true, 0, r, &start) || !time_param(p, "end", true, 0, r, &end))
        return;
    if (end < start) {
        reply_error(r, PROMQL_ERR_BAD_DATA,
                    "invalid parameter \"end\": end timestamp must not be before start time");
        return;
    }
    const char *sv = agent_params_get(p, "step");
    if (!duration_param("step", sv ? sv : "", r, &step))
        return;
    if (step <= 0) {
        reply_error(r, PROMQL_ERR_BAD_DATA,
                    "invalid parameter \"step\": zero or negative query resolution step widths "
                    "are not accepted. Try a positive integer");
        return;
    }
    /* As Go computes end.Sub(start) / step: nanoseconds, saturating. */
    __int128 span = ((__int128)end - start) * 1000000;
    if (span > INT64_MAX)
        span = INT64_MAX;
    if (span / step > MAX_POINTS) {
        reply_error(r, PROMQL_ERR_BAD_DATA,
                    "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing "
                    "the query resolution (?step=XX)");
        return;
    }
    if (!timeout_param(p, r, &timeout))
        return;
    const char *qs = agent_params_get(p, "query");
    struct promql_expr *expr = NULL;
    struct promql_error err = {0};
    int rc = promql_parse(qs ? qs : "", &expr, &err);
    if (rc) {
        reply_engine_error(r, rc, &err, NULL);
        return;
    }
    int64_t step_ms = step / 1000000 > 0 ? step / 1000000 : 1;
    struct promql_result res = {0};
    rc = run_query(a, expr, start, end, step_ms, timeout, &res, &err);
    if (rc) {
        reply_engine_error(r, rc, &err, NULL);
    } else {
        reply_begin(r);
        agent_json_result(&r->body, &res);
        reply_end(r);
    }
    promql_result_free(&res);
    promql_expr_free(expr);
}

/* ---- /api/v1/series, /api/v1/labels, /api/v1/label/<name>/values --------------------------- */

/* Label sets collected for /api/v1/series, each one allocation (the
 * label array, then its strings). */
struct label_sets {
    struct tsdb_labels *v;
    size_t n, cap;
};

static void label_sets_free(struct label_sets *s)
{
    for (size_t i = 0; i < s->n; i++)
        free((void *)s->v[i].v);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static int label_sets_add(struct label_sets *s, const struct tsdb_labels *ls)
{
    size_t bytes = ls->n * sizeof(struct tsdb_label);
    for (size_t i = 0; i < ls->n; i++)
        bytes += strlen(ls->v[i].name) + strlen(ls->v[i].value) + 2;
    if (cn_array_grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v), 64))
        return -ENOMEM;
    struct tsdb_label *l = cn_malloc(bytes ? bytes : 1);
    if (!l)
        return -ENOMEM;
    char *str = (char *)(l + ls->n);
    for (size_t i = 0; i < ls->n; i++) {
        size_t nn = strlen(ls->v[i].name) + 1, vn = strlen(ls->v[i].value) + 1;
        l[i].name = memcpy(str, ls->v[i].name, nn);
        str += nn;
        l[i].value = memcpy(str, ls->v[i].value, vn);
        str += vn;
    }
    s->v[s->n++] = (struct tsdb_labels){l, ls->n};
    return 0;
}

static int cmp_label_sets(const void *a, const void *b)
{
    return tsdb_labels_cmp(a, b);
}

/* Sorts and drops repeated sets. */
static void label_sets_finish(struct label_sets *s)
{
    if (!s->n)
        return;
    qsort(s->v, s->n, sizeof(*s->v), cmp_label_sets);
    size_t w = 1;
    for (size_t i = 1; i < s->n; i++) {
        if (tsdb_labels_cmp(&s->v[i], &s->v[w - 1]) == 0)
            free((void *)s->v[i].v);
        else
            s->v[w++] = s->v[i];
    }
    s->n = w;
}

/* The series of a block matching ms with a chunk in [mint, maxt], from its
 * index alone. */
static int block_series(const struct tsdb_block *b, struct tsdb_matcher *const *ms, size_t nms,
                        int64_t mint, int64_t maxt, struct label_sets *out)
{
    const struct tsdb_block_meta *meta = tsdb_block_meta(b);
    if (maxt < meta->min_time || mint >= meta->max_time)
        return 0;
    uint32_t *refs = NULL;
    size_t n = 0;
    int rc = tsdb_block_select(b, (const struct tsdb_matcher *const *)ms, nms, &refs, &n);
    struct tsdb_index_series is = {0};
    for (size_t i = 0; !rc && i < n; i++) {
        rc = tsdb_index_series(tsdb_block_index(b), refs[i], &is);
        bool in_range = false;
        for (size_t k = 0; !rc && k < is.nchunks && !in_range; k++)
            in_range = is.chunks[k].mint <= maxt && is.chunks[k].maxt >= mint;
        if (!rc && in_range) {
            struct tsdb_labels ls = {is.labels, is.nlabels};
            rc = label_sets_add(out, &ls);
        }
    }
    tsdb_index_series_free(&is);
    free(refs);
    return rc;
}

/*
 * The series matching ms with data in [mint, maxt] over the sources:
 * blocks (recognised by their source operations) through their index,
 * any other source (the head) by selecting its samples in range.
 */
static int select_series(const struct tsdb_source *src, size_t nsrc, struct tsdb_matcher *const *ms,
                         size_t nms, int64_t mint, int64_t maxt, struct label_sets *out)
{
    const struct tsdb_source_ops *block_ops = tsdb_block_source(NULL).ops;
    int rc = 0;
    for (size_t i = 0; i < nsrc && !rc; i++) {
        if (src[i].ops == block_ops) {
            rc = block_series(src[i].ctx, ms, nms, mint, maxt, out);
            continue;
        }
        struct tsdb_series_set set = {0};
        rc = src[i].ops->select(src[i].ctx, (const struct tsdb_matcher *const *)ms, nms, mint, maxt,
                                &set);
        for (size_t k = 0; !rc && k < set.n; k++)
            rc = label_sets_add(out, &set.v[k].labels);
        tsdb_series_set_free(&set);
    }
    return rc;
}

static void h_series(struct agent_api *a, const struct agent_params *p, struct agent_api_reply *r)
{
    if (p->err[0]) {
        struct cn_buf m;
        cn_buf_init(&m);
        cn_buf_printf(&m, "error parsing form values: %s", p->err);
        reply_error_buf(r, PROMQL_ERR_BAD_DATA, &m);
        return;
    }
    if (!agent_params_get(p, "match[]")) {
        reply_error(r, PROMQL_ERR_BAD_DATA, "no match[] parameter provided");
        return;
    }
    int64_t start, end;
    if (!time_param(p, "start", false, AGENT_API_MIN_TIME, r, &start) ||
        !time_param(p, "end", false, AGENT_API_MAX_TIME, r, &end))
        return;
    struct matcher_sets ms = {0};
    struct cn_buf m;
    cn_buf_init(&m);
    int rc = matcher_sets_parse(p, &ms, &m);
    if (rc) {
        matcher_sets_free(&ms);
        if (rc == -ENOMEM) {
            cn_buf_free(&m);
            reply_errno(r, rc);
            return;
        }
        struct cn_buf w;
        cn_buf_init(&w);
        cn_buf_printf(&w, "invalid parameter \"match[]\": %s", cn_buf_cstr(&m));
        cn_buf_free(&m);
        reply_error_buf(r, PROMQL_ERR_BAD_DATA, &w);
        return;
    }
    cn_buf_free(&m);
    struct tsdb_db_querier *q = NULL;
    struct label_sets sets = {0};
    rc = tsdb_db_querier_open(agent_store_db(a->store), start, end, &q);
    size_t nsrc = 0;
    const struct tsdb_source *src = rc ? NULL : tsdb_db_querier_sources(q, &nsrc);
    for (size_t i = 0; !rc && i < ms.n; i++)
        rc = select_series(src, nsrc, ms.v[i], ms.len[i], start, end, &sets);
    tsdb_db_querier_close(q);
    matcher_sets_free(&ms);
    if (rc) {
        label_sets_free(&sets);
        reply_errno(r, rc);
        return;
    }
    label_sets_finish(&sets);
    reply_begin(r);
    cn_buf_putc(&r->body, '[');
    for (size_t i = 0; i < sets.n; i++) {
        if (i)
            cn_buf_putc(&r->body, ',');
        json_labels(&r->body, &sets.v[i]);
    }
    cn_buf_putc(&r->body, ']');
    reply_end(r);
    label_sets_free(&sets);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends a sorted, unique JSON array of the strings (sorting them). */
static void json_string_set(struct cn_buf *b, char **v, size_t n)
{
    if (n)
        qsort(v, n, sizeof(*v), cmp_str);
    cn_buf_putc(b, '[');
    for (size_t i = 0, w = 0; i < n; i++) {
        if (i && !strcmp(v[i], v[i - 1]))
            continue;
        if (w++)
            cn_buf_putc(b, ',');
        agent_json_string(b, v[i]);
    }
    cn_buf_putc(b, ']');
}

/* Label names (name NULL) or the values of label name, over every match[]
 * set or all series. */
static void label_strings(struct agent_api *a, const struct agent_params *p, const char *name,
                          struct agent_api_reply *r)
{
    int64_t start, end;
    if (!time_param(p, "start", false, AGENT_API_MIN_TIME, r, &start) ||
        !time_param(p, "end", false, AGENT_API_MAX_TIME, r, &end))
        return;
    struct matcher_sets ms = {0};
    if (!matchers_param(p, &ms, r))
        return;
    struct tsdb_db_querier *q = NULL;
    struct tsdb_strings all = {0};
    int rc = tsdb_db_querier_open(agent_store_db(a->store), start, end, &q);
    size_t nsrc = 0;
    const struct tsdb_source *src = rc ? NULL : tsdb_db_querier_sources(q, &nsrc);
    for (size_t i = 0; !rc && i < (ms.n ? ms.n : 1); i++) {
        const struct tsdb_matcher *const *m =
            ms.n ? (const struct tsdb_matcher *const *)ms.v[i] : NULL;
        size_t nm = ms.n ? ms.len[i] : 0;
        struct tsdb_strings one = {0};
        rc = name ? tsdb_query_label_values(src, nsrc, name, m, nm, &one)
                  : tsdb_query_label_names(src, nsrc, m, nm, &one);
        for (size_t k = 0; !rc && k < one.n; k++) {
            rc = cn_array_grow((void **)&all.v, &all.cap, all.n + 1, sizeof(*all.v), 64);
            if (!rc) {
                all.v[all.n++] = one.v[k];
                one.v[k] = NULL;
            }
        }
        tsdb_strings_free(&one);
    }
    tsdb_db_querier_close(q);
    matcher_sets_free(&ms);
    if (rc) {
        tsdb_strings_free(&all);
        reply_errno(r, rc);
        return;
    }
    reply_begin(r);
    json_string_set(&r->body, all.v, all.n);
    reply_end(r);
    tsdb_strings_free(&all);
}

static void h_labels(struct agent_api *a, const struct agent_params *p, struct agent_api_reply *r)
{
    label_strings(a, p, NULL, r);
}

static void h_label_values(struct agent_api *a, const char *name, const struct agent_params *p,
                           struct agent_api_reply *r)
{
    if (!exp_valid_label_name(name)) {
        struct cn_buf m;
        cn_buf_init(&m);
        cn_buf_puts(&m, "invalid label name: ");
        go_quote(&m, name);
        reply_error_buf(r, PROMQL_ERR_BAD_DATA, &m);
        return;
    }
    label_strings(a, p, name, r);
}

/* ---- /api/v1/metadata ------------------------------------------------------------------------ */

static const char *metadata_type(enum exp_type t)
{
    switch (t) {
    case EXP_COUNTER: return "counter";
    case EXP_GAUGE: return "gauge";
    case EXP_SUMMARY: return "summary";
    case EXP_HISTOGRAM: return "histogram";
    default: return "unknown"; /* Prometheus' word for untyped */
    }
}

/* Go's strconv.Atoi: an optional sign and decimal digits. */
static bool parse_atoi(const char *s, long *out)
{
    const char *p = s + (*s == '+' || *s == '-');
    if (!*p)
        return false;
    for (const char *c = p; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (errno)
        return false;
    *out = v;
    return true;
}

static void h_metadata(struct agent_api *a, const struct agent_params *p, struct agent_api_reply *r)
{
    long limit = -1;
    const char *ls = agent_params_get(p, "limit");
    if (ls && *ls && !parse_atoi(ls, &limit)) {
        reply_error(r, PROMQL_ERR_BAD_DATA, "limit must be a number");
        return;
    }
    const char *metric = agent_params_get(p, "metric");
    if (metric && !*metric)
        metric = NULL;
    pthread_mutex_lock(&a->source->lock);
    struct exp_snapshot *snap = a->source->sched ? agent_sched_snapshot(a->source->sched) : NULL;
    pthread_mutex_unlock(&a->source->lock);
    size_t nf = 0;
    struct exp_family *const *f = snap ? exp_snapshot_families(snap, &nf) : NULL;
    reply_begin(r);
    cn_buf_putc(&r->body, '{');
    long names = 0;
    /* Families are sorted by name; one with the same name as the one before
     * continues its list, and an identical entry is listed once. */
    for (size_t i = 0; i < nf; i++) {
        bool same = i && !strcmp(f[i]->name, f[i - 1]->name);
        if (metric && strcmp(f[i]->name, metric))
            continue;
        if (!same && limit >= 0 && names >= limit)
            break;
        if (same) {
            bool dup = false;
            for (size_t k = i; k-- > 0 && !strcmp(f[k]->name, f[i]->name) && !dup;)
                dup = f[k]->type == f[i]->type && !strcmp(f[k]->help, f[i]->help);
            if (dup)
                continue;
            cn_buf_putc(&r->body, ',');
        } else {
            if (names++)
                cn_buf_puts(&r->body, "],");
            agent_json_string(&r->body, f[i]->name);
            cn_buf_puts(&r->body, ":[");
        }
        cn_buf_puts(&r->body, "{\"type\":\"");
        cn_buf_puts(&r->body, metadata_type(f[i]->type));
        cn_buf_puts(&r->body, "\",\"help\":");
        agent_json_string(&r->body, f[i]->help ? f[i]->help : "");
        cn_buf_puts(&r->body, ",\"unit\":\"\"}");
    }
    if (names)
        cn_buf_putc(&r->body, ']');
    cn_buf_putc(&r->body, '}');
    reply_end(r);
    exp_snapshot_unref(snap);
}

/* ---- /api/v1/status/... ------------------------------------------------------------------------
 */

static void h_buildinfo(struct agent_api *a, const struct agent_params *p,
                        struct agent_api_reply *r)
{
    (void)a;
    (void)p;
    reply_begin(r);
    cn_buf_puts(&r->body, "{\"version\":");
    agent_json_string(&r->body, CAIRN_VERSION);
    cn_buf_puts(&r->body, ",\"revision\":");
    agent_json_string(&r->body, CAIRN_REVISION);
    cn_buf_puts(&r->body, ",\"branch\":");
    agent_json_string(&r->body, CAIRN_BRANCH);
    cn_buf_puts(&r->body, ",\"buildUser\":");
    agent_json_string(&r->body, CAIRN_BUILD_USER);
    cn_buf_puts(&r->body, ",\"buildDate\":");
    agent_json_string(&r->body, CAIRN_BUILD_DATE);
    cn_buf_puts(&r->body, ",\"goVersion\":");
    agent_json_string(&r->body, COMPILER_VERSION);
    cn_buf_putc(&r->body, '}');
    reply_end(r);
}

/* A time as Go's JSON writes a UTC time.Time (RFC 3339, trailing zeros of
 * the nanoseconds dropped). */
static void json_time(struct cn_buf *b, int64_t sec, long nsec)
{
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char frac[16] = "";
    if (nsec) {
        int n = snprintf(frac, sizeof(frac), ".%09ld", nsec);
        while (n > 1 && frac[n - 1] == '0')
            frac[--n] = '\0';
    }
    cn_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d%sZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* Prometheus' model.Duration.String(): "15d", "2w", "1h30m", "0s". */
static void go_model_duration(struct cn_buf *b, int64_t ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
        bool exact; /* only when it divides evenly */
    } units[] = {{"y", 365LL * 86400000, true},
                 {"w", 7LL * 86400000, true},
                 {"d", 86400000, false},
                 {"h", 3600000, false},
                 {"m", 60000, false},
                 {"s", 1000, false},
                 {"ms", 1, false}};
    if (ms == 0) {
        cn_buf_puts(b, "0s");
        return;
    }
    if (ms < 0) {
        cn_buf_putc(b, '-');
        ms = -ms;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (units[i].exact && ms % units[i].ms)
            continue;
        if (ms / units[i].ms > 0) {
            cn_buf_printf(b, "%" PRId64 "%s", ms / units[i].ms, units[i].unit);
            ms %= units[i].ms;
        }
    }
}

/* alecthomas/units' Base2Bytes.String(): "512MiB", "1GiB512MiB". */
static void go_base2_bytes(struct cn_buf *b, uint64_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    char parts[7][32];
    int np = 0;
    for (int i = 0; i < 7; i++) {
        if (n % 1024 || (i == 0 && n == 0))
            snprintf(parts[np++], sizeof(parts[0]), "%" PRIu64 "%s", n % 1024, units[i]);
        n /= 1024;
        if (!n)
            break;
    }
    while (np-- > 0)
        cn_buf_puts(b, parts[np]);
}

/* Threads of this process, from /proc/self/status (0 if unreadable). */
static long thread_count(void)
{
    char buf[4096];
    if (cn_read_file("/proc/self/status", buf, sizeof(buf)) < 0)
        return 0;
    const char *t = strstr(buf, "\nThreads:");
    return t ? strtol(t + 9, NULL, 10) : 0;
}

static void h_runtimeinfo(struct agent_api *a, const struct agent_params *p,
                          struct agent_api_reply *r)
{
    (void)p;
    pthread_mutex_lock(&a->source->lock);
    bool config_ok = a->source->config_ok;
    int64_t config_ms = a->source->config_ms;
    pthread_mutex_unlock(&a->source->lock);
    struct tsdb_db_stats st;
    tsdb_db_stats(agent_store_db(a->store), &st);
    cpu_set_t cpus;
    int ncpu = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus)
                                                              : (int)sysconf(_SC_NPROCESSORS_ONLN);
    const char *gogc = getenv("GOGC"), *godebug = getenv("GODEBUG");

    reply_begin(r);
    struct cn_buf *b = &r->body;
    cn_buf_puts(b, "{\"startTime\":");
    json_time(b, a->started.tv_sec, a->started.tv_nsec);
    cn_buf_puts(b, ",\"CWD\":");
    agent_json_string(b, a->cwd);
    cn_buf_printf(b,
                  ",\"reloadConfigSuccess\":%s,\"lastConfigTime\":", config_ok ? "true" : "false");
    json_time(b, config_ms / 1000, 0);
    cn_buf_printf(b, ",\"corruptionCount\":%" PRIu64 ",\"goroutineCount\":%ld,\"GOMAXPROCS\":%d",
                  st.wal_corruptions, thread_count(), ncpu);
    cn_buf_puts(b, ",\"GOGC\":");
    agent_json_string(b, gogc ? gogc : "");
    cn_buf_puts(b, ",\"GODEBUG\":");
    agent_json_string(b, godebug ? godebug : "");
    cn_buf_puts(b, ",\"storageRetention\":\"");
    if (a->retention_ms)
        go_model_duration(b, a->retention_ms);
    if (a->retention_ms && a->retention_bytes)
        cn_buf_puts(b, " or ");
    if (a->retention_bytes)
        go_base2_bytes(b, a->retention_bytes);
    cn_buf_puts(b, "\"}");
    reply_end(r);
}

/* Counts for /api/v1/status/tsdb: a table of "name=value" pairs and the
 * number of head series with each. */
struct pair_count {
    char *key; /* owned, "name=value" */
    uint64_t hash, count, bytes;
};
struct pair_table {
    struct pair_count *v;
    size_t cap, n;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void pair_table_free(struct pair_table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->v[i].key);
    free(t->v);
    memset(t, 0, sizeof(*t));
}

/* The entry for key[0..n), created with count 0; NULL on ENOMEM. */
static struct pair_count *pair_table_get(struct pair_table *t, const char *key, size_t n)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        struct pair_count *v = cn_calloc(cap, sizeof(*v));
        if (!v)
            return NULL;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->v[i].key)
                continue;
            size_t j = t->v[i].hash & (cap - 1);
            while (v[j].key)
                j = (j + 1) & (cap - 1);
            v[j] = t->v[i];
        }
        free(t->v);
        t->v = v;
        t->cap = cap;
    }
    uint64_t h = fnv1a(key, n);
    size_t j = h & (t->cap - 1);
    for (; t->v[j].key; j = (j + 1) & (t->cap - 1))
        if (t->v[j].hash == h && !strncmp(t->v[j].key, key, n) && !t->v[j].key[n])
            return &t->v[j];
    char *k = cn_strndup(key, n);
    if (!k)
        return NULL;
    t->v[j] = (struct pair_count){.key = k, .hash = h};
    t->n++;
    return &t->v[j];
}

struct count_ctx {
    struct pair_table pairs;
    struct cn_buf key;
};

static int count_series(void *ctx, uint64_t ref, const struct tsdb_labels *ls)
{
    (void)ref;
    struct count_ctx *c = ctx;
    for (size_t i = 0; i < ls->n; i++) {
        cn_buf_reset(&c->key);
        cn_buf_puts(&c->key, ls->v[i].name);
        cn_buf_putc(&c->key, '=');
        cn_buf_puts(&c->key, ls->v[i].value);
        struct pair_count *e =
            c->key.err ? NULL : pair_table_get(&c->pairs, c->key.data, c->key.len);
        if (!e)
            return -ENOMEM;
        e->count++;
    }
    return 0;
}

struct stat_row {
    const char *name;
    size_t nlen; /* bytes of name to print */
    uint64_t value;
};

static int cmp_stat_row(const void *a, const void *b)
{
    const struct stat_row *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? 1 : -1;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->nlen > y->nlen) - (x->nlen < y->nlen);
}

/* "key":[{"name":..,"value":..}, ...] of the TSDB_STATUS_TOP largest rows. */
static void json_top(struct cn_buf *b, const char *key, struct stat_row *rows, size_t n)
{
    if (n)
        qsort(rows, n, sizeof(*rows), cmp_stat_row);
    cn_buf_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < n && i < TSDB_STATUS_TOP; i++) {
        char *name = cn_strndup(rows[i].name, rows[i].nlen);
        cn_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        agent_json_string(b, name ? name : "");
        cn_buf_printf(b, ",\"value\":%" PRIu64 "}", rows[i].value);
        free(name);
    }
    cn_buf_putc(b, ']');
}

static void h_tsdb(struct agent_api *a, const struct agent_params *p, struct agent_api_reply *r)
{
    (void)p;
    struct tsdb_db *db = agent_store_db(a->store);
    struct tsdb_head_stats hs;
    tsdb_head_stats(tsdb_db_head(db), &hs);
    struct count_ctx c = {0};
    cn_buf_init(&c.key);
    int rc = tsdb_head_foreach(tsdb_db_head(db), count_series, &c);
    cn_buf_free(&c.key);
    /* Per label name: its distinct values and their bytes, from the pairs. */
    struct pair_table names = {0};
    struct stat_row *metrics = NULL, *pairs = NULL, *values = NULL, *bytes = NULL;
    size_t nmetrics = 0, npairs = 0;
    if (!rc && c.pairs.n) {
        metrics = cn_calloc(c.pairs.n, sizeof(*metrics));
        pairs = cn_calloc(c.pairs.n, sizeof(*pairs));
        rc = metrics && pairs ? 0 : -ENOMEM;
    }
    for (size_t i = 0; !rc && i < c.pairs.cap; i++) {
        const struct pair_count *e = &c.pairs.v[i];
        if (!e->key)
            continue;
        const char *eq = strchr(e->key, '=');
        size_t nlen = (size_t)(eq - e->key);
        pairs[npairs++] = (struct stat_row){e->key, strlen(e->key), e->count};
        if (nlen == 8 && !strncmp(e->key, "__name__", 8))
            metrics[nmetrics++] = (struct stat_row){eq + 1, strlen(eq + 1), e->count};
        struct pair_count *n = pair_table_get(&names, e->key, nlen);
        if (!n) {
            rc = -ENOMEM;
            break;
        }
        n->count++;
        n->bytes += strlen(eq + 1);
    }
    size_t nnames = 0;
    if (!rc && names.n) {
        values = cn_calloc(names.n, sizeof(*values));
        bytes = cn_calloc(names.n, sizeof(*bytes));
        rc = values && bytes ? 0 : -ENOMEM;
    }
    for (size_t i = 0; !rc && i < names.cap; i++) {
        const struct pair_count *e = &names.v[i];
        if (!e->key)
            continue;
        values[nnames] = (struct stat_row){e->key, strlen(e->key), e->count};
        bytes[nnames++] = (struct stat_row){e->key, strlen(e->key), e->bytes};
    }
    if (rc) {
        reply_errno(r, rc);
    } else {
        reply_begin(r);
        struct cn_buf *b = &r->body;
        cn_buf_printf(b,
                      "{\"headStats\":{\"numSeries\":%" PRIu64 ",\"numLabelPairs\":%zu,"
                      "\"chunkCount\":%" PRIu64 ",\"minTime\":%" PRId64 ",\"maxTime\":%" PRId64 "}",
                      hs.series, c.pairs.n, hs.chunks, hs.mint, hs.maxt);
        json_top(b, "seriesCountByMetricName", metrics, nmetrics);
        json_top(b, "labelValueCountByLabelName", values, nnames);
        json_top(b, "memoryInBytesByLabelName", bytes, nnames);
        json_top(b, "seriesCountByLabelValuePair", pairs, npairs);
        cn_buf_putc(b, '}');
        reply_end(r);
    }
    free(metrics);
    free(pairs);
    free(values);
    free(bytes);
    pair_table_free(&names);
    pair_table_free(&c.pairs);
}

/* ---- routing ----------------------------------------------------------------------------------
 */

/* The event store's query (events.c). */
static void h_events(struct agent_api *a, const struct agent_params *p, struct agent_api_reply *r)
{
    agent_events_api(a->events, p, r);
}

typedef void (*handler_fn)(struct agent_api *a, const struct agent_params *p,
                           struct agent_api_reply *r);

static const struct route {
    const char *path;
    bool post; /* POST as well as GET */
    handler_fn fn;
} routes[] = {
    {"/query", true, h_query},
    {"/query_range", true, h_query_range},
    {"/series", true, h_series},
    {"/labels", true, h_labels},
    {"/metadata", false, h_metadata},
    {"/status/buildinfo", false, h_buildinfo},
    {"/status/runtimeinfo", false, h_runtimeinfo},
    {"/status/tsdb", false, h_tsdb},
    {"/events", false, h_events},
};

static void reply_text(struct agent_api_reply *r, unsigned code, const char *text)
{
    cn_buf_reset(&r->body);
    r->code = code;
    r->content_type = "text/plain; charset=utf-8";
    cn_buf_puts(&r->body, text);
}

void agent_api_serve(struct agent_api *a, const char *method, const char *path,
                     const struct agent_params *params, struct agent_api_reply *reply)
{
    reply->allow = NULL;
    if (!strcmp(method, "OPTIONS")) {
        /* CORS preflight, for any path, as Prometheus answers it. */
        cn_buf_reset(&reply->body);
        reply->code = 204;
        reply->content_type = NULL;
        return;
    }
    bool post = !strcmp(method, "POST"), get = !strcmp(method, "GET");
    const struct route *route = NULL;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (!strcmp(path, routes[i].path))
            route = &routes[i];
    static const char lv_prefix[] = "/label/", lv_suffix[] = "/values";
    size_t plen = strlen(path), pre = sizeof(lv_prefix) - 1, suf = sizeof(lv_suffix) - 1;
    bool label_values = !route && plen > pre + suf && !strncmp(path, lv_prefix, pre) &&
                        !strcmp(path + plen - suf, lv_suffix) &&
                        !memchr(path + pre, '/', plen - pre - suf);
    if (!route && !label_values) {
        reply_text(reply, 404, "404 page not found\n");
        return;
    }
    bool post_ok = route && route->post;
    if (!get && !(post && post_ok)) {
        reply_text(reply, 405, "Method Not Allowed\n");
        reply->allow = post_ok ? "GET, POST, OPTIONS" : "GET, OPTIONS";
        return;
    }
    if (route) {
        route->fn(a, params, reply);
        return;
    }
    char *name = cn_strndup(path + pre, plen - pre - suf);
    if (!name) {
        reply_errno(reply, -ENOMEM);
        return;
    }
    h_label_values(a, name, params, reply);
    free(name);
}
