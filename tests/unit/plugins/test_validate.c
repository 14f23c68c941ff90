/*
 * Tests of plg_adapt (plugins/host/validate.c): CollectResponse families
 * built in C as a plugin would send them, adapted into a builder, and the
 * result checked as exact text exposition (families, labels, values,
 * buckets, timestamps) together with the exact rejection counts per reason
 * and the first rejection message.
 *
 * The messages are heap-allocated the way protobuf-c's unpacker allocates
 * them, so cairn__plugin__v1__metric_family__free_unpacked frees them.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "plugins/host/internal.h"

TestSuite(plugins_validate);

/* ---- message construction ------------------------------------------------- */

#define T_COUNTER CAIRN__PLUGIN__V1__METRIC_TYPE__COUNTER
#define T_GAUGE CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE
#define T_SUMMARY CAIRN__PLUGIN__V1__METRIC_TYPE__SUMMARY
#define T_UNTYPED CAIRN__PLUGIN__V1__METRIC_TYPE__UNTYPED
#define T_HISTOGRAM CAIRN__PLUGIN__V1__METRIC_TYPE__HISTOGRAM
#define T_GAUGE_HISTOGRAM CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE_HISTOGRAM

typedef Cairn__Plugin__V1__MetricFamily MF;
typedef Cairn__Plugin__V1__Metric M;

/* The families of one response. */
struct resp {
    MF *fams[32];
    size_t n;
};

static void *zalloc(size_t n)
{
    void *p = calloc(1, n);
    cr_assert_not_null(p);
    return p;
}

static char *dup(const char *s)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    cr_assert_not_null(p);
    return p;
}

/* Appends p to the repeated field *arr of *n elements. */
static void push(void ***arr, size_t *n, void *p)
{
    void **a = realloc(*arr, (*n + 1) * sizeof(*a));
    cr_assert_not_null(a);
    a[(*n)++] = p;
    *arr = a;
}

static MF *family(struct resp *r, const char *name, const char *help, int type)
{
    MF *f = zalloc(sizeof(*f));
    cairn__plugin__v1__metric_family__init(f);
    f->name = dup(name);
    f->help = dup(help);
    f->has_type = 1;
    f->type = (Cairn__Plugin__V1__MetricType)type;
    cr_assert_lt(r->n, sizeof(r->fams) / sizeof(r->fams[0]));
    r->fams[r->n++] = f;
    return f;
}

/* A metric in f with label pairs given as name, value, ..., NULL. */
static M *metric(MF *f, ...)
{
    M *m = zalloc(sizeof(*m));
    cairn__plugin__v1__metric__init(m);
    va_list ap;
    va_start(ap, f);
    for (const char *name; (name = va_arg(ap, const char *));) {
        Cairn__Plugin__V1__LabelPair *lp = zalloc(sizeof(*lp));
        cairn__plugin__v1__label_pair__init(lp);
        lp->name = dup(name);
        lp->value = dup(va_arg(ap, const char *));
        push((void ***)&m->label, &m->n_label, lp);
    }
    va_end(ap);
    push((void ***)&f->metric, &f->n_metric, m);
    return m;
}

static void counter(M *m, double v)
{
    m->counter = zalloc(sizeof(*m->counter));
    cairn__plugin__v1__counter__init(m->counter);
    m->counter->has_value = 1;
    m->counter->value = v;
}

static void gauge(M *m, double v)
{
    m->gauge = zalloc(sizeof(*m->gauge));
    cairn__plugin__v1__gauge__init(m->gauge);
    m->gauge->has_value = 1;
    m->gauge->value = v;
}

static void untyped(M *m, double v)
{
    m->untyped = zalloc(sizeof(*m->untyped));
    cairn__plugin__v1__untyped__init(m->untyped);
    m->untyped->has_value = 1;
    m->untyped->value = v;
}

static void summary(M *m, uint64_t count, double sum)
{
    m->summary = zalloc(sizeof(*m->summary));
    cairn__plugin__v1__summary__init(m->summary);
    m->summary->has_sample_count = 1;
    m->summary->sample_count = count;
    m->summary->has_sample_sum = 1;
    m->summary->sample_sum = sum;
}

static void quantile(M *m, double q, double v)
{
    Cairn__Plugin__V1__Quantile *x = zalloc(sizeof(*x));
    cairn__plugin__v1__quantile__init(x);
    x->has_quantile = x->has_value = 1;
    x->quantile = q;
    x->value = v;
    push((void ***)&m->summary->quantile, &m->summary->n_quantile, x);
}

static void histogram(M *m, uint64_t count, double sum)
{
    m->histogram = zalloc(sizeof(*m->histogram));
    cairn__plugin__v1__histogram__init(m->histogram);
    m->histogram->has_sample_count = 1;
    m->histogram->sample_count = count;
    m->histogram->has_sample_sum = 1;
    m->histogram->sample_sum = sum;
}

static Cairn__Plugin__V1__Bucket *bucket(M *m, double le, uint64_t count)
{
    Cairn__Plugin__V1__Bucket *b = zalloc(sizeof(*b));
    cairn__plugin__v1__bucket__init(b);
    b->has_upper_bound = b->has_cumulative_count = 1;
    b->upper_bound = le;
    b->cumulative_count = count;
    push((void ***)&m->histogram->bucket, &m->histogram->n_bucket, b);
    return b;
}

static void resp_free(struct resp *r)
{
    for (size_t i = 0; i < r->n; i++)
        cairn__plugin__v1__metric_family__free_unpacked(r->fams[i], NULL);
    r->n = 0;
}

/* ---- running and checking ----------------------------------------------- */

/* Adapts r into a new finished builder; returns it. */
static struct exp_builder *adapt(struct resp *r, long max_series, struct plg_rejects *rej)
{
    struct exp_builder *b = exp_builder_create();
    cr_assert_not_null(b);
    cr_assert_eq(plg_adapt(r->fams, r->n, max_series, b, rej), 0);
    cr_assert_eq(exp_builder_error(b), 0);
    /* Duplicates were rejected before the builder saw them. */
    cr_assert_eq(exp_builder_finish(b), 0);
    return b;
}

static void expect_text(struct exp_builder *b, const char *want)
{
    size_t n;
    struct exp_family *const *fams = exp_builder_families(b, &n);
    struct cn_buf out;
    cn_buf_init(&out);
    exp_encode(&out, fams, n, EXP_FMT_TEXT);
    cr_assert_eq(out.err, 0);
    cr_assert_str_eq(cn_buf_cstr(&out), want);
    cn_buf_free(&out);
}

/* Rejection counts as reason=count pairs, e.g. "invalid_metric_name=3"
 * (reasons with 0 left out), for exact comparison. */
static void expect_rejects(const struct plg_rejects *rej, const char *want)
{
    char got[512] = "";
    size_t o = 0;
    for (int r = 0; r < PLG_REJECT_COUNT; r++)
        if (rej->count[r])
            o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s=%llu", o ? " " : "",
                                  plg_reject_name((enum plg_reject)r),
                                  (unsigned long long)rej->count[r]);
    cr_assert_str_eq(got, want);
}

/* Runs r with the default limit, checks text, rejections and first message. */
static void check(struct resp *r, const char *text, const char *rejects, const char *first)
{
    struct plg_rejects rej = {0};
    struct exp_builder *b = adapt(r, 0, &rej);
    expect_text(b, text);
    expect_rejects(&rej, rejects);
    cr_assert_str_eq(rej.first, first);
    exp_builder_unref(b);
    resp_free(r);
}

/* ---- tests ---------------------------------------------------------------- */

Test(plugins_validate, reject_names)
{
    const char *want[] = {"invalid_metric_name", "invalid_label_name", "invalid_label_value",
                          "duplicate_series",    "type_mismatch",      "invalid_counter",
                          "invalid_buckets",     "too_many_series"};
    for (int r = 0; r < PLG_REJECT_COUNT; r++)
        cr_assert_str_eq(plg_reject_name((enum plg_reject)r), want[r]);
}

Test(plugins_validate, good_families_of_every_type)
{
    struct resp r = {0};
    MF *f = family(&r, "app_requests_total", "Requests.", T_COUNTER);
    counter(metric(f, "method", "get", "code", "200", NULL), 5);
    M *m = metric(f, "method", "post", "code", "", NULL); /* empty value: absent */
    counter(m, 1);
    m->has_timestamp_ms = 1;
    m->timestamp_ms = 1700000000000;
    gauge(metric(family(&r, "app_temp", "", T_GAUGE), NULL), -3.5);
    untyped(metric(family(&r, "app_raw", NULL, T_UNTYPED), "x", "y", NULL), NAN);

    m = metric(family(&r, "app_latency", "Latency.", T_SUMMARY), NULL);
    summary(m, 100, 400.5);
    quantile(m, 0.99, 12);
    quantile(m, 0.5, 3);
    quantile(m, 0.9, NAN); /* a NaN value is allowed, as in Prometheus */

    m = metric(family(&r, "app_size", NULL, T_HISTOGRAM), "path", "/a", NULL);
    histogram(m, 9, 30);
    bucket(m, 1, 2);
    bucket(m, 5, 7); /* no +Inf bucket: added with the sample count */

    m = metric(family(&r, "app_queue", NULL, T_GAUGE_HISTOGRAM), NULL);
    histogram(m, 99, 2.25); /* the float counts win */
    m->histogram->has_sample_count_float = 1;
    m->histogram->sample_count_float = 4.5;
    Cairn__Plugin__V1__Bucket *bk = bucket(m, 0.5, 0);
    bk->has_cumulative_count_float = 1;
    bk->cumulative_count_float = 1.5;
    bk = bucket(m, INFINITY, 0);
    bk->has_cumulative_count_float = 1;
    bk->cumulative_count_float = 4.5;

    struct plg_rejects rej = {0};
    struct exp_builder *b = adapt(&r, 0, &rej);
    expect_text(b, "# HELP app_latency Latency.\n"
                   "# TYPE app_latency summary\n"
                   "app_latency{quantile=\"0.5\"} 3\n"
                   "app_latency{quantile=\"0.9\"} NaN\n"
                   "app_latency{quantile=\"0.99\"} 12\n"
                   "app_latency_sum 400.5\n"
                   "app_latency_count 100\n"
                   "# TYPE app_queue histogram\n"
                   "app_queue_bucket{le=\"0.5\"} 1.5\n"
                   "app_queue_bucket{le=\"+Inf\"} 4.5\n"
                   "app_queue_sum 2.25\n"
                   "app_queue_count 4.5\n"
                   "# TYPE app_raw untyped\n"
                   "app_raw{x=\"y\"} NaN\n"
                   "# HELP app_requests_total Requests.\n"
                   "# TYPE app_requests_total counter\n"
                   "app_requests_total{code=\"200\",method=\"get\"} 5\n"
                   "app_requests_total{method=\"post\"} 1 1700000000000\n"
                   "# TYPE app_size histogram\n"
                   "app_size_bucket{path=\"/a\",le=\"1\"} 2\n"
                   "app_size_bucket{path=\"/a\",le=\"5\"} 7\n"
                   "app_size_bucket{path=\"/a\",le=\"+Inf\"} 9\n"
                   "app_size_sum{path=\"/a\"} 30\n"
                   "app_size_count{path=\"/a\"} 9\n"
                   "# TYPE app_temp gauge\n"
                   "app_temp -3.5\n");
    expect_rejects(&rej, "");
    cr_assert_str_eq(rej.first, "");

    /* The structures behind the text: types, the explicit +Inf bucket. */
    size_t n;
    struct exp_family *const *fams = exp_builder_families(b, &n);
    cr_assert_eq(n, 6);
    const enum exp_type types[] = {EXP_SUMMARY, EXP_HISTOGRAM, EXP_UNTYPED,
                                   EXP_COUNTER, EXP_HISTOGRAM, EXP_GAUGE};
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(fams[i]->type, types[i], "family %s", fams[i]->name);
    const struct exp_series *s = &fams[4]->series[0];
    cr_assert_eq(s->nbuckets, 3);
    cr_assert(isinf(s->buckets[2].upper) && s->buckets[2].upper > 0);
    cr_assert_eq(s->buckets[2].count, 9);
    cr_assert_eq(s->count, 9);
    cr_assert_eq(s->sum, 30);
    cr_assert_eq(s->timestamp_ms, 0);
    cr_assert_eq(fams[3]->series[1].timestamp_ms, 1700000000000);
    exp_builder_unref(b);
    resp_free(&r);
}

Test(plugins_validate, invalid_metric_name)
{
    struct resp r = {0};
    MF *f = family(&r, "1bad", "x", T_GAUGE);
    gauge(metric(f, NULL), 1);
    gauge(metric(f, "a", "b", NULL), 2);
    gauge(metric(family(&r, "", NULL, T_GAUGE), NULL), 3);
    gauge(metric(family(&r, NULL, NULL, T_GAUGE), NULL), 4);
    gauge(metric(family(&r, "bad-name\n", NULL, T_GAUGE), NULL), 5);
    family(&r, "empty bad", NULL, T_GAUGE); /* no series: nothing to count */
    gauge(metric(family(&r, "good", NULL, T_GAUGE), NULL), 6);
    check(&r, "# TYPE good gauge\ngood 6\n", "invalid_metric_name=5",
          "invalid metric name \"1bad\"");

    gauge(metric(family(&r, "bad\"name\xff", NULL, T_GAUGE), NULL), 1);
    check(&r, "", "invalid_metric_name=1", "invalid metric name \"bad\\\"name\\xff\"");
}

Test(plugins_validate, invalid_label_name)
{
    struct resp r = {0};
    MF *f = family(&r, "foo", NULL, T_GAUGE);
    gauge(metric(f, "ok", "1", "1x", "v", NULL), 1);
    gauge(metric(f, "a-b", "v", NULL), 2);
    gauge(metric(f, "", "v", NULL), 3);
    M *m = metric(f, NULL);
    gauge(m, 4);
    Cairn__Plugin__V1__LabelPair *lp = zalloc(sizeof(*lp));
    cairn__plugin__v1__label_pair__init(lp); /* a pair without a name */
    lp->value = dup("v");
    push((void ***)&m->label, &m->n_label, lp);
    gauge(metric(f, "ok", "2", NULL), 5);
    check(&r, "# TYPE foo gauge\nfoo{ok=\"2\"} 5\n", "invalid_label_name=4",
          "family foo: invalid label name \"1x\"");
}

Test(plugins_validate, reserved_label_names)
{
    struct resp r = {0};
    MF *f = family(&r, "foo", NULL, T_GAUGE);
    gauge(metric(f, "__name__", "bar", NULL), 1);
    gauge(metric(f, "__x", "1", NULL), 2);
    gauge(metric(f, "le", "1", "quantile", "2", "_x", "3", NULL), 3); /* fine in a gauge */
    M *m = metric(family(&r, "h", NULL, T_HISTOGRAM), "le", "1", NULL);
    histogram(m, 0, 0);
    m = metric(family(&r, "s", NULL, T_SUMMARY), "quantile", "1", NULL);
    summary(m, 0, 0);
    check(&r, "# TYPE foo gauge\nfoo{_x=\"3\",le=\"1\",quantile=\"2\"} 3\n", "invalid_label_name=4",
          "family foo: reserved label name \"__name__\"");
}

Test(plugins_validate, repeated_label_name)
{
    struct resp r = {0};
    MF *f = family(&r, "foo", NULL, T_GAUGE);
    gauge(metric(f, "a", "1", "b", "2", "a", "3", NULL), 1);
    gauge(metric(f, "a", "", "a", "", NULL), 2); /* even with empty values */
    gauge(metric(f, "a", "1", "b", "2", NULL), 3);
    check(&r, "# TYPE foo gauge\nfoo{a=\"1\",b=\"2\"} 3\n", "invalid_label_name=2",
          "family foo: repeated label name \"a\"");
}

Test(plugins_validate, invalid_utf8)
{
    struct resp r = {0};
    MF *f = family(&r, "foo", "bad help \xc3\x28", T_GAUGE);
    gauge(metric(f, "a", "x\xff", NULL), 1);
    gauge(metric(f, "a", "\xed\xa0\x80", NULL), 2); /* a UTF-16 surrogate */
    gauge(metric(f, "a", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", NULL), 3);
    gauge(metric(family(&r, "bar", "caf\xc3\xa9", T_GAUGE), NULL), 4);
    /* Help that is not UTF-8 becomes "", which the encoder leaves out. */
    check(&r,
          "# HELP bar caf\xc3\xa9\n# TYPE bar gauge\nbar 4\n"
          "# TYPE foo gauge\nfoo{a=\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"} 3\n",
          "invalid_label_value=2", "family foo: label a: value \"x\\xff\" is not valid UTF-8");
}

Test(plugins_validate, duplicates)
{
    struct resp r = {0};
    MF *f = family(&r, "foo", NULL, T_GAUGE);
    gauge(metric(f, "a", "1", "b", "2", NULL), 1);
    gauge(metric(f, "b", "2", "a", "1", NULL), 2); /* same set, other order */
    gauge(metric(f, NULL), 3);
    gauge(metric(f, "c", "", NULL), 4); /* {c=""} is {} */
    gauge(metric(f, "a", "1", NULL), 5);
    /* A second family of the same name and type merges, duplicates too. */
    MF *g = family(&r, "foo", NULL, T_GAUGE);
    gauge(metric(g, "a", "1", NULL), 6);
    gauge(metric(g, "a", "2", NULL), 7);
    /* Same labels under another name are no duplicate. */
    gauge(metric(family(&r, "bar", NULL, T_GAUGE), "a", "1", "b", "2", NULL), 8);
    check(&r,
          "# TYPE bar gauge\nbar{a=\"1\",b=\"2\"} 8\n"
          "# TYPE foo gauge\nfoo 3\nfoo{a=\"1\"} 5\nfoo{a=\"1\",b=\"2\"} 1\nfoo{a=\"2\"} 7\n",
          "duplicate_series=3", "family foo: duplicate series {a=\"1\",b=\"2\"}");
}

Test(plugins_validate, counter_values)
{
    struct resp r = {0};
    MF *f = family(&r, "c_total", NULL, T_COUNTER);
    counter(metric(f, "i", "1", NULL), NAN);
    counter(metric(f, "i", "2", NULL), -1);
    counter(metric(f, "i", "3", NULL), -INFINITY);
    counter(metric(f, "i", "4", NULL), 0);
    counter(metric(f, "i", "5", NULL), INFINITY);
    M *m = metric(f, "i", "6", NULL);
    counter(m, 0);
    m->counter->has_value = 0; /* an absent value reads as 0 */
    check(&r,
          "# TYPE c_total counter\nc_total{i=\"4\"} 0\nc_total{i=\"5\"} +Inf\n"
          "c_total{i=\"6\"} 0\n",
          "invalid_counter=3", "family c_total: counter value nan");
}

Test(plugins_validate, type_mismatch)
{
    struct resp r = {0};
    MF *f = family(&r, "c_total", NULL, T_COUNTER);
    gauge(metric(f, "i", "1", NULL), 1); /* a gauge value in a counter */
    metric(f, "i", "2", NULL);           /* no value at all */
    counter(metric(f, "i", "3", NULL), 3);
    gauge(metric(family(&r, "g", NULL, T_GAUGE), NULL), 1);
    untyped(metric(family(&r, "g2", NULL, T_GAUGE), NULL), 1);
    metric(family(&r, "u", NULL, T_UNTYPED), NULL);
    metric(family(&r, "s", NULL, T_SUMMARY), NULL);
    metric(family(&r, "h", NULL, T_HISTOGRAM), NULL);
    metric(family(&r, "gh", NULL, T_GAUGE_HISTOGRAM), NULL);
    /* A type outside the enum: every series of the family. */
    f = family(&r, "odd", NULL, 17);
    gauge(metric(f, NULL), 1);
    counter(metric(f, "a", "b", NULL), 1);
    /* The same name again with another type. */
    counter(metric(family(&r, "g", NULL, T_COUNTER), "x", "1", NULL), 2);
    check(&r, "# TYPE c_total counter\nc_total{i=\"3\"} 3\n# TYPE g gauge\ng 1\n",
          "type_mismatch=10", "family c_total: series without a counter value");
}

Test(plugins_validate, unset_type_is_counter)
{
    struct resp r = {0};
    MF *f = family(&r, "c_total", NULL, T_COUNTER);
    f->has_type = 0;
    counter(metric(f, NULL), 2);
    check(&r, "# TYPE c_total counter\nc_total 2\n", "", "");
}

Test(plugins_validate, bad_histograms)
{
    struct resp r = {0};
    MF *f = family(&r, "h", NULL, T_HISTOGRAM);
    M *m = metric(f, "case", "descending", NULL);
    histogram(m, 5, 1);
    bucket(m, 2, 1);
    bucket(m, 1, 2);
    m = metric(f, "case", "equal", NULL);
    histogram(m, 5, 1);
    bucket(m, 1, 1);
    bucket(m, 1, 2);
    m = metric(f, "case", "nan_bound", NULL);
    histogram(m, 5, 1);
    bucket(m, NAN, 1);
    m = metric(f, "case", "decreasing", NULL);
    histogram(m, 5, 1);
    bucket(m, 1, 3);
    bucket(m, 2, 2);
    m = metric(f, "case", "inf_not_count", NULL);
    histogram(m, 5, 1);
    bucket(m, 1, 3);
    bucket(m, INFINITY, 4);
    m = metric(f, "case", "count_below_bucket", NULL);
    histogram(m, 2, 1);
    bucket(m, 1, 3);
    m = metric(f, "case", "inf_not_last", NULL);
    histogram(m, 5, 1);
    bucket(m, INFINITY, 5);
    bucket(m, 1, 5);
    m = metric(f, "case", "nan_count", NULL);
    histogram(m, 5, 1);
    m->histogram->has_sample_count_float = 1;
    m->histogram->sample_count_float = NAN;
    m = metric(f, "case", "negative_bucket_count", NULL);
    histogram(m, 5, 1);
    Cairn__Plugin__V1__Bucket *bk = bucket(m, 1, 0);
    bk->has_cumulative_count_float = 1;
    bk->cumulative_count_float = -1;
    /* Good ones: -Inf and negative bounds, no buckets at all. */
    m = metric(f, "case", "good", NULL);
    histogram(m, 4, -2);
    bucket(m, -INFINITY, 0);
    bucket(m, -1, 1);
    bucket(m, INFINITY, 4);
    m = metric(f, "case", "no_buckets", NULL);
    histogram(m, 3, 6);
    check(&r,
          "# TYPE h histogram\n"
          "h_bucket{case=\"good\",le=\"-Inf\"} 0\n"
          "h_bucket{case=\"good\",le=\"-1\"} 1\n"
          "h_bucket{case=\"good\",le=\"+Inf\"} 4\n"
          "h_sum{case=\"good\"} -2\n"
          "h_count{case=\"good\"} 4\n"
          "h_bucket{case=\"no_buckets\",le=\"+Inf\"} 3\n"
          "h_sum{case=\"no_buckets\"} 6\n"
          "h_count{case=\"no_buckets\"} 3\n",
          "invalid_buckets=9", "family h: bucket bound 1 not ascending");
}

Test(plugins_validate, bad_summaries)
{
    struct resp r = {0};
    MF *f = family(&r, "s", NULL, T_SUMMARY);
    M *m = metric(f, "case", "above_one", NULL);
    summary(m, 1, 1);
    quantile(m, 1.5, 1);
    m = metric(f, "case", "negative", NULL);
    summary(m, 1, 1);
    quantile(m, -0.1, 1);
    m = metric(f, "case", "nan", NULL);
    summary(m, 1, 1);
    quantile(m, NAN, 1);
    m = metric(f, "case", "repeated", NULL);
    summary(m, 1, 1);
    quantile(m, 0.5, 1);
    quantile(m, 0.5, 2);
    m = metric(f, "case", "bounds", NULL);
    summary(m, 2, 3);
    quantile(m, 1, 5);
    quantile(m, 0, 1);
    m = metric(f, "case", "none", NULL);
    summary(m, 0, 0);
    check(&r,
          "# TYPE s summary\n"
          "s{case=\"bounds\",quantile=\"0\"} 1\n"
          "s{case=\"bounds\",quantile=\"1\"} 5\n"
          "s_sum{case=\"bounds\"} 3\n"
          "s_count{case=\"bounds\"} 2\n"
          "s_sum{case=\"none\"} 0\n"
          "s_count{case=\"none\"} 0\n",
          "invalid_buckets=4", "family s: quantile 1.5 outside [0, 1]");
}

Test(plugins_validate, max_series)
{
    struct resp r = {0};
    char v[8];
    MF *f = family(&r, "first", NULL, T_GAUGE);
    for (int i = 0; i < 15; i++) {
        snprintf(v, sizeof(v), "%02d", i);
        gauge(metric(f, "i", v, NULL), i);
    }
    f = family(&r, "second", NULL, T_GAUGE);
    for (int i = 0; i < 10; i++) {
        snprintf(v, sizeof(v), "%02d", i);
        gauge(metric(f, "i", v, NULL), i);
    }
    struct plg_rejects rej = {0};
    struct exp_builder *b = adapt(&r, 10, &rej);
    size_t n;
    struct exp_family *const *fams = exp_builder_families(b, &n);
    cr_assert_eq(n, 1); /* "second" got no series, so it does not exist */
    cr_assert_str_eq(fams[0]->name, "first");
    cr_assert_eq(fams[0]->nseries, 10);
    for (uint32_t i = 0; i < 10; i++)
        cr_assert_eq(fams[0]->series[i].value, i);
    expect_rejects(&rej, "too_many_series=15");
    cr_assert_str_eq(rej.first, "family first: more than 10 series");
    exp_builder_unref(b);
    resp_free(&r);
}

Test(plugins_validate, default_max_series)
{
    struct resp r = {0};
    char v[16];
    MF *f = family(&r, "g", NULL, T_GAUGE);
    for (int i = 0; i < PLG_HOST_MAX_SERIES + 2; i++) {
        snprintf(v, sizeof(v), "%d", i);
        gauge(metric(f, "i", v, NULL), i);
    }
    struct plg_rejects rej = {0};
    struct exp_builder *b = adapt(&r, 0, &rej);
    size_t n;
    struct exp_family *const *fams = exp_builder_families(b, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(fams[0]->nseries, PLG_HOST_MAX_SERIES);
    expect_rejects(&rej, "too_many_series=2");
    exp_builder_unref(b);
    resp_free(&r);
}

Test(plugins_validate, bad_family_keeps_good_ones)
{
    struct resp r = {0};
    gauge(metric(family(&r, "a", NULL, T_GAUGE), NULL), 1);
    MF *f = family(&r, "b", NULL, T_COUNTER);
    counter(metric(f, "__bad", "1", NULL), 1);
    counter(metric(f, "x", "\xff", NULL), 1);
    counter(metric(f, NULL), -5);
    counter(metric(f, "ok", "yes", NULL), 2); /* the rest of a family stays */
    gauge(metric(family(&r, "9c", NULL, T_GAUGE), NULL), 1);
    gauge(metric(family(&r, "d", NULL, 99), NULL), 1);
    gauge(metric(family(&r, "e", NULL, T_GAUGE), NULL), 5);
    check(&r, "# TYPE a gauge\na 1\n# TYPE b counter\nb{ok=\"yes\"} 2\n# TYPE e gauge\ne 5\n",
          "invalid_metric_name=1 invalid_label_name=1 invalid_label_value=1 type_mismatch=1 "
          "invalid_counter=1",
          "family b: reserved label name \"__bad\"");
}

Test(plugins_validate, rejects_accumulate_across_calls)
{
    struct plg_rejects rej = {0};
    struct resp r = {0};
    gauge(metric(family(&r, "a", NULL, T_GAUGE), "1x", "v", NULL), 1);
    struct exp_builder *b = adapt(&r, 0, &rej);
    exp_builder_unref(b);
    resp_free(&r);
    expect_rejects(&rej, "invalid_label_name=1");
    cr_assert_str_eq(rej.first, "family a: invalid label name \"1x\"");

    /* The second call counts on; first describes this call only. */
    MF *f = family(&r, "b", NULL, T_GAUGE);
    gauge(metric(f, "1y", "v", NULL), 1);
    gauge(metric(f, "z", "\xfe", NULL), 1);
    b = adapt(&r, 0, &rej);
    exp_builder_unref(b);
    resp_free(&r);
    expect_rejects(&rej, "invalid_label_name=2 invalid_label_value=1");
    cr_assert_str_eq(rej.first, "family b: invalid label name \"1y\"");

    /* A clean call leaves first empty. */
    gauge(metric(family(&r, "c", NULL, T_GAUGE), NULL), 1);
    b = adapt(&r, 0, &rej);
    exp_builder_unref(b);
    resp_free(&r);
    expect_rejects(&rej, "invalid_label_name=2 invalid_label_value=1");
    cr_assert_str_eq(rej.first, "");
}

Test(plugins_validate, existing_family_of_another_type)
{
    /* The builder may hold families already (self-metrics): a plugin's
     * family of that name and another type is a mismatch. */
    struct exp_builder *b = exp_builder_create();
    cr_assert_not_null(exp_gauge(b, "up", "", 1, 0));
    struct resp r = {0};
    counter(metric(family(&r, "up", NULL, T_COUNTER), NULL), 1);
    gauge(metric(family(&r, "up", NULL, T_GAUGE), "x", "1", NULL), 2);
    struct plg_rejects rej = {0};
    cr_assert_eq(plg_adapt(r.fams, r.n, 0, b, &rej), 0);
    exp_builder_finish(b);
    expect_text(b, "# TYPE up gauge\nup 1\nup{x=\"1\"} 2\n");
    expect_rejects(&rej, "type_mismatch=1");
    cr_assert_str_eq(rej.first, "family up: family already exported with another type");
    exp_builder_unref(b);
    resp_free(&r);
}

Test(plugins_validate, long_first_message_is_cut)
{
    char name[400], value[400];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    struct resp r = {0};
    MF *f = family(&r, name, NULL, T_GAUGE);
    gauge(metric(f, "a", value, NULL), 1);
    gauge(metric(f, "a", value, NULL), 1);
    struct plg_rejects rej = {0};
    struct exp_builder *b = adapt(&r, 0, &rej);
    expect_rejects(&rej, "duplicate_series=1");
    cr_assert_eq(strncmp(rej.first, "family nnnn", 11), 0);
    cr_assert_lt(strlen(rej.first), sizeof(rej.first));
    cr_assert_neq(strstr(rej.first, "...: duplicate series {a=\"vvv"), NULL, "%s", rej.first);
    exp_builder_unref(b);
    resp_free(&r);
}

Test(plugins_validate, allocation_failures)
{
    struct resp r = {0};
    MF *f = family(&r, "h", "help", T_HISTOGRAM);
    for (int i = 0; i < 40; i++) {
        char v[8];
        snprintf(v, sizeof(v), "%d", i);
        M *m = metric(f, "i", v, "j", "x", NULL);
        histogram(m, 3, 1);
        bucket(m, 1, 1);
    }
    M *m = metric(f, "i", "0", "j", "x", NULL); /* a duplicate */
    histogram(m, 3, 1);
    f = family(&r, "s", NULL, T_SUMMARY);
    m = metric(f, NULL);
    summary(m, 1, 1);
    quantile(m, 0.5, 1);
    int fails = 0;
    for (long n = 0;; n++) {
        struct exp_builder *b = exp_builder_create();
        cr_assert_not_null(b);
        struct plg_rejects rej = {0};
        cn_alloc_fail_after(n);
        int rc = plg_adapt(r.fams, r.n, 0, b, &rej);
        cn_alloc_fail_after(-1);
        exp_builder_unref(b);
        if (rc == 0) {
            expect_rejects(&rej, "duplicate_series=1");
            break;
        }
        cr_assert_eq(rc, -ENOMEM);
        fails++;
    }
    cr_assert_gt(fails, 5);
    resp_free(&r);
}
