/*
 * Encoders for the text exposition format 0.0.4 and OpenMetrics 1.0.0.
 *
 * Numbers are written as Go's strconv.FormatFloat(v, 'g', -1, 64) writes
 * them, because that is what node_exporter emits and what dashboards,
 * recording rules and diff-based tests have seen for years: the shortest
 * digits that round-trip, in exponent form when the decimal exponent is
 * below -4 or at least 6 ("1.6777216e+07"). The shortest digits come from
 * printf at 15, 16 and 17 significant digits: a decimal of at most 15 digits
 * survives a trip through a double (DBL_DIG), so the first precision that
 * round-trips, with trailing zeros removed, is the shortest. Integral values
 * below 2^53 take a fast path without printf.
 *
 * OpenMetrics differs in: counter families are named without "_total" and
 * their samples with it, untyped is "unknown", floats always show a decimal
 * point or exponent ("1.0"), counts are integers, HELP escapes '"', and the
 * exposition ends with "# EOF".
 */
#include "exporter/exporter.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes the digits of m (no trailing zeros) into d; returns their count. */
static int put_digits(uint64_t m, char *d)
{
    char tmp[24];
    int n = 0;
    while (m) {
        tmp[n++] = (char)('0' + m % 10);
        m /= 10;
    }
    int nd = 0;
    for (int i = n - 1; i >= 0; i--)
        d[nd++] = tmp[i];
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    return nd;
}

/* Shortest round-trip decimal digits of finite, non-zero |v|: digits into
 * d (no dot, no sign), returns count; *dp = position of the decimal point
 * (value = 0.d1d2... * 10^dp). */
static int shortest_digits(double v, char *d, int *dp)
{
    v = fabs(v);
    if (v < 9007199254740992.0 && v == floor(v)) {
        uint64_t u = (uint64_t)v;
        int n = 0;
        for (uint64_t t = u; t; t /= 10)
            n++;
        *dp = n;
        return put_digits(u, d);
    }
    /* Subnormals carry fewer significant bits: their shortest form may have
     * any length, so start from one digit there. */
    int start = v < DBL_MIN ? 0 : 14;
    char buf[40];
    for (int prec = start; prec <= 16; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec, v);
        /* buf is d.dddde[+-]XX: mantissa m with prec+1 digits, exponent e */
        uint64_t m = 0;
        char *p = buf;
        for (; *p != 'e'; p++)
            if (*p != '.')
                m = m * 10 + (uint64_t)(*p - '0');
        int e = atoi(p + 1);
        uint64_t lo = 1;
        for (int i = 0; i < prec; i++)
            lo *= 10;
        /* The correctly rounded candidate first, then its neighbour on the
         * other side of v: next to a power of two the interval that rounds
         * to v is narrower below v than above, so the nearest decimal of this
         * length can miss while the other one still round-trips. */
        double r = strtod(buf, NULL);
        for (int k = 0; k < 2; k++) {
            uint64_t cm = m;
            int ce = e;
            if (k == 1) {
                if (r < v) {
                    if (++cm == lo * 10)
                        cm = lo, ce++;
                } else {
                    if (--cm < lo)
                        cm = lo * 10 - 1, ce--;
                }
                char alt[48];
                snprintf(alt, sizeof(alt), "%llue%d", (unsigned long long)cm, ce - prec);
                if (strtod(alt, NULL) != v)
                    continue;
            } else if (r != v && prec < 16) {
                continue;
            }
            *dp = ce + 1;
            return put_digits(cm, d);
        }
    }
    return 0; /* not reached: 17 digits always round-trip */
}

size_t exp_format_double(char *buf, double v)
{
    if (isnan(v))
        return (size_t)sprintf(buf, "NaN");
    if (isinf(v))
        return (size_t)sprintf(buf, v > 0 ? "+Inf" : "-Inf");
    if (v == 0)
        return (size_t)sprintf(buf, signbit(v) ? "-0" : "0");
    char d[24];
    int dp;
    int nd = shortest_digits(v, d, &dp);
    char *p = buf;
    if (v < 0)
        *p++ = '-';
    int exp = dp - 1;
    if (exp < -4 || exp >= 6) {
        *p++ = d[0];
        if (nd > 1) {
            *p++ = '.';
            memcpy(p, d + 1, (size_t)nd - 1);
            p += nd - 1;
        }
        p += sprintf(p, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    } else if (dp <= 0) {
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -dp; i++)
            *p++ = '0';
        memcpy(p, d, (size_t)nd);
        p += nd;
    } else {
        for (int i = 0; i < dp; i++)
            *p++ = i < nd ? d[i] : '0';
        if (nd > dp) {
            *p++ = '.';
            memcpy(p, d + dp, (size_t)(nd - dp));
            p += nd - dp;
        }
    }
    *p = '\0';
    return (size_t)(p - buf);
}

static void put_double(struct cn_buf *out, double v, bool om)
{
    char tmp[40];
    size_t n = exp_format_double(tmp, v);
    if (om && isfinite(v) && !memchr(tmp, '.', n) && !memchr(tmp, 'e', n)) {
        tmp[n++] = '.';
        tmp[n++] = '0';
    }
    cn_buf_append(out, tmp, n);
}

static void put_count(struct cn_buf *out, double v, bool om)
{
    if (om && v >= 0 && v < 1.8e19 && v == floor(v))
        cn_buf_printf(out, "%llu", (unsigned long long)v);
    else
        put_double(out, v, om);
}

static void put_escaped(struct cn_buf *out, const char *s, bool quote)
{
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *esc = NULL;
        if (*p == '\\')
            esc = "\\\\";
        else if (*p == '\n')
            esc = "\\n";
        else if (*p == '"' && quote)
            esc = "\\\"";
        if (esc) {
            cn_buf_append(out, run, (size_t)(p - run));
            cn_buf_append(out, esc, 2);
            run = p + 1;
        }
    }
    cn_buf_puts(out, run);
}

/* Writes name+suffix{labels[,extra="..."]} */
static void put_name_labels(struct cn_buf *out, const char *name, const char *suffix,
                            const struct exp_series *s, const char *extra_name,
                            const char *extra_value)
{
    cn_buf_puts(out, name);
    if (suffix)
        cn_buf_puts(out, suffix);
    if (s->nlabels == 0 && !extra_name)
        return;
    cn_buf_putc(out, '{');
    for (uint32_t i = 0; i < s->nlabels; i++) {
        if (i)
            cn_buf_putc(out, ',');
        cn_buf_puts(out, s->labels[i].name);
        cn_buf_append(out, "=\"", 2);
        put_escaped(out, s->labels[i].value, true);
        cn_buf_putc(out, '"');
    }
    if (extra_name) {
        if (s->nlabels)
            cn_buf_putc(out, ',');
        cn_buf_puts(out, extra_name);
        cn_buf_append(out, "=\"", 2);
        cn_buf_puts(out, extra_value);
        cn_buf_putc(out, '"');
    }
    cn_buf_putc(out, '}');
}

static void put_timestamp(struct cn_buf *out, int64_t ts, bool om)
{
    if (!ts)
        return;
    if (om)
        cn_buf_printf(out, " %s%lld.%03lld", ts < 0 ? "-" : "", (long long)llabs(ts / 1000),
                      (long long)llabs(ts % 1000));
    else
        cn_buf_printf(out, " %lld", (long long)ts);
}

static void put_sample(struct cn_buf *out, const char *name, const char *suffix,
                       const struct exp_series *s, const char *xn, const char *xv, double v,
                       bool count, bool om)
{
    put_name_labels(out, name, suffix, s, xn, xv);
    cn_buf_putc(out, ' ');
    if (count)
        put_count(out, v, om);
    else
        put_double(out, v, om);
    put_timestamp(out, s->timestamp_ms, om);
    cn_buf_putc(out, '\n');
}

static const char *type_name(enum exp_type t, bool om)
{
    switch (t) {
    case EXP_COUNTER: return "counter";
    case EXP_GAUGE: return "gauge";
    case EXP_SUMMARY: return "summary";
    case EXP_HISTOGRAM: return "histogram";
    default: return om ? "unknown" : "untyped";
    }
}

static void put_series(struct cn_buf *out, const struct exp_family *f, const char *name,
                       const struct exp_series *s, bool om)
{
    char le[40];
    switch (f->type) {
    case EXP_COUNTER:
        put_sample(out, name, om ? "_total" : NULL, s, NULL, NULL, s->value, false, om);
        break;
    case EXP_GAUGE:
    case EXP_UNTYPED: put_sample(out, name, NULL, s, NULL, NULL, s->value, false, om); break;
    case EXP_SUMMARY:
        for (uint32_t i = 0; i < s->nbuckets; i++) {
            size_t n = exp_format_double(le, s->buckets[i].upper);
            if (om && isfinite(s->buckets[i].upper) && !memchr(le, '.', n) && !memchr(le, 'e', n))
                memcpy(le + n, ".0", 3);
            put_sample(out, name, NULL, s, "quantile", le, s->buckets[i].count, false, om);
        }
        put_sample(out, name, "_sum", s, NULL, NULL, s->sum, false, om);
        put_sample(out, name, "_count", s, NULL, NULL, s->count, true, om);
        break;
    case EXP_HISTOGRAM: {
        bool inf = false;
        for (uint32_t i = 0; i < s->nbuckets; i++) {
            size_t n = exp_format_double(le, s->buckets[i].upper);
            if (om && isfinite(s->buckets[i].upper) && !memchr(le, '.', n) && !memchr(le, 'e', n))
                memcpy(le + n, ".0", 3);
            inf |= isinf(s->buckets[i].upper) && s->buckets[i].upper > 0;
            put_sample(out, name, "_bucket", s, "le", le, s->buckets[i].count, true, om);
        }
        if (!inf)
            put_sample(out, name, "_bucket", s, "le", "+Inf", s->count, true, om);
        put_sample(out, name, "_sum", s, NULL, NULL, s->sum, false, om);
        put_sample(out, name, "_count", s, NULL, NULL, s->count, true, om);
        break;
    }
    }
}

void exp_encode(struct cn_buf *out, struct exp_family *const *fams, size_t n, enum exp_format fmt)
{
    bool om = fmt == EXP_FMT_OPENMETRICS;
    char name[512];
    for (size_t i = 0; i < n; i++) {
        const struct exp_family *f = fams[i];
        if (f->nseries == 0)
            continue;
        /* Same-named neighbours share one HELP/TYPE header. */
        bool header = true;
        for (size_t j = i; j > 0; j--) {
            if (strcmp(fams[j - 1]->name, f->name) != 0)
                break;
            if (fams[j - 1]->nseries) {
                header = false;
                break;
            }
        }
        const char *fname = f->name;
        if (om && f->type == EXP_COUNTER) {
            size_t len = strlen(f->name);
            if (len > 6 && len < sizeof(name) && strcmp(f->name + len - 6, "_total") == 0) {
                memcpy(name, f->name, len - 6);
                name[len - 6] = '\0';
                fname = name;
            }
        }
        if (header) {
            if (f->help && *f->help) {
                cn_buf_append(out, "# HELP ", 7);
                cn_buf_puts(out, fname);
                cn_buf_putc(out, ' ');
                put_escaped(out, f->help, om);
                cn_buf_putc(out, '\n');
            }
            cn_buf_append(out, "# TYPE ", 7);
            cn_buf_puts(out, fname);
            cn_buf_putc(out, ' ');
            cn_buf_puts(out, type_name(f->type, om));
            cn_buf_putc(out, '\n');
        }
        for (uint32_t j = 0; j < f->nseries; j++)
            put_series(out, f, fname, &f->series[j], om);
    }
    if (om)
        cn_buf_puts(out, "# EOF\n");
}
