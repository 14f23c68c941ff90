/*
 * The querier: select, label names and label values over any number of data
 * sources (the head, opened blocks), after Prometheus' querier.go and
 * storage/merge.go. Sources are reached only through struct tsdb_source's
 * operations, so this file knows nothing of the head's or a block's insides;
 * the PromQL engine will use these functions as its Queryable.
 *
 * Results are materialised: each series owns one allocation for its labels
 * and strings and one for its samples. That costs a copy but makes results
 * independent of the sources' locks and lifetimes, which matters for the
 * head that keeps appending while an HTTP thread evaluates a query. Merging
 * sorts all series of all sources by (labels, source), then folds each run
 * of equal label sets into one, two at a time, keeping the earlier source's
 * sample where timestamps collide.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/internal.h"
#include "tsdb/tsdb.h"

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    return cn_array_grow(p, cap, need, size, 8);
}

int tsdb_series_set_add(struct tsdb_series_set *s, const struct tsdb_labels *ls,
                        const struct tsdb_sample *samples, size_t n)
{
    if (grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v)))
        return -ENOMEM;
    size_t bytes = ls->n * sizeof(struct tsdb_label);
    for (size_t i = 0; i < ls->n; i++)
        bytes += strlen(ls->v[i].name) + strlen(ls->v[i].value) + 2;
    struct tsdb_label *lv = cn_malloc(bytes ? bytes : 1);
    struct tsdb_sample *sv = cn_malloc((n ? n : 1) * sizeof(*sv));
    if (!lv || !sv) {
        free(lv);
        free(sv);
        return -ENOMEM;
    }
    char *p = (char *)(lv + ls->n);
    for (size_t i = 0; i < ls->n; i++) {
        size_t a = strlen(ls->v[i].name) + 1, b = strlen(ls->v[i].value) + 1;
        lv[i].name = memcpy(p, ls->v[i].name, a);
        lv[i].value = memcpy(p + a, ls->v[i].value, b);
        p += a + b;
    }
    if (n)
        memcpy(sv, samples, n * sizeof(*sv));
    s->v[s->n++] = (struct tsdb_series){{lv, ls->n}, sv, n};
    return 0;
}

static void series_free(struct tsdb_series *s)
{
    free((void *)s->labels.v);
    free(s->samples);
}

void tsdb_series_set_free(struct tsdb_series_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        series_free(&s->v[i]);
    free(s->v);
    *s = (struct tsdb_series_set){0};
}

int tsdb_strings_add(struct tsdb_strings *s, const char *str)
{
    if (grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v)))
        return -ENOMEM;
    char *c = cn_strdup(str);
    if (!c)
        return -ENOMEM;
    s->v[s->n++] = c;
    return 0;
}

void tsdb_strings_free(struct tsdb_strings *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    *s = (struct tsdb_strings){0};
}

/* ---- blocks as a source ---------------------------------------------------------- */

/* Removes the samples that tombstones (sorted by reference, then mint)
 * delete from series ref; returns how many are left. */
static size_t drop_deleted(const struct tsdb_tombstone *ts, size_t nts, uint32_t ref,
                           struct tsdb_sample *v, size_t n)
{
    size_t lo = 0, hi = nts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts[mid].ref < ref)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == nts || ts[lo].ref != ref)
        return n;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        bool deleted = false;
        for (size_t k = lo; k < nts && ts[k].ref == ref && !deleted; k++)
            deleted = v[i].t >= ts[k].mint && v[i].t <= ts[k].maxt;
        if (!deleted)
            v[w++] = v[i];
    }
    return w;
}

static int block_select(void *ctx, const struct tsdb_matcher *const *ms, size_t nms, int64_t mint,
                        int64_t maxt, struct tsdb_series_set *out)
{
    const struct tsdb_block *b = ctx;
    const struct tsdb_block_meta *m = tsdb_block_meta(b);
    if (maxt < m->min_time || mint >= m->max_time)
        return 0;
    uint32_t *refs = NULL;
    size_t n = 0, ns = 0, cap = 0, nts = 0;
    struct tsdb_tombstone *ts = NULL;
    int rc = tsdb_block_tombstones(b, &ts, &nts, NULL, 0);
    if (!rc)
        rc = tsdb_block_select(b, ms, nms, &refs, &n);
    struct tsdb_index_series is = {0};
    struct tsdb_sample *samples = NULL;
    for (size_t i = 0; !rc && i < n; i++) {
        rc = tsdb_block_series(b, refs[i], mint, maxt, &is, &samples, &ns, &cap);
        if (!rc && nts)
            ns = drop_deleted(ts, nts, refs[i], samples, ns);
        if (!rc && ns) {
            struct tsdb_labels ls = {is.labels, is.nlabels};
            rc = tsdb_series_set_add(out, &ls, samples, ns);
        }
    }
    tsdb_index_series_free(&is);
    free(samples);
    free(refs);
    free(ts);
    return rc;
}

/* Names (name == NULL) or values of name over the matching series. */
static int block_names(const struct tsdb_block *b, const char *name,
                       const struct tsdb_matcher *const *ms, size_t nms, struct tsdb_strings *out)
{
    const struct tsdb_index_reader *ix = tsdb_block_index(b);
    int rc = 0;
    if (nms == 0) {
        const char *const *v;
        size_t n;
        if (name)
            tsdb_index_label_values(ix, name, &v, &n);
        else
            tsdb_index_label_names(ix, &v, &n);
        for (size_t i = 0; i < n && !rc; i++)
            rc = tsdb_strings_add(out, v[i]);
        return rc;
    }
    uint32_t *refs = NULL;
    size_t n = 0;
    rc = tsdb_block_select(b, ms, nms, &refs, &n);
    struct tsdb_index_series is = {0};
    for (size_t i = 0; !rc && i < n; i++) {
        rc = tsdb_index_series(ix, refs[i], &is);
        for (size_t k = 0; !rc && k < is.nlabels; k++) {
            if (!name)
                rc = tsdb_strings_add(out, is.labels[k].name);
            else if (strcmp(is.labels[k].name, name) == 0)
                rc = tsdb_strings_add(out, is.labels[k].value);
        }
    }
    tsdb_index_series_free(&is);
    free(refs);
    return rc;
}

static int block_label_names(void *ctx, const struct tsdb_matcher *const *ms, size_t nms,
                             struct tsdb_strings *out)
{
    return block_names(ctx, NULL, ms, nms, out);
}

static int block_label_values(void *ctx, const char *name, const struct tsdb_matcher *const *ms,
                              size_t nms, struct tsdb_strings *out)
{
    return block_names(ctx, name, ms, nms, out);
}

static const struct tsdb_source_ops block_ops = {
    .select = block_select,
    .label_names = block_label_names,
    .label_values = block_label_values,
};

struct tsdb_source tsdb_block_source(struct tsdb_block *b)
{
    return (struct tsdb_source){&block_ops, b};
}

/* ---- merging ---------------------------------------------------------------------- */

struct tagged {
    struct tsdb_series s;
    size_t src;
};

static int cmp_tagged(const void *a, const void *b)
{
    const struct tagged *x = a, *y = b;
    int c = tsdb_labels_cmp(&x->s.labels, &y->s.labels);
    if (c)
        return c;
    return (x->src > y->src) - (x->src < y->src);
}

/* Merges b's samples into a (both ascending); a wins on equal timestamps. */
static int merge_samples(struct tsdb_series *a, const struct tsdb_series *b)
{
    struct tsdb_sample *m = cn_malloc((a->n + b->n) * sizeof(*m));
    if (!m)
        return -ENOMEM;
    size_t i = 0, j = 0, n = 0;
    while (i < a->n || j < b->n) {
        if (j == b->n || (i < a->n && a->samples[i].t <= b->samples[j].t)) {
            if (j < b->n && a->samples[i].t == b->samples[j].t)
                j++;
            m[n++] = a->samples[i++];
        } else {
            m[n++] = b->samples[j++];
        }
    }
    free(a->samples);
    a->samples = m;
    a->n = n;
    return 0;
}

int tsdb_query_select(const struct tsdb_source *src, size_t nsrc,
                      const struct tsdb_matcher *const *ms, size_t nms, int64_t mint, int64_t maxt,
                      struct tsdb_series_set *out)
{
    struct tagged *all = NULL;
    size_t nall = 0, cap = 0;
    int rc = 0;
    for (size_t i = 0; i < nsrc && !rc; i++) {
        struct tsdb_series_set one = {0};
        rc = src[i].ops->select(src[i].ctx, ms, nms, mint, maxt, &one);
        if (!rc)
            rc = grow((void **)&all, &cap, nall + one.n, sizeof(*all));
        if (rc) {
            tsdb_series_set_free(&one);
            break;
        }
        for (size_t k = 0; k < one.n; k++)
            all[nall++] = (struct tagged){one.v[k], i};
        free(one.v);
    }
    if (!rc)
        rc = grow((void **)&out->v, &out->cap, out->n + nall, sizeof(*out->v));
    if (rc) {
        for (size_t i = 0; i < nall; i++)
            series_free(&all[i].s);
        free(all);
        return rc;
    }
    if (nall)
        qsort(all, nall, sizeof(*all), cmp_tagged);
    for (size_t i = 0; i < nall;) {
        struct tsdb_series s = all[i].s;
        size_t j = i + 1;
        for (; j < nall && tsdb_labels_cmp(&s.labels, &all[j].s.labels) == 0; j++) {
            if (!rc)
                rc = merge_samples(&s, &all[j].s);
            series_free(&all[j].s);
        }
        out->v[out->n++] = s;
        i = j;
    }
    free(all);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int collect(const struct tsdb_source *src, size_t nsrc, const char *name,
                   const struct tsdb_matcher *const *ms, size_t nms, struct tsdb_strings *out)
{
    size_t start = out->n;
    int rc = 0;
    for (size_t i = 0; i < nsrc && !rc; i++)
        rc = name ? src[i].ops->label_values(src[i].ctx, name, ms, nms, out)
                  : src[i].ops->label_names(src[i].ctx, ms, nms, out);
    if (rc)
        return rc;
    if (out->n > start)
        qsort(out->v + start, out->n - start, sizeof(*out->v), cmp_str);
    size_t w = start;
    for (size_t i = start; i < out->n; i++) {
        if (w > start && strcmp(out->v[w - 1], out->v[i]) == 0)
            free(out->v[i]);
        else
            out->v[w++] = out->v[i];
    }
    out->n = w;
    return 0;
}

int tsdb_query_label_names(const struct tsdb_source *src, size_t nsrc,
                           const struct tsdb_matcher *const *ms, size_t nms,
                           struct tsdb_strings *out)
{
    return collect(src, nsrc, NULL, ms, nms, out);
}

int tsdb_query_label_values(const struct tsdb_source *src, size_t nsrc, const char *name,
                            const struct tsdb_matcher *const *ms, size_t nms,
                            struct tsdb_strings *out)
{
    return collect(src, nsrc, name, ms, nms, out);
}
