/*
 * Aggregation operators (sum, avg, count, min, max, group, stddev, stdvar,
 * topk, bottomk, count_values, quantile) with Prometheus 2.42's semantics,
 * including its numerics: avg is an incremental mean that survives
 * overflow and infinities, stddev/stdvar use Welford's update, and
 * topk/bottomk keep a binary heap exactly as Go's container/heap does so
 * ties come out in the same order.
 *
 * The grouping key of each input series is computed once (the prep hook of
 * pql_range_eval); each step then groups its samples in an open-addressing
 * table keyed by it. Groups keep insertion order, as Prometheus' output
 * does.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "promql/internal.h"

struct hent {
    struct promql_labels *labels; /* borrowed from the input */
    double v;
};

struct group {
    uint64_t key;
    struct promql_labels *labels; /* owned */
    double value, mean;
    int64_t count;
    struct hent *heap; /* topk, bottomk, quantile (values only) */
    size_t nheap, heapcap;
};

struct agg_ctx {
    const struct promql_expr *e;
    char **grouping; /* sorted copy (borrowed strings) */
    size_t ngrouping;
    const char *value_label; /* count_values */
    struct pql_lbuilder lb;
    struct group *groups;
    size_t ngroups, gcap;
    size_t *tab; /* group index + 1 by key; 0 empty */
    size_t tabcap;
};

static uint64_t group_key(const struct agg_ctx *c, const struct promql_labels *ls)
{
    if (!c->e->agg.without && !c->ngrouping)
        return 0;
    return pql_labels_hash_subset(ls, c->grouping, c->ngrouping, !c->e->agg.without);
}

static uint64_t prep_group(void *vctx, size_t arg, const struct promql_labels *ls)
{
    struct agg_ctx *c = vctx;
    /* With a numeric parameter, argument 0 is the parameter. */
    if (arg == 0 && c->e->agg.param && promql_expr_type(c->e->agg.param) != PROMQL_TYPE_STRING)
        return 0;
    return group_key(c, ls);
}

/* ---- Go's container/heap over (labels, value) -------------------------------- */

static bool heap_less(const struct hent *h, size_t i, size_t j, bool reverse)
{
    if (isnan(h[i].v))
        return true;
    return reverse ? h[i].v > h[j].v : h[i].v < h[j].v;
}

static void heap_swap(struct hent *h, size_t i, size_t j)
{
    struct hent t = h[i];
    h[i] = h[j];
    h[j] = t;
}

static void heap_up(struct hent *h, size_t j, bool rev)
{
    while (j > 0) {
        size_t i = (j - 1) / 2;
        if (!heap_less(h, j, i, rev))
            break;
        heap_swap(h, i, j);
        j = i;
    }
}

static void heap_down(struct hent *h, size_t i, size_t n, bool rev)
{
    for (;;) {
        size_t j1 = 2 * i + 1;
        if (j1 >= n)
            break;
        size_t j = j1;
        if (j1 + 1 < n && heap_less(h, j1 + 1, j1, rev))
            j = j1 + 1;
        if (!heap_less(h, j, i, rev))
            break;
        heap_swap(h, i, j);
        i = j;
    }
}

/* sort.Sort(sort.Reverse(heap)): Go sorts up to 12 elements by insertion
 * (ties keep their order); beyond that its order of ties is its own, and a
 * plain sort by value is as good. */
static int cmp_desc(const void *a, const void *b)
{
    const struct hent *x = a, *y = b;
    if (isnan(x->v) || isnan(y->v))
        return isnan(x->v) - isnan(y->v); /* NaN last */
    return x->v < y->v ? 1 : x->v > y->v ? -1 : 0;
}

static int cmp_asc(const void *a, const void *b)
{
    const struct hent *x = a, *y = b;
    if (isnan(x->v) || isnan(y->v))
        return isnan(x->v) - isnan(y->v);
    return x->v < y->v ? -1 : x->v > y->v;
}

static void sort_reverse(struct hent *h, size_t n, bool rev)
{
    if (n > 12) {
        qsort(h, n, sizeof(h[0]), rev ? cmp_asc : cmp_desc);
        return;
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && heap_less(h, j - 1, j, rev); j--)
            heap_swap(h, j, j - 1);
}

/* ---- grouping ---------------------------------------------------------------- */

static int tab_reset(struct pql_ev *ev, struct agg_ctx *c, size_t n)
{
    size_t want = 16;
    while (want < n * 2)
        want *= 2;
    if (want > c->tabcap) {
        free(c->tab);
        c->tab = cn_calloc(want, sizeof(c->tab[0]));
        if (!c->tab) {
            c->tabcap = 0;
            return pql_nomem(ev);
        }
        c->tabcap = want;
    } else {
        memset(c->tab, 0, c->tabcap * sizeof(c->tab[0]));
    }
    return 0;
}

static size_t *tab_slot(struct agg_ctx *c, uint64_t key)
{
    size_t mask = c->tabcap - 1;
    for (size_t i = (key * 0x9E3779B97F4A7C15ULL) >> 32 & mask;; i = (i + 1) & mask)
        if (!c->tab[i] || c->groups[c->tab[i] - 1].key == key)
            return &c->tab[i];
}

static void groups_clear(struct agg_ctx *c)
{
    for (size_t i = 0; i < c->ngroups; i++) {
        pql_labels_unref(c->groups[i].labels);
        free(c->groups[i].heap);
    }
    c->ngroups = 0;
}

static int heap_push(struct pql_ev *ev, struct group *g, struct promql_labels *ls, double v)
{
    if (cn_array_grow((void **)&g->heap, &g->heapcap, g->nheap + 1, sizeof(g->heap[0]), 4) < 0)
        return pql_nomem(ev);
    g->heap[g->nheap++] = (struct hent){ls, v};
    return 0;
}

static int step_aggregate(struct pql_ev *ev, void *vctx, int64_t ts, struct promql_vector *in,
                          uint64_t *const *keys, struct promql_vector *out)
{
    struct agg_ctx *c = vctx;
    const struct promql_expr *e = c->e;
    enum promql_aggop op = e->agg.op;
    bool has_param = e->agg.param && promql_expr_type(e->agg.param) != PROMQL_TYPE_STRING;
    struct promql_vector *vec = &in[has_param ? 1 : 0];
    const uint64_t *vkeys = keys[has_param ? 1 : 0];
    double param = has_param && in[0].n ? in[0].v[0].v : NAN;
    int64_t k = 0;
    int rc;

    if (op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK) {
        if (!(param >= -9223372036854775808.0 && param <= 9223372036854775807.0))
            return pql_errorf(ev, "Scalar value %s overflows int64",
                              isnan(param) ? "NaN" : (param > 0 ? "+Inf" : "-Inf"));
        k = (int64_t)param;
        if (k < 1)
            return 0;
    }
    groups_clear(c);
    if ((rc = tab_reset(ev, c, vec->n)))
        return rc;

    for (size_t si = 0; si < vec->n; si++) {
        const struct promql_sample *s = &vec->v[si];
        struct promql_labels *metric = s->labels, *owned = NULL;
        uint64_t key = vkeys[si];
        char vbuf[PROMQL_FLOAT_BUF];
        if (op == PROMQL_AGG_COUNT_VALUES) {
            promql_format_float(s->v, vbuf, sizeof(vbuf));
            pql_lbuilder_reset(&c->lb, metric);
            pql_lbuilder_set(&c->lb, c->value_label, vbuf);
            owned = metric = pql_lbuilder_finish(&c->lb);
            if (!metric)
                return pql_nomem(ev);
            key = group_key(c, metric);
        }
        size_t *slot = tab_slot(c, key);
        if (!*slot) {
            if (cn_array_grow((void **)&c->groups, &c->gcap, c->ngroups + 1, sizeof(c->groups[0]),
                              8) < 0) {
                pql_labels_unref(owned);
                return pql_nomem(ev);
            }
            struct group *g = &c->groups[c->ngroups];
            memset(g, 0, sizeof(*g));
            g->key = key;
            pql_lbuilder_reset(&c->lb, metric);
            if (e->agg.without) {
                pql_lbuilder_filter(&c->lb, c->grouping, c->ngrouping, false);
                pql_lbuilder_del(&c->lb, "__name__");
            } else {
                pql_lbuilder_filter(&c->lb, c->grouping, c->ngrouping, true);
            }
            g->labels = pql_lbuilder_finish(&c->lb);
            pql_labels_unref(owned);
            if (!g->labels)
                return pql_nomem(ev);
            c->ngroups++;
            *slot = c->ngroups;
            g->value = s->v;
            g->mean = s->v;
            g->count = 1;
            switch (op) {
            case PROMQL_AGG_STDVAR:
            case PROMQL_AGG_STDDEV: g->value = 0; break;
            case PROMQL_AGG_TOPK:
            case PROMQL_AGG_BOTTOMK:
            case PROMQL_AGG_QUANTILE:
                if ((rc = heap_push(ev, g, s->labels, s->v)))
                    return rc;
                break;
            case PROMQL_AGG_GROUP: g->value = 1; break;
            default: break;
            }
            continue;
        }
        pql_labels_unref(owned);
        struct group *g = &c->groups[*slot - 1];
        switch (op) {
        case PROMQL_AGG_SUM: g->value += s->v; break;
        case PROMQL_AGG_AVG:
            g->count++;
            if (isinf(g->mean)) {
                if (isinf(s->v) && (g->mean > 0) == (s->v > 0))
                    break;
                if (!isinf(s->v) && !isnan(s->v))
                    break;
            }
            g->mean += s->v / (double)g->count - g->mean / (double)g->count;
            break;
        case PROMQL_AGG_GROUP: break;
        case PROMQL_AGG_MAX:
            if (g->value < s->v || isnan(g->value))
                g->value = s->v;
            break;
        case PROMQL_AGG_MIN:
            if (g->value > s->v || isnan(g->value))
                g->value = s->v;
            break;
        case PROMQL_AGG_COUNT:
        case PROMQL_AGG_COUNT_VALUES: g->count++; break;
        case PROMQL_AGG_STDVAR:
        case PROMQL_AGG_STDDEV: {
            g->count++;
            double delta = s->v - g->mean;
            g->mean += delta / (double)g->count;
            g->value += delta * (s->v - g->mean);
            break;
        }
        case PROMQL_AGG_TOPK:
        case PROMQL_AGG_BOTTOMK: {
            bool rev = op == PROMQL_AGG_BOTTOMK;
            bool better = rev ? g->heap[0].v > s->v : g->heap[0].v < s->v;
            if ((int64_t)g->nheap < k || better || isnan(g->heap[0].v)) {
                if ((int64_t)g->nheap == k) {
                    if (k == 1) {
                        g->heap[0] = (struct hent){s->labels, s->v};
                        break;
                    }
                    /* heap.Pop */
                    heap_swap(g->heap, 0, g->nheap - 1);
                    heap_down(g->heap, 0, g->nheap - 1, rev);
                    g->nheap--;
                }
                if ((rc = heap_push(ev, g, s->labels, s->v)))
                    return rc;
                heap_up(g->heap, g->nheap - 1, rev);
            }
            break;
        }
        case PROMQL_AGG_QUANTILE:
            if ((rc = heap_push(ev, g, s->labels, s->v)))
                return rc;
            break;
        }
    }

    for (size_t gi = 0; gi < c->ngroups; gi++) {
        struct group *g = &c->groups[gi];
        double v = g->value;
        switch (op) {
        case PROMQL_AGG_AVG: v = g->mean; break;
        case PROMQL_AGG_COUNT:
        case PROMQL_AGG_COUNT_VALUES: v = (double)g->count; break;
        case PROMQL_AGG_STDVAR: v = g->value / (double)g->count; break;
        case PROMQL_AGG_STDDEV: v = sqrt(g->value / (double)g->count); break;
        case PROMQL_AGG_TOPK:
        case PROMQL_AGG_BOTTOMK:
            if (g->nheap > 1)
                sort_reverse(g->heap, g->nheap, op == PROMQL_AGG_BOTTOMK);
            for (size_t i = 0; i < g->nheap; i++)
                if (pql_vector_push(out, pql_labels_ref(g->heap[i].labels), ts, g->heap[i].v) < 0)
                    return pql_nomem(ev);
            continue;
        case PROMQL_AGG_QUANTILE: {
            double *vals = cn_malloc(g->nheap * sizeof(double));
            if (!vals)
                return pql_nomem(ev);
            for (size_t i = 0; i < g->nheap; i++)
                vals[i] = g->heap[i].v;
            v = pql_quantile(param, vals, g->nheap);
            free(vals);
            break;
        }
        default: break;
        }
        if (pql_vector_push(out, pql_labels_ref(g->labels), ts, v) < 0)
            return pql_nomem(ev);
    }
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int pql_eval_aggregate(struct pql_ev *ev, const struct promql_expr *e, struct promql_matrix *out)
{
    struct agg_ctx c = {.e = e};
    int rc = 0;
    size_t ng = e->agg.ngrouping;
    bool cv = e->agg.op == PROMQL_AGG_COUNT_VALUES;
    if (cv) {
        c.value_label = pql_unparen(e->agg.param)->string;
        if (!promql_label_name_valid(c.value_label))
            return pql_errorf(ev, "invalid label name \"%s\"", c.value_label);
    }
    c.grouping = cn_calloc(ng + 1, sizeof(char *));
    if (!c.grouping)
        return pql_nomem(ev);
    if (ng)
        memcpy(c.grouping, e->agg.grouping, ng * sizeof(char *));
    c.ngrouping = ng;
    /* count_values by (...) also groups by its value label. */
    if (cv && !e->agg.without)
        c.grouping[c.ngrouping++] = (char *)c.value_label;
    qsort(c.grouping, c.ngrouping, sizeof(char *), str_cmp);

    struct promql_expr *args[2] = {e->agg.param, e->agg.expr};
    if (e->agg.param && promql_expr_type(e->agg.param) != PROMQL_TYPE_STRING)
        rc = pql_range_eval(ev, args, 2, prep_group, step_aggregate, &c, out);
    else
        rc = pql_range_eval(ev, args + 1, 1, prep_group, step_aggregate, &c, out);
    groups_clear(&c);
    free(c.groups);
    free(c.tab);
    free(c.grouping);
    pql_lbuilder_free(&c.lb);
    return rc;
}
