/*
 * The SDK's family builder: what a collect builds lands in the protobuf
 * messages exactly. Each test builds, packs the CollectResponse as serve.c
 * does, unpacks it and compares every field, so the wire form is checked too.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugins/sdk/internal.h"
#include "plugin.pb-c.h"

/* Packs the families of c as a CollectResponse and unpacks them again. */
static Cairn__Plugin__V1__CollectResponse *roundtrip(struct cairn_collect *c)
{
    Cairn__Plugin__V1__CollectResponse resp = CAIRN__PLUGIN__V1__COLLECT_RESPONSE__INIT;
    resp.families = sdk_collect_families(c, &resp.n_families);
    size_t size = cairn__plugin__v1__collect_response__get_packed_size(&resp);
    uint8_t *buf = malloc(size ? size : 1);
    cr_assert_not_null(buf);
    cr_assert_eq(cairn__plugin__v1__collect_response__pack(&resp, buf), size);
    Cairn__Plugin__V1__CollectResponse *out =
        cairn__plugin__v1__collect_response__unpack(NULL, size, buf);
    free(buf);
    cr_assert_not_null(out);
    return out;
}

static void assert_label(const Cairn__Plugin__V1__Metric *m, size_t i, const char *name,
                         const char *value)
{
    cr_assert_gt(m->n_label, i);
    cr_assert_str_eq(m->label[i]->name, name);
    cr_assert_str_eq(m->label[i]->value, value);
}

static void assert_family(const Cairn__Plugin__V1__MetricFamily *f, const char *name,
                          const char *help, Cairn__Plugin__V1__MetricType type, size_t n)
{
    cr_assert_str_eq(f->name, name);
    if (help)
        cr_assert_str_eq(f->help, help);
    else
        cr_assert_null(f->help);
    cr_assert(f->has_type);
    cr_assert_eq(f->type, type);
    cr_assert_eq(f->n_metric, n);
}

Test(sdk_builder, scalar_families)
{
    struct cairn_collect *c = sdk_collect_create(1700000000000, 1700000005000);
    cr_assert_not_null(c);
    struct cairn_family *g =
        cairn_family(c, "room_temperature_celsius", "Temperature.", CAIRN_GAUGE);
    cr_assert_not_null(g);
    cr_assert_eq(cairn_add(g, 21.5, "room", "lab", NULL), 0);
    const char *names[] = {"room", "floor"};
    const char *values[] = {"hall", "2"};
    cr_assert_eq(cairn_addv(g, -3.25, 2, names, values), 0);
    cr_assert_eq(cairn_counter(c, "jobs_total", "Jobs.", 7, "queue", "a", "state", "done", NULL),
                 0);
    cr_assert_eq(
        cairn_counter(c, "jobs_total", "ignored help", 9, "queue", "b", "state", "done", NULL), 0);
    struct cairn_family *u = cairn_family(c, "raw_value", NULL, CAIRN_UNTYPED);
    cr_assert_eq(cairn_add(u, 42, NULL), 0);
    cr_assert_eq(cairn_gauge(c, "up", "Up.", 1, NULL), 0);
    /* The same name gives the same family. */
    cr_assert_eq(cairn_family(c, "room_temperature_celsius", "other", CAIRN_GAUGE), g);
    cr_assert_null(sdk_collect_error(c));

    Cairn__Plugin__V1__CollectResponse *r = roundtrip(c);
    cr_assert_eq(r->n_families, 4);

    const Cairn__Plugin__V1__MetricFamily *f = r->families[0];
    assert_family(f, "room_temperature_celsius", "Temperature.",
                  CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE, 2);
    cr_assert_eq(f->metric[0]->n_label, 1);
    assert_label(f->metric[0], 0, "room", "lab");
    cr_assert_not_null(f->metric[0]->gauge);
    cr_assert(f->metric[0]->gauge->has_value);
    cr_assert_eq(f->metric[0]->gauge->value, 21.5);
    cr_assert_null(f->metric[0]->counter);
    cr_assert_null(f->metric[0]->untyped);
    cr_assert_not(f->metric[0]->has_timestamp_ms);
    cr_assert_eq(f->metric[1]->n_label, 2);
    assert_label(f->metric[1], 0, "room", "hall");
    assert_label(f->metric[1], 1, "floor", "2");
    cr_assert_eq(f->metric[1]->gauge->value, -3.25);

    f = r->families[1];
    assert_family(f, "jobs_total", "Jobs.", CAIRN__PLUGIN__V1__METRIC_TYPE__COUNTER, 2);
    cr_assert_eq(f->metric[0]->n_label, 2);
    assert_label(f->metric[0], 0, "queue", "a");
    assert_label(f->metric[0], 1, "state", "done");
    cr_assert_not_null(f->metric[0]->counter);
    cr_assert(f->metric[0]->counter->has_value);
    cr_assert_eq(f->metric[0]->counter->value, 7);
    cr_assert_null(f->metric[0]->gauge);
    assert_label(f->metric[1], 0, "queue", "b");
    cr_assert_eq(f->metric[1]->counter->value, 9);

    f = r->families[2];
    assert_family(f, "raw_value", NULL, CAIRN__PLUGIN__V1__METRIC_TYPE__UNTYPED, 1);
    cr_assert_eq(f->metric[0]->n_label, 0);
    cr_assert_not_null(f->metric[0]->untyped);
    cr_assert_eq(f->metric[0]->untyped->value, 42);

    f = r->families[3];
    assert_family(f, "up", "Up.", CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE, 1);
    cr_assert_eq(f->metric[0]->n_label, 0);
    cr_assert_eq(f->metric[0]->gauge->value, 1);

    cairn__plugin__v1__collect_response__free_unpacked(r, NULL);
    sdk_collect_destroy(c);
}

Test(sdk_builder, strings_are_copied)
{
    struct cairn_collect *c = sdk_collect_create(0, 0);
    char name[32], help[32], label[32], value[32];
    strcpy(name, "copied");
    strcpy(help, "Help.");
    strcpy(label, "l");
    strcpy(value, "v");
    struct cairn_family *f = cairn_family(c, name, help, CAIRN_GAUGE);
    cr_assert_eq(cairn_add(f, 1, label, value, NULL), 0);
    memset(name, 'x', sizeof(name) - 1);
    memset(help, 'x', sizeof(help) - 1);
    memset(label, 'x', sizeof(label) - 1);
    memset(value, 'x', sizeof(value) - 1);
    Cairn__Plugin__V1__CollectResponse *r = roundtrip(c);
    assert_family(r->families[0], "copied", "Help.", CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE, 1);
    assert_label(r->families[0]->metric[0], 0, "l", "v");
    cairn__plugin__v1__collect_response__free_unpacked(r, NULL);
    sdk_collect_destroy(c);
}

Test(sdk_builder, histogram_buckets_as_given)
{
    struct cairn_collect *c = sdk_collect_create(0, 0);
    struct cairn_family *h =
        cairn_family(c, "request_seconds", "Request latency.", CAIRN_HISTOGRAM);
    const double bounds[] = {0.1, 0.5, 2.5};
    const uint64_t counts[] = {3, 8, 10};
    /* No +Inf bucket: sent as given, the host adds it from the count. */
    cr_assert_eq(cairn_histogram(h, 3, bounds, counts, 12, 7.75, "path", "/", NULL), 0);
    const double bounds2[] = {1, INFINITY};
    const uint64_t counts2[] = {0, 4};
    const char *names[] = {"path"};
    const char *values[] = {"/api"};
    cr_assert_eq(cairn_histogramv(h, 2, bounds2, counts2, 4, 9.5, 1, names, values), 0);
    cr_assert_eq(cairn_histogram(h, 0, NULL, NULL, 0, 0, NULL), 0);

    Cairn__Plugin__V1__CollectResponse *r = roundtrip(c);
    cr_assert_eq(r->n_families, 1);
    const Cairn__Plugin__V1__MetricFamily *f = r->families[0];
    assert_family(f, "request_seconds", "Request latency.",
                  CAIRN__PLUGIN__V1__METRIC_TYPE__HISTOGRAM, 3);

    const Cairn__Plugin__V1__Metric *m = f->metric[0];
    assert_label(m, 0, "path", "/");
    cr_assert_null(m->gauge);
    cr_assert_not_null(m->histogram);
    cr_assert(m->histogram->has_sample_count);
    cr_assert_eq(m->histogram->sample_count, 12);
    cr_assert(m->histogram->has_sample_sum);
    cr_assert_eq(m->histogram->sample_sum, 7.75);
    cr_assert_not(m->histogram->has_sample_count_float);
    cr_assert_not(m->histogram->has_schema);
    cr_assert_eq(m->histogram->n_bucket, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert(m->histogram->bucket[i]->has_upper_bound);
        cr_assert_eq(m->histogram->bucket[i]->upper_bound, bounds[i]);
        cr_assert(m->histogram->bucket[i]->has_cumulative_count);
        cr_assert_eq(m->histogram->bucket[i]->cumulative_count, counts[i]);
        cr_assert_not(m->histogram->bucket[i]->has_cumulative_count_float);
    }

    m = f->metric[1];
    assert_label(m, 0, "path", "/api");
    cr_assert_eq(m->histogram->sample_count, 4);
    cr_assert_eq(m->histogram->sample_sum, 9.5);
    cr_assert_eq(m->histogram->n_bucket, 2);
    cr_assert_eq(m->histogram->bucket[0]->upper_bound, 1);
    cr_assert_eq(m->histogram->bucket[0]->cumulative_count, 0);
    cr_assert(isinf(m->histogram->bucket[1]->upper_bound));
    cr_assert_eq(m->histogram->bucket[1]->cumulative_count, 4);

    m = f->metric[2];
    cr_assert_eq(m->n_label, 0);
    cr_assert_eq(m->histogram->n_bucket, 0);
    cr_assert_eq(m->histogram->sample_count, 0);
    cr_assert(m->histogram->has_sample_count);

    cairn__plugin__v1__collect_response__free_unpacked(r, NULL);
    sdk_collect_destroy(c);
}

Test(sdk_builder, summary_quantiles_as_given)
{
    struct cairn_collect *c = sdk_collect_create(0, 0);
    struct cairn_family *s = cairn_family(c, "rpc_seconds", "RPC latency.", CAIRN_SUMMARY);
    const double qs[] = {0.5, 0.9, 0.99};
    const double vs[] = {0.25, 1.5, NAN};
    cr_assert_eq(cairn_summary(s, 3, qs, vs, 100, 80.5, "service", "a", NULL), 0);
    const char *names[] = {"service", "zone"};
    const char *values[] = {"b", "eu"};
    cr_assert_eq(cairn_summaryv(s, 0, NULL, NULL, 5, 2, 2, names, values), 0);

    Cairn__Plugin__V1__CollectResponse *r = roundtrip(c);
    const Cairn__Plugin__V1__MetricFamily *f = r->families[0];
    assert_family(f, "rpc_seconds", "RPC latency.", CAIRN__PLUGIN__V1__METRIC_TYPE__SUMMARY, 2);
    const Cairn__Plugin__V1__Metric *m = f->metric[0];
    assert_label(m, 0, "service", "a");
    cr_assert_not_null(m->summary);
    cr_assert(m->summary->has_sample_count);
    cr_assert_eq(m->summary->sample_count, 100);
    cr_assert(m->summary->has_sample_sum);
    cr_assert_eq(m->summary->sample_sum, 80.5);
    cr_assert_eq(m->summary->n_quantile, 3);
    cr_assert_eq(m->summary->quantile[0]->quantile, 0.5);
    cr_assert_eq(m->summary->quantile[0]->value, 0.25);
    cr_assert_eq(m->summary->quantile[1]->quantile, 0.9);
    cr_assert_eq(m->summary->quantile[1]->value, 1.5);
    cr_assert_eq(m->summary->quantile[2]->quantile, 0.99);
    cr_assert(isnan(m->summary->quantile[2]->value));
    m = f->metric[1];
    cr_assert_eq(m->n_label, 2);
    assert_label(m, 1, "zone", "eu");
    cr_assert_eq(m->summary->n_quantile, 0);
    cr_assert_eq(m->summary->sample_count, 5);
    cr_assert_eq(m->summary->sample_sum, 2);
    cairn__plugin__v1__collect_response__free_unpacked(r, NULL);
    sdk_collect_destroy(c);
}

Test(sdk_builder, errors)
{
    struct cairn_collect *c = sdk_collect_create(0, 0);
    struct cairn_family *h = cairn_family(c, "h", NULL, CAIRN_HISTOGRAM);
    struct cairn_family *s = cairn_family(c, "s", NULL, CAIRN_SUMMARY);
    struct cairn_family *g = cairn_family(c, "g", NULL, CAIRN_GAUGE);
    struct cairn_family *k = cairn_family(c, "k", NULL, CAIRN_COUNTER);
    cr_assert(h && s && g && k);
    const double d[] = {1};
    const uint64_t u[] = {1};
    const char *names[] = {"a", NULL};
    const char *values[] = {"1", "2"};

    /* Wrong family type or no family. */
    cr_assert_eq(cairn_add(NULL, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_add(h, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_add(s, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_addv(NULL, 1, 0, NULL, NULL), -EINVAL);
    cr_assert_eq(cairn_addv(h, 1, 0, NULL, NULL), -EINVAL);
    cr_assert_eq(cairn_histogram(NULL, 1, d, u, 1, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_histogram(g, 1, d, u, 1, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_histogram(s, 1, d, u, 1, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_histogramv(k, 1, d, u, 1, 1, 0, NULL, NULL), -EINVAL);
    cr_assert_eq(cairn_summary(NULL, 1, d, d, 1, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_summary(h, 1, d, d, 1, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_summaryv(g, 1, d, d, 1, 1, 0, NULL, NULL), -EINVAL);
    /* The shorthands on a family of another type. */
    cr_assert_eq(cairn_gauge(c, "k", NULL, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_counter(c, "g", NULL, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_gauge(c, "h", NULL, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_gauge(NULL, "x", NULL, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_gauge(c, NULL, NULL, 1, NULL), -EINVAL);

    /* Malformed labels and arrays. */
    cr_assert_eq(cairn_add(g, 1, "a", NULL), -EINVAL);
    cr_assert_eq(cairn_add(g, 1, "a", "1", "b", NULL), -EINVAL);
    cr_assert_eq(cairn_addv(g, 1, 2, names, values), -EINVAL);
    cr_assert_eq(cairn_addv(g, 1, 1, NULL, values), -EINVAL);
    cr_assert_eq(cairn_addv(g, 1, 1, names, NULL), -EINVAL);
    cr_assert_eq(cairn_histogram(h, 1, NULL, u, 1, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_histogram(h, 1, d, NULL, 1, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_histogramv(h, 1, d, u, 1, 1, 2, names, values), -EINVAL);
    cr_assert_eq(cairn_summary(s, 1, NULL, d, 1, 1, NULL), -EINVAL);
    cr_assert_eq(cairn_summaryv(s, 1, d, d, 1, 1, 1, names, NULL), -EINVAL);

    /* Families: no context, no name, no such type. */
    cr_assert_null(cairn_family(NULL, "x", NULL, CAIRN_GAUGE));
    cr_assert_null(cairn_family(c, NULL, NULL, CAIRN_GAUGE));
    cr_assert_null(cairn_family(c, "x", NULL, (enum cairn_metric_type)5));
    cr_assert_null(cairn_family(c, "x", NULL, (enum cairn_metric_type) - 1));

    /* Nothing was added, and errors do not fail the collect. */
    Cairn__Plugin__V1__CollectResponse *r = roundtrip(c);
    cr_assert_eq(r->n_families, 4);
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(r->families[i]->n_metric, 0);
    cairn__plugin__v1__collect_response__free_unpacked(r, NULL);
    cr_assert_null(sdk_collect_error(c));
    sdk_collect_destroy(c);
}

Test(sdk_builder, many_families_and_series)
{
    struct cairn_collect *c = sdk_collect_create(0, 0);
    char name[32], idx[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "family_%d", i);
        cr_assert_eq(cairn_gauge(c, name, NULL, i, NULL), 0);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "family_%d", i);
        snprintf(idx, sizeof(idx), "%d", i);
        cr_assert_eq(cairn_gauge(c, name, NULL, -i, "i", idx, NULL), 0);
    }
    struct cairn_family *big = cairn_family(c, "family_7", NULL, CAIRN_GAUGE);
    for (int i = 0; i < 5000; i++) {
        snprintf(idx, sizeof(idx), "%d", i);
        cr_assert_eq(cairn_add(big, i * 0.5, "n", idx, NULL), 0);
    }
    Cairn__Plugin__V1__CollectResponse *r = roundtrip(c);
    cr_assert_eq(r->n_families, 1000);
    for (int i = 0; i < 1000; i++) {
        const Cairn__Plugin__V1__MetricFamily *f = r->families[i];
        snprintf(name, sizeof(name), "family_%d", i);
        snprintf(idx, sizeof(idx), "%d", i);
        cr_assert_str_eq(f->name, name);
        cr_assert_eq(f->n_metric, i == 7 ? 5002 : 2);
        cr_assert_eq(f->metric[0]->gauge->value, i);
        cr_assert_eq(f->metric[0]->n_label, 0);
        cr_assert_eq(f->metric[1]->gauge->value, -i);
        assert_label(f->metric[1], 0, "i", idx);
    }
    const Cairn__Plugin__V1__MetricFamily *f = r->families[7];
    for (int i = 0; i < 5000; i++) {
        snprintf(idx, sizeof(idx), "%d", i);
        assert_label(f->metric[2 + i], 0, "n", idx);
        cr_assert_eq(f->metric[2 + i]->gauge->value, i * 0.5);
    }
    cairn__plugin__v1__collect_response__free_unpacked(r, NULL);
    sdk_collect_destroy(c);
}

Test(sdk_builder, long_strings)
{
    struct cairn_collect *c = sdk_collect_create(0, 0);
    /* Larger than an arena block. */
    size_t n = 100000;
    char *v = malloc(n + 1);
    memset(v, 'v', n);
    v[n] = '\0';
    cr_assert_eq(cairn_gauge(c, "long", v, 1, "l", v, NULL), 0);
    Cairn__Plugin__V1__CollectResponse *r = roundtrip(c);
    cr_assert_eq(strlen(r->families[0]->help), n);
    cr_assert_str_eq(r->families[0]->metric[0]->label[0]->value, v);
    cairn__plugin__v1__collect_response__free_unpacked(r, NULL);
    free(v);
    sdk_collect_destroy(c);
}

Test(sdk_builder, fail_and_times)
{
    struct cairn_collect *c = sdk_collect_create(1700000000123, 1700000004123);
    cr_assert_eq(cairn_collect_timestamp_ms(c), 1700000000123);
    cr_assert_eq(cairn_collect_deadline_ms(c), 1700000004123);
    cr_assert(cairn_collect_expired(c)); /* 2023 is past */
    cr_assert_null(sdk_collect_error(c));
    cr_assert_eq(cairn_collect_fail(c, "cannot read %s: %d", "/proc/x", 5), -1);
    cr_assert_str_eq(sdk_collect_error(c), "cannot read /proc/x: 5");
    sdk_collect_destroy(c);

    c = sdk_collect_create(0, 0);
    cr_assert_not(cairn_collect_expired(c)); /* no deadline */
    sdk_collect_destroy(c);

    c = sdk_collect_create(0, (int64_t)time(NULL) * 1000 + 3600000);
    cr_assert_not(cairn_collect_expired(c));
    sdk_collect_destroy(c);

    cr_assert_eq(cairn_collect_fail(NULL, "x"), -1);
    cr_assert_eq(cairn_collect_timestamp_ms(NULL), 0);
    cr_assert_not(cairn_collect_expired(NULL));
    sdk_collect_destroy(NULL);
}

Test(sdk_builder, reset_reuses_the_context)
{
    struct cairn_collect *c = sdk_collect_create(1, 2);
    char idx[16];
    /* Large enough to need more blocks than a reset keeps. */
    struct cairn_family *f = cairn_family(c, "first", "First.", CAIRN_GAUGE);
    for (int i = 0; i < 50000; i++) {
        snprintf(idx, sizeof(idx), "%d", i);
        cr_assert_eq(
            cairn_add(f, i, "i", idx, "pad", "0123456789012345678901234567890123456789", NULL), 0);
    }
    cairn_collect_fail(c, "failed once");
    for (int round = 0; round < 3; round++) {
        sdk_collect_reset(c, 100 + round, 200 + round);
        cr_assert_eq(cairn_collect_timestamp_ms(c), 100 + round);
        cr_assert_eq(cairn_collect_deadline_ms(c), 200 + round);
        cr_assert_null(sdk_collect_error(c));
        size_t n = 1;
        sdk_collect_families(c, &n);
        cr_assert_eq(n, 0);
        /* "first" is gone: a new family of another type takes its name. */
        cr_assert_eq(cairn_counter(c, "first", "Again.", round, "r", "x", NULL), 0);
        for (int i = 0; i < 2000; i++) {
            snprintf(idx, sizeof(idx), "%d", i);
            cr_assert_eq(cairn_gauge(c, "second", NULL, i + round, "i", idx, NULL), 0);
        }
        Cairn__Plugin__V1__CollectResponse *r = roundtrip(c);
        cr_assert_eq(r->n_families, 2);
        assert_family(r->families[0], "first", "Again.", CAIRN__PLUGIN__V1__METRIC_TYPE__COUNTER,
                      1);
        cr_assert_eq(r->families[0]->metric[0]->counter->value, round);
        assert_label(r->families[0]->metric[0], 0, "r", "x");
        assert_family(r->families[1], "second", NULL, CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE, 2000);
        assert_label(r->families[1]->metric[1999], 0, "i", "1999");
        cr_assert_eq(r->families[1]->metric[1999]->gauge->value, 1999 + round);
        cairn__plugin__v1__collect_response__free_unpacked(r, NULL);
    }
    sdk_collect_destroy(c);
}

Test(sdk_builder, allocation_failure_fails_the_collect)
{
    struct cairn_collect *c = sdk_collect_create(0, 0);
    struct cairn_family *h = cairn_family(c, "h", NULL, CAIRN_HISTOGRAM);
    const double d[] = {1};
    const uint64_t u[] = {1};
    cr_assert_eq(cairn_histogram(h, 1, d, u, 1, 1, NULL), 0);
    cr_assert_null(sdk_collect_error(c));
    /* Arrays too large to allocate (never read: the allocation fails first). */
    cr_assert_eq(cairn_histogram(h, SIZE_MAX / 2, d, u, 1, 1, NULL), -ENOMEM);
    cr_assert_str_eq(sdk_collect_error(c), "out of memory while building the result");
    /* cairn_collect_fail's message takes precedence. */
    cairn_collect_fail(c, "mine");
    cr_assert_str_eq(sdk_collect_error(c), "mine");
    sdk_collect_reset(c, 0, 0);
    cr_assert_null(sdk_collect_error(c));
    sdk_collect_destroy(c);
}
