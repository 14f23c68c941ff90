/*
 * libFuzzer target for what a plugin sends: arbitrary bytes unpacked as a
 * cairn.plugin.v1.CollectResponse, validated and adapted by plg_adapt into
 * a fresh builder (max_series 10,000), finished and encoded as text.
 * Beyond "no crash, no leak, no UB" it checks that:
 *   - plg_adapt succeeds and leaves no error in the builder (everything
 *     invalid must be rejected before the builder sees it);
 *   - no duplicate reaches the builder (exp_builder_finish removes none);
 *   - every input series is either in the builder or counted as rejected;
 *   - histograms come out with ascending bounds, non-decreasing counts and
 *     a final +Inf bucket equal to the count.
 *
 * Seeds: tests/fuzz/corpus/plugin_collect/ (packed responses).
 * Run: plugin_collect_fuzz -max_total_time=60 corpus/plugin_collect
 */
#include "plugins/host/internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_histogram(const struct exp_series *s)
{
    if (s->nbuckets == 0)
        abort();
    for (uint32_t i = 1; i < s->nbuckets; i++)
        if (!(s->buckets[i].upper > s->buckets[i - 1].upper) ||
            !(s->buckets[i].count >= s->buckets[i - 1].count))
            abort();
    const struct exp_bucket *last = &s->buckets[s->nbuckets - 1];
    if (!(isinf(last->upper) && last->upper > 0) || last->count != s->count)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Cairn__Plugin__V1__CollectResponse *resp =
        cairn__plugin__v1__collect_response__unpack(NULL, size, data);
    if (!resp)
        return 0;
    struct exp_builder *b = exp_builder_create();
    if (!b)
        abort();
    struct plg_rejects rej = {0};
    if (plg_adapt(resp->families, resp->n_families, PLG_HOST_MAX_SERIES, b, &rej) != 0)
        abort();
    if (exp_builder_error(b) != 0 || exp_builder_finish(b) != 0)
        abort();

    uint64_t in = 0, out = 0, rejected = 0;
    for (size_t i = 0; i < resp->n_families; i++)
        in += resp->families[i]->n_metric;
    for (int r = 0; r < PLG_REJECT_COUNT; r++)
        rejected += rej.count[r];
    if (rejected && !rej.first[0])
        abort(); /* a rejection must be described */
    size_t n;
    struct exp_family *const *fams = exp_builder_families(b, &n);
    for (size_t i = 0; i < n; i++) {
        out += fams[i]->nseries;
        if (fams[i]->type == EXP_HISTOGRAM)
            for (uint32_t j = 0; j < fams[i]->nseries; j++)
                check_histogram(&fams[i]->series[j]);
    }
    if (out + rejected != in || out > PLG_HOST_MAX_SERIES)
        abort();

    struct cn_buf text;
    cn_buf_init(&text);
    exp_encode(&text, fams, n, EXP_FMT_TEXT);
    cn_buf_free(&text);
    exp_builder_unref(b);
    cairn__plugin__v1__collect_response__free_unpacked(resp, NULL);
    return 0;
}
