/*
 * The PromQL evaluator: selectors, function calls, subqueries and the
 * step-wise evaluation every operator is built on, with Prometheus 2.42's
 * semantics.
 *
 * As in Prometheus, every instant-vector or scalar expression evaluates to
 * a matrix holding one point per evaluation step (an instant query is a
 * range evaluation with one step), and operators work step by step on the
 * vectors cut from their arguments' matrices (pql_range_eval). Functions
 * over range vectors are evaluated one series at a time, sliding the window
 * across the steps.
 *
 * Data: before evaluating, every selector node of the tree gets its series
 * selected once, over the time range that node can reach (the query range
 * widened by lookback or range, offsets, enclosing subqueries and `@`), as
 * Prometheus' populateSeries does. Samples stay in the selection, owned by
 * it, and are read by binary search and moving cursors.
 *
 * The `@` modifier is applied directly: a selector or subquery with `@`
 * reads at that time minus its offset whatever the step, which is what
 * Prometheus' step-invariant rewriting computes.
 *
 * Errors travel as negative errno values up the recursion; the first one
 * fills ev->err. Every intermediate matrix is counted against max_samples
 * while it is alive.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "promql/internal.h"

struct pql_selection {
    const struct promql_expr *node; /* a vector selector */
    struct tsdb_series_set set;
    struct promql_labels **labels; /* one per series of set */
};

/* ---- errors and limits ------------------------------------------------------- */

int pql_errorf(struct pql_ev *ev, const char *fmt, ...)
{
    if (ev->err->kind == PROMQL_ERR_NONE) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ev->err->msg, sizeof(ev->err->msg), fmt, ap);
        va_end(ap);
        ev->err->kind = PROMQL_ERR_EXECUTION;
    }
    return -EINVAL;
}

int pql_nomem(struct pql_ev *ev)
{
    if (ev->err->kind == PROMQL_ERR_NONE) {
        ev->err->kind = PROMQL_ERR_INTERNAL;
        snprintf(ev->err->msg, sizeof(ev->err->msg), "out of memory");
    }
    return -ENOMEM;
}

int pql_account(struct pql_ev *ev, int64_t n)
{
    if (n > 0 && ev->cur_samples + n > ev->max_samples) {
        pql_errorf(ev, "query processing would load too many samples into memory in query "
                       "execution");
        return -ERANGE;
    }
    ev->cur_samples += n;
    return 0;
}

int pql_check_done(struct pql_ev *ev)
{
    if (ev->cancel && *ev->cancel) {
        if (ev->err->kind == PROMQL_ERR_NONE) {
            ev->err->kind = PROMQL_ERR_CANCELED;
            snprintf(ev->err->msg, sizeof(ev->err->msg),
                     "query was canceled in expression evaluation");
        }
        return -ECANCELED;
    }
    if (ev->deadline_ns && cn_mono_ns() > ev->deadline_ns) {
        if (ev->err->kind == PROMQL_ERR_NONE) {
            ev->err->kind = PROMQL_ERR_TIMEOUT;
            snprintf(ev->err->msg, sizeof(ev->err->msg),
                     "query timed out in expression evaluation");
        }
        return -ETIMEDOUT;
    }
    return 0;
}

const struct promql_expr *pql_unparen(const struct promql_expr *e)
{
    while (e && e->kind == PROMQL_NODE_PAREN)
        e = e->paren;
    return e;
}

void pql_matrix_release(struct pql_ev *ev, struct promql_matrix *m)
{
    for (size_t i = 0; i < m->n; i++)
        ev->cur_samples -= (int64_t)m->v[i].n;
    pql_matrix_free(m);
}

void pql_value_free(struct pql_ev *ev, struct pql_value *v)
{
    pql_matrix_release(ev, &v->m);
    memset(v, 0, sizeof(*v));
}

static int64_t num_steps(const struct pql_ev *ev)
{
    return (ev->end - ev->start) / ev->interval + 1;
}

/* The time an `@` modifier names, resolved against the query. */
static int64_t at_time(const struct pql_ev *ev, enum promql_at at, int64_t at_ms)
{
    switch (at) {
    case PROMQL_AT_START: return ev->qstart;
    case PROMQL_AT_END: return ev->qend;
    default: return at_ms;
    }
}

/* ---- selection --------------------------------------------------------------- */

struct sel_walk {
    int64_t sq_offset, sq_range; /* summed over enclosing subqueries */
    bool sq_at;
    int64_t sq_at_ms;
};

static struct pql_selection *find_selection(const struct pql_ev *ev, const struct promql_expr *vs)
{
    for (size_t i = 0; i < ev->nsels; i++)
        if (ev->sels[i].node == vs)
            return &ev->sels[i];
    return NULL;
}

/* The time range a selector can read (Prometheus' getTimeRangesForSelector). */
static void selector_range(const struct pql_ev *ev, const struct promql_expr *vs,
                           const struct sel_walk *w, int64_t eval_range, int64_t *mint,
                           int64_t *maxt)
{
    int64_t start = ev->qstart, end = ev->qend;
    if (w->sq_at)
        start = end = w->sq_at_ms;
    if (vs->vs.at != PROMQL_AT_NONE) {
        start = end = at_time(ev, vs->vs.at, vs->vs.at_ms);
    } else {
        start = start - w->sq_offset - w->sq_range;
        end = end - w->sq_offset;
    }
    start -= eval_range ? eval_range : ev->lookback;
    *mint = start - vs->vs.offset_ms;
    *maxt = end - vs->vs.offset_ms;
}

/* Calls fn for every selector with its range, walking as Prometheus'
 * Inspect does. */
typedef int (*sel_visit)(struct pql_ev *ev, const struct promql_expr *vs, int64_t mint,
                         int64_t maxt, void *ctx);
static int walk_selectors(struct pql_ev *ev, const struct promql_expr *e, struct sel_walk w,
                          int64_t eval_range, sel_visit fn, void *ctx)
{
    int rc = 0;
    switch (e->kind) {
    case PROMQL_NODE_VECTOR_SELECTOR: {
        int64_t mint, maxt;
        selector_range(ev, e, &w, eval_range, &mint, &maxt);
        return fn(ev, e, mint, maxt, ctx);
    }
    case PROMQL_NODE_MATRIX_SELECTOR:
        return walk_selectors(ev, e->ms.vs, w, e->ms.range_ms, fn, ctx);
    case PROMQL_NODE_SUBQUERY:
        if (e->sq.at != PROMQL_AT_NONE) {
            w.sq_offset = e->sq.offset_ms;
            w.sq_range = e->sq.range_ms;
            w.sq_at = true;
            w.sq_at_ms = at_time(ev, e->sq.at, e->sq.at_ms);
        } else {
            w.sq_offset += e->sq.offset_ms;
            w.sq_range += e->sq.range_ms;
        }
        return walk_selectors(ev, e->sq.expr, w, 0, fn, ctx);
    case PROMQL_NODE_PAREN: return walk_selectors(ev, e->paren, w, 0, fn, ctx);
    case PROMQL_NODE_UNARY: return walk_selectors(ev, e->unary.expr, w, 0, fn, ctx);
    case PROMQL_NODE_BINARY:
        rc = walk_selectors(ev, e->binary.lhs, w, 0, fn, ctx);
        return rc ? rc : walk_selectors(ev, e->binary.rhs, w, 0, fn, ctx);
    case PROMQL_NODE_CALL:
        for (size_t i = 0; i < e->call.nargs && !rc; i++)
            rc = walk_selectors(ev, e->call.args[i], w, 0, fn, ctx);
        return rc;
    case PROMQL_NODE_AGGREGATE:
        if (e->agg.param)
            rc = walk_selectors(ev, e->agg.param, w, 0, fn, ctx);
        return rc ? rc : walk_selectors(ev, e->agg.expr, w, 0, fn, ctx);
    default: return 0;
    }
}

static int visit_minmax(struct pql_ev *ev, const struct promql_expr *vs, int64_t mint, int64_t maxt,
                        void *ctx)
{
    (void)ev;
    (void)vs;
    int64_t *mm = ctx;
    if (mint < mm[0])
        mm[0] = mint;
    if (maxt > mm[1])
        mm[1] = maxt;
    return 0;
}

static int visit_select(struct pql_ev *ev, const struct promql_expr *vs, int64_t mint, int64_t maxt,
                        void *ctx)
{
    (void)ctx;
    int rc = pql_check_done(ev);
    if (rc)
        return rc;
    struct pql_selection *sel = &ev->sels[ev->nsels];
    memset(sel, 0, sizeof(*sel));
    sel->node = vs;
    ev->nsels++;
    rc = tsdb_query_select(ev->src, ev->nsrc, (const struct tsdb_matcher *const *)vs->vs.matchers,
                           vs->vs.nmatchers, mint, maxt, &sel->set);
    if (rc == -ENOMEM)
        return pql_nomem(ev);
    if (rc < 0)
        return pql_errorf(ev, "expanding series: %s", strerror(-rc));
    sel->labels = cn_calloc(sel->set.n ? sel->set.n : 1, sizeof(sel->labels[0]));
    if (!sel->labels)
        return pql_nomem(ev);
    for (size_t i = 0; i < sel->set.n; i++) {
        sel->labels[i] = pql_labels_from(&sel->set.v[i].labels);
        if (!sel->labels[i])
            return pql_nomem(ev);
    }
    return 0;
}

static size_t count_selectors(const struct promql_expr *e)
{
    switch (e->kind) {
    case PROMQL_NODE_VECTOR_SELECTOR: return 1;
    case PROMQL_NODE_MATRIX_SELECTOR: return count_selectors(e->ms.vs);
    case PROMQL_NODE_SUBQUERY: return count_selectors(e->sq.expr);
    case PROMQL_NODE_PAREN: return count_selectors(e->paren);
    case PROMQL_NODE_UNARY: return count_selectors(e->unary.expr);
    case PROMQL_NODE_BINARY: return count_selectors(e->binary.lhs) + count_selectors(e->binary.rhs);
    case PROMQL_NODE_CALL: {
        size_t n = 0;
        for (size_t i = 0; i < e->call.nargs; i++)
            n += count_selectors(e->call.args[i]);
        return n;
    }
    case PROMQL_NODE_AGGREGATE:
        return (e->agg.param ? count_selectors(e->agg.param) : 0) + count_selectors(e->agg.expr);
    default: return 0;
    }
}

void pql_selection_range(struct pql_ev *ev, const struct promql_expr *e, int64_t *mint,
                         int64_t *maxt)
{
    int64_t mm[2] = {INT64_MAX, INT64_MIN};
    walk_selectors(ev, e, (struct sel_walk){0}, 0, visit_minmax, mm);
    if (mm[1] == INT64_MIN)
        mm[0] = mm[1] = 0;
    *mint = mm[0];
    *maxt = mm[1];
}

int pql_select_all(struct pql_ev *ev, const struct promql_expr *e)
{
    size_t n = count_selectors(e);
    ev->sels = cn_calloc(n ? n : 1, sizeof(ev->sels[0]));
    if (!ev->sels)
        return pql_nomem(ev);
    ev->nsels = 0;
    return walk_selectors(ev, e, (struct sel_walk){0}, 0, visit_select, NULL);
}

void pql_selections_free(struct pql_ev *ev)
{
    for (size_t i = 0; i < ev->nsels; i++) {
        struct pql_selection *sel = &ev->sels[i];
        if (sel->labels)
            for (size_t j = 0; j < sel->set.n; j++)
                pql_labels_unref(sel->labels[j]);
        free(sel->labels);
        tsdb_series_set_free(&sel->set);
    }
    free(ev->sels);
    ev->sels = NULL;
    ev->nsels = 0;
}

/* Index of the last sample with t <= ref, or -1. */
static ptrdiff_t last_at_or_before(const struct tsdb_sample *s, size_t n, int64_t ref)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s[mid].t <= ref)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

/* The value a series has at ref with lookback (none if stale). */
static bool sample_at(const struct pql_ev *ev, const struct tsdb_series *s, ptrdiff_t *cursor,
                      int64_t ref, int64_t *t, double *v)
{
    ptrdiff_t i = *cursor;
    if (i < 0 || (size_t)i >= s->n || s->samples[i].t > ref)
        i = last_at_or_before(s->samples, s->n, ref);
    else
        while ((size_t)(i + 1) < s->n && s->samples[i + 1].t <= ref)
            i++;
    *cursor = i;
    if (i < 0 || s->samples[i].t < ref - ev->lookback)
        return false;
    if (tsdb_is_stale_nan(s->samples[i].v))
        return false;
    *t = s->samples[i].t;
    *v = s->samples[i].v;
    return true;
}

static int64_t selector_ref(const struct pql_ev *ev, const struct promql_expr *vs, int64_t ts)
{
    int64_t base = vs->vs.at != PROMQL_AT_NONE ? at_time(ev, vs->vs.at, vs->vs.at_ms) : ts;
    return base - vs->vs.offset_ms;
}

static struct pql_selection *selection_of(struct pql_ev *ev, const struct promql_expr *vs)
{
    struct pql_selection *sel = find_selection(ev, vs);
    if (!sel)
        pql_errorf(ev, "internal error: selector was not prepared");
    return sel;
}

static int eval_vector_selector(struct pql_ev *ev, const struct promql_expr *e,
                                struct promql_matrix *out)
{
    struct pql_selection *sel = selection_of(ev, e);
    if (!sel)
        return -EINVAL;
    for (size_t i = 0; i < sel->set.n; i++) {
        const struct tsdb_series *s = &sel->set.v[i];
        struct promql_series ss = {0};
        ptrdiff_t cur = -1;
        for (int64_t ts = ev->start; ts <= ev->end; ts += ev->interval) {
            int64_t t;
            double v;
            if (!sample_at(ev, s, &cur, selector_ref(ev, e, ts), &t, &v))
                continue;
            int rc = pql_account(ev, 1);
            if (!rc && pql_series_push(&ss, ts, v) < 0)
                rc = pql_nomem(ev);
            if (rc) {
                ev->cur_samples -= (int64_t)ss.n;
                free(ss.pts);
                return rc;
            }
        }
        if (!ss.n)
            continue;
        if (cn_array_grow((void **)&out->v, &out->cap, out->n + 1, sizeof(out->v[0]), 8) < 0) {
            ev->cur_samples -= (int64_t)ss.n;
            free(ss.pts);
            return pql_nomem(ev);
        }
        ss.labels = pql_labels_ref(sel->labels[i]);
        out->v[out->n++] = ss;
    }
    return 0;
}

/* The samples of s in [mint, maxt] without staleness markers, appended to
 * out as points. */
static int window_points(struct pql_ev *ev, const struct tsdb_series *s, int64_t mint, int64_t maxt,
                         struct promql_series *out)
{
    ptrdiff_t i = last_at_or_before(s->samples, s->n, mint - 1) + 1;
    for (; (size_t)i < s->n && s->samples[i].t <= maxt; i++) {
        if (tsdb_is_stale_nan(s->samples[i].v))
            continue;
        int rc = pql_account(ev, 1);
        if (rc)
            return rc;
        if (pql_series_push(out, s->samples[i].t, s->samples[i].v) < 0)
            return pql_nomem(ev);
    }
    return 0;
}

/* A range selector evaluated on its own (instant queries only). */
static int eval_matrix_selector(struct pql_ev *ev, const struct promql_expr *e,
                                struct promql_matrix *out)
{
    const struct promql_expr *vs = e->ms.vs;
    struct pql_selection *sel = selection_of(ev, vs);
    if (!sel)
        return -EINVAL;
    int64_t maxt = selector_ref(ev, vs, ev->start);
    int64_t mint = maxt - e->ms.range_ms;
    for (size_t i = 0; i < sel->set.n; i++) {
        int rc = pql_check_done(ev);
        if (rc)
            return rc;
        struct promql_series ss = {0};
        rc = window_points(ev, &sel->set.v[i], mint, maxt, &ss);
        if (rc || !ss.n) {
            ev->cur_samples -= (int64_t)ss.n;
            free(ss.pts);
            if (rc)
                return rc;
            continue;
        }
        if (cn_array_grow((void **)&out->v, &out->cap, out->n + 1, sizeof(out->v[0]), 8) < 0) {
            ev->cur_samples -= (int64_t)ss.n;
            free(ss.pts);
            return pql_nomem(ev);
        }
        ss.labels = pql_labels_ref(sel->labels[i]);
        out->v[out->n++] = ss;
    }
    return 0;
}

/* ---- step-wise evaluation ---------------------------------------------------- */

/* Fails when a vector holds two samples with the same labels. */
static int check_unique(struct pql_ev *ev, const struct promql_vector *v, struct pql_lmap *seen)
{
    if (v->n < 2)
        return 0;
    pql_lmap_clear(seen);
    for (size_t i = 0; i < v->n; i++) {
        if (pql_lmap_get(seen, v->v[i].labels) != SIZE_MAX)
            return pql_errorf(ev, "vector cannot contain metrics with the same labelset");
        if (pql_lmap_put(seen, v->v[i].labels, i) < 0)
            return pql_nomem(ev);
    }
    return 0;
}

/* Appends (ts, v) to the series of out labelled ls (taking the reference),
 * creating the series if needed. */
static int collect_point(struct pql_ev *ev, struct promql_matrix *out, struct pql_lmap *index,
                         struct promql_labels *ls, int64_t ts, double v)
{
    size_t idx = pql_lmap_get(index, ls);
    if (idx == SIZE_MAX) {
        if (cn_array_grow((void **)&out->v, &out->cap, out->n + 1, sizeof(out->v[0]), 8) < 0) {
            pql_labels_unref(ls);
            return pql_nomem(ev);
        }
        idx = out->n;
        out->v[out->n++] = (struct promql_series){.labels = ls};
        if (pql_lmap_put(index, ls, idx) < 0)
            return pql_nomem(ev);
    } else {
        pql_labels_unref(ls);
    }
    if (pql_series_push(&out->v[idx], ts, v) < 0)
        return pql_nomem(ev);
    return 0;
}

int pql_range_eval(struct pql_ev *ev, struct promql_expr *const *args, size_t n, pql_prep_fn prep,
                   pql_step_fn fn, void *ctx, struct promql_matrix *out)
{
    struct pql_value *vals = cn_calloc(n ? n : 1, sizeof(*vals));
    struct promql_vector *in = cn_calloc(n ? n : 1, sizeof(*in));
    uint64_t **keys = cn_calloc(n ? n : 1, sizeof(*keys));   /* per step, per sample */
    uint64_t **skeys = cn_calloc(n ? n : 1, sizeof(*skeys)); /* per series */
    size_t **cursor = cn_calloc(n ? n : 1, sizeof(*cursor));
    struct promql_vector res = {0};
    struct pql_lmap seen = {0}, index = {0};
    int rc = 0;
    if (!vals || !in || !keys || !skeys || !cursor) {
        rc = pql_nomem(ev);
        goto out;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        if (!args[i] || promql_expr_type(args[i]) == PROMQL_TYPE_STRING)
            continue;
        rc = pql_eval(ev, args[i], &vals[i]);
        if (rc)
            break;
        size_t ns = vals[i].m.n;
        cursor[i] = cn_calloc(ns ? ns : 1, sizeof(size_t));
        keys[i] = cn_calloc(ns ? ns : 1, sizeof(uint64_t));
        skeys[i] = cn_calloc(ns ? ns : 1, sizeof(uint64_t));
        if (!cursor[i] || !keys[i] || !skeys[i]) {
            rc = pql_nomem(ev);
            break;
        }
        if (cn_array_grow((void **)&in[i].v, &in[i].cap, ns ? ns : 1, sizeof(in[i].v[0]), 8) < 0) {
            rc = pql_nomem(ev);
            break;
        }
        if (prep)
            for (size_t s = 0; s < ns; s++)
                skeys[i][s] = prep(ctx, i, vals[i].m.v[s].labels);
    }
    if (rc)
        goto out;

    for (int64_t ts = ev->start; ts <= ev->end; ts += ev->interval) {
        if ((rc = pql_check_done(ev)))
            goto out;
        for (size_t i = 0; i < n; i++) {
            in[i].n = 0;
            for (size_t s = 0; s < vals[i].m.n; s++) {
                struct promql_series *ser = &vals[i].m.v[s];
                size_t c = cursor[i][s];
                if (c < ser->n && ser->pts[c].t == ts) {
                    keys[i][in[i].n] = skeys[i][s];
                    in[i].v[in[i].n++] =
                        (struct promql_sample){.labels = ser->labels, .t = ts, .v = ser->pts[c].v};
                    cursor[i][s] = c + 1;
                }
            }
        }
        rc = fn(ev, ctx, ts, in, keys, &res);
        if (!rc)
            rc = check_unique(ev, &res, &seen);
        if (!rc)
            rc = pql_account(ev, (int64_t)res.n);
        if (rc)
            goto out;
        if (ev->start == ev->end) {
            /* One step: keep the function's order (sort, topk). */
            for (size_t k = 0; k < res.n && !rc; k++) {
                if (cn_array_grow((void **)&out->v, &out->cap, out->n + 1, sizeof(out->v[0]), 8) <
                    0) {
                    rc = pql_nomem(ev);
                    break;
                }
                struct promql_series *ss = &out->v[out->n++];
                *ss = (struct promql_series){.labels = res.v[k].labels};
                res.v[k].labels = NULL;
                if (pql_series_push(ss, ts, res.v[k].v) < 0)
                    rc = pql_nomem(ev);
            }
            for (size_t k = 0; k < res.n; k++)
                pql_labels_unref(res.v[k].labels);
            res.n = 0;
            if (rc)
                goto out;
            continue;
        }
        for (size_t k = 0; k < res.n && !rc; k++) {
            rc = collect_point(ev, out, &index, res.v[k].labels, ts, res.v[k].v);
            res.v[k].labels = NULL;
        }
        for (size_t k = 0; k < res.n; k++)
            pql_labels_unref(res.v[k].labels);
        res.n = 0;
        if (rc)
            goto out;
    }
out:
    if (vals)
        for (size_t i = 0; i < n; i++)
            pql_value_free(ev, &vals[i]);
    for (size_t i = 0; in && i < n; i++) {
        free(in[i].v);
        free(keys[i]);
        free(skeys[i]);
        free(cursor[i]);
    }
    free(vals);
    free(in);
    free(keys);
    free(skeys);
    free(cursor);
    pql_vector_free(&res);
    pql_lmap_free(&seen);
    pql_lmap_free(&index);
    return rc;
}

/* ---- literals, unary minus ----------------------------------------------------- */

static int step_number(struct pql_ev *ev, void *ctx, int64_t ts, struct promql_vector *in,
                       uint64_t *const *keys, struct promql_vector *out)
{
    (void)in;
    (void)keys;
    const struct promql_expr *e = ctx;
    if (pql_vector_push(out, pql_labels_empty(), ts, e->number) < 0)
        return pql_nomem(ev);
    return 0;
}

static int eval_unary(struct pql_ev *ev, const struct promql_expr *e, struct pql_value *out)
{
    int rc = pql_eval(ev, e->unary.expr, out);
    if (rc || e->unary.op != PROMQL_OP_SUB)
        return rc;
    struct promql_matrix *m = &out->m;
    struct pql_lmap seen = {0};
    for (size_t i = 0; i < m->n && !rc; i++) {
        struct promql_labels *ls = pql_labels_drop_name(m->v[i].labels);
        if (!ls) {
            rc = pql_nomem(ev);
            break;
        }
        pql_labels_unref(m->v[i].labels);
        m->v[i].labels = ls;
        for (size_t j = 0; j < m->v[i].n; j++)
            m->v[i].pts[j].v = -m->v[i].pts[j].v;
        if (pql_lmap_get(&seen, ls) != SIZE_MAX)
            rc = pql_errorf(ev, "vector cannot contain metrics with the same labelset");
        else if (pql_lmap_put(&seen, ls, i) < 0)
            rc = pql_nomem(ev);
    }
    pql_lmap_free(&seen);
    return rc;
}

/* ---- subqueries -------------------------------------------------------------- */

/* Evaluates a subquery into a matrix of its steps' results. */
static int eval_subquery(struct pql_ev *ev, const struct promql_expr *e, struct promql_matrix *out)
{
    int64_t offset = e->sq.offset_ms, range = e->sq.range_ms;
    int64_t interval = e->sq.step_ms ? e->sq.step_ms : ev->subquery_step;
    int64_t outer_start = ev->start, outer_end = ev->end;
    if (e->sq.at != PROMQL_AT_NONE)
        outer_start = outer_end = at_time(ev, e->sq.at, e->sq.at_ms);
    struct pql_ev sub = *ev;
    sub.interval = interval;
    sub.end = outer_end - offset;
    int64_t first = outer_start - offset - range;
    sub.start = interval * (first / interval);
    if (sub.start < first)
        sub.start += interval;
    struct pql_value v = {0};
    int rc = pql_eval(&sub, e->sq.expr, &v);
    ev->cur_samples = sub.cur_samples;
    if (rc)
        return rc;
    *out = v.m;
    return 0;
}

/* ---- function calls ---------------------------------------------------------- */

struct call_ctx {
    const struct promql_expr *e;
    struct promql_farg *args;
    struct pql_lbuilder lb;
    struct pql_fstate state;
};

static void fstate_free(struct pql_fstate *st)
{
    if (st->p && st->free_fn)
        st->free_fn(st->p);
    st->p = NULL;
}

static int run_impl(struct pql_ev *ev, struct promql_fcall *fc)
{
    char msg[PROMQL_ERR_MSG_MAX];
    msg[0] = 0;
    fc->err = msg;
    fc->errcap = sizeof(msg);
    int rc = fc->node->call.func->impl(fc);
    if (rc == -ENOMEM)
        return pql_nomem(ev);
    if (rc < 0)
        return pql_errorf(ev, "%s", msg[0] ? msg : "function evaluation failed");
    return 0;
}

static int step_call(struct pql_ev *ev, void *vctx, int64_t ts, struct promql_vector *in,
                     uint64_t *const *keys, struct promql_vector *out)
{
    (void)keys;
    struct call_ctx *c = vctx;
    const struct promql_expr *e = c->e;
    for (size_t i = 0; i < e->call.nargs; i++) {
        enum promql_type t = promql_expr_type(e->call.args[i]);
        memset(&c->args[i], 0, sizeof(c->args[i]));
        if (t == PROMQL_TYPE_STRING)
            c->args[i].str = pql_unparen(e->call.args[i])->string;
        else if (t == PROMQL_TYPE_SCALAR)
            c->args[i].scalar = in[i].n ? in[i].v[0].v : NAN;
        else
            c->args[i].vec = &in[i];
    }
    struct promql_fcall fc = {.node = e,
                              .ts = ts,
                              .args = c->args,
                              .nargs = e->call.nargs,
                              .out = out,
                              .lb = &c->lb,
                              .state = &c->state};
    return run_impl(ev, &fc);
}

/* timestamp(selector): the samples keep their own timestamps. */
static int step_timestamp(struct pql_ev *ev, void *vctx, int64_t ts, struct promql_vector *in,
                          uint64_t *const *keys, struct promql_vector *out)
{
    (void)in;
    (void)keys;
    struct call_ctx *c = vctx;
    const struct promql_expr *vs = pql_unparen(c->e->call.args[0]);
    struct pql_selection *sel = selection_of(ev, vs);
    if (!sel)
        return -EINVAL;
    struct promql_vector vec = {0};
    int rc = 0;
    for (size_t i = 0; i < sel->set.n && !rc; i++) {
        ptrdiff_t cur = -1;
        int64_t t;
        double v;
        if (sample_at(ev, &sel->set.v[i], &cur, selector_ref(ev, vs, ts), &t, &v))
            if (pql_vector_push(&vec, pql_labels_ref(sel->labels[i]), t, v) < 0)
                rc = pql_nomem(ev);
    }
    if (!rc) {
        c->args[0] = (struct promql_farg){.vec = &vec};
        struct promql_fcall fc = {.node = c->e,
                                  .ts = ts,
                                  .args = c->args,
                                  .nargs = 1,
                                  .out = out,
                                  .lb = &c->lb,
                                  .state = &c->state};
        rc = run_impl(ev, &fc);
    }
    pql_vector_free(&vec);
    return rc;
}

/* The range-vector argument of a call, as series of points with labels:
 * a selector's samples without staleness markers, or a subquery's result. */
struct range_arg {
    struct promql_matrix m;
    bool borrowed; /* m's points are the selection's samples (not freed here) */
    int64_t range, offset;
    enum promql_at at;
    int64_t at_ms;
};

/* A sample and a point are laid out alike, so a selector's samples serve
 * as the points of its windows without a copy. */
_Static_assert(sizeof(struct tsdb_sample) == sizeof(struct promql_point) &&
                   offsetof(struct tsdb_sample, v) == offsetof(struct promql_point, v),
               "tsdb_sample and promql_point must share a layout");

static void range_arg_free(struct pql_ev *ev, struct range_arg *ra)
{
    if (!ra->borrowed) {
        pql_matrix_release(ev, &ra->m);
        return;
    }
    for (size_t i = 0; i < ra->m.n; i++) {
        ev->cur_samples -= (int64_t)ra->m.v[i].n;
        pql_labels_unref(ra->m.v[i].labels);
    }
    free(ra->m.v);
    memset(&ra->m, 0, sizeof(ra->m));
}

static int range_arg_load(struct pql_ev *ev, const struct promql_expr *a, struct range_arg *ra)
{
    memset(ra, 0, sizeof(*ra));
    if (a->kind == PROMQL_NODE_SUBQUERY) {
        ra->range = a->sq.range_ms;
        ra->offset = a->sq.offset_ms;
        ra->at = a->sq.at;
        ra->at_ms = a->sq.at_ms;
        return eval_subquery(ev, a, &ra->m);
    }
    const struct promql_expr *vs = a->ms.vs;
    ra->range = a->ms.range_ms;
    ra->offset = vs->vs.offset_ms;
    ra->at = vs->vs.at;
    ra->at_ms = vs->vs.at_ms;
    struct pql_selection *sel = selection_of(ev, vs);
    if (!sel)
        return -EINVAL;
    ra->m.v = cn_calloc(sel->set.n ? sel->set.n : 1, sizeof(ra->m.v[0]));
    if (!ra->m.v)
        return pql_nomem(ev);
    ra->m.cap = sel->set.n;
    ra->borrowed = true;
    for (size_t i = 0; i < sel->set.n; i++) {
        /* Windows skip staleness markers: drop them from this selector's
         * own samples (only this node reads them). */
        struct tsdb_series *s = &sel->set.v[i];
        size_t kept = 0;
        for (size_t j = 0; j < s->n; j++)
            if (!tsdb_is_stale_nan(s->samples[j].v))
                s->samples[kept++] = s->samples[j];
        s->n = kept;
        struct promql_series *ss = &ra->m.v[ra->m.n++];
        ss->labels = pql_labels_ref(sel->labels[i]);
        ss->pts = (struct promql_point *)s->samples;
        ss->n = ss->cap = kept;
        int rc = pql_account(ev, (int64_t)ss->n);
        if (rc)
            return rc;
    }
    return 0;
}

static int eval_call_matrix(struct pql_ev *ev, const struct promql_expr *e, size_t marg,
                            struct promql_matrix *out)
{
    size_t nargs = e->call.nargs;
    struct pql_value *other = cn_calloc(nargs, sizeof(*other));
    struct promql_farg *fargs = cn_calloc(nargs, sizeof(*fargs));
    struct range_arg ra = {0};
    struct promql_vector res = {0};
    struct pql_lbuilder lb = {0};
    struct pql_fstate state = {0};
    int rc = 0;
    bool absent = !strcmp(e->call.func->name, "absent_over_time");
    bool keep_name = !strcmp(e->call.func->name, "last_over_time");
    if (!other || !fargs) {
        rc = pql_nomem(ev);
        goto out;
    }
    for (size_t i = 0; i < nargs && !rc; i++) {
        if (i == marg)
            continue;
        if (promql_expr_type(e->call.args[i]) == PROMQL_TYPE_STRING)
            fargs[i].str = pql_unparen(e->call.args[i])->string;
        else
            rc = pql_eval(ev, e->call.args[i], &other[i]);
    }
    if (rc || (rc = range_arg_load(ev, pql_unparen(e->call.args[marg]), &ra)))
        goto out;

    int64_t steps = num_steps(ev);
    for (size_t s = 0; s < ra.m.n; s++) {
        if ((rc = pql_check_done(ev)))
            goto out;
        struct promql_series *in = &ra.m.v[s];
        struct promql_series ss = {0};
        size_t lo = 0, hi = 0;
        int64_t step = 0;
        for (int64_t ts = ev->start; ts <= ev->end; ts += ev->interval, step++) {
            int64_t base = ra.at != PROMQL_AT_NONE ? at_time(ev, ra.at, ra.at_ms) : ts;
            int64_t maxt = base - ra.offset, mint = maxt - ra.range;
            if (lo > 0 && in->pts[lo - 1].t >= mint)
                lo = 0; /* the window moved back (never, except with @); rescan */
            while (lo < in->n && in->pts[lo].t < mint)
                lo++;
            if (hi < lo)
                hi = lo;
            if (hi > lo && in->pts[hi - 1].t > maxt)
                hi = lo;
            while (hi < in->n && in->pts[hi].t <= maxt)
                hi++;
            if (hi == lo)
                continue;
            for (size_t i = 0; i < nargs; i++) {
                if (i == marg || promql_expr_type(e->call.args[i]) == PROMQL_TYPE_STRING)
                    continue;
                /* A scalar has a point at every step. */
                const struct promql_series *os = other[i].m.n ? &other[i].m.v[0] : NULL;
                fargs[i].scalar = os && step < (int64_t)os->n ? os->pts[step].v : NAN;
            }
            fargs[marg] =
                (struct promql_farg){.pts = in->pts + lo, .npts = hi - lo, .labels = in->labels};
            struct promql_fcall fc = {.node = e,
                                      .ts = ts,
                                      .range_start = mint,
                                      .range_end = maxt,
                                      .args = fargs,
                                      .nargs = nargs,
                                      .out = &res,
                                      .lb = &lb,
                                      .state = &state};
            if ((rc = run_impl(ev, &fc)))
                goto out_series;
            if (res.n) {
                if ((rc = pql_account(ev, 1)))
                    goto out_series;
                if (pql_series_push(&ss, ts, res.v[0].v) < 0) {
                    rc = pql_nomem(ev);
                    goto out_series;
                }
            }
            pql_vector_clear(&res);
        }
        if (!ss.n) {
            free(ss.pts);
            continue;
        }
        ss.labels = keep_name ? pql_labels_ref(in->labels) : pql_labels_drop_name(in->labels);
        if (!ss.labels ||
            cn_array_grow((void **)&out->v, &out->cap, out->n + 1, sizeof(out->v[0]), 8) < 0) {
            pql_labels_unref(ss.labels);
            rc = pql_nomem(ev);
            goto out_series;
        }
        out->v[out->n++] = ss;
        continue;
    out_series:
        ev->cur_samples -= (int64_t)ss.n;
        free(ss.pts);
        goto out;
    }

    if (absent) {
        /* One series with 1 at every step where no input series had a value. */
        bool *found = cn_calloc((size_t)steps, sizeof(bool));
        if (!found) {
            rc = pql_nomem(ev);
            goto out;
        }
        int64_t nfound = 0;
        for (size_t s = 0; s < out->n; s++)
            for (size_t k = 0; k < out->v[s].n; k++) {
                int64_t idx = (out->v[s].pts[k].t - ev->start) / ev->interval;
                if (!found[idx])
                    nfound++;
                found[idx] = true;
            }
        pql_matrix_release(ev, out);
        if (nfound < steps) {
            struct promql_series ss = {0};
            ss.labels = pql_absent_labels(pql_unparen(e->call.args[0]));
            for (int64_t i = 0; i < steps && !rc && ss.labels; i++)
                if (!found[i] && pql_series_push(&ss, ev->start + i * ev->interval, 1) < 0)
                    rc = pql_nomem(ev);
            if (!ss.labels || rc ||
                cn_array_grow((void **)&out->v, &out->cap, 1, sizeof(out->v[0]), 1) < 0) {
                pql_labels_unref(ss.labels);
                free(ss.pts);
                rc = pql_nomem(ev);
            } else {
                out->v[out->n++] = ss;
                ev->cur_samples += (int64_t)ss.n;
            }
        }
        free(found);
        goto out;
    }
    {
        struct pql_lmap seen = {0};
        for (size_t s = 0; s < out->n && !rc; s++) {
            if (pql_lmap_get(&seen, out->v[s].labels) != SIZE_MAX)
                rc = pql_errorf(ev, "vector cannot contain metrics with the same labelset");
            else if (pql_lmap_put(&seen, out->v[s].labels, s) < 0)
                rc = pql_nomem(ev);
        }
        pql_lmap_free(&seen);
    }
out:
    range_arg_free(ev, &ra);
    if (other)
        for (size_t i = 0; i < nargs; i++)
            pql_value_free(ev, &other[i]);
    free(other);
    free(fargs);
    pql_vector_free(&res);
    pql_lbuilder_free(&lb);
    fstate_free(&state);
    return rc;
}

static int eval_call(struct pql_ev *ev, const struct promql_expr *e, struct promql_matrix *out)
{
    for (size_t i = 0; i < e->call.nargs; i++) {
        const struct promql_expr *a = pql_unparen(e->call.args[i]);
        if (a->kind == PROMQL_NODE_MATRIX_SELECTOR || a->kind == PROMQL_NODE_SUBQUERY)
            return eval_call_matrix(ev, e, i, out);
    }
    struct call_ctx c = {.e = e};
    c.args = cn_calloc(e->call.nargs ? e->call.nargs : 1, sizeof(c.args[0]));
    if (!c.args)
        return pql_nomem(ev);
    int rc;
    if (!strcmp(e->call.func->name, "timestamp") &&
        pql_unparen(e->call.args[0])->kind == PROMQL_NODE_VECTOR_SELECTOR)
        rc = pql_range_eval(ev, NULL, 0, NULL, step_timestamp, &c, out);
    else
        rc = pql_range_eval(ev, e->call.args, e->call.nargs, NULL, step_call, &c, out);
    free(c.args);
    pql_lbuilder_free(&c.lb);
    fstate_free(&c.state);
    return rc;
}

/* ---- dispatch ---------------------------------------------------------------- */

int pql_eval(struct pql_ev *ev, const struct promql_expr *e, struct pql_value *out)
{
    memset(out, 0, sizeof(*out));
    int rc = pql_check_done(ev);
    if (rc)
        return rc;
    out->type = promql_expr_type(e);
    switch (e->kind) {
    case PROMQL_NODE_NUMBER:
        rc = pql_range_eval(ev, NULL, 0, NULL, step_number, (void *)e, &out->m);
        break;
    case PROMQL_NODE_STRING: out->str = e->string; break;
    case PROMQL_NODE_VECTOR_SELECTOR: rc = eval_vector_selector(ev, e, &out->m); break;
    case PROMQL_NODE_MATRIX_SELECTOR: rc = eval_matrix_selector(ev, e, &out->m); break;
    case PROMQL_NODE_SUBQUERY: rc = eval_subquery(ev, e, &out->m); break;
    case PROMQL_NODE_PAREN: return pql_eval(ev, e->paren, out);
    case PROMQL_NODE_UNARY: rc = eval_unary(ev, e, out); break;
    case PROMQL_NODE_BINARY: rc = pql_eval_binary(ev, e, &out->m); break;
    case PROMQL_NODE_CALL: rc = eval_call(ev, e, &out->m); break;
    case PROMQL_NODE_AGGREGATE: rc = pql_eval_aggregate(ev, e, &out->m); break;
    }
    if (rc)
        pql_value_free(ev, out);
    return rc;
}
