/*
 * promql_script_runner: runs Prometheus' PromQL test scripts (the
 * *.test files of promql/testdata of Prometheus 2.42, and our own) against
 * cairn's engine, with the semantics of Prometheus' promql/test.go.
 *
 *   promql_script_runner [--verbose] <dir or file.test>...
 *
 * A script is a sequence of commands, one or more lines each; lines are
 * trimmed, and a line starting with '#' counts as blank (so a comment ends
 * a block, as in test.go):
 *   load <interval>          then series lines `metric{l="v"} 1+2x10 _ stale`
 *                            (sample i at i*interval ms after the epoch)
 *   clear                    drops every series
 *   eval instant at <d> <expr>           then expected samples, one per line
 *   eval_ordered instant at <d> <expr>   (`{l="v"} 3`), or a bare number for a
 *   eval_fail instant at <d> <expr>      scalar; none: an empty result
 *
 * The script is parsed whole before it runs, as test.go does: a line the
 * language does not allow fails the file and none of its evals run. The
 * series notation is parsed here the way Prometheus' series-description
 * lexer and grammar take it, numbers as Go's strconv does (ParseInt with
 * base 0, then ParseFloat), durations as model.ParseDuration. An eval's
 * expression is parsed only when the eval runs: a parse error fails that
 * eval (test.go would fail the whole file), so one parser gap does not hide
 * the other evals of the file.
 *
 * Each eval is checked exactly as test.go checks it, which is more than
 * the instant query:
 *  - the instant query at t, compared with the expectation (every expected
 *    series present, none other, values within a relative 1e-6 as
 *    test.go's almostEqual, NaN equal to NaN, the order for eval_ordered);
 *  - the same expression as a range query from t-1m to t+1m every 1m: it
 *    must not fail, and (except for eval_ordered) its points at t must
 *    compare equal to the expectation too;
 *  - unless the expression calls a function whose result depends on the
 *    evaluation time (time(), timestamp(), hour(), predict_linear() ...),
 *    the expression with every selector and outermost subquery pinned with
 *    `@ t` evaluated, both ways, at -10t, 0, t/5, t and 10t (-1s, 0, 1s
 *    for t = 0): it must give the same result at every one of those times.
 *    test.go prints the pinned tree and parses it again; here the parsed
 *    tree is pinned in place, which is the same query.
 * eval_fail expects every instant query to fail (and then runs no range
 * query). The engine gets test.go's options: lookback 5m (the default),
 * at most 10,000 samples in memory, a 100s timeout.
 *
 * Storage is an in-memory head per file, replaced on `clear`; the engine
 * reads it through a queryable with one source. An eval passes when all
 * of its queries pass; a failure prints the file, line, expression, the
 * first difference and both results.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "promql/promql.h"
#include "tsdb/tsdb.h"

#define MINUTE_MS 60000
#define MAX_SCRIPT_BYTES (64u << 20)
#define MAX_DUMP_SAMPLES 12 /* samples of each result shown with a failure */

/* ---- numbers as Go's strconv reads them ---------------------------------------- */

static int lower(int c)
{
    return tolower((unsigned char)c);
}

/* strconv's underscoreOK: underscores only between digits (a base prefix
 * counts as a digit). */
static bool go_underscore_ok(const char *s)
{
    int saw = '^';
    bool hex = false;
    if (*s == '+' || *s == '-')
        s++;
    if (s[0] == '0' && (lower(s[1]) == 'b' || lower(s[1]) == 'o' || lower(s[1]) == 'x')) {
        hex = lower(s[1]) == 'x';
        saw = '0';
        s += 2;
    }
    for (; *s; s++) {
        if (isdigit((unsigned char)*s) || (hex && isxdigit((unsigned char)*s))) {
            saw = '0';
            continue;
        }
        if (*s == '_') {
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

/* strconv.ParseInt(s, 0, 64): sign, 0b/0o/0x/0 prefixes, underscores. */
static int go_parse_int(const char *s0, int64_t *out)
{
    const char *s = s0;
    bool neg = false;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!*s)
        return -EINVAL;
    unsigned base = 10;
    if (s[0] == '0') {
        size_t len = strlen(s);
        if (len >= 3 && lower(s[1]) == 'b')
            base = 2, s += 2;
        else if (len >= 3 && lower(s[1]) == 'o')
            base = 8, s += 2;
        else if (len >= 3 && lower(s[1]) == 'x')
            base = 16, s += 2;
        else
            base = 8, s += 1;
    }
    uint64_t n = 0;
    bool underscores = false, overflow = false;
    for (; *s; s++) {
        unsigned d;
        if (*s == '_') {
            underscores = true;
            continue;
        } else if (isdigit((unsigned char)*s)) {
            d = (unsigned)(*s - '0');
        } else if (lower(*s) >= 'a' && lower(*s) <= 'z') {
            d = (unsigned)(lower(*s) - 'a' + 10);
        } else {
            return -EINVAL;
        }
        if (d >= base)
            return -EINVAL;
        if (n > (UINT64_MAX - d) / base)
            overflow = true;
        else
            n = n * base + d;
    }
    if (underscores && !go_underscore_ok(s0))
        return -EINVAL;
    if (overflow || n > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
        return -ERANGE;
    *out = neg ? (int64_t)(0 - n) : (int64_t)n;
    return 0;
}

/* Length of the common prefix of s and word, ignoring case. */
static size_t prefix_len_nocase(const char *s, const char *word)
{
    size_t n = 0;
    while (s[n] && word[n] && lower(s[n]) == word[n])
        n++;
    return n;
}

/* strconv.ParseFloat(s, 64): Go's grammar (Inf/Infinity with a sign, NaN
 * without, hex floats only with a p exponent, underscores between digits);
 * overflow to infinity is an error, underflow is not. */
static int go_parse_float(const char *s0, double *out)
{
    const char *s = s0;
    size_t len = strlen(s);
    /* Specials, as strconv's special(). */
    {
        const char *p = s;
        int sign = 1;
        if (*p == '+' || *p == '-') {
            sign = *p == '-' ? -1 : 1;
            p++;
        }
        if (lower(*p) == 'i') {
            size_t n = prefix_len_nocase(p, "infinity");
            if (n > 3 && n < 8)
                n = 3;
            if ((n == 3 || n == 8) && (size_t)(p - s) + n == len) {
                *out = sign * INFINITY;
                return 0;
            }
            return -EINVAL;
        }
        if (p == s && lower(*p) == 'n') {
            if (prefix_len_nocase(p, "nan") == 3 && len == 3) {
                *out = NAN;
                return 0;
            }
            return -EINVAL;
        }
    }
    /* The syntax of readFloat, copying the number without underscores. */
    char *clean = cn_malloc(len + 1);
    if (!clean)
        return -ENOMEM;
    size_t n = 0, i = 0;
    bool hex = false, underscores = false, sawdot = false, sawdigits = false;
    if (s[i] == '+' || s[i] == '-')
        clean[n++] = s[i++];
    if (i + 2 < len && s[i] == '0' && lower(s[i + 1]) == 'x') {
        hex = true;
        clean[n++] = s[i++];
        clean[n++] = s[i++];
    }
    for (; i < len; i++) {
        char c = s[i];
        if (c == '_') {
            underscores = true;
            continue;
        }
        if (c == '.') {
            if (sawdot)
                break;
            sawdot = true;
        } else if (isdigit((unsigned char)c) || (hex && isxdigit((unsigned char)c))) {
            sawdigits = true;
        } else {
            break;
        }
        clean[n++] = c;
    }
    int rc = -EINVAL;
    if (!sawdigits)
        goto out;
    if (i < len && lower(s[i]) == (hex ? 'p' : 'e')) {
        clean[n++] = s[i++];
        if (i < len && (s[i] == '+' || s[i] == '-'))
            clean[n++] = s[i++];
        if (i >= len || !isdigit((unsigned char)s[i]))
            goto out;
        for (; i < len && (isdigit((unsigned char)s[i]) || s[i] == '_'); i++) {
            if (s[i] == '_')
                underscores = true;
            else
                clean[n++] = s[i];
        }
    } else if (hex) {
        goto out; /* a hex float needs its exponent */
    }
    if (i != len || (underscores && !go_underscore_ok(s0)))
        goto out;
    clean[n] = '\0';
    errno = 0;
    char *end;
    double v = strtod(clean, &end);
    if (*end != '\0')
        goto out;
    if (errno == ERANGE && isinf(v)) {
        rc = -ERANGE;
        goto out;
    }
    *out = v;
    rc = 0;
out:
    free(clean);
    return rc;
}

/* test.go's parseNumber and the series parser's number(): an integer in
 * any base Go allows, else a float. */
static int go_parse_number(const char *s, double *out)
{
    int64_t i;
    if (go_parse_int(s, &i) == 0) {
        *out = (double)i;
        return 0;
    }
    return go_parse_float(s, out);
}

/* A value as Go prints a float64 (%v): the shortest digits that read back
 * the same, in exponent form below 1e-4 and from 1e21. buf holds 32. */
static const char *fmt_num(char *buf, double v)
{
    if (tsdb_is_stale_nan(v))
        return "stale";
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(buf, 32, "%.*e", prec - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    snprintf(buf, 32, "%.*e", prec - 1, v);
    int exp = atoi(strchr(buf, 'e') + 1);
    if (exp >= -4 && exp < 21)
        snprintf(buf, 32, "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0, v);
    return buf;
}
#define FMT_NUM(v) fmt_num((char[32]){0}, (v))

/* test.go's almostEqual: relative error below 1e-6, NaN equals NaN, and
 * near zero an absolute error below 1e-6 of the smallest normal double. */
static bool almost_equal(double a, double b)
{
    const double epsilon = 0.000001;
    if (isnan(a) && isnan(b))
        return true;
    if (a == b)
        return true;
    double diff = fabs(a - b);
    if (a == 0 || b == 0 || diff < DBL_MIN)
        return diff < epsilon * DBL_MIN;
    return diff / (fabs(a) + fabs(b)) < epsilon;
}

/* ---- the script model ---------------------------------------------------------- */

struct seq_value {
    double v; /* 0 when omitted, as Go's zero SequenceValue */
    bool omitted;
};

/* One series line of a load, or one expected sample of an eval. Labels
 * (sorted by name) and values live in the script's arena. */
struct series_desc {
    struct tsdb_label *labels;
    size_t nlabels;
    struct seq_value *vals;
    size_t nvals;
    int pos; /* evals: the line's position in the block, 1-based */
};

enum cmd_kind { CMD_CLEAR, CMD_LOAD, CMD_EVAL };

struct cmd {
    enum cmd_kind kind;
    int line; /* 1-based */
    /* CMD_LOAD */
    int64_t gap_ms;
    /* CMD_LOAD: the series; CMD_EVAL: the expected samples. A label set
     * given twice keeps the later line, as test.go's maps do. Owned. */
    struct series_desc *series;
    size_t nseries, cap;
    /* CMD_EVAL */
    const char *expr; /* in the arena */
    const char *at;   /* the time as written (arena) */
    int64_t t_ms;
    bool fail, ordered;
    bool has_scalar; /* a bare number was given */
    double scalar;
};

struct script {
    struct cn_arena *arena;
    struct cmd *cmds;
    size_t n, cap;
    int err_line; /* where parsing failed, 1-based */
    char err[512];
};

static void script_free(struct script *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        free(sc->cmds[i].series);
    free(sc->cmds);
    cn_arena_destroy(sc->arena);
    memset(sc, 0, sizeof(*sc));
}

static int script_errf(struct script *sc, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int script_errf(struct script *sc, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sc->err, sizeof(sc->err), fmt, ap);
    va_end(ap);
    sc->err_line = line;
    return -EINVAL;
}

static bool labels_equal(const struct tsdb_label *a, size_t na, const struct tsdb_labels *b)
{
    if (na != b->n)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].name, b->v[i].name) || strcmp(a[i].value, b->v[i].value))
            return false;
    return true;
}

/* Adds d to c's series, replacing an earlier one with the same labels. */
static int cmd_add_series(struct cmd *c, const struct series_desc *d)
{
    struct tsdb_labels ls = {d->labels, d->nlabels};
    for (size_t i = 0; i < c->nseries; i++)
        if (labels_equal(c->series[i].labels, c->series[i].nlabels, &ls)) {
            c->series[i] = *d;
            return 0;
        }
    int rc = cn_array_grow((void **)&c->series, &c->cap, c->nseries + 1, sizeof(*c->series), 8);
    if (rc)
        return rc;
    c->series[c->nseries++] = *d;
    return 0;
}

/* ---- series descriptions --------------------------------------------------------- */

/*
 * `metric{name="value", ...} 1 2+3x4 _x2 stale`, as Prometheus' lexer (in
 * its series-description mode) and grammar read it: the metric name may be
 * any identifier or most keywords; label values are Go string literals;
 * values are separated by whitespace; `a+bxn` and `a-bxn` expand to n+1
 * values a, a+b, ... (by repeated addition), `axn` to n+1 copies, `_xn` to
 * n omitted values.
 */
struct sd_parser {
    const char *s;
    size_t i;
    struct cn_arena *arena;
    char err[256];
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
static bool is_alpha(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_alnum(char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}

static int sd_errf(struct sd_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sd_errf(struct sd_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(p->err, sizeof(p->err), "column %zu: ", p->i + 1);
    if (n < 0 || (size_t)n >= sizeof(p->err))
        n = 0;
    vsnprintf(p->err + n, sizeof(p->err) - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* PromQL's keywords, and whether the grammar takes each as a metric name. */
static const struct {
    const char *word;
    bool metric_ok;
} sd_keywords[] = {
    {"and", true},       {"or", true},          {"unless", true},       {"atan2", false},
    {"sum", true},       {"avg", true},         {"count", true},        {"min", true},
    {"max", true},       {"group", true},       {"stddev", true},       {"stdvar", true},
    {"topk", true},      {"bottomk", true},     {"count_values", true}, {"quantile", true},
    {"offset", true},    {"by", true},          {"without", true},      {"on", false},
    {"ignoring", false}, {"group_left", false}, {"group_right", false}, {"bool", false},
    {"start", true},     {"end", true},         {"inf", false},         {"nan", false},
};

/* The keyword index of the word s[0..n), or -1. */
static int sd_keyword(const char *s, size_t n)
{
    for (size_t k = 0; k < sizeof(sd_keywords) / sizeof(sd_keywords[0]); k++) {
        const char *w = sd_keywords[k].word;
        if (strlen(w) != n)
            continue;
        size_t j = 0;
        while (j < n && lower(s[j]) == w[j])
            j++;
        if (j == n)
            return (int)k;
    }
    return -1;
}

static void put_utf8(struct cn_buf *b, uint32_t r)
{
    if (r < 0x80) {
        cn_buf_putc(b, (char)r);
    } else if (r < 0x800) {
        cn_buf_putc(b, (char)(0xc0 | (r >> 6)));
        cn_buf_putc(b, (char)(0x80 | (r & 0x3f)));
    } else if (r < 0x10000) {
        cn_buf_putc(b, (char)(0xe0 | (r >> 12)));
        cn_buf_putc(b, (char)(0x80 | ((r >> 6) & 0x3f)));
        cn_buf_putc(b, (char)(0x80 | (r & 0x3f)));
    } else {
        cn_buf_putc(b, (char)(0xf0 | (r >> 18)));
        cn_buf_putc(b, (char)(0x80 | ((r >> 12) & 0x3f)));
        cn_buf_putc(b, (char)(0x80 | ((r >> 6) & 0x3f)));
        cn_buf_putc(b, (char)(0x80 | (r & 0x3f)));
    }
}

/* A string literal at p->i ("...", '...' with Go's escapes, or `raw`),
 * unquoted into the arena. A NUL byte in the value cannot be a C label
 * and is refused. */
static int sd_string(struct sd_parser *p, const char **out)
{
    const char *s = p->s;
    char q = s[p->i++];
    struct cn_buf b;
    cn_buf_init(&b);
    int rc = -EINVAL;
    for (;;) {
        char c = s[p->i];
        if (c == '\0' || (c == '\n' && q != '`')) {
            rc = sd_errf(p, "unterminated quoted string");
            goto out;
        }
        p->i++;
        if (c == q)
            break;
        if (q == '`') {
            if (c != '\r')
                cn_buf_putc(&b, c);
            continue;
        }
        if (c != '\\') {
            cn_buf_putc(&b, c);
            continue;
        }
        c = s[p->i++];
        uint32_t x = 0;
        int ndig = 0, base = 16;
        uint32_t max = 255;
        switch (c) {
        case 'a': cn_buf_putc(&b, '\a'); continue;
        case 'b': cn_buf_putc(&b, '\b'); continue;
        case 'f': cn_buf_putc(&b, '\f'); continue;
        case 'n': cn_buf_putc(&b, '\n'); continue;
        case 'r': cn_buf_putc(&b, '\r'); continue;
        case 't': cn_buf_putc(&b, '\t'); continue;
        case 'v': cn_buf_putc(&b, '\v'); continue;
        case '\\': cn_buf_putc(&b, '\\'); continue;
        case 'x': ndig = 2; break;
        case 'u': ndig = 4, max = 0x10ffff; break;
        case 'U': ndig = 8, max = 0x10ffff; break;
        default:
            if (c == q) {
                cn_buf_putc(&b, c);
                continue;
            }
            if (c >= '0' && c <= '7') {
                ndig = 3, base = 8;
                p->i--;
                break;
            }
            rc = sd_errf(p, "unknown escape sequence in string");
            goto out;
        }
        for (int k = 0; k < ndig; k++) {
            char d = s[p->i++];
            int v = isdigit((unsigned char)d)    ? d - '0'
                    : isxdigit((unsigned char)d) ? lower(d) - 'a' + 10
                                                 : 99;
            if (v >= base) {
                rc = sd_errf(p, "illegal character in escape sequence");
                goto out;
            }
            x = x * (uint32_t)base + (uint32_t)v;
        }
        if (x > max || (x >= 0xd800 && x < 0xe000)) {
            rc = sd_errf(p, "escape sequence is an invalid Unicode code point");
            goto out;
        }
        if (c == 'u' || c == 'U')
            put_utf8(&b, x);
        else
            cn_buf_putc(&b, (char)x);
    }
    if (b.err) {
        rc = b.err;
        goto out;
    }
    if (memchr(b.data ? b.data : "", '\0', b.len)) {
        rc = sd_errf(p, "NUL byte in a label value");
        goto out;
    }
    *out = cn_arena_strndup(p->arena, b.data ? b.data : "", b.len);
    rc = *out ? 0 : -ENOMEM;
out:
    cn_buf_free(&b);
    return rc;
}

static void sd_skip_spaces(struct sd_parser *p)
{
    while (is_space(p->s[p->i]))
        p->i++;
}

/* The label set after '{' up to and including '}'. */
static int sd_label_set(struct sd_parser *p, struct tsdb_label **v, size_t *n, size_t *cap)
{
    bool need_comma = false; /* after an item: ',' or '}' */
    for (;;) {
        sd_skip_spaces(p);
        char c = p->s[p->i];
        if (c == '}') { /* also after a trailing comma */
            p->i++;
            return 0;
        }
        if (need_comma) {
            if (c != ',')
                return sd_errf(p, "unexpected character in label set, expected \",\" or \"}\"");
            p->i++;
            need_comma = false;
            continue;
        }
        if (!is_alpha(c))
            return sd_errf(p, c ? "unexpected character in label set, expected identifier"
                                : "unexpected end of input inside braces");
        size_t start = p->i;
        while (is_alnum(p->s[p->i]))
            p->i++;
        struct tsdb_label l;
        l.name = cn_arena_strndup(p->arena, p->s + start, p->i - start);
        if (!l.name)
            return -ENOMEM;
        sd_skip_spaces(p);
        if (p->s[p->i] != '=' || p->s[p->i + 1] == '~')
            return sd_errf(p, "unexpected character in label set, expected \"=\"");
        p->i++;
        sd_skip_spaces(p);
        c = p->s[p->i];
        if (c != '"' && c != '\'' && c != '`')
            return sd_errf(p, "unexpected character in label set, expected string");
        int rc = sd_string(p, &l.value);
        if (rc)
            return rc;
        rc = cn_array_grow((void **)v, cap, *n + 1, sizeof(**v), 8);
        if (rc)
            return rc;
        (*v)[(*n)++] = l;
        need_comma = true;
    }
}

enum sd_tok { TOK_EOF, TOK_SPACE, TOK_ADD, TOK_SUB, TOK_TIMES, TOK_BLANK, TOK_NUMBER, TOK_IDENT };

/* The next token of a value sequence; a word or number's text is
 * [*ts, p->i). */
static int sd_next(struct sd_parser *p, enum sd_tok *tok, size_t *ts)
{
    const char *s = p->s;
    char c = s[p->i];
    *ts = p->i;
    if (c == '\0') {
        *tok = TOK_EOF;
        return 0;
    }
    if (is_space(c)) {
        sd_skip_spaces(p);
        *tok = TOK_SPACE;
        return 0;
    }
    if (c == '+' || c == '-' || c == 'x' || c == '_') {
        p->i++;
        *tok = c == '+' ? TOK_ADD : c == '-' ? TOK_SUB : c == 'x' ? TOK_TIMES : TOK_BLANK;
        return 0;
    }
    if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)s[p->i + 1]))) {
        /* The lexer's scanNumber without hex: digits, fraction, exponent,
         * then no alphanumeric but the x of a repetition. */
        while (isdigit((unsigned char)s[p->i]))
            p->i++;
        if (s[p->i] == '.')
            for (p->i++; isdigit((unsigned char)s[p->i]);)
                p->i++;
        if (s[p->i] == 'e' || s[p->i] == 'E') {
            p->i++;
            if (s[p->i] == '+' || s[p->i] == '-')
                p->i++;
            while (isdigit((unsigned char)s[p->i]))
                p->i++;
        }
        if (s[p->i] != 'x' && is_alnum(s[p->i]))
            return sd_errf(p, "bad number syntax: \"%.*s\"", (int)(p->i + 1 - *ts), s + *ts);
        *tok = TOK_NUMBER;
        return 0;
    }
    if (is_alpha(c)) {
        while (is_alnum(s[p->i]) || s[p->i] == ':')
            p->i++;
        int k = sd_keyword(s + *ts, p->i - *ts);
        if (k >= 0 && (!strcmp(sd_keywords[k].word, "inf") || !strcmp(sd_keywords[k].word, "nan")))
            *tok = TOK_NUMBER;
        else if (k >= 0 || memchr(s + *ts, ':', p->i - *ts))
            return sd_errf(p, "unexpected \"%.*s\" in series values", (int)(p->i - *ts), s + *ts);
        else
            *tok = TOK_IDENT;
        return 0;
    }
    return sd_errf(p, "unexpected character in series sequence: '%c'", c);
}

static int sd_number(struct sd_parser *p, size_t ts, double *v)
{
    char buf[128];
    size_t n = p->i - ts;
    if (n < sizeof(buf)) {
        memcpy(buf, p->s + ts, n);
        buf[n] = '\0';
        if (go_parse_number(buf, v) == 0)
            return 0;
    }
    return sd_errf(p, "error parsing number \"%.*s\"", (int)n, p->s + ts);
}

/* A repetition count: strconv.ParseUint(text, 10, 64). */
static int sd_uint(struct sd_parser *p, uint64_t *out)
{
    enum sd_tok tok;
    size_t ts;
    int rc = sd_next(p, &tok, &ts);
    if (rc)
        return rc;
    if (tok != TOK_NUMBER)
        return sd_errf(p, "unexpected token in series values, expected a repetition count");
    uint64_t n = 0;
    for (size_t i = ts; i < p->i; i++) {
        unsigned d = (unsigned)(p->s[i] - '0');
        if (d > 9 || n > (UINT64_MAX - d) / 10)
            return sd_errf(p, "invalid repetition in series values: \"%.*s\"", (int)(p->i - ts),
                           p->s + ts);
        n = n * 10 + d;
    }
    *out = n;
    return 0;
}

static int push_values(struct seq_value **v, size_t *n, size_t *cap, uint64_t count, double start,
                       double step, bool omitted)
{
    if (count > (uint64_t)(SIZE_MAX / sizeof(**v)) - *n)
        return -ENOMEM;
    int rc = cn_array_grow((void **)v, cap, *n + (size_t)count, sizeof(**v), 16);
    if (rc)
        return rc;
    for (uint64_t k = 0; k < count; k++) {
        (*v)[(*n)++] = (struct seq_value){omitted ? 0 : start, omitted};
        start += step;
    }
    return 0;
}

/* The values after the metric: (SPACE item?)* EOF. */
static int sd_values(struct sd_parser *p, struct seq_value **v, size_t *n, size_t *cap)
{
    for (;;) {
        enum sd_tok tok;
        size_t ts;
        int rc = sd_next(p, &tok, &ts);
        if (rc)
            return rc;
        if (tok == TOK_EOF)
            return 0;
        if (tok != TOK_SPACE)
            return sd_errf(p, "unexpected token in series values, expected a space");
        if ((rc = sd_next(p, &tok, &ts)))
            return rc;
        if (tok == TOK_EOF)
            return 0;
        size_t save = p->i;
        enum sd_tok t2;
        size_t ts2;
        uint64_t count;
        if (tok == TOK_BLANK) {
            if ((rc = sd_next(p, &t2, &ts2)))
                return rc;
            count = 1;
            if (t2 != TOK_TIMES)
                p->i = save;
            else if ((rc = sd_uint(p, &count)))
                return rc;
            if ((rc = push_values(v, n, cap, count, 0, 0, true)))
                return rc;
            continue;
        }
        /* A value: a number, +number, -number or `stale`. */
        double val, sign = 1;
        if (tok == TOK_ADD || tok == TOK_SUB) {
            sign = tok == TOK_SUB ? -1 : 1;
            if ((rc = sd_next(p, &tok, &ts)))
                return rc;
            if (tok != TOK_NUMBER)
                return sd_errf(p, "unexpected token in series values, expected a number");
        }
        if (tok == TOK_IDENT) {
            if (p->i - ts != 5 || strncmp(p->s + ts, "stale", 5))
                return sd_errf(p,
                               "unexpected identifier \"%.*s\" in series values, expected "
                               "number or \"stale\"",
                               (int)(p->i - ts), p->s + ts);
            val = tsdb_stale_nan();
        } else if (tok == TOK_NUMBER) {
            if ((rc = sd_number(p, ts, &val)))
                return rc;
            val *= sign;
        } else {
            return sd_errf(p, "unexpected token in series values, expected a value");
        }
        save = p->i;
        if ((rc = sd_next(p, &t2, &ts2)))
            return rc;
        double step = 0;
        count = 0;
        if (t2 == TOK_ADD || t2 == TOK_SUB) {
            double dsign = t2 == TOK_SUB ? -1 : 1;
            if ((rc = sd_next(p, &t2, &ts2)))
                return rc;
            if (t2 != TOK_NUMBER)
                return sd_errf(p, "unexpected token in series values, expected a number");
            if ((rc = sd_number(p, ts2, &step)))
                return rc;
            step *= dsign;
            if ((rc = sd_next(p, &t2, &ts2)))
                return rc;
            if (t2 != TOK_TIMES)
                return sd_errf(p, "unexpected token in series values, expected \"x\"");
            if ((rc = sd_uint(p, &count)))
                return rc;
        } else if (t2 == TOK_TIMES) {
            if ((rc = sd_uint(p, &count)))
                return rc;
        } else {
            p->i = save;
        }
        if (count == UINT64_MAX)
            return -ENOMEM;
        if ((rc = push_values(v, n, cap, count + 1, val, step, false)))
            return rc;
    }
}

static int label_name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tsdb_label *)a)->name, ((const struct tsdb_label *)b)->name);
}

/* Parses one series description into d (arena memory). -EINVAL with a
 * message in p->err, or -ENOMEM. */
static int parse_series_desc(const char *line, struct cn_arena *arena, struct series_desc *d,
                             char *err, size_t errcap)
{
    struct sd_parser p = {.s = line, .arena = arena};
    struct tsdb_label *lv = NULL;
    size_t nl = 0, lcap = 0;
    struct seq_value *vv = NULL;
    size_t nv = 0, vcap = 0;
    const char *name = NULL;
    int rc;
    if (is_alpha(line[0]) || line[0] == ':') {
        while (is_alnum(line[p.i]) || line[p.i] == ':')
            p.i++;
        int k = sd_keyword(line, p.i);
        if (k >= 0 && !sd_keywords[k].metric_ok) {
            rc = sd_errf(&p, "unexpected \"%.*s\" as a metric name", (int)p.i, line);
            goto out;
        }
        if (!(name = cn_arena_strndup(arena, line, p.i))) {
            rc = -ENOMEM;
            goto out;
        }
    } else if (line[0] != '{') {
        rc = sd_errf(&p, "unexpected character at the start of a series description");
        goto out;
    }
    if (line[p.i] == '{') {
        p.i++;
        if ((rc = sd_label_set(&p, &lv, &nl, &lcap)))
            goto out;
    }
    if ((rc = sd_values(&p, &vv, &nv, &vcap)))
        goto out;
    /* A metric name goes in as __name__ through a label builder, which
     * also drops labels with empty values; a bare label set keeps them. */
    if (name) {
        size_t w = 0;
        for (size_t i = 0; i < nl; i++)
            if (lv[i].value[0] && strcmp(lv[i].name, "__name__"))
                lv[w++] = lv[i];
        nl = w;
        if ((rc = cn_array_grow((void **)&lv, &lcap, nl + 1, sizeof(*lv), 8)))
            goto out;
        lv[nl++] = (struct tsdb_label){"__name__", name};
    }
    if (nl)
        qsort(lv, nl, sizeof(*lv), label_name_cmp);
    d->labels = cn_arena_alloc(arena, (nl ? nl : 1) * sizeof(*lv));
    d->vals = cn_arena_alloc(arena, (nv ? nv : 1) * sizeof(*vv));
    if (!d->labels || !d->vals) {
        rc = -ENOMEM;
        goto out;
    }
    if (nl)
        memcpy(d->labels, lv, nl * sizeof(*lv));
    if (nv)
        memcpy(d->vals, vv, nv * sizeof(*vv));
    d->nlabels = nl;
    d->nvals = nv;
    rc = 0;
out:
    if (rc == -EINVAL)
        snprintf(err, errcap, "%s", p.err);
    else if (rc)
        snprintf(err, errcap, "%s", strerror(-rc));
    free(lv);
    free(vv);
    return rc;
}

/* ---- script parsing --------------------------------------------------------------- */

static bool is_re_space(char c) /* Go regexp's \s */
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static struct cmd *script_push(struct script *sc, enum cmd_kind kind, int line)
{
    if (cn_array_grow((void **)&sc->cmds, &sc->cap, sc->n + 1, sizeof(*sc->cmds), 16))
        return NULL;
    struct cmd *c = &sc->cmds[sc->n++];
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->line = line;
    return c;
}

/* `load <duration>` and its series lines, up to a blank line. */
static int parse_load(struct script *sc, char **lines, size_t nlines, size_t *i)
{
    const char *l = lines[*i];
    int line = (int)*i + 1;
    const char *p = l + 4;
    if (strncmp(l, "load", 4) || !is_re_space(*p))
        return script_errf(sc, line, "invalid load command. (load <step:duration>)");
    while (is_re_space(*p))
        p++;
    int64_t gap;
    if (cn_duration_parse(p, &gap))
        return script_errf(sc, line, "invalid step definition \"%s\"", p);
    struct cmd *c = script_push(sc, CMD_LOAD, line);
    if (!c)
        return -ENOMEM;
    c->gap_ms = gap;
    while (*i + 1 < nlines && lines[*i + 1][0]) {
        (*i)++;
        struct series_desc d = {0};
        char err[256];
        int rc = parse_series_desc(lines[*i], sc->arena, &d, err, sizeof(err));
        if (rc)
            return rc == -EINVAL ? script_errf(sc, (int)*i + 1, "%s", err) : rc;
        if ((rc = cmd_add_series(c, &d)))
            return rc;
    }
    return 0;
}

/* `eval[_fail|_ordered] instant at <duration> <expr>` as test.go's regular
 * expression takes it, and the expected samples up to a blank line (or a
 * bare number, which ends them). */
static int parse_eval(struct script *sc, char **lines, size_t nlines, size_t *i)
{
    const char *l = lines[*i];
    int line = (int)*i + 1;
    const char *p = l + 4;
    bool fail = false, ordered = false;
    if (!strncmp(p, "_fail", 5))
        fail = true, p += 5;
    else if (!strncmp(p, "_ordered", 8))
        ordered = true, p += 8;
    const char *at = NULL, *expr = NULL;
    size_t atlen = 0;
    if (!strncmp(l, "eval", 4) && is_re_space(*p)) {
        while (is_re_space(*p))
            p++;
        if (!strncmp(p, "instant", 7) && is_re_space(p[7])) {
            for (p += 7; is_re_space(*p);)
                p++;
            if (!strncmp(p, "at", 2) && is_re_space(p[2])) {
                for (p += 2; is_re_space(*p);)
                    p++;
                at = p;
                while (*p && !is_re_space(*p))
                    p++;
                atlen = (size_t)(p - at);
                while (is_re_space(*p))
                    p++;
                if (*p && atlen)
                    expr = p;
            }
        }
    }
    if (!expr)
        return script_errf(sc, line,
                           "invalid evaluation command. (eval[_fail|_ordered] instant [at "
                           "<offset:duration>] <query>");
    char atbuf[64];
    int64_t t;
    if (atlen < sizeof(atbuf)) {
        memcpy(atbuf, at, atlen);
        atbuf[atlen] = '\0';
    }
    if (atlen >= sizeof(atbuf) || cn_duration_parse(atbuf, &t))
        return script_errf(sc, line, "invalid step definition \"%.*s\"", (int)atlen, at);
    struct cmd *c = script_push(sc, CMD_EVAL, line);
    if (!c)
        return -ENOMEM;
    c->t_ms = t;
    if (!(c->at = cn_arena_strdup(sc->arena, atbuf)))
        return -ENOMEM;
    c->fail = fail;
    c->ordered = ordered;
    if (!(c->expr = cn_arena_strdup(sc->arena, expr)))
        return -ENOMEM;
    for (int j = 1; *i + 1 < nlines && lines[*i + 1][0]; j++) {
        (*i)++;
        double f;
        int rc = go_parse_number(lines[*i], &f);
        if (rc == 0) {
            c->has_scalar = true;
            c->scalar = f;
            break;
        }
        if (rc == -ENOMEM)
            return rc;
        struct series_desc d = {0};
        char err[256];
        if ((rc = parse_series_desc(lines[*i], sc->arena, &d, err, sizeof(err))))
            return rc == -EINVAL ? script_errf(sc, (int)*i + 1, "%s", err) : rc;
        if (d.nvals > 1)
            return script_errf(sc, (int)*i + 1,
                               "expecting multiple values in instant evaluation not allowed");
        d.pos = j;
        if ((rc = cmd_add_series(c, &d)))
            return rc;
    }
    return 0;
}

/* Splits text into trimmed lines (in place; '#' lines blanked) and parses
 * the commands. 0, -EINVAL (sc->err, sc->err_line set) or -ENOMEM. */
static int parse_script(struct script *sc, char *text)
{
    char **lines = NULL;
    size_t nlines = 0, cap = 0;
    int rc = 0;
    if (!(sc->arena = cn_arena_create(64 * 1024)))
        return -ENOMEM;
    for (char *s = text;;) {
        char *nl = strchr(s, '\n');
        if (nl)
            *nl = '\0';
        char *t = cn_trim(s);
        if (t[0] == '#')
            t[0] = '\0';
        if ((rc = cn_array_grow((void **)&lines, &cap, nlines + 1, sizeof(*lines), 256)))
            goto out;
        lines[nlines++] = t;
        if (!nl)
            break;
        s = nl + 1;
    }
    for (size_t i = 0; i < nlines && rc == 0; i++) {
        const char *l = lines[i];
        if (!l[0])
            continue;
        size_t wl = strcspn(l, " \t");
        char word[16];
        snprintf(word, sizeof(word), "%.*s", (int)(wl < sizeof(word) ? wl : sizeof(word) - 1), l);
        for (char *w = word; *w; w++)
            *w = (char)lower(*w);
        if (wl == 5 && !strcmp(word, "clear"))
            rc = script_push(sc, CMD_CLEAR, (int)i + 1) ? 0 : -ENOMEM;
        else if (wl == 4 && !strcmp(word, "load"))
            rc = parse_load(sc, lines, nlines, &i);
        else if (!strncmp(word, "eval", 4))
            rc = parse_eval(sc, lines, nlines, &i);
        else
            rc = script_errf(sc, (int)i + 1, "invalid command \"%s\"", l);
    }
out:
    free(lines);
    return rc;
}

/* ---- running ----------------------------------------------------------------------- */

struct runner {
    bool verbose;
    struct promql_engine *engine;
    struct tsdb_head *head;
    struct tsdb_source src;
    struct promql_queryable q;
    size_t passed, failed;
};

static int queryable_open(void *ctx, int64_t mint, int64_t maxt, void **handle,
                          const struct tsdb_source **src, size_t *nsrc)
{
    struct runner *r = ctx;
    (void)mint;
    (void)maxt;
    *handle = NULL;
    *src = &r->src;
    *nsrc = 1;
    return 0;
}

static void queryable_close(void *ctx, void *handle)
{
    (void)ctx;
    (void)handle;
}

static int runner_clear(struct runner *r)
{
    tsdb_head_destroy(r->head);
    r->head = NULL;
    int rc = tsdb_head_create(&r->head);
    if (rc)
        return rc;
    r->src = tsdb_head_source(r->head);
    return 0;
}

static void put_labels(struct cn_buf *b, const struct tsdb_label *v, size_t n);

/* Appends a load's samples. As Prometheus' head does, labels with empty
 * values are dropped first. On failure says why in why. */
static int run_load(struct runner *r, const struct cmd *c, struct cn_buf *why)
{
    for (size_t s = 0; s < c->nseries; s++) {
        const struct series_desc *d = &c->series[s];
        struct tsdb_label lv[64];
        size_t n = 0;
        for (size_t i = 0; i < d->nlabels; i++) {
            if (!d->labels[i].value[0])
                continue;
            if (n == sizeof(lv) / sizeof(lv[0])) {
                cn_buf_puts(why, "too many labels");
                return -EINVAL;
            }
            lv[n++] = d->labels[i];
        }
        struct tsdb_labels ls = {lv, n};
        for (size_t i = 0; i < d->nvals; i++) {
            if (d->vals[i].omitted)
                continue;
            int64_t t = (int64_t)i * c->gap_ms;
            int rc = tsdb_head_append(r->head, &ls, t, d->vals[i].v, NULL);
            if (rc) {
                cn_buf_printf(why, "appending the sample at %" PRId64 "ms to ", t);
                put_labels(why, lv, n);
                cn_buf_printf(why, ": %s", strerror(-rc));
                return rc;
            }
        }
    }
    return 0;
}

static void put_labels(struct cn_buf *b, const struct tsdb_label *v, size_t n)
{
    const char *name = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, "__name__"))
            name = v[i].value;
    if (name)
        cn_buf_puts(b, name);
    cn_buf_putc(b, '{');
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(v[i].name, "__name__") && name == v[i].value)
            continue;
        cn_buf_printf(b, "%s%s=\"", first ? "" : ", ", v[i].name);
        for (const char *p = v[i].value; *p; p++) {
            if (*p == '"' || *p == '\\')
                cn_buf_putc(b, '\\');
            if (*p == '\n')
                cn_buf_puts(b, "\\n");
            else
                cn_buf_putc(b, *p);
        }
        cn_buf_putc(b, '"');
        first = false;
    }
    cn_buf_putc(b, '}');
}

/* A sample of a result, as compared: labels viewed from the result. */
struct got_sample {
    struct tsdb_labels ls;
    double v;
};

static void put_expected(struct cn_buf *b, const struct cmd *c)
{
    size_t shown = 0;
    for (size_t i = 0; i < c->nseries && shown < MAX_DUMP_SAMPLES; i++, shown++) {
        const struct series_desc *d = &c->series[i];
        cn_buf_puts(b, shown ? ", " : "");
        put_labels(b, d->labels, d->nlabels);
        cn_buf_printf(b, " %s", d->nvals ? FMT_NUM(d->vals[0].v) : "(no value)");
    }
    if (c->nseries > shown)
        cn_buf_printf(b, ", ... (%zu in all)", c->nseries);
    if (c->has_scalar)
        cn_buf_printf(b, "%sscalar %s", c->nseries ? ", " : "", FMT_NUM(c->scalar));
    if (!c->nseries && !c->has_scalar)
        cn_buf_puts(b, "(nothing)");
}

static void put_got(struct cn_buf *b, const struct got_sample *g, size_t n)
{
    for (size_t i = 0; i < n && i < MAX_DUMP_SAMPLES; i++) {
        cn_buf_puts(b, i ? ", " : "");
        put_labels(b, g[i].ls.v, g[i].ls.n);
        cn_buf_printf(b, " %s", FMT_NUM(g[i].v));
    }
    if (n > MAX_DUMP_SAMPLES)
        cn_buf_printf(b, ", ... (%zu in all)", n);
    if (!n)
        cn_buf_puts(b, "(empty vector)");
}

/* test.go's compareResult for a vector: each sample must be expected (in
 * its position for eval_ordered) with an almost equal value, and every
 * expected series must be there. Appends the first difference to why. */
static bool compare_vector(const struct cmd *c, const struct got_sample *g, size_t n,
                           struct cn_buf *why)
{
    bool *seen = cn_calloc(c->nseries + 1, sizeof(*seen));
    bool ok = false;
    if (!seen) {
        cn_buf_puts(why, "out of memory");
        return false;
    }
    for (size_t pos = 0; pos < n; pos++) {
        size_t k = 0;
        while (k < c->nseries &&
               !labels_equal(c->series[k].labels, c->series[k].nlabels, &g[pos].ls))
            k++;
        if (k == c->nseries) {
            cn_buf_puts(why, "unexpected metric ");
            put_labels(why, g[pos].ls.v, g[pos].ls.n);
            cn_buf_puts(why, " in result");
            goto out;
        }
        const struct series_desc *d = &c->series[k];
        if (c->ordered && d->pos != (int)pos + 1) {
            cn_buf_puts(why, "expected metric ");
            put_labels(why, d->labels, d->nlabels);
            cn_buf_printf(why, " at position %d but was at %zu", d->pos, pos + 1);
            goto out;
        }
        if (!d->nvals) {
            cn_buf_puts(why, "no value given for ");
            put_labels(why, d->labels, d->nlabels);
            goto out;
        }
        if (!almost_equal(d->vals[0].v, g[pos].v)) {
            cn_buf_printf(why, "expected %s for ", FMT_NUM(d->vals[0].v));
            put_labels(why, d->labels, d->nlabels);
            cn_buf_printf(why, " but got %s", FMT_NUM(g[pos].v));
            goto out;
        }
        seen[k] = true;
    }
    for (size_t k = 0; k < c->nseries; k++)
        if (!seen[k]) {
            cn_buf_puts(why, "expected metric ");
            put_labels(why, c->series[k].labels, c->series[k].nlabels);
            cn_buf_puts(why, " not found");
            goto out;
        }
    if (c->has_scalar) {
        cn_buf_printf(why, "expected scalar %s but got a vector", FMT_NUM(c->scalar));
        goto out;
    }
    ok = true;
out:
    free(seen);
    return ok;
}

static bool compare_scalar(const struct cmd *c, double v, struct cn_buf *why)
{
    if (!c->has_scalar) {
        cn_buf_printf(why, "got scalar %s but no scalar was expected", FMT_NUM(v));
        return false;
    }
    if (!almost_equal(c->scalar, v)) {
        cn_buf_printf(why, "expected scalar %s but got %s", FMT_NUM(c->scalar), FMT_NUM(v));
        return false;
    }
    return true;
}

/* Compares an instant query's result; on a difference appends the reason
 * and both results to why. */
static bool compare_instant(const struct cmd *c, const struct promql_result *res,
                            struct cn_buf *why)
{
    bool ok;
    struct got_sample *g = NULL;
    size_t n = 0;
    switch (res->type) {
    case PROMQL_TYPE_SCALAR:
        if (compare_scalar(c, res->scalar.v, why))
            return true;
        cn_buf_puts(why, "\n    expected: ");
        put_expected(why, c);
        return false;
    case PROMQL_TYPE_VECTOR:
        n = res->vector.n;
        if (!(g = cn_calloc(n + 1, sizeof(*g)))) {
            cn_buf_puts(why, "out of memory");
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            g[i].ls = promql_labels_view(res->vector.v[i].labels);
            g[i].v = res->vector.v[i].v;
        }
        ok = compare_vector(c, g, n, why);
        break;
    case PROMQL_TYPE_MATRIX:
        cn_buf_puts(why, "received range result on instant evaluation");
        return false;
    default:
        cn_buf_printf(why, "unexpected result type %s", promql_type_name(res->type));
        return false;
    }
    if (!ok) {
        cn_buf_puts(why, "\n    expected: ");
        put_expected(why, c);
        cn_buf_puts(why, "\n    got:      ");
        put_got(why, g, n);
    }
    free(g);
    return ok;
}

/* test.go's range-mode check: the matrix's points at t, compared as the
 * instant result was (a scalar against the first one). */
static bool compare_range(const struct cmd *c, enum promql_type instant_type,
                          const struct promql_result *res, int64_t t, struct cn_buf *why)
{
    if (res->type != PROMQL_TYPE_MATRIX) {
        cn_buf_printf(why, "range query gave a %s, not a matrix", promql_type_name(res->type));
        return false;
    }
    const struct promql_matrix *m = &res->matrix;
    struct got_sample *g = cn_calloc(m->n + 1, sizeof(*g));
    size_t n = 0;
    if (!g) {
        cn_buf_puts(why, "out of memory");
        return false;
    }
    for (size_t s = 0; s < m->n; s++)
        for (size_t i = 0; i < m->v[s].n; i++)
            if (m->v[s].pts[i].t == t) {
                g[n].ls = promql_labels_view(m->v[s].labels);
                g[n++].v = m->v[s].pts[i].v;
                break;
            }
    bool ok;
    if (instant_type == PROMQL_TYPE_SCALAR) {
        if (n == 0) {
            cn_buf_puts(why, "no point at the evaluation time");
            ok = false;
        } else {
            ok = compare_scalar(c, g[0].v, why);
        }
    } else {
        ok = compare_vector(c, g, n, why);
    }
    if (!ok) {
        cn_buf_puts(why, "\n    expected: ");
        put_expected(why, c);
        cn_buf_puts(why, "\n    got:      ");
        put_got(why, g, n);
    }
    free(g);
    return ok;
}

/* One query of an eval (the expression at time t) in both modes. */
static bool run_query(struct runner *r, const struct cmd *c, const struct promql_expr *e, int64_t t,
                      struct cn_buf *why)
{
    struct promql_result res = {0};
    struct promql_error err = {0};
    int rc = promql_exec_instant(r->engine, &r->q, e, t, NULL, &res, &err);
    if (rc) {
        promql_result_free(&res);
        if (c->fail) {
            if (r->verbose && why->len == 0) /* shown with the pass */
                cn_buf_printf(why, "failed as expected: %s", err.msg);
            return true;
        }
        cn_buf_printf(why, "error evaluating query: %s: %s", promql_error_kind_name(err.kind),
                      err.msg);
        return false;
    }
    if (c->fail) {
        cn_buf_puts(why, "expected an error evaluating the query but got none");
        promql_result_free(&res);
        return false;
    }
    enum promql_type itype = res.type;
    bool ok = compare_instant(c, &res, why);
    promql_result_free(&res);
    if (!ok)
        return false;

    memset(&err, 0, sizeof(err));
    rc = promql_exec_range(r->engine, &r->q, e, t - MINUTE_MS, t + MINUTE_MS, MINUTE_MS, NULL, &res,
                           &err);
    if (rc) {
        promql_result_free(&res);
        cn_buf_printf(why, "range mode: error evaluating query: %s: %s",
                      promql_error_kind_name(err.kind), err.msg);
        return false;
    }
    if (!c->ordered) { /* ordering isn't defined for range queries */
        struct cn_buf sub;
        cn_buf_init(&sub);
        ok = compare_range(c, itype, &res, t, &sub);
        if (!ok)
            cn_buf_printf(why, "range mode: %s", cn_buf_cstr(&sub));
        cn_buf_free(&sub);
    }
    promql_result_free(&res);
    return ok;
}

/* Functions whose result depends on the evaluation time even when their
 * arguments do not (Prometheus' AtModifierUnsafeFunctions). */
static bool at_unsafe(const char *name)
{
    static const char *const unsafe[] = {
        "days_in_month", "day_of_month", "day_of_week",    "day_of_year", "hour",     "minute",
        "month",         "year",         "predict_linear", "time",        "timestamp"};
    for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++)
        if (!strcmp(name, unsafe[i]))
            return true;
    return false;
}

/* test.go's atModifierTestCases on the tree: pins every selector and
 * outermost subquery without a fixed `@` time to `@ ts` (a start() or
 * end() is replaced too), leaving subqueries' insides alone, and tells
 * whether an unsafe function is called outside subqueries. */
static void pin_at(struct promql_expr *e, int64_t ts, bool *unsafe)
{
    switch (e->kind) {
    case PROMQL_NODE_VECTOR_SELECTOR:
        if (e->vs.at != PROMQL_AT_TIME) {
            e->vs.at = PROMQL_AT_TIME;
            e->vs.at_ms = ts;
        }
        break;
    case PROMQL_NODE_MATRIX_SELECTOR: pin_at(e->ms.vs, ts, unsafe); break;
    case PROMQL_NODE_SUBQUERY:
        if (e->sq.at != PROMQL_AT_TIME) {
            e->sq.at = PROMQL_AT_TIME;
            e->sq.at_ms = ts;
        }
        break;
    case PROMQL_NODE_PAREN: pin_at(e->paren, ts, unsafe); break;
    case PROMQL_NODE_UNARY: pin_at(e->unary.expr, ts, unsafe); break;
    case PROMQL_NODE_BINARY:
        pin_at(e->binary.lhs, ts, unsafe);
        pin_at(e->binary.rhs, ts, unsafe);
        break;
    case PROMQL_NODE_CALL:
        if (at_unsafe(e->call.func->name))
            *unsafe = true;
        for (size_t i = 0; i < e->call.nargs; i++)
            pin_at(e->call.args[i], ts, unsafe);
        break;
    case PROMQL_NODE_AGGREGATE:
        if (e->agg.param)
            pin_at(e->agg.param, ts, unsafe);
        pin_at(e->agg.expr, ts, unsafe);
        break;
    case PROMQL_NODE_NUMBER:
    case PROMQL_NODE_STRING: break;
    }
}

/* Runs one eval; prints it if it failed (or always, verbose). */
static bool run_eval(struct runner *r, const char *file, const struct cmd *c)
{
    struct cn_buf why;
    cn_buf_init(&why);
    struct promql_expr *e = NULL;
    struct promql_error perr = {0};
    const char *mode = c->fail ? "eval_fail" : c->ordered ? "eval_ordered" : "eval";
    bool ok = false;
    int rc = promql_parse(c->expr, &e, &perr);
    if (rc) {
        cn_buf_printf(&why, "parse error: %s", perr.msg);
        goto out;
    }
    if (!run_query(r, c, e, c->t_ms, &why))
        goto out;
    bool unsafe = false;
    pin_at(e, c->t_ms, &unsafe);
    if (!unsafe) {
        int64_t ts = c->t_ms;
        int64_t times[5] = {-10 * ts, 0, ts / 5, ts, 10 * ts};
        size_t ntimes = 5;
        if (ts == 0) {
            times[0] = -1000, times[1] = 0, times[2] = 1000;
            ntimes = 3;
        }
        for (size_t i = 0; i < ntimes; i++)
            if (!run_query(r, c, e, times[i], &why)) {
                cn_buf_printf(&why,
                              "\n    (with every selector pinned `@ %.3f`, evaluated at %.3f)",
                              (double)ts / 1000.0, (double)times[i] / 1000.0);
                goto out;
            }
    }
    ok = true;
out:
    if (!ok || r->verbose) {
        printf("%s:%d: %s %s instant at %s %s\n", file, c->line, ok ? "ok  " : "FAIL", mode, c->at,
               c->expr);
        if (!ok || why.len)
            printf("    %s\n", why.err ? "out of memory" : cn_buf_cstr(&why));
    }
    promql_expr_free(e);
    cn_buf_free(&why);
    return ok;
}

/* Runs one script file; false when it could not be read or parsed. */
static bool run_file(struct runner *r, const char *path)
{
    struct cn_buf text;
    cn_buf_init(&text);
    struct script sc = {0};
    int rc = cn_read_file_buf(path, &text, MAX_SCRIPT_BYTES);
    if (rc) {
        printf("%s: cannot read: %s\n", path, strerror(-rc));
        cn_buf_free(&text);
        return false;
    }
    char empty[1] = "";
    char *data = text.len ? (char *)cn_buf_cstr(&text) : empty;
    if (strlen(data) != text.len) {
        printf("%s: NUL byte in the script\n", path);
        cn_buf_free(&text);
        return false;
    }
    rc = parse_script(&sc, data);
    if (rc) {
        if (rc == -EINVAL)
            printf("%s:%d: %s\n", path, sc.err_line, sc.err);
        else
            printf("%s: %s\n", path, strerror(-rc));
        printf("%s: script error, no eval run\n", path);
        script_free(&sc);
        cn_buf_free(&text);
        return false;
    }
    bool file_ok = true;
    size_t evals = 0, passed = 0;
    struct cn_buf err;
    cn_buf_init(&err);
    if ((rc = runner_clear(r))) {
        printf("%s: cannot create a head: %s\n", path, strerror(-rc));
        file_ok = false;
    }
    for (size_t i = 0; i < sc.n && file_ok; i++) {
        const struct cmd *c = &sc.cmds[i];
        switch (c->kind) {
        case CMD_CLEAR:
            if ((rc = runner_clear(r))) {
                printf("%s:%d: cannot create a head: %s\n", path, c->line, strerror(-rc));
                file_ok = false;
            }
            break;
        case CMD_LOAD:
            if (run_load(r, c, &err)) {
                printf("%s:%d: load failed: %s; the rest of the file is not run\n", path, c->line,
                       cn_buf_cstr(&err));
                file_ok = false;
            }
            break;
        case CMD_EVAL:
            evals++;
            if (run_eval(r, path, c))
                passed++;
            break;
        }
    }
    printf("%s: %zu/%zu evals passed\n", path, passed, evals);
    r->passed += passed;
    r->failed += evals - passed;
    tsdb_head_destroy(r->head);
    r->head = NULL;
    cn_buf_free(&err);
    script_free(&sc);
    cn_buf_free(&text);
    return file_ok;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every *.test of a directory, by name. */
static bool run_dir(struct runner *r, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        printf("%s: cannot open: %s\n", dir, strerror(errno));
        return false;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    bool ok = true;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 5 || strcmp(de->d_name + len - 5, ".test"))
            continue;
        char path[4096];
        struct stat st;
        if (!cn_path_join(path, sizeof(path), dir, de->d_name, NULL) || stat(path, &st) ||
            !S_ISREG(st.st_mode))
            continue;
        char *dup = cn_strdup(path);
        if (!dup || cn_array_grow((void **)&names, &cap, n + 1, sizeof(*names), 16)) {
            free(dup);
            printf("%s: out of memory\n", dir);
            ok = false;
            break;
        }
        names[n++] = dup;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), str_cmp);
    for (size_t i = 0; i < n; i++) {
        ok = run_file(r, names[i]) && ok;
        free(names[i]);
    }
    free(names);
    return ok;
}

int main(int argc, char **argv)
{
    struct runner r = {0};
    /* Whole lines out at once: what ran before an engine crash stays. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    r.q = (struct promql_queryable){queryable_open, queryable_close, &r};
    int first = 1;
    if (argc > 1 && !strcmp(argv[1], "--verbose")) {
        r.verbose = true;
        first = 2;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s [--verbose] <directory or file.test>...\n", argv[0]);
        return 2;
    }
    /* test.go's engine options. */
    struct promql_engine_opts opts = {
        .lookback_ms = 5 * MINUTE_MS, .timeout_ms = 100 * 1000, .max_samples = 10000};
    int rc = promql_engine_create(&opts, &r.engine);
    if (rc) {
        fprintf(stderr, "cannot create the engine: %s\n", strerror(-rc));
        return 1;
    }
    bool ok = true;
    for (int i = first; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st)) {
            printf("%s: %s\n", argv[i], strerror(errno));
            ok = false;
        } else if (S_ISDIR(st.st_mode)) {
            ok = run_dir(&r, argv[i]) && ok;
        } else {
            ok = run_file(&r, argv[i]) && ok;
        }
    }
    printf("promql scripts: %zu passed, %zu failed (%zu evals)\n", r.passed, r.failed,
           r.passed + r.failed);
    promql_engine_destroy(r.engine);
    return ok && r.failed == 0 ? 0 : 1;
}
