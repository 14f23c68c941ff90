/*
 * Writes the PromQL benchmark's data set: one Prometheus block holding
 * HOURS of samples every 15 s for the first SERIES label sets of
 * ../shared/bench/20kseries.json (real node_exporter series), plus one
 * classic histogram per instance, since node_exporter 1.5 exposes none:
 * cairn_bench_request_duration_seconds{handler} with 11 buckets, _sum and
 * _count, for histogram_quantile.
 *
 * Values are shaped like node metrics and deterministic (a fixed-seed
 * xorshift): names ending in _total, _count, _sum or _bucket are counters
 * growing at a per-series rate, everything else is a gauge drifting around a
 * per-series level (filesystem "avail" gauges drift down, for
 * predict_linear). The block covers [END - HOURS, END), END being the
 * last 2 h boundary before now unless given, so a server's retention keeps
 * it and its head never overlaps it.
 *
 * usage: bench_promql_data JSON OUT_DIR [SERIES [HOURS [END_MS]]]
 * Prints the block's ULID, series and sample counts.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tsdb/tsdb.h"

#define STEP_MS 15000
#define BLOCK_ALIGN_MS (2 * 3600 * 1000LL)

struct gen_series {
    struct tsdb_label *labels;
    size_t nlabels;
    struct tsdb_sample *samples;
};

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static const char *label_value(const struct gen_series *g, const char *name)
{
    for (size_t i = 0; i < g->nlabels; i++)
        if (!strcmp(g->labels[i].name, name))
            return g->labels[i].value;
    return NULL;
}

/* Fills samples for one series: counters or gauges as the file comment says. */
static void fill(struct gen_series *g, size_t n, int64_t start, uint64_t *rng)
{
    const char *name = label_value(g, "__name__");
    bool counter = ends_with(name, "_total") || ends_with(name, "_count") ||
                   ends_with(name, "_sum") || ends_with(name, "_bucket");
    bool draining = strstr(name, "avail") || strstr(name, "free");
    double level = 1 + rng_unit(rng) * 1e6, rate = rng_unit(rng) * 1000;
    double v = counter ? rng_unit(rng) * 1e5 : level;
    for (size_t i = 0; i < n; i++) {
        if (counter)
            v += rate * 15 * (0.5 + rng_unit(rng));
        else if (draining)
            v -= level * 1e-5 * rng_unit(rng);
        else
            v = level * (1 + 0.1 * sin((double)i / 240.0) + 0.02 * (rng_unit(rng) - 0.5));
        g->samples[i] = (struct tsdb_sample){.t = start + (int64_t)i * STEP_MS, .v = v};
    }
}

/* The synthetic histogram's buckets: cumulative, so each is the previous
 * plus a share of the requests. */
static void fill_histogram(struct gen_series *b, size_t nb, struct gen_series *sum,
                           struct gen_series *count, size_t n, int64_t start, uint64_t *rng)
{
    double rate = 10 + rng_unit(rng) * 100, total = 0, s = 0;
    double *cum = calloc(nb, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        double reqs = rate * 15 * (0.5 + rng_unit(rng));
        double acc = 0;
        for (size_t k = 0; k < nb; k++) {
            acc += k + 1 == nb ? reqs - acc : reqs * 0.12 * rng_unit(rng) * 2;
            if (acc > reqs)
                acc = reqs;
            cum[k] += acc;
            b[k].samples[i] = (struct tsdb_sample){start + (int64_t)i * STEP_MS, cum[k]};
        }
        total += reqs;
        s += reqs * 0.08;
        sum->samples[i] = (struct tsdb_sample){start + (int64_t)i * STEP_MS, s};
        count->samples[i] = (struct tsdb_sample){start + (int64_t)i * STEP_MS, total};
    }
    free(cum);
}

static struct tsdb_label *labels_with(const struct tsdb_label *base, size_t n, const char *name,
                                      const char *value, const char *name2, const char *value2)
{
    struct tsdb_label *l = calloc(n + 2, sizeof(*l));
    memcpy(l, base, n * sizeof(*l));
    l[n] = (struct tsdb_label){strdup(name), strdup(value)};
    if (name2)
        l[n + 1] = (struct tsdb_label){strdup(name2), strdup(value2)};
    return l;
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tsdb_label *)a)->name, ((const struct tsdb_label *)b)->name);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s JSON OUT_DIR [SERIES [HOURS [END_MS]]]\n", argv[0]);
        return 2;
    }
    size_t want = argc > 3 ? strtoul(argv[3], NULL, 10) : 10000;
    int64_t hours = argc > 4 ? strtoll(argv[4], NULL, 10) : 24;
    int64_t end = argc > 5 ? strtoll(argv[5], NULL, 10) : (int64_t)time(NULL) * 1000;
    end -= end % BLOCK_ALIGN_MS;
    int64_t start = end - hours * 3600 * 1000;
    size_t nsamples = (size_t)((end - start) / STEP_MS);

    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    size_t cap = want + 4096, n = 0;
    struct gen_series *gs = calloc(cap, sizeof(*gs));
    char line[4096];
    char *instances[1024];
    size_t ninst = 0;
    while (n < want && fgets(line, sizeof(line), f)) {
        json_t *o = json_loads(line, 0, NULL);
        if (!json_is_object(o)) {
            json_decref(o);
            continue;
        }
        struct gen_series *g = &gs[n++];
        g->labels = calloc(json_object_size(o), sizeof(*g->labels));
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v)
        {
            const char *val = json_string_value(v);
            if (val && *val) /* an empty value is no label */
                g->labels[g->nlabels++] = (struct tsdb_label){strdup(k), strdup(val)};
        }
        json_decref(o);
        const char *inst = label_value(g, "instance");
        bool seen = !inst;
        for (size_t i = 0; i < ninst && !seen; i++)
            seen = !strcmp(instances[i], inst);
        if (!seen && ninst < 1024)
            instances[ninst++] = strdup(inst);
    }
    fclose(f);

    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    size_t nreal = n;
    for (size_t i = 0; i < nreal; i++) {
        gs[i].samples = malloc(nsamples * sizeof(struct tsdb_sample));
        fill(&gs[i], nsamples, start, &rng);
    }
    static const char *const handlers[] = {"/api/v1/query", "/api/v1/query_range", "/metrics",
                                           "/federate"};
    static const char *const les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                      "0.5",   "1",    "2.5",   "5",    "+Inf"};
    size_t nle = sizeof(les) / sizeof(les[0]);
    for (size_t i = 0; i < ninst; i++) {
        for (size_t h = 0; h < 4; h++) {
            struct tsdb_label base[3] = {
                {"instance", instances[i]}, {"job", "node"}, {"handler", handlers[h]}};
            size_t first = n;
            for (size_t k = 0; k < nle; k++)
                gs[n++].labels =
                    labels_with(base, 3, "__name__", "cairn_bench_request_duration_seconds_bucket",
                                "le", les[k]);
            gs[n].labels = labels_with(base, 3, "__name__",
                                       "cairn_bench_request_duration_seconds_sum", NULL, NULL);
            gs[n + 1].labels = labels_with(
                base, 3, "__name__", "cairn_bench_request_duration_seconds_count", NULL, NULL);
            for (size_t k = first; k < n + 2; k++) {
                gs[k].nlabels = k < n ? 5 : 4;
                gs[k].samples = malloc(nsamples * sizeof(struct tsdb_sample));
            }
            fill_histogram(&gs[first], nle, &gs[n], &gs[n + 1], nsamples, start, &rng);
            n += 2;
        }
    }

    struct tsdb_block_series *bs = calloc(n, sizeof(*bs));
    for (size_t i = 0; i < n; i++) {
        qsort(gs[i].labels, gs[i].nlabels, sizeof(gs[i].labels[0]), label_cmp);
        bs[i] = (struct tsdb_block_series){.labels = {gs[i].labels, gs[i].nlabels},
                                           .samples = gs[i].samples,
                                           .nsamples = nsamples};
    }
    char ulid[TSDB_ULID_LEN + 1];
    int rc = tsdb_block_write_range(argv[2], bs, n, start, end, ulid);
    if (rc < 0) {
        fprintf(stderr, "writing the block: %s\n", strerror(-rc));
        return 1;
    }
    printf("block %s: %zu series (%zu from the label file, %zu histogram), %zu samples each, "
           "%lld..%lld\n",
           ulid, n, nreal, n - nreal, nsamples, (long long)start, (long long)end);
    return 0;
}
