/*
 * PromQL's functions (Prometheus 2.42): the table the parser checks calls
 * against, and the implementations the evaluator calls once per step (see
 * struct promql_fcall in internal.h for the calling convention).
 *
 * Every implementation follows promql/functions.go and quantile.go of
 * Prometheus 2.42 operation for operation, because results are compared
 * with Prometheus' to the last bits: the same Kahan-Neumaier compensated
 * sums (sum/avg/stddev/stdvar_over_time, the linear regression of deriv and
 * predict_linear), the same order of floating-point operations in
 * extrapolatedRate and holt_winters, Go's math.Max/Min (NaN and signed-zero
 * rules differ from C's fmax/fmin), Go's log2/log10 formulas, Go's
 * strconv.ParseFloat grammar for `le` labels, Go's time package arithmetic
 * for the date functions (including what amd64 makes of int64(NaN)), and
 * the ordering Go's sort gives sort()/sort_desc() on NaN.
 *
 * label_replace() needs capture groups, which the tsdb matchers do not
 * keep: the regex is first checked by tsdb_matcher_create() (so exactly the
 * patterns Go refuses are refused), then compiled here with PCRE2 anchored
 * as Prometheus anchors it, "^(?:re)$", with captures on. The replacement is
 * expanded as Go's Regexp.ExpandString does. What PCRE reads differently
 * from RE2 and the tsdb matcher rewrites (\s including VT, octal escapes
 * such as \12, "-" after a class inside a class, group names starting with
 * a digit) is not rewritten here; such patterns behave as PCRE reads them.
 *
 * Native histograms are not stored, so histogram_count/sum/fraction find
 * only float samples and return nothing, as Prometheus does for them.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "promql/internal.h"

/* ---- shared helpers ------------------------------------------------------------ */

static int exec_error(struct promql_fcall *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int exec_error(struct promql_fcall *c, const char *fmt, ...)
{
    if (c->err && c->errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errcap, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Appends the one sample of a range-vector function or a scalar function;
 * its labels are empty (the evaluator sets a range function's). */
static int push_value(struct promql_fcall *c, double v)
{
    return pql_vector_push(c->out, pql_labels_empty(), c->ts, v);
}

/* Appends v with the sample's labels minus __name__. */
static int push_dropped(struct promql_fcall *c, struct promql_labels *ls, double v)
{
    return pql_vector_push(c->out, pql_labels_drop_name(ls), c->ts, v);
}

/* Go's math.Max and math.Min: an infinity wins over NaN, NaN over numbers,
 * and +0 is larger than -0. */
static double go_max(double x, double y)
{
    if ((isinf(x) && x > 0) || (isinf(y) && y > 0))
        return INFINITY;
    if (isnan(x) || isnan(y))
        return NAN;
    if (x == 0 && x == y)
        return signbit(x) ? y : x;
    return x > y ? x : y;
}

static double go_min(double x, double y)
{
    if ((isinf(x) && x < 0) || (isinf(y) && y < 0))
        return -INFINITY;
    if (isnan(x) || isnan(y))
        return NAN;
    if (x == 0 && x == y)
        return signbit(x) ? x : y;
    return x < y ? x : y;
}

/* Kahan summation with Neumaier's improvement, as Prometheus' kahanSumInc:
 * adds inc to *sum, accumulating the lost low-order bits in *comp. */
static void kahan_inc(double inc, double *sum, double *comp)
{
    double t = *sum + inc;
    if (fabs(*sum) >= fabs(inc))
        *comp += (*sum - t) + inc;
    else
        *comp += (inc - t) + *sum;
    *sum = t;
}

/* model.LabelNameRE: ^[a-zA-Z_][a-zA-Z0-9_]*$ */
static bool valid_label_name(const char *s)
{
    if (!s[0])
        return false;
    for (size_t i = 0; s[i]; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                  (i > 0 && ch >= '0' && ch <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* ---- rate, increase, delta, irate, idelta ------------------------------------------ */

/* time.Duration.Seconds() of the selector's range, as Go computes it. */
static double range_seconds(const struct promql_fcall *c)
{
    int64_t ms = c->range_end - c->range_start;
    return (double)(ms / 1000) + (double)((ms % 1000) * 1000000) / 1e9;
}

/* extrapolatedRate: the increase over the window with counter resets
 * corrected (counters), extrapolated to the window's ends when the first and
 * last samples lie close to them, per second for rate. */
static int extrapolated_rate(struct promql_fcall *c, bool is_counter, bool is_rate)
{
    const struct promql_point *p = c->args[0].pts;
    size_t n = c->args[0].npts;
    if (n < 2)
        return 0;

    double result = p[n - 1].v - p[0].v;
    if (is_counter) {
        double prev = p[0].v;
        for (size_t i = 1; i < n; i++) {
            if (p[i].v < prev)
                result += prev;
            prev = p[i].v;
        }
    }

    double to_start = (double)(p[0].t - c->range_start) / 1000;
    double to_end = (double)(c->range_end - p[n - 1].t) / 1000;
    double sampled = (double)(p[n - 1].t - p[0].t) / 1000;
    double avg_between = sampled / (double)(n - 1);

    if (is_counter && result > 0 && p[0].v >= 0) {
        /* A counter cannot go below zero: do not extrapolate past the
         * point where the slope reaches it. */
        double to_zero = sampled * (p[0].v / result);
        if (to_zero < to_start)
            to_start = to_zero;
    }

    double threshold = avg_between * 1.1;
    double interval = sampled;
    if (to_start < threshold)
        interval += to_start;
    else
        interval += avg_between / 2;
    if (to_end < threshold)
        interval += to_end;
    else
        interval += avg_between / 2;

    double factor = interval / sampled;
    if (is_rate)
        factor /= range_seconds(c);
    result *= factor;
    return push_value(c, result);
}

static int fn_rate(struct promql_fcall *c)
{
    return extrapolated_rate(c, true, true);
}

static int fn_increase(struct promql_fcall *c)
{
    return extrapolated_rate(c, true, false);
}

static int fn_delta(struct promql_fcall *c)
{
    return extrapolated_rate(c, false, false);
}

/* instantValue: from the last two samples of the window. */
static int instant_value(struct promql_fcall *c, bool is_rate)
{
    const struct promql_point *p = c->args[0].pts;
    size_t n = c->args[0].npts;
    if (n < 2)
        return 0;
    struct promql_point last = p[n - 1], prev = p[n - 2];
    double result;
    if (is_rate && last.v < prev.v)
        result = last.v; /* counter reset */
    else
        result = last.v - prev.v;
    int64_t interval = last.t - prev.t;
    if (interval == 0)
        return 0;
    if (is_rate)
        result /= (double)interval / 1000;
    return push_value(c, result);
}

static int fn_irate(struct promql_fcall *c)
{
    return instant_value(c, true);
}

static int fn_idelta(struct promql_fcall *c)
{
    return instant_value(c, false);
}

/* ---- changes, resets, deriv, predict_linear, holt_winters -------------------------- */

static int fn_changes(struct promql_fcall *c)
{
    const struct promql_point *p = c->args[0].pts;
    size_t n = c->args[0].npts;
    if (n == 0)
        return 0;
    size_t changes = 0;
    double prev = p[0].v;
    for (size_t i = 1; i < n; i++) {
        double cur = p[i].v;
        if (cur != prev && !(isnan(cur) && isnan(prev)))
            changes++;
        prev = cur;
    }
    return push_value(c, (double)changes);
}

static int fn_resets(struct promql_fcall *c)
{
    const struct promql_point *p = c->args[0].pts;
    size_t n = c->args[0].npts;
    if (n == 0)
        return 0;
    size_t resets = 0;
    double prev = p[0].v;
    for (size_t i = 1; i < n; i++) {
        if (p[i].v < prev)
            resets++;
        prev = p[i].v;
    }
    return push_value(c, (double)resets);
}

/* linearRegression: least squares over (seconds since intercept_t, value),
 * with compensated sums; a constant series has slope 0 (NaN for an
 * infinite constant). */
static void linear_regression(const struct promql_point *p, size_t np, int64_t intercept_t,
                              double *slope, double *intercept)
{
    double n = 0, sum_x = 0, c_x = 0, sum_y = 0, c_y = 0, sum_xy = 0, c_xy = 0, sum_x2 = 0,
           c_x2 = 0;
    double init_y = p[0].v;
    bool const_y = true;
    for (size_t i = 0; i < np; i++) {
        if (const_y && i > 0 && p[i].v != init_y)
            const_y = false;
        n += 1.0;
        double x = (double)(p[i].t - intercept_t) / 1e3;
        kahan_inc(x, &sum_x, &c_x);
        kahan_inc(p[i].v, &sum_y, &c_y);
        kahan_inc(x * p[i].v, &sum_xy, &c_xy);
        kahan_inc(x * x, &sum_x2, &c_x2);
    }
    if (const_y) {
        if (isinf(init_y)) {
            *slope = *intercept = NAN;
        } else {
            *slope = 0;
            *intercept = init_y;
        }
        return;
    }
    sum_x = sum_x + c_x;
    sum_y = sum_y + c_y;
    sum_xy = sum_xy + c_xy;
    sum_x2 = sum_x2 + c_x2;

    double cov_xy = sum_xy - sum_x * sum_y / n;
    double var_x = sum_x2 - sum_x * sum_x / n;
    *slope = cov_xy / var_x;
    *intercept = sum_y / n - *slope * sum_x / n;
}

static int fn_deriv(struct promql_fcall *c)
{
    const struct promql_point *p = c->args[0].pts;
    size_t n = c->args[0].npts;
    if (n < 2)
        return 0;
    /* Times relative to the first sample keep the sums small
     * (prometheus/prometheus#2674). */
    double slope, intercept;
    linear_regression(p, n, p[0].t, &slope, &intercept);
    return push_value(c, slope);
}

static int fn_predict_linear(struct promql_fcall *c)
{
    const struct promql_point *p = c->args[0].pts;
    size_t n = c->args[0].npts;
    double duration = c->args[1].scalar;
    if (n < 2)
        return 0;
    double slope, intercept;
    linear_regression(p, n, c->ts, &slope, &intercept);
    return push_value(c, slope * duration + intercept);
}

/* Go's %f: "+Inf", "-Inf" and "NaN" where C prints "inf" ... */
static const char *go_fmt_f(char *buf, size_t cap, double v)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    snprintf(buf, cap, "%f", v);
    return buf;
}

static double trend_value(size_t i, double tf, double s0, double s1, double b)
{
    if (i == 0)
        return b;
    double x = tf * (s1 - s0);
    double y = (1 - tf) * b;
    return x + y;
}

/* Double exponential smoothing with smoothing factor sf and trend factor tf. */
static int fn_holt_winters(struct promql_fcall *c)
{
    const struct promql_point *p = c->args[0].pts;
    size_t n = c->args[0].npts;
    double sf = c->args[1].scalar, tf = c->args[2].scalar;
    char buf[512];
    if (sf <= 0 || sf >= 1)
        return exec_error(c, "invalid smoothing factor. Expected: 0 < sf < 1, got: %s",
                          go_fmt_f(buf, sizeof(buf), sf));
    if (tf <= 0 || tf >= 1)
        return exec_error(c, "invalid trend factor. Expected: 0 < tf < 1, got: %s",
                          go_fmt_f(buf, sizeof(buf), tf));
    if (n < 2)
        return 0;
    double s0 = 0, s1 = p[0].v, b = p[1].v - p[0].v;
    for (size_t i = 1; i < n; i++) {
        double x = sf * p[i].v;
        b = trend_value(i - 1, tf, s0, s1, b);
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    return push_value(c, s1);
}

/* ---- *_over_time --------------------------------------------------------------------- */

static int fn_avg_over_time(struct promql_fcall *c)
{
    const struct promql_point *p = c->args[0].pts;
    size_t n = c->args[0].npts;
    if (n == 0)
        return 0;
    /* An incremental mean, which cannot overflow where a sum would. */
    double mean = 0, count = 0, comp = 0;
    for (size_t i = 0; i < n; i++) {
        double v = p[i].v;
        count++;
        if (isinf(mean)) {
            /* Inf - Inf would turn the mean into NaN: an infinite mean
             * stays as it is unless a NaN or the opposite infinity comes. */
            if (isinf(v) && (mean > 0) == (v > 0))
                continue;
            if (!isinf(v) && !isnan(v))
                continue;
        }
        kahan_inc(v / count - mean / count, &mean, &comp);
    }
    return push_value(c, isinf(mean) ? mean : mean + comp);
}

static int fn_count_over_time(struct promql_fcall *c)
{
    if (c->args[0].npts == 0)
        return 0;
    return push_value(c, (double)c->args[0].npts);
}

static int fn_last_over_time(struct promql_fcall *c)
{
    size_t n = c->args[0].npts;
    if (n == 0)
        return 0;
    return push_value(c, c->args[0].pts[n - 1].v);
}

static int fn_max_over_time(struct promql_fcall *c)
{
    const struct promql_point *p = c->args[0].pts;
    size_t n = c->args[0].npts;
    if (n == 0)
        return 0;
    double max = p[0].v;
    for (size_t i = 0; i < n; i++)
        if (p[i].v > max || isnan(max))
            max = p[i].v;
    return push_value(c, max);
}

static int fn_min_over_time(struct promql_fcall *c)
{
    const struct promql_point *p = c->args[0].pts;
    size_t n = c->args[0].npts;
    if (n == 0)
        return 0;
    double min = p[0].v;
    for (size_t i = 0; i < n; i++)
        if (p[i].v < min || isnan(min))
            min = p[i].v;
    return push_value(c, min);
}

static int fn_sum_over_time(struct promql_fcall *c)
{
    const struct promql_point *p = c->args[0].pts;
    size_t n = c->args[0].npts;
    if (n == 0)
        return 0;
    double sum = 0, comp = 0;
    for (size_t i = 0; i < n; i++)
        kahan_inc(p[i].v, &sum, &comp);
    return push_value(c, isinf(sum) ? sum : sum + comp);
}

static int fn_quantile_over_time(struct promql_fcall *c)
{
    double q = c->args[0].scalar;
    const struct promql_point *p = c->args[1].pts;
    size_t n = c->args[1].npts;
    if (n == 0)
        return 0;
    double *v = cn_malloc(n * sizeof(v[0]));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = p[i].v;
    double r = pql_quantile(q, v, n);
    free(v);
    return push_value(c, r);
}

/* Welford's running mean and sum of squared deviations, both compensated;
 * the variance of the population. */
static double variance_over_time(const struct promql_point *p, size_t n)
{
    double count = 0, mean = 0, c_mean = 0, aux = 0, c_aux = 0;
    for (size_t i = 0; i < n; i++) {
        count++;
        double delta = p[i].v - (mean + c_mean);
        kahan_inc(delta / count, &mean, &c_mean);
        kahan_inc(delta * (p[i].v - (mean + c_mean)), &aux, &c_aux);
    }
    return (aux + c_aux) / count;
}

static int fn_stddev_over_time(struct promql_fcall *c)
{
    if (c->args[0].npts == 0)
        return 0;
    return push_value(c, sqrt(variance_over_time(c->args[0].pts, c->args[0].npts)));
}

static int fn_stdvar_over_time(struct promql_fcall *c)
{
    if (c->args[0].npts == 0)
        return 0;
    return push_value(c, variance_over_time(c->args[0].pts, c->args[0].npts));
}

/* present_over_time, and absent_over_time for the series that have samples
 * (the evaluator turns those into the steps where none has any). */
static int fn_one_if_any(struct promql_fcall *c)
{
    if (c->args[0].npts == 0)
        return 0;
    return push_value(c, 1);
}

/* ---- absent -------------------------------------------------------------------------- */

struct promql_labels *pql_absent_labels(const struct promql_expr *arg)
{
    /* The evaluator of Prometheus strips parentheses off the arguments in
     * place before the call, so absent((x{a="b"})) keeps a="b". */
    while (arg && arg->kind == PROMQL_NODE_PAREN)
        arg = arg->paren;
    if (arg && arg->kind == PROMQL_NODE_MATRIX_SELECTOR)
        arg = arg->ms.vs;
    if (!arg || arg->kind != PROMQL_NODE_VECTOR_SELECTOR || arg->vs.nmatchers == 0)
        return pql_labels_empty();

    size_t nm = arg->vs.nmatchers;
    const char **seen = cn_malloc(nm * sizeof(seen[0]));
    if (!seen)
        return NULL;
    size_t nseen = 0;
    struct pql_lbuilder b = {0};
    pql_lbuilder_reset(&b, NULL);
    for (size_t i = 0; i < nm; i++) {
        const struct tsdb_matcher *m = arg->vs.matchers[i];
        const char *name = tsdb_matcher_name(m);
        if (!strcmp(name, "__name__"))
            continue;
        bool was_seen = false;
        for (size_t k = 0; k < nseen && !was_seen; k++)
            was_seen = !strcmp(seen[k], name);
        /* Only a name matched exactly once by equality is certain; later
         * matchers of a name drop it (Prometheus' historic behaviour). */
        if (tsdb_matcher_type(m) == TSDB_MATCH_EQ && !was_seen) {
            pql_lbuilder_set(&b, name, tsdb_matcher_value(m));
            seen[nseen++] = name;
        } else {
            pql_lbuilder_del(&b, name);
        }
    }
    struct promql_labels *out = pql_lbuilder_finish(&b);
    pql_lbuilder_free(&b);
    free(seen);
    return out;
}

static int fn_absent(struct promql_fcall *c)
{
    if (c->args[0].vec->n > 0)
        return 0;
    const struct promql_expr *arg = c->node ? c->node->call.args[0] : NULL;
    return pql_vector_push(c->out, pql_absent_labels(arg), c->ts, 1);
}

/* ---- element-wise math --------------------------------------------------------------- */

static int simple(struct promql_fcall *c, double (*f)(double))
{
    const struct promql_vector *vec = c->args[0].vec;
    for (size_t i = 0; i < vec->n; i++) {
        int rc = push_dropped(c, vec->v[i].labels, f(vec->v[i].v));
        if (rc)
            return rc;
    }
    return 0;
}

/* Go's math.Log2 and math.Log10, which are not C's log2 and log10 to the
 * last bit (Go's log10(1000) is 2.9999999999999996). The constants are
 * 1/Ln2 and 1/Ln10 rounded once, as Go's constant arithmetic does. */
static double go_log2(double x)
{
    int e;
    double frac = frexp(x, &e);
    if (frac == 0.5)
        return (double)(e - 1);
    return log(frac) * 1.442695040888963407359924681001892137426645954152985934135449407 +
           (double)e;
}

static double go_log10(double x)
{
    return log(x) * 0.4342944819032518276511289189166050822943970058036665661144537832;
}

static double go_sgn(double v)
{
    if (v < 0)
        return -1;
    if (v > 0)
        return 1;
    return v;
}

static double go_rad(double v)
{
    return v * M_PI / 180;
}

static double go_deg(double v)
{
    return v * 180 / M_PI;
}

#define SIMPLE_FN(name, f)                                                                         \
    static int fn_##name(struct promql_fcall *c)                                                   \
    {                                                                                              \
        return simple(c, f);                                                                       \
    }
SIMPLE_FN(abs, fabs)
SIMPLE_FN(ceil, ceil)
SIMPLE_FN(floor, floor)
SIMPLE_FN(exp, exp)
SIMPLE_FN(sqrt, sqrt)
SIMPLE_FN(ln, log)
SIMPLE_FN(log2, go_log2)
SIMPLE_FN(log10, go_log10)
SIMPLE_FN(sin, sin)
SIMPLE_FN(cos, cos)
SIMPLE_FN(tan, tan)
SIMPLE_FN(asin, asin)
SIMPLE_FN(acos, acos)
SIMPLE_FN(atan, atan)
SIMPLE_FN(sinh, sinh)
SIMPLE_FN(cosh, cosh)
SIMPLE_FN(tanh, tanh)
SIMPLE_FN(asinh, asinh)
SIMPLE_FN(acosh, acosh)
SIMPLE_FN(atanh, atanh)
SIMPLE_FN(rad, go_rad)
SIMPLE_FN(deg, go_deg)
SIMPLE_FN(sgn, go_sgn)
#undef SIMPLE_FN

static int fn_clamp(struct promql_fcall *c)
{
    const struct promql_vector *vec = c->args[0].vec;
    double min = c->args[1].scalar, max = c->args[2].scalar;
    if (max < min)
        return 0;
    for (size_t i = 0; i < vec->n; i++) {
        int rc = push_dropped(c, vec->v[i].labels, go_max(min, go_min(max, vec->v[i].v)));
        if (rc)
            return rc;
    }
    return 0;
}

static int fn_clamp_max(struct promql_fcall *c)
{
    const struct promql_vector *vec = c->args[0].vec;
    double max = c->args[1].scalar;
    for (size_t i = 0; i < vec->n; i++) {
        int rc = push_dropped(c, vec->v[i].labels, go_min(max, vec->v[i].v));
        if (rc)
            return rc;
    }
    return 0;
}

static int fn_clamp_min(struct promql_fcall *c)
{
    const struct promql_vector *vec = c->args[0].vec;
    double min = c->args[1].scalar;
    for (size_t i = 0; i < vec->n; i++) {
        int rc = push_dropped(c, vec->v[i].labels, go_max(min, vec->v[i].v));
        if (rc)
            return rc;
    }
    return 0;
}

/* round(v, to_nearest=1): ties round up; the inverse is multiplied with
 * because it loses less precision than dividing (Prometheus' reasoning). */
static int fn_round(struct promql_fcall *c)
{
    const struct promql_vector *vec = c->args[0].vec;
    double to_nearest = c->nargs >= 2 ? c->args[1].scalar : 1;
    double inverse = 1.0 / to_nearest;
    for (size_t i = 0; i < vec->n; i++) {
        double v = floor(vec->v[i].v * inverse + 0.5) / inverse;
        int rc = push_dropped(c, vec->v[i].labels, v);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- scalars, vector(), timestamp() -------------------------------------------------- */

static int fn_time(struct promql_fcall *c)
{
    return push_value(c, (double)c->ts / 1000);
}

static int fn_pi(struct promql_fcall *c)
{
    return push_value(c, M_PI);
}

static int fn_scalar(struct promql_fcall *c)
{
    const struct promql_vector *vec = c->args[0].vec;
    return push_value(c, vec->n == 1 ? vec->v[0].v : NAN);
}

static int fn_vector(struct promql_fcall *c)
{
    return push_value(c, c->args[0].scalar);
}

static int fn_timestamp(struct promql_fcall *c)
{
    const struct promql_vector *vec = c->args[0].vec;
    for (size_t i = 0; i < vec->n; i++) {
        int rc = push_dropped(c, vec->v[i].labels, (double)vec->v[i].t / 1000);
        if (rc)
            return rc;
    }
    return 0;
}

/* Native histograms are never stored, and these functions skip float
 * samples: the result is always empty. */
static int fn_native_histogram_only(struct promql_fcall *c)
{
    (void)c;
    return 0;
}

/* ---- sort, sort_desc ------------------------------------------------------------------ */

/* A stable merge sort of samples by value (none of them NaN). */
static void merge_sort(struct promql_sample *a, size_t n, struct promql_sample *tmp, bool desc)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_sort(a, h, tmp, desc);
    merge_sort(a + h, n - h, tmp, desc);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        bool take_right = desc ? a[j].v > a[i].v : a[j].v < a[i].v;
        tmp[k++] = take_right ? a[j++] : a[i++];
    }
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof(a[0]));
}

/*
 * sort() and sort_desc() keep the labels. NaN goes last. Prometheus sorts
 * with Go's sort.Sort under a comparison that holds every element less
 * than a NaN (a NaN also less than another); for the up to 12 elements Go
 * sorts by insertion, that puts the numbers in stable order and the NaNs
 * after them in reverse order. Longer vectors get the same order here;
 * Go's pattern-defeating quicksort leaves equal values in an unspecified
 * order there.
 */
static int sort_vector(struct promql_fcall *c, bool desc)
{
    const struct promql_vector *vec = c->args[0].vec;
    size_t base = c->out->n;
    for (size_t i = 0; i < vec->n; i++) {
        if (isnan(vec->v[i].v))
            continue;
        int rc = pql_vector_push(c->out, pql_labels_ref(vec->v[i].labels), c->ts, vec->v[i].v);
        if (rc)
            return rc;
    }
    size_t n = c->out->n - base;
    if (n > 1) {
        struct promql_sample *tmp = cn_malloc(n * sizeof(tmp[0]));
        if (!tmp)
            return -ENOMEM;
        merge_sort(c->out->v + base, n, tmp, desc);
        free(tmp);
    }
    for (size_t i = vec->n; i-- > 0;) {
        if (!isnan(vec->v[i].v))
            continue;
        int rc = pql_vector_push(c->out, pql_labels_ref(vec->v[i].labels), c->ts, vec->v[i].v);
        if (rc)
            return rc;
    }
    return 0;
}

static int fn_sort(struct promql_fcall *c)
{
    return sort_vector(c, false);
}

static int fn_sort_desc(struct promql_fcall *c)
{
    return sort_vector(c, true);
}

/* ---- date functions -------------------------------------------------------------------- */

/* A civil date as Go's time package computes it for time.Unix(sec, 0).UTC(). */
struct go_date {
    int64_t year;
    int month, day, yday, wday, hour, minute;
};

static bool go_is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

/*
 * Go counts "absolute" seconds from the year -292277022399 in a uint64
 * (time.absDate), wrapping on overflow; porting that exactly keeps even
 * absurd inputs (int64(NaN)) on Prometheus' answers. 9223372028715321600 is
 * Go's unixToInternal + internalToAbsolute.
 */
static const int days_before[13] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365};
static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

static void go_date_of(int64_t unix_sec, struct go_date *d)
{
    const uint64_t per400 = 365 * 400 + 97, per100 = 365 * 100 + 24, per4 = 365 * 4 + 1;
    uint64_t abs = (uint64_t)unix_sec + UINT64_C(9223372028715321600);

    uint64_t days = abs / 86400;
    uint64_t n = days / per400;
    uint64_t y = 400 * n;
    days -= per400 * n;
    n = days / per100;
    n -= n >> 2;
    y += 100 * n;
    days -= per100 * n;
    n = days / per4;
    y += 4 * n;
    days -= per4 * n;
    n = days / 365;
    n -= n >> 2;
    y += n;
    days -= 365 * n;

    d->year = (int64_t)y + INT64_C(-292277022399);
    d->yday = (int)days + 1;
    int day = (int)days;
    d->month = 0;
    if (go_is_leap(d->year)) {
        if (day > 31 + 29 - 1) {
            day--;
        } else if (day == 31 + 29 - 1) {
            d->month = 2;
            d->day = 29;
        }
    }
    if (d->month == 0) {
        int month = day / 31, begin;
        int end = days_before[month + 1];
        if (day >= end) {
            month++;
            begin = end;
        } else {
            begin = days_before[month];
        }
        d->month = month + 1;
        d->day = day - begin + 1;
    }
    /* The absolute epoch fell on a Monday. */
    d->wday = (int)(((abs + 86400) % (7 * 86400)) / 86400);
    d->hour = (int)(abs % 86400) / 3600;
    d->minute = (int)(abs % 3600) / 60;
}

/* Go's int64(v) on amd64: truncation, and 0x8000000000000000 for NaN and
 * anything out of range. */
static int64_t go_float_to_int64(double v)
{
    if (isnan(v) || v >= 9223372036854775808.0 || v < -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

enum date_part {
    D_DAY_OF_MONTH,
    D_DAY_OF_WEEK,
    D_DAY_OF_YEAR,
    D_DAYS_IN_MONTH,
    D_HOUR,
    D_MINUTE,
    D_MONTH,
    D_YEAR
};

static double date_part(int64_t unix_sec, enum date_part part)
{
    struct go_date d;
    go_date_of(unix_sec, &d);
    switch (part) {
    case D_DAY_OF_MONTH: return d.day;
    case D_DAY_OF_WEEK: return d.wday;
    case D_DAY_OF_YEAR: return d.yday;
    case D_DAYS_IN_MONTH: return d.month == 2 && go_is_leap(d.year) ? 29 : month_days[d.month - 1];
    case D_HOUR: return d.hour;
    case D_MINUTE: return d.minute;
    case D_MONTH: return d.month;
    case D_YEAR: return (double)d.year;
    }
    return NAN;
}

/* Without an argument, of the evaluation time (vector(time())); else of
 * each sample's value, in seconds since the epoch, UTC. */
static int date_fn(struct promql_fcall *c, enum date_part part)
{
    if (c->nargs == 0)
        return push_value(c, date_part(c->ts / 1000, part));
    const struct promql_vector *vec = c->args[0].vec;
    for (size_t i = 0; i < vec->n; i++) {
        double v = date_part(go_float_to_int64(vec->v[i].v), part);
        int rc = push_dropped(c, vec->v[i].labels, v);
        if (rc)
            return rc;
    }
    return 0;
}

#define DATE_FN(name, part)                                                                        \
    static int fn_##name(struct promql_fcall *c)                                                   \
    {                                                                                              \
        return date_fn(c, part);                                                                   \
    }
DATE_FN(day_of_month, D_DAY_OF_MONTH)
DATE_FN(day_of_week, D_DAY_OF_WEEK)
DATE_FN(day_of_year, D_DAY_OF_YEAR)
DATE_FN(days_in_month, D_DAYS_IN_MONTH)
DATE_FN(hour, D_HOUR)
DATE_FN(minute, D_MINUTE)
DATE_FN(month, D_MONTH)
DATE_FN(year, D_YEAR)
#undef DATE_FN

/* ---- label_replace, label_join ----------------------------------------------------------- */

/* The regex of one label_replace() call, with captures. */
struct replace_re {
    pcre2_code *re;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_code *namechar; /* \p{L} or \p{Nd}, compiled when a template needs it */
};

static void replace_re_free(struct replace_re *r)
{
    pcre2_code_free(r->namechar);
    pcre2_match_context_free(r->mctx);
    pcre2_match_data_free(r->md);
    pcre2_code_free(r->re);
}

static void replace_re_destroy(void *p)
{
    replace_re_free(p);
    free(p);
}

#define REPLACE_MATCH_LIMIT 1000000

/* 0, -EINVAL (a pattern Go refuses) or -ENOMEM. */
static int replace_re_compile(struct replace_re *r, const char *pattern)
{
    struct tsdb_matcher *m;
    char why[256];
    int rc = tsdb_matcher_create(TSDB_MATCH_RE, "", pattern, &m, why, sizeof(why));
    if (rc)
        return rc;
    tsdb_matcher_destroy(m);

    size_t len = strlen(pattern);
    char *anchored = cn_malloc(len + 7);
    if (!anchored)
        return -ENOMEM;
    memcpy(anchored, "^(?:", 4);
    memcpy(anchored + 4, pattern, len);
    memcpy(anchored + 4 + len, ")$", 3);
    pcre2_compile_context *cctx = pcre2_compile_context_create(NULL);
    if (!cctx) {
        free(anchored);
        return -ENOMEM;
    }
    pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
    int ecode;
    PCRE2_SIZE eoff;
    r->re = pcre2_compile((PCRE2_SPTR)anchored, len + 6,
                          PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY |
                              PCRE2_ALT_CIRCUMFLEX | PCRE2_NEVER_BACKSLASH_C | PCRE2_NEVER_UCP,
                          &ecode, &eoff, cctx);
    pcre2_compile_context_free(cctx);
    free(anchored);
    if (!r->re)
        return ecode == PCRE2_ERROR_NOMEMORY ? -ENOMEM : -EINVAL;
    r->md = pcre2_match_data_create_from_pattern(r->re, NULL);
    r->mctx = pcre2_match_context_create(NULL);
    if (!r->md || !r->mctx)
        return -ENOMEM;
    pcre2_set_match_limit(r->mctx, REPLACE_MATCH_LIMIT);
    return 0;
}

/* The length of the rune at s if Go's unicode.IsLetter or IsDigit holds for
 * it, else 0. */
static size_t name_rune(struct replace_re *r, const char *s, int *err)
{
    unsigned char ch = (unsigned char)s[0];
    if (ch < 0x80) {
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_';
        return ok ? 1 : 0;
    }
    size_t len = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc0 ? 2 : 1;
    for (size_t k = 1; k < len; k++)
        if (((unsigned char)s[k] & 0xc0) != 0x80)
            return 0;
    if (!r->namechar) {
        int ecode;
        PCRE2_SIZE eoff;
        r->namechar = pcre2_compile((PCRE2_SPTR) "[\\p{L}\\p{Nd}]", PCRE2_ZERO_TERMINATED,
                                    PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_ANCHORED, &ecode,
                                    &eoff, NULL);
        if (!r->namechar) {
            *err = -ENOMEM;
            return 0;
        }
    }
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) {
        *err = -ENOMEM;
        return 0;
    }
    int rc = pcre2_match(r->namechar, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0 ? len : 0;
}

/*
 * Regexp.ExpandString: "$$" is "$"; "$name" or "${name}" is the capture
 * named so or numbered so (name: the longest run of letters, digits and
 * "_"; a number has no leading zero), an unset or unknown one is empty; any
 * other "$" is literal.
 */
static int expand_template(struct replace_re *r, const char *tmpl, const char *src,
                           struct cn_buf *out)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->md);
    uint32_t npairs = pcre2_get_ovector_count(r->md);
    int err = 0;
    const char *t = tmpl;
    for (;;) {
        const char *dollar = strchr(t, '$');
        if (!dollar)
            break;
        cn_buf_append(out, t, (size_t)(dollar - t));
        t = dollar + 1;
        if (*t == '$') {
            cn_buf_putc(out, '$');
            t++;
            continue;
        }
        const char *s = t;
        bool brace = *s == '{';
        if (brace)
            s++;
        size_t nlen = 0, k;
        while (s[nlen] && (k = name_rune(r, s + nlen, &err)) > 0)
            nlen += k;
        if (err)
            return err;
        if (nlen == 0 || (brace && s[nlen] != '}')) {
            cn_buf_putc(out, '$'); /* malformed: the "$" is text */
            continue;
        }
        t = s + nlen + (brace ? 1 : 0);

        long num = 0;
        for (size_t i = 0; i < nlen; i++) {
            if (s[i] < '0' || s[i] > '9' || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (s[i] - '0');
        }
        if (s[0] == '0' && nlen > 1)
            num = -1;
        if (num < 0) {
            char *name = cn_strndup(s, nlen);
            if (!name)
                return -ENOMEM;
            int g = pcre2_substring_number_from_name(r->re, (PCRE2_SPTR)name);
            free(name);
            num = g > 0 ? g : -1;
        }
        if (num >= 0 && (uint32_t)num < npairs && ov[2 * num] != PCRE2_UNSET)
            cn_buf_append(out, src + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
    }
    cn_buf_puts(out, t);
    return 0;
}

/* label_replace(v, dst, replacement, src, regex): where regex matches the
 * whole value of src, dst is set to the expanded replacement (deleted if
 * that is empty); other samples pass unchanged. __name__ is kept. */
static int fn_label_replace(struct promql_fcall *c)
{
    const struct promql_vector *vec = c->args[0].vec;
    const char *dst = c->args[1].str, *repl = c->args[2].str, *src = c->args[3].str,
               *regex = c->args[4].str;
    /* The regex is compiled at the first step and kept for the others. */
    struct replace_re *r = c->state->p;
    int rc = 0;
    if (!r) {
        r = cn_calloc(1, sizeof(*r));
        if (!r)
            return -ENOMEM;
        rc = replace_re_compile(r, regex);
        if (rc) {
            replace_re_free(r);
            free(r);
            if (rc == -EINVAL)
                return exec_error(c, "invalid regular expression in label_replace(): %s", regex);
            return rc;
        }
        c->state->p = r;
        c->state->free_fn = replace_re_destroy;
    }
    if (!valid_label_name(dst))
        return exec_error(c, "invalid destination label name in label_replace(): %s", dst);
    struct cn_buf res;
    cn_buf_init(&res);
    for (size_t i = 0; !rc && i < vec->n; i++) {
        struct promql_labels *ls = vec->v[i].labels;
        const char *val = pql_labels_get(ls, src);
        if (!val)
            val = "";
        int m = pcre2_match(r->re, (PCRE2_SPTR)val, strlen(val), 0, 0, r->md, r->mctx);
        if (m == PCRE2_ERROR_NOMEMORY) {
            rc = -ENOMEM;
            break;
        }
        struct promql_labels *outls;
        if (m < 0) {
            outls = pql_labels_ref(ls);
        } else {
            cn_buf_reset(&res);
            rc = expand_template(r, repl, val, &res);
            const char *v = cn_buf_cstr(&res);
            if (rc || res.err || !v) {
                rc = -ENOMEM;
                break;
            }
            pql_lbuilder_reset(c->lb, ls);
            pql_lbuilder_del(c->lb, dst);
            if (v[0])
                pql_lbuilder_set(c->lb, dst, v);
            outls = pql_lbuilder_finish(c->lb);
        }
        rc = pql_vector_push(c->out, outls, c->ts, vec->v[i].v);
    }
    cn_buf_free(&res);
    return rc;
}

/* label_join(v, dst, separator, src...): dst becomes the values of the
 * sources (missing ones empty) joined by separator, or is deleted if that
 * is empty. __name__ is kept. */
static int fn_label_join(struct promql_fcall *c)
{
    const struct promql_vector *vec = c->args[0].vec;
    const char *dst = c->args[1].str, *sep = c->args[2].str;
    for (size_t k = 3; k < c->nargs; k++)
        if (!valid_label_name(c->args[k].str))
            return exec_error(c, "invalid source label name in label_join(): %s", c->args[k].str);
    if (!valid_label_name(dst))
        return exec_error(c, "invalid destination label name in label_join(): %s", dst);

    struct cn_buf joined;
    cn_buf_init(&joined);
    int rc = 0;
    for (size_t i = 0; !rc && i < vec->n; i++) {
        struct promql_labels *ls = vec->v[i].labels;
        cn_buf_reset(&joined);
        for (size_t k = 3; k < c->nargs; k++) {
            if (k > 3)
                cn_buf_puts(&joined, sep);
            const char *v = pql_labels_get(ls, c->args[k].str);
            if (v)
                cn_buf_puts(&joined, v);
        }
        const char *v = cn_buf_cstr(&joined);
        if (joined.err || !v) {
            rc = -ENOMEM;
            break;
        }
        pql_lbuilder_reset(c->lb, ls);
        if (v[0])
            pql_lbuilder_set(c->lb, dst, v);
        else
            pql_lbuilder_del(c->lb, dst);
        rc = pql_vector_push(c->out, pql_lbuilder_finish(c->lb), c->ts, vec->v[i].v);
    }
    cn_buf_free(&joined);
    return rc;
}

/* ---- histogram_quantile ------------------------------------------------------------------ */

static bool lower_eq(char ch, char want)
{
    return (ch | 0x20) == want;
}

/* How many leading bytes of s equal the lower-case word w, ignoring case. */
static size_t prefix_nocase(const char *s, const char *w)
{
    size_t n = 0;
    while (s[n] && w[n] && lower_eq(s[n], w[n]))
        n++;
    return n;
}

/* strconv's underscoreOK: "_" only between digits (a base prefix counts as
 * a digit). */
static bool underscores_ok(const char *s, size_t len)
{
    char saw = '^';
    size_t i = 0;
    if (len >= 1 && (s[0] == '-' || s[0] == '+')) {
        s++;
        len--;
    }
    bool hex = false;
    if (len >= 2 && s[0] == '0' &&
        (lower_eq(s[1], 'b') || lower_eq(s[1], 'o') || lower_eq(s[1], 'x'))) {
        i = 2;
        saw = '0';
        hex = lower_eq(s[1], 'x');
    }
    for (; i < len; i++) {
        char ch = s[i];
        if ((ch >= '0' && ch <= '9') || (hex && (ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')) {
            saw = '0';
            continue;
        }
        if (ch == '_') {
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

/*
 * Go's strconv.ParseFloat(s, 64), which Prometheus reads `le` with: a
 * decimal or hexadecimal (0x..p..) float with optional underscores between
 * digits, or "inf"/"infinity" with an optional sign, or "nan", any case;
 * nothing else around it. Overflow (±Inf with ErrRange) fails too. The
 * value itself comes from strtod, correctly rounded like Go's.
 */
static bool go_parse_float(const char *s, double *out)
{
    size_t len = strlen(s);
    /* special(): infinities and NaN */
    {
        const char *p = s;
        double sign = 1;
        bool special = false;
        if (*p == '+' || *p == '-') {
            sign = *p == '-' ? -1 : 1;
            p++;
            special = true;
        }
        if (special || lower_eq(*p, 'i')) {
            size_t n = prefix_nocase(p, "infinity");
            if (n > 3 && n < 8)
                n = 3;
            if (n == 3 || n == 8) {
                if ((size_t)(p - s) + n != len)
                    return false;
                *out = sign * INFINITY;
                return true;
            }
        } else if (lower_eq(*p, 'n') && prefix_nocase(p, "nan") == 3) {
            if (len != 3)
                return false;
            *out = NAN;
            return true;
        }
    }
    /* readFloat(): the syntax */
    size_t i = 0;
    bool underscores = false, hex = false, sawdot = false, sawdigits = false;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    if (i + 2 < len && s[i] == '0' && lower_eq(s[i + 1], 'x')) {
        hex = true;
        i += 2;
    }
    for (; i < len; i++) {
        char ch = s[i];
        if (ch == '_') {
            underscores = true;
            continue;
        }
        if (ch == '.') {
            if (sawdot)
                break;
            sawdot = true;
            continue;
        }
        if ((ch >= '0' && ch <= '9') || (hex && (ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')) {
            sawdigits = true;
            continue;
        }
        break;
    }
    if (!sawdigits)
        return false;
    if (i < len && lower_eq(s[i], hex ? 'p' : 'e')) {
        i++;
        if (i >= len)
            return false;
        if (s[i] == '+' || s[i] == '-')
            i++;
        if (i >= len || s[i] < '0' || s[i] > '9')
            return false;
        for (; i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_'); i++)
            if (s[i] == '_')
                underscores = true;
    } else if (hex) {
        return false; /* a hexadecimal float needs its exponent */
    }
    if (i != len || (underscores && !underscores_ok(s, len)))
        return false;

    char small[64], *buf = len < sizeof(small) ? small : cn_malloc(len + 1);
    if (!buf)
        return false;
    size_t k = 0;
    for (size_t j = 0; j < len; j++)
        if (s[j] != '_')
            buf[k++] = s[j];
    buf[k] = '\0';
    errno = 0;
    double v = strtod(buf, NULL);
    bool range = errno == ERANGE && isinf(v);
    if (buf != small)
        free(buf);
    if (range)
        return false;
    *out = v;
    return true;
}

struct bucket {
    double upper, count;
};

/* One classic-histogram bucket sample, while grouping. */
struct bucket_ref {
    const struct promql_sample *s;
    double upper;
    size_t idx; /* position in the input, for a deterministic order */
};

/* Label sets compared as if neither had an `le` label. */
static int cmp_without_le(const struct promql_labels *a, const struct promql_labels *b)
{
    uint32_t i = 0, j = 0;
    for (;;) {
        if (i < a->n && !strcmp(a->v[i].name, "le"))
            i++;
        if (j < b->n && !strcmp(b->v[j].name, "le"))
            j++;
        if (i == a->n || j == b->n)
            return (i < a->n) - (j < b->n);
        int r = strcmp(a->v[i].name, b->v[j].name);
        if (!r)
            r = strcmp(a->v[i].value, b->v[j].value);
        if (r)
            return r;
        i++;
        j++;
    }
}

static int bucket_ref_cmp(const void *pa, const void *pb)
{
    const struct bucket_ref *a = pa, *b = pb;
    int r = cmp_without_le(a->s->labels, b->s->labels);
    if (r)
        return r;
    /* A NaN bound (le="NaN") sorts last, keeping the order total. */
    if (isnan(a->upper) != isnan(b->upper))
        return isnan(a->upper) ? 1 : -1;
    if (a->upper < b->upper)
        return -1;
    if (a->upper > b->upper)
        return 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* bucketQuantile: the q-quantile of a classic histogram by linear
 * interpolation inside the bucket the rank falls into. b is sorted by
 * upper bound and modified. */
static double bucket_quantile(double q, struct bucket *b, size_t n)
{
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0))
        return NAN;

    /* Buckets with the same bound written differently ("1", "1.0") add up. */
    struct bucket last = b[0];
    size_t m = 0;
    for (size_t i = 1; i < n; i++) {
        if (b[i].upper == last.upper) {
            last.count += b[i].count;
        } else {
            b[m++] = last;
            last = b[i];
        }
    }
    b[m++] = last;
    n = m;

    /* Counts that fall from one bucket to the next (a scrape racing a
     * recording rule) are raised to the largest seen so far. */
    double max = b[0].count;
    for (size_t i = 1; i < n; i++) {
        if (b[i].count > max)
            max = b[i].count;
        else if (b[i].count < max)
            b[i].count = max;
    }

    if (n < 2)
        return NAN;
    double observations = b[n - 1].count;
    if (observations == 0)
        return NAN;
    double rank = q * observations;
    /* sort.Search over the first n-1 buckets for count >= rank */
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t h = (lo + hi) / 2;
        if (!(b[h].count >= rank))
            lo = h + 1;
        else
            hi = h;
    }
    size_t k = lo;
    if (k == n - 1)
        return b[n - 2].upper;
    if (k == 0 && b[0].upper <= 0)
        return b[0].upper;
    double start = 0, end = b[k].upper, count = b[k].count;
    if (k > 0) {
        start = b[k - 1].upper;
        count -= b[k - 1].count;
        rank -= b[k - 1].count;
    }
    return start + (end - start) * (rank / count);
}

/* histogram_quantile(q, v) over classic histograms: the samples with a
 * parseable `le` grouped by their other labels (__name__ included), each
 * group giving one sample without __name__ and le. */
static int fn_histogram_quantile(struct promql_fcall *c)
{
    double q = c->args[0].scalar;
    const struct promql_vector *vec = c->args[1].vec;
    if (vec->n == 0)
        return 0;
    struct bucket_ref *refs = cn_malloc(vec->n * sizeof(refs[0]));
    struct bucket *b = cn_malloc(vec->n * sizeof(b[0]));
    if (!refs || !b) {
        free(refs);
        free(b);
        return -ENOMEM;
    }
    size_t nref = 0;
    for (size_t i = 0; i < vec->n; i++) {
        const char *le = pql_labels_get(vec->v[i].labels, "le");
        double upper;
        if (!le || !go_parse_float(le, &upper))
            continue; /* no bucket label or a malformed one */
        refs[nref++] = (struct bucket_ref){.s = &vec->v[i], .upper = upper, .idx = i};
    }
    qsort(refs, nref, sizeof(refs[0]), bucket_ref_cmp);

    int rc = 0;
    for (size_t g = 0; g < nref && !rc;) {
        size_t end = g + 1;
        while (end < nref && !cmp_without_le(refs[g].s->labels, refs[end].s->labels))
            end++;
        for (size_t k = g; k < end; k++)
            b[k - g] = (struct bucket){.upper = refs[k].upper, .count = refs[k].s->v};
        double v = bucket_quantile(q, b, end - g);
        pql_lbuilder_reset(c->lb, refs[g].s->labels);
        pql_lbuilder_del(c->lb, "__name__");
        pql_lbuilder_del(c->lb, "le");
        rc = pql_vector_push(c->out, pql_lbuilder_finish(c->lb), c->ts, v);
        g = end;
    }
    free(refs);
    free(b);
    return rc;
}

/* ---- the table ---------------------------------------------------------------------------- */

#define V PROMQL_TYPE_VECTOR
#define S PROMQL_TYPE_SCALAR
#define M PROMQL_TYPE_MATRIX
#define STR PROMQL_TYPE_STRING

/* Sorted by name for the binary search in promql_function_lookup(). */
static const struct promql_function functions[] = {
    {"abs", {V}, 1, 0, V, fn_abs},
    {"absent", {V}, 1, 0, V, fn_absent},
    {"absent_over_time", {M}, 1, 0, V, fn_one_if_any},
    {"acos", {V}, 1, 0, V, fn_acos},
    {"acosh", {V}, 1, 0, V, fn_acosh},
    {"asin", {V}, 1, 0, V, fn_asin},
    {"asinh", {V}, 1, 0, V, fn_asinh},
    {"atan", {V}, 1, 0, V, fn_atan},
    {"atanh", {V}, 1, 0, V, fn_atanh},
    {"avg_over_time", {M}, 1, 0, V, fn_avg_over_time},
    {"ceil", {V}, 1, 0, V, fn_ceil},
    {"changes", {M}, 1, 0, V, fn_changes},
    {"clamp", {V, S, S}, 3, 0, V, fn_clamp},
    {"clamp_max", {V, S}, 2, 0, V, fn_clamp_max},
    {"clamp_min", {V, S}, 2, 0, V, fn_clamp_min},
    {"cos", {V}, 1, 0, V, fn_cos},
    {"cosh", {V}, 1, 0, V, fn_cosh},
    {"count_over_time", {M}, 1, 0, V, fn_count_over_time},
    {"day_of_month", {V}, 1, 1, V, fn_day_of_month},
    {"day_of_week", {V}, 1, 1, V, fn_day_of_week},
    {"day_of_year", {V}, 1, 1, V, fn_day_of_year},
    {"days_in_month", {V}, 1, 1, V, fn_days_in_month},
    {"deg", {V}, 1, 0, V, fn_deg},
    {"delta", {M}, 1, 0, V, fn_delta},
    {"deriv", {M}, 1, 0, V, fn_deriv},
    {"exp", {V}, 1, 0, V, fn_exp},
    {"floor", {V}, 1, 0, V, fn_floor},
    {"histogram_count", {V}, 1, 0, V, fn_native_histogram_only},
    {"histogram_fraction", {S, S, V}, 3, 0, V, fn_native_histogram_only},
    {"histogram_quantile", {S, V}, 2, 0, V, fn_histogram_quantile},
    {"histogram_sum", {V}, 1, 0, V, fn_native_histogram_only},
    {"holt_winters", {M, S, S}, 3, 0, V, fn_holt_winters},
    {"hour", {V}, 1, 1, V, fn_hour},
    {"idelta", {M}, 1, 0, V, fn_idelta},
    {"increase", {M}, 1, 0, V, fn_increase},
    {"irate", {M}, 1, 0, V, fn_irate},
    {"label_join", {V, STR, STR, STR}, 4, -1, V, fn_label_join},
    {"label_replace", {V, STR, STR, STR, STR}, 5, 0, V, fn_label_replace},
    {"last_over_time", {M}, 1, 0, V, fn_last_over_time},
    {"ln", {V}, 1, 0, V, fn_ln},
    {"log10", {V}, 1, 0, V, fn_log10},
    {"log2", {V}, 1, 0, V, fn_log2},
    {"max_over_time", {M}, 1, 0, V, fn_max_over_time},
    {"min_over_time", {M}, 1, 0, V, fn_min_over_time},
    {"minute", {V}, 1, 1, V, fn_minute},
    {"month", {V}, 1, 1, V, fn_month},
    {"pi", {0}, 0, 0, S, fn_pi},
    {"predict_linear", {M, S}, 2, 0, V, fn_predict_linear},
    {"present_over_time", {M}, 1, 0, V, fn_one_if_any},
    {"quantile_over_time", {S, M}, 2, 0, V, fn_quantile_over_time},
    {"rad", {V}, 1, 0, V, fn_rad},
    {"rate", {M}, 1, 0, V, fn_rate},
    {"resets", {M}, 1, 0, V, fn_resets},
    {"round", {V, S}, 2, 1, V, fn_round},
    {"scalar", {V}, 1, 0, S, fn_scalar},
    {"sgn", {V}, 1, 0, V, fn_sgn},
    {"sin", {V}, 1, 0, V, fn_sin},
    {"sinh", {V}, 1, 0, V, fn_sinh},
    {"sort", {V}, 1, 0, V, fn_sort},
    {"sort_desc", {V}, 1, 0, V, fn_sort_desc},
    {"sqrt", {V}, 1, 0, V, fn_sqrt},
    {"stddev_over_time", {M}, 1, 0, V, fn_stddev_over_time},
    {"stdvar_over_time", {M}, 1, 0, V, fn_stdvar_over_time},
    {"sum_over_time", {M}, 1, 0, V, fn_sum_over_time},
    {"tan", {V}, 1, 0, V, fn_tan},
    {"tanh", {V}, 1, 0, V, fn_tanh},
    {"time", {0}, 0, 0, S, fn_time},
    {"timestamp", {V}, 1, 0, V, fn_timestamp},
    {"vector", {S}, 1, 0, V, fn_vector},
    {"year", {V}, 1, 1, V, fn_year},
};

static int function_cmp(const void *key, const void *ent)
{
    return strcmp(key, ((const struct promql_function *)ent)->name);
}

const struct promql_function *promql_function_lookup(const char *name)
{
    return bsearch(name, functions, sizeof(functions) / sizeof(functions[0]), sizeof(functions[0]),
                   function_cmp);
}
